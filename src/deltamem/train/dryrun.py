"""``deltamem train --dry-run``: check a whole run on CPU without training (no model weights are loaded).

Checks the config, the data (every transition re-validated, curriculum filter, held-out split, prompt lengths), the
batch arithmetic TRL requires, TRL's own ``GRPOConfig`` validation, and the launcher files (accelerate /
DeepSpeed YAML). Prompt lengths use the base model's tokenizer when it is available locally; otherwise (a hub id
on a machine without hub access) they are estimated at 4 characters per token and marked as estimates.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deltamem.core.errors import ConfigError
from deltamem.embed.base import Embedder
from deltamem.train.config import TrainConfig
from deltamem.train.data import build_split, load_transitions
from deltamem.train.model import load_tokenizer, prompt_token_counter, resolve_base


@dataclass
class DryRunReport:
    """What was checked, with figures; ``problems`` empty means the run can start."""

    checks: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing blocks the run."""
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"ok": self.ok, "checks": self.checks, "problems": self.problems}


def dry_run(cfg: TrainConfig, embedder: Embedder, *, cache_dir: Path | None = None) -> DryRunReport:
    """Validate ``cfg`` and its data without loading a model or training."""
    rep = DryRunReport()
    g = cfg.grpo
    procs = cfg.launch.num_processes
    gen_batch = cfg.batch_size * procs * g.gradient_accumulation_steps
    rep.checks["batch"] = {"completions_per_device_step": cfg.batch_size, "processes": procs,
                           "generation_batch": gen_batch, "group_size": g.num_generations,
                           "prompts_per_optimizer_step": gen_batch // g.num_generations}
    if gen_batch % g.num_generations:
        rep.problems.append(f"generation batch {gen_batch} is not divisible by num_generations {g.num_generations}")
    counter, exact = _counter(cfg, cache_dir)
    rep.checks["prompt_tokens_exact"] = exact
    try:
        rows = load_transitions(cfg.data.path, validate=cfg.data.validate)
        split = build_split(rows, cfg.data, cfg.agent, embedder, prompt_tokens=counter,
                            max_prompt_tokens=g.max_prompt_tokens)
    except ConfigError as e:
        rep.problems.append(f"data: {e}")
    else:
        lengths = sorted(counter(ex["prompt"]) for ex in split.train)
        rep.checks["data"] = {"transitions": len(rows), "train": len(split.train), "eval": len(split.eval),
                              "eval_personas": list(split.eval_personas), "dropped": split.dropped,
                              "prompt_tokens": {"min": lengths[0], "median": lengths[len(lengths) // 2],
                                                "max": lengths[-1]},
                              "epochs_at_max_steps": round(g.max_steps * gen_batch / g.num_generations
                                                           / len(split.train), 2)}
        if not split.eval:
            rep.problems.append("data: the held-out split is empty (raise data.eval_personas)")
    _check_trl(cfg, rep)
    _check_launch(cfg, rep)
    return rep


def _counter(cfg: TrainConfig, cache_dir: Path | None) -> tuple[Any, bool]:
    try:
        path = resolve_base(cfg.model.base, cache_dir=cache_dir, convert=False)
        if Path(path).is_dir():
            return prompt_token_counter(load_tokenizer(path)), True
    except (ConfigError, OSError, ValueError):
        pass

    def estimate(messages: list[dict[str, Any]]) -> int:
        return sum(len(str(m.get("content", ""))) for m in messages) // 4 + 8 * len(messages)

    return estimate, False


def _check_trl(cfg: TrainConfig, rep: DryRunReport) -> None:
    try:
        from trl import GRPOConfig  # type: ignore[attr-defined]  # noqa: F401
    except ImportError as e:
        rep.problems.append(f"trl is not installed: pip install 'deltamem[train]' ({e})")
        return
    from deltamem.train.trainer import grpo_args

    try:
        # bf16 / vLLM are checked by TRL against this machine's hardware, so validate with them off and report them.
        import dataclasses

        cpu_cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, dtype="float32"),
                                      grpo=dataclasses.replace(cfg.grpo, trl={**cfg.grpo.trl, "use_vllm": False}))
        grpo_args(cpu_cfg, output_dir=str(Path(cfg.output.dir)), use_cpu=True)
        rep.checks["trl_config"] = {"ok": True, "dtype": cfg.model.dtype, "use_vllm": cfg.grpo.use_vllm,
                                    "vllm_mode": cfg.grpo.vllm_mode}
    except (ValueError, TypeError) as e:
        rep.problems.append(f"TRL rejects the GRPO settings: {e}")
    if cfg.grpo.use_vllm:
        try:
            import vllm  # noqa: F401
        except ImportError:
            rep.checks["vllm_installed_here"] = False  # expected on CPU machines; needed on the GPU machine


def _check_launch(cfg: TrainConfig, rep: DryRunReport) -> None:
    path = cfg.launch.accelerate_config
    if not path:
        return
    import yaml

    p = Path(path)
    try:
        acc = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        rep.problems.append(f"launch.accelerate_config {p}: {e}")
        return
    if not isinstance(acc, dict):
        rep.problems.append(f"launch.accelerate_config {p}: not a mapping")
        return
    ds = acc.get("deepspeed_config") or {}
    info = {"file": str(p), "distributed_type": acc.get("distributed_type"), "zero_stage": ds.get("zero_stage"),
            "num_processes": acc.get("num_processes"), "mixed_precision": acc.get("mixed_precision")}
    rep.checks["launch"] = info
    if acc.get("distributed_type") == "DEEPSPEED" and ds.get("zero_stage") != 3:
        rep.problems.append(f"{p}: expected DeepSpeed ZeRO stage 3, found {ds.get('zero_stage')}")
    if acc.get("num_processes") not in (None, cfg.launch.num_processes):
        rep.problems.append(f"{p}: num_processes {acc.get('num_processes')} differs from launch.num_processes "
                            f"{cfg.launch.num_processes}")
    if cfg.model.dtype == "bfloat16" and acc.get("mixed_precision") not in ("bf16", None):
        rep.problems.append(f"{p}: mixed_precision should be bf16 for a bfloat16 model")


def report_json(rep: DryRunReport) -> str:
    """The report as indented JSON."""
    return json.dumps(rep.to_dict(), indent=2)
