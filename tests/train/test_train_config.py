from pathlib import Path

import pytest

from deltamem.core import ConfigError
from deltamem.train.config import load_train_config, train_config_from_dict

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "train"


@pytest.mark.parametrize("name", ["cpu_smoke.toml", "cpu_50step.toml", "gpu_smollm2.toml", "gpu_qwen3_8b.toml"])
def test_shipped_configs_load(name: str) -> None:
    cfg = load_train_config(CONFIGS / name)
    assert cfg.grpo.num_generations >= 2
    assert cfg.batch_size == cfg.grpo.prompts_per_step * cfg.grpo.num_generations
    assert cfg.to_dict()["grpo"]["max_steps"] == cfg.grpo.max_steps


def test_gpu_config_is_full_finetune_with_vllm() -> None:
    cfg = load_train_config(CONFIGS / "gpu_qwen3_8b.toml")
    assert (cfg.lora.enabled, cfg.grpo.use_vllm, cfg.model.dtype) == (False, True, "bfloat16")
    assert cfg.launch.accelerate_config == "configs/train/accelerate_zero3.yaml"


@pytest.mark.parametrize("name", ["cpu_50step.toml", "gpu_smollm2.toml"])
def test_smollm2_runs_warm_up_first_and_hold_out_the_same_personas(name: str) -> None:
    cfg = load_train_config(CONFIGS / name)
    assert cfg.sft.steps > 0 and cfg.grpo.max_steps >= 50
    assert (cfg.data.path, cfg.data.eval_personas, cfg.data.split_seed) == ("data/synth", 2, 0)


def test_sft_table_is_checked() -> None:
    with pytest.raises(ConfigError, match="sft"):
        train_config_from_dict({"sft": {"steps": -1}})
    with pytest.raises(ConfigError, match="unknown key"):
        train_config_from_dict({"sft": {"epochs": 2}})
    assert train_config_from_dict({}).sft.steps == 0  # off unless asked for


def test_unknown_key_is_an_error() -> None:
    with pytest.raises(ConfigError, match="unknown key"):
        train_config_from_dict({"grpo": {"num_generation": 4}})
    with pytest.raises(ConfigError, match="unknown table"):
        train_config_from_dict({"optimizer": {}})


def test_wrong_type_and_bad_values() -> None:
    with pytest.raises(ConfigError, match=r"grpo\.max_steps must be int"):
        train_config_from_dict({"grpo": {"max_steps": "50"}})
    with pytest.raises(ConfigError, match="num_generations"):
        train_config_from_dict({"grpo": {"num_generations": 1}})
    cfg = train_config_from_dict({"grpo": {"learning_rate": 1}})  # an int where a float is expected is fine
    assert cfg.grpo.learning_rate == 1.0


def test_bad_toml(tmp_path: Path) -> None:
    p = tmp_path / "x.toml"
    p.write_text("[grpo\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_train_config(p)
    with pytest.raises(ConfigError, match="cannot read"):
        load_train_config(tmp_path / "missing.toml")


def test_grpo_and_sft_keep_deltamem_keys_apart_from_trl_fields() -> None:
    cfg = train_config_from_dict({"grpo": {"prompts_per_step": 3, "beta": 0.1}, "sft": {"steps": 2}})
    assert (cfg.grpo.prompts_per_step, dict(cfg.grpo.trl)) == (3, {"beta": 0.1})  # only what the file set
    assert cfg.grpo.trl_args()["beta"] == 0.1 and cfg.grpo.trl_args()["num_generations"] == 4  # + our defaults
    assert (cfg.grpo.beta, cfg.grpo.max_steps, cfg.sft.steps, cfg.sft.learning_rate) == (0.1, 50, 2, 2e-4)
    with pytest.raises(AttributeError, match="lr_scheduler_type"):
        _ = cfg.grpo.lr_scheduler_type  # left to TRL's default: deltamem does not know it
    assert train_config_from_dict({"grpo": cfg.to_dict()["grpo"]}).grpo.trl_args() == cfg.grpo.trl_args()


def test_fields_deltamem_derives_cannot_be_set() -> None:
    with pytest.raises(ConfigError, match=r"\[grpo\]: per_device_train_batch_size is set by deltamem"):
        train_config_from_dict({"grpo": {"per_device_train_batch_size": 8}})
    with pytest.raises(ConfigError, match=r"\[sft\]: max_steps is set by deltamem \(from sft.steps\)"):
        train_config_from_dict({"sft": {"max_steps": 8}})


def test_old_sft_batch_size_still_reads_with_a_warning_the_user_sees() -> None:
    with pytest.warns(FutureWarning, match="per_device_train_batch_size"):
        cfg = train_config_from_dict({"sft": {"steps": 2, "batch_size": 2}})
    assert dict(cfg.sft.trl) == {"per_device_train_batch_size": 2}
    with pytest.raises(ConfigError, match="old name"):
        train_config_from_dict({"sft": {"batch_size": 2, "per_device_train_batch_size": 2}})


def test_without_trl_only_deltamem_keys_and_defaults_are_known(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "trl" else find_spec(name, *a))
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['lr_scheduler_type'\].*once trl is installed"):
        train_config_from_dict({"grpo": {"lr_scheduler_type": "cosine"}})
    assert train_config_from_dict({"grpo": {"report_to": ["wandb"]}}).grpo.report_to == ["wandb"]


def test_any_trl_field_reaches_trl_under_its_own_name() -> None:
    pytest.importorskip("trl")
    from deltamem.train.trainer import grpo_args

    cfg = train_config_from_dict({"grpo": {"lr_scheduler_type": "cosine", "seed": 3, "prompts_per_step": 1}})
    args = grpo_args(cfg, output_dir="unused", use_cpu=True)
    assert (args.lr_scheduler_type, args.seed, args.data_seed) == ("cosine", 3, 3)
    assert (args.per_device_train_batch_size, args.learning_rate, args.save_steps) == (4, 1e-5, 25)
    with pytest.raises(ConfigError, match=r"\[grpo\]: unknown key\(s\) \['lr_sheduler_type'\]"):
        train_config_from_dict({"grpo": {"lr_sheduler_type": "cosine"}})
