"""Before / after evaluation on the held-out split: the same single-call agent prompt, greedy decoding, the same
reward as training; reported as mean MLD reward and parse rate per model."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from deltamem.llm.hf_backend import TransformersChatModel
from deltamem.reward import MLDScorer
from deltamem.train.reward import score_completions


def evaluate_model(model: TransformersChatModel, examples: Sequence[dict[str, Any]], scorer: MLDScorer, *,
                   max_tokens: int, batch_size: int = 4) -> dict[str, Any]:
    """Mean reward, parse rate and per-example results of ``model`` on ``examples`` (greedy, one call each)."""
    started = time.perf_counter()
    texts: list[str] = []
    for i in range(0, len(examples), batch_size):
        chunk = examples[i: i + batch_size]
        texts += [r.content for r in model.chat_many([e["prompt"] for e in chunk], max_tokens=max_tokens,
                                                     temperature=0.0)]
    scored = score_completions(scorer, texts, states=[e["state"] for e in examples],
                               targets=[e["target"] for e in examples], aliases=[e["aliases"] for e in examples])
    n = len(scored)
    return {
        "model": model.name, "examples": n,
        "mean_reward": round(sum(s.reward for s in scored) / n, 4) if n else None,
        "parse_rate": round(sum(s.parsed for s in scored) / n, 4) if n else None,
        "seconds": round(time.perf_counter() - started, 1),
        "items": [{"id": e["id"], "reward": round(s.reward, 4), "parsed": s.parsed, "error": s.error,
                   "output": t} for e, s, t in zip(examples, scored, texts, strict=True)],
    }
