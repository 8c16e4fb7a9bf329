"""GRPO wiring: config → TRL ``GRPOConfig`` / ``GRPOTrainer`` with the agent prompt data and the MLD reward.

Rollouts are single-turn: the prompt is the agent's real first prompt, which already holds the seed search over S_t
(see :mod:`deltamem.train.data`), and the completion is the agent's reply. Search results therefore sit in the
prompt and never enter the loss. Why not TRL's ``environment_factory`` multi-turn tools: they need a chat template
with native tool calls and TRL's response parser for it; SmolLM2 has neither, and the deployed agent acts in one
call in the common case. A completion that asks for another search instead of giving ops scores 0 (see
docs/training.md for the multi-turn extension on tool-capable models).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deltamem.core.errors import ConfigError
from deltamem.embed.base import Embedder
from deltamem.reward import MLDScorer, RewardConfig
from deltamem.train.config import TrainConfig
from deltamem.train.data import Split, build_split, load_transitions
from deltamem.train.metrics import MetricsCSV, metrics_row, plot_reward_curve
from deltamem.train.model import load_tokenizer, peft_config, prompt_token_counter, resolve_base, save_final
from deltamem.train.reward import make_agent_reward
from deltamem.train.sft import sft_warmup

CSV_NAME, PNG_NAME, FINAL = "metrics.csv", "reward_curve.png", "final"


@dataclass
class Prepared:
    """Everything a run needs before the trainer exists."""

    model_path: str
    tokenizer: Any
    split: Split
    scorer: MLDScorer


def make_scorer(cfg: TrainConfig, embedder: Embedder) -> MLDScorer:
    """The MLD scorer of the config's ``[reward]`` table."""
    r = cfg.reward
    return MLDScorer(embedder, config=RewardConfig(credit=r.credit, threshold=r.threshold,
                                                   use_keywords=r.use_keywords))


def prepare(cfg: TrainConfig, embedder: Embedder, *, cache_dir: Path | None = None) -> Prepared:
    """Resolve (and convert, once) the base model, load and split the data, build the scorer."""
    path = resolve_base(cfg.model.base, cache_dir=cache_dir)
    tokenizer = load_tokenizer(path)
    rows = load_transitions(cfg.data.path, validate=cfg.data.validate)
    split = build_split(rows, cfg.data, cfg.agent, embedder, prompt_tokens=prompt_token_counter(tokenizer),
                        max_prompt_tokens=cfg.grpo.max_prompt_tokens)
    return Prepared(path, tokenizer, split, make_scorer(cfg, embedder))


def grpo_args(cfg: TrainConfig, *, output_dir: str, use_cpu: bool) -> Any:
    """TRL's ``GRPOConfig`` for ``cfg``: the ``[grpo]`` table's TRL fields (deltamem's defaults filled in) and what
    deltamem derives from the other tables. TRL validates it here (batch / group divisibility included)."""
    from trl import GRPOConfig  # type: ignore[attr-defined]

    g, m = cfg.grpo, cfg.model
    return GRPOConfig(
        **{"data_seed": g.seed, **g.trl_args()}, output_dir=output_dir, per_device_train_batch_size=cfg.batch_size,
        save_total_limit=cfg.output.save_total_limit, use_cpu=use_cpu, bf16=m.dtype == "bfloat16",
        fp16=m.dtype == "float16", gradient_checkpointing=m.gradient_checkpointing,
        model_init_kwargs={"dtype": m.dtype, **({"attn_implementation": m.attn_implementation}
                                                if m.attn_implementation else {})},
        remove_unused_columns=False,
    )


def train(cfg: TrainConfig, embedder: Embedder, *, resume: bool = False, cache_dir: Path | None = None,
          progress: bool = True) -> dict[str, Any]:
    """Run (or resume) GRPO; writes checkpoints, ``metrics.csv``, ``reward_curve.png`` and ``final/``.

    Returns a summary: steps, first / last reward means, the output paths.
    """
    import torch
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import GRPOTrainer  # type: ignore[attr-defined]

    out = Path(cfg.output.dir)
    prep = prepare(cfg, embedder, cache_dir=cache_dir)
    checkpoint = _last_checkpoint(out) if resume else None
    if resume and checkpoint is None:
        raise ConfigError(f"--resume: no checkpoint-* directory in {out}")
    if not resume and _last_checkpoint(out) is not None:
        raise ConfigError(f"{out} already holds checkpoints; pass --resume or choose another output.dir")
    out.mkdir(parents=True, exist_ok=True)
    (out / "train_config.json").write_text(json.dumps(cfg.to_dict(), indent=2) + "\n", encoding="utf-8")
    log = MetricsCSV(out / CSV_NAME)
    if checkpoint is not None:
        log.truncate_after(int(checkpoint.name.split("-")[-1]))
    elif log.path.exists():
        log.path.unlink()
    started = time.perf_counter()

    class _Log(TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            row = metrics_row(int(state.global_step), logs or {}, time.perf_counter() - started)
            if row is not None:
                log.append(row)

    use_cpu = not torch.cuda.is_available()
    if use_cpu and cfg.model.cpu_threads:
        torch.set_num_threads(cfg.model.cpu_threads)
    policy = prep.model_path
    if cfg.sft.steps:
        policy = str(sft_warmup(cfg, policy, prep.tokenizer, prep.split.train, out, use_cpu=use_cpu,
                                progress=progress))
    args = grpo_args(cfg, output_dir=str(out), use_cpu=use_cpu)
    args.disable_tqdm = not progress
    columns = ("prompt", "state", "target", "aliases", "id")
    dataset = Dataset.from_list([{k: ex[k] for k in columns} for ex in prep.split.train])
    trainer = GRPOTrainer(model=policy, reward_funcs=[make_agent_reward(prep.scorer)], args=args,  # type: ignore[list-item]
                          train_dataset=dataset, processing_class=prep.tokenizer, peft_config=peft_config(cfg),
                          callbacks=[_Log()])
    result = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    final = save_final(trainer, prep.tokenizer, out / FINAL)
    rows = log.rows()
    if rows:
        plot_reward_curve(log.path, out / PNG_NAME, title=f"GRPO on {Path(cfg.data.path).name} "
                                                          f"({cfg.model.base}, G={cfg.grpo.num_generations})")
    return {"steps": int(trainer.state.global_step), "train_loss": float(result.training_loss),
            "train_examples": len(prep.split.train), "eval_examples": len(prep.split.eval),
            "dropped": prep.split.dropped, "sft": policy if cfg.sft.steps else None, "csv": str(log.path),
            "png": str(out / PNG_NAME), "final": str(final),
            "seconds": round(time.perf_counter() - started, 1)}


def _last_checkpoint(out: Path) -> Path | None:
    if not out.is_dir():
        return None
    found = [p for p in out.glob("checkpoint-*") if p.is_dir() and p.name.split("-")[-1].isdigit()]
    return max(found, key=lambda p: int(p.name.split("-")[-1]), default=None)
