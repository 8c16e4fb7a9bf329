"""Supervised warm-up before GRPO (ours; the paper starts RL from an 8B instruct model that already writes the JSON).

A small policy (SmolLM2-135M) almost never closes the agent's JSON reply, so every rollout of a group scores 0, the
group's advantages are all 0 and GRPO has nothing to learn from (measured: 5 CPU steps, reward 0, zero variance).
A few supervised steps on the *gold* replies of the training transitions (the labelled ops written in the agent's
own reply format, ids shown under the prompt's aliases) teach the format; GRPO then improves the content against
the MLD reward. Only the reply tokens are trained on (TRL's prompt-completion loss), the LoRA adapters are merged
and the result is saved as a plain transformers checkpoint that GRPO starts from.

The warm-up sees training personas only; the held-out split stays unseen.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from deltamem.core.errors import ConfigError
from deltamem.train.config import TrainConfig

SFT_DIR, SFT_CSV, _DONE = "sft", "sft_metrics.csv", "deltamem-sft.json"


def gold_reply(ops: Sequence[Mapping[str, Any]], aliases: Mapping[str, str]) -> str | None:
    """The labelled ops as the agent's JSON reply, ids written as the prompt's aliases.

    None when an UPDATE / DELETE names a memory the prompt does not show (the agent could not have written it).
    """
    alias_of = {memory_id: alias for alias, memory_id in aliases.items()}
    out: list[dict[str, str]] = []
    for op in ops:
        kind = str(op["op"]).upper()
        if kind == "ADD":
            out.append({"op": "ADD", "text": str(op["text"])})
            continue
        alias = alias_of.get(str(op.get("id")))
        if alias is None:
            return None
        out.append({"op": "UPDATE", "id": alias, "text": str(op["text"])} if kind == "UPDATE"
                   else {"op": "DELETE", "id": alias})
    return json.dumps({"ops": out}, ensure_ascii=False)


def sft_rows(examples: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """TRL prompt-completion rows for the examples that have a gold reply."""
    return [{"prompt": ex["prompt"], "completion": [{"role": "assistant", "content": ex["gold"]}]}
            for ex in examples if ex.get("gold")]


def sft_settings(cfg: TrainConfig, model_path: str) -> dict[str, Any]:
    """What a finished warm-up records and a resumed run must match: the base, ``steps``, the learning rate, batch
    size and max length (under their first names, so warm-ups made before the ``[sft]`` table took TRL's names
    still match), then any other TRL field the table sets."""
    s, args = cfg.sft, cfg.sft.trl_args()
    first = {"learning_rate": "learning_rate", "per_device_train_batch_size": "batch_size", "max_length": "max_length"}
    return {"base": model_path, "steps": s.steps, **{old: args[new] for new, old in first.items()},
            **{k: v for k, v in sorted(s.trl.items()) if k not in first}}


def finished_sft(out: Path) -> Path | None:
    """The merged warm-up checkpoint of an earlier (possibly interrupted) run, if it was completed."""
    dest = out / SFT_DIR
    return dest if (dest / _DONE).is_file() else None


def sft_warmup(cfg: TrainConfig, model_path: str, tokenizer: Any, train_examples: Sequence[Mapping[str, Any]],
               out: Path, *, use_cpu: bool, progress: bool = True) -> Path:
    """Run the ``[sft]`` warm-up on the training split; return the merged checkpoint (``out/sft``).

    A completed warm-up made with the same settings is reused (resume); one made with others is a
    :class:`ConfigError`. Writes ``sft_metrics.csv`` (step, loss, seconds) and, with LoRA, the
    adapters alone in ``out/sft-adapter``.
    """
    settings = sft_settings(cfg, model_path)
    done = finished_sft(out)
    if done is not None:
        recorded = json.loads((done / _DONE).read_text(encoding="utf-8")).get("settings")
        if recorded != settings:  # never continue from a warm-up made for another config
            raise ConfigError(f"{done} holds a warm-up made with other settings ({recorded}); remove it or choose "
                              "another output.dir")
        return done
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import SFTConfig, SFTTrainer  # type: ignore[attr-defined]

    from deltamem.train.model import peft_config, save_final

    rows = sft_rows(train_examples)
    if not rows:
        raise ConfigError("sft.steps > 0 but no training transition has a gold reply the prompt can express")
    s, m = cfg.sft, cfg.model
    log_path = out / SFT_CSV
    started = time.perf_counter()
    history: list[dict[str, Any]] = []

    class _Log(TrainerCallback):
        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            if logs and "loss" in logs:
                history.append({"step": int(state.global_step), "loss": round(float(logs["loss"]), 5),
                                "seconds": round(time.perf_counter() - started, 1)})

    args = SFTConfig(
        **{"seed": cfg.grpo.seed, "warmup_steps": min(5, s.steps // 10), **s.trl_args()},
        output_dir=str(out / "sft-work"), max_steps=s.steps, use_cpu=use_cpu, bf16=m.dtype == "bfloat16",
        fp16=m.dtype == "float16", model_init_kwargs={"dtype": m.dtype}, disable_tqdm=not progress,
        gradient_checkpointing=m.gradient_checkpointing,  # TRL's default is on
    )
    trainer = SFTTrainer(model=model_path, args=args, train_dataset=Dataset.from_list(rows),
                         processing_class=tokenizer, peft_config=peft_config(cfg), callbacks=[_Log()])
    trainer.train()
    dest = out / SFT_DIR
    policy: Any = trainer.model
    if hasattr(policy, "peft_config"):  # the adapters alone too: megabytes, easy to move between machines
        policy.save_pretrained(str(out / f"{SFT_DIR}-adapter"))
    save_final(trainer, tokenizer, dest)
    with log_path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=["step", "loss", "seconds"])
        writer.writeheader()
        writer.writerows(history)
    (dest / _DONE).write_text(json.dumps({"settings": settings, "examples": len(rows),
                                          "final_loss": history[-1]["loss"] if history else None}) + "\n")
    return dest
