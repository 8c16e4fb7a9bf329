import math
from pathlib import Path

import pytest

from deltamem.embed.hashing import HashingEmbedder
from deltamem.train.config import load_train_config, train_config_from_dict
from deltamem.train.metrics import MetricsCSV, metrics_row, summarise_curve
from deltamem.train.trainer import _last_checkpoint

ROOT = Path(__file__).resolve().parents[2]


def test_gpu_config_dry_run_passes_on_cpu(synth_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("trl")
    from deltamem.train.dryrun import dry_run

    monkeypatch.chdir(ROOT)  # the config names its accelerate yaml relative to the repo root
    cfg = load_train_config(ROOT / "configs/train/gpu_qwen3_8b.toml")
    raw = cfg.to_dict()
    raw.pop("source")
    raw["data"]["path"], raw["reward"]["embedder"] = str(synth_dir), "hashing"
    raw["data"]["eval_personas"] = 1  # the fixture has 4 personas
    rep = dry_run(train_config_from_dict(raw), HashingEmbedder())
    assert rep.ok, rep.problems
    assert rep.checks["launch"]["zero_stage"] == 3 and rep.checks["launch"]["num_processes"] == 8
    assert rep.checks["batch"]["prompts_per_optimizer_step"] == 64
    assert rep.checks["data"]["train"] > 0 and rep.checks["data"]["eval"] > 0
    assert rep.checks["prompt_tokens_exact"] is False  # no hub access here: lengths are estimates


def test_dry_run_reports_bad_launch_and_data(tmp_path: Path) -> None:
    pytest.importorskip("trl")
    from deltamem.train.dryrun import dry_run

    yaml = tmp_path / "acc.yaml"
    yaml.write_text("distributed_type: DEEPSPEED\nnum_processes: 4\ndeepspeed_config:\n  zero_stage: 2\n")
    cfg = train_config_from_dict({"model": {"base": "org/unavailable-model"},
                                  "grpo": {"num_generations": 3, "prompts_per_step": 1},
                                  "data": {"path": str(tmp_path / "none")},
                                  "launch": {"accelerate_config": str(yaml), "num_processes": 2}})
    problems = " | ".join(dry_run(cfg, HashingEmbedder()).problems)
    assert "zero stage 3" in problems.lower()
    assert "num_processes 4 differs" in problems
    assert "no transitions" in problems


def test_csv_rows_truncate_and_summary(tmp_path: Path) -> None:
    log = MetricsCSV(tmp_path / "m.csv")
    for step in (1, 2, 3):
        row = metrics_row(step, {"reward": step / 10, "reward_std": 0.1, "loss": 0.5, "mld/parse_fail": 1.0}, 1.0)
        assert row is not None
        log.append(row)
    assert metrics_row(4, {"train_loss": 1.0}, 1.0) is None  # the end-of-training summary has no reward
    log.truncate_after(2)  # resuming from checkpoint-2 redoes step 3
    rows = log.rows()
    assert [r["step"] for r in rows] == ["1", "2"] and rows[1]["reward_mean"] == "0.2" and rows[0]["kl"] == ""
    s = summarise_curve(log.path, window=1)
    assert (s["reward_first"], s["reward_last"], s["parse_fail_last"]) == (0.1, 0.2, 1.0)


def test_plot(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from deltamem.train.metrics import plot_reward_curve

    log = MetricsCSV(tmp_path / "m.csv")
    for step in range(1, 6):
        log.append(metrics_row(step, {"reward": math.sin(step), "reward_std": 0.1, "mld/parse_fail": 0.5}, 0.0)
                   or {})
    png = plot_reward_curve(log.path, tmp_path / "r.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_last_checkpoint(tmp_path: Path) -> None:
    assert _last_checkpoint(tmp_path) is None
    for n in (2, 10, 9):
        (tmp_path / f"checkpoint-{n}").mkdir()
    assert _last_checkpoint(tmp_path) == tmp_path / "checkpoint-10"
