"""Statistics of a synthesis directory, recomputed from its files (so they are right after any resume)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from deltamem.core.errors import ConfigError
from deltamem.synth.jsonio import read_jsonl

_STAGE_FILES = {"profile": "profiles.jsonl", "timeline": "timelines.jsonl", "ops": "ops.jsonl",
                "dialogue": "sessions.jsonl"}


def compute_stats(out_dir: Path) -> dict[str, Any]:
    """Op-type and evolution-kind distribution, sessions per persona, LLM usage, rejections and drops.

    ``usage`` sums every call recorded in the stage files (prompt / completion tokens as the backend reported
    them); ``rejections`` counts failed replies by reason (a reply that is regenerated and then accepted still
    counts its failed tries); ``trimmed_ops`` counts single ops cut from accepted replies, by reason;
    ``dropped`` counts items given up after ``max_tries`` per stage.
    """
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise ConfigError(f"{out_dir} is not a synthesis directory")
    usage: Counter[str] = Counter()
    usage_by_stage: dict[str, dict[str, int]] = {}
    rejections: Counter[str] = Counter()
    trimmed: Counter[str] = Counter()
    rejections_by_stage: dict[str, dict[str, int]] = {}
    dropped: dict[str, int] = {}
    items: dict[str, int] = {}
    for stage, name in _STAGE_FILES.items():
        path = out_dir / name
        # a retried item is appended again under its key; its last record holds its whole history
        records = list({str(r.get("key")): r for r in read_jsonl(path)}.values()) if path.exists() else []
        stage_usage: Counter[str] = Counter()
        stage_rej: Counter[str] = Counter()
        for r in records:
            trimmed.update({k: int(v) for k, v in (r.get("trimmed") or {}).items()})
            stage_usage.update({k: int(v) for k, v in (r.get("usage") or {}).items()})
            stage_rej.update({k: int(v) for k, v in (r.get("rejections") or {}).items()})
        items[stage] = len(records)
        dropped[stage] = sum(r.get("status") == "dropped" for r in records)
        usage_by_stage[stage] = dict(stage_usage)
        rejections_by_stage[stage] = dict(sorted(stage_rej.items()))
        usage.update(stage_usage)
        rejections.update(stage_rej)
    path = out_dir / "transitions.jsonl"
    transitions = read_jsonl(path) if path.exists() else []
    ops: Counter[str] = Counter({"ADD": 0, "UPDATE": 0, "DELETE": 0})
    evolution: Counter[str] = Counter({"intra": 0, "inter": 0, "padding": 0})
    per_persona: Counter[str] = Counter()
    turns = 0
    for t in transitions:
        per_persona[str(t["persona_id"])] += 1
        turns += len(t["session"])
        for o in t["ops"]:
            ops[str(o["op"])] += 1
            evolution[str(o.get("evolution", "?"))] += 1
    counts = list(per_persona.values())
    return {
        "transitions": len(transitions),
        "personas_with_transitions": len(per_persona),
        "items": items,
        "ops": dict(ops),
        "evolution": dict(evolution),
        "sessions_per_persona": dict(sorted(per_persona.items())),
        "sessions_per_persona_summary": {
            "min": min(counts, default=0), "max": max(counts, default=0),
            "mean": round(sum(counts) / len(counts), 3) if counts else 0.0},
        "turns_per_session_mean": round(turns / len(transitions), 3) if transitions else 0.0,
        "usage": {k: usage.get(k, 0) for k in ("prompt_tokens", "completion_tokens", "calls", "tries")},
        "usage_by_stage": usage_by_stage,
        "rejections": dict(sorted(rejections.items())),
        "rejections_by_stage": rejections_by_stage,
        "trimmed_ops": dict(sorted(trimmed.items())),
        "dropped": dropped,
    }
