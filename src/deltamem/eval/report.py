"""From checkpoint records to ``results.json`` and ``report.md`` (the tables), plus the numbers the plots draw.

"Accuracy" of a question is the benchmark's headline per-question score: LoCoMo J (judge CORRECT), HaluMem QA
Correct, PersonaMem exact option letter, LongMemEval judge yes. Invalid judgements count as wrong.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from deltamem.eval.benchmarks import benchmark
from deltamem.eval.benchmarks.base import ConversationPlan, num, pct
from deltamem.eval.checkpoint import Checkpoints

__all__ = ["build_results", "render_markdown", "write_results"]

_SKIP = {"kind", "system", "conversation", "question"}


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def build_results(plans: Sequence[ConversationPlan], ckpt: Checkpoints, systems: Sequence[str],
                  meta: Mapping[str, Any]) -> dict[str, Any]:
    """Every question with every system's record, every session record, and a summary per system."""
    bench = str(meta["bench"])
    questions = []
    for plan in plans:
        for q in plan.questions:
            per = {s: {k: v for k, v in rec.items() if k not in _SKIP}
                   for s in systems if (rec := ckpt.question(s, q.id)) is not None}
            questions.append({"id": q.id, "conversation": plan.id, "category": q.category,
                              "category_label": benchmark(bench).category_label(q.category),
                              "question": q.question,
                              "gold": q.answer, "depth": plan.depth.get(q.id), "systems": per})
    sessions = [rec for plan in plans for step in plan.steps for s in systems
                if (rec := ckpt.session(s, plan.id, step.session.key)) is not None]
    expected = sum(len(p.questions) for p in plans)
    summary = {s: _summary(bench, s, questions, [r for r in sessions if r["system"] == s]) for s in systems}
    complete = all(len(q["systems"]) == len(systems) for q in questions)  # type: ignore[arg-type]
    results: dict[str, Any] = {"meta": {**meta, "questions_selected": expected, "complete": complete},
                               "summary": summary, "questions": questions, "sessions": sessions}
    if not complete and len(systems) > 1:
        results["common"] = _common(bench, systems, questions, sessions)
    return results


def _common(bench: str, systems: Sequence[str], questions: list[dict[str, Any]], sessions: list[dict[str, Any]]
            ) -> dict[str, Any]:
    """Each system's summary over only what every system finished: a partial run compared like for like."""
    qs = [q for q in questions if len(q["systems"]) == len(systems)]
    done: dict[tuple[str, str], set[str]] = {}
    for r in sessions:
        done.setdefault((r["conversation"], r["session"]), set()).add(r["system"])
    keys = {k for k, v in done.items() if len(v) == len(systems)}
    return {"questions": len(qs), "sessions": len(keys),
            "summary": {s: _summary(bench, s, qs, [r for r in sessions if r["system"] == s
                                                   and (r["conversation"], r["session"]) in keys])
                        for s in systems}}


def _summary(bench: str, system: str, questions: list[dict[str, Any]], sessions: list[dict[str, Any]]
             ) -> dict[str, Any]:
    recs = [(q, q["systems"][system]) for q in questions if system in q["systems"]]
    by_cat: dict[str, list[bool]] = {}
    for q, r in recs:
        by_cat.setdefault(q["category_label"], []).append(bool(r["correct"]))
    max_depth = max((int(q["depth"] or 0) for q, _ in recs), default=0)
    cumulative = {str(s): _mean([float(r["correct"]) for q, r in recs if int(q["depth"] or 0) <= s])
                  for s in range(1, max_depth + 1)}
    out: dict[str, Any] = {
        "answered": len(recs),
        "accuracy": _mean([float(r["correct"]) for _, r in recs]),
        "by_category": {c: {"accuracy": _mean([float(x) for x in v]), "count": len(v)}
                        for c, v in sorted(by_cat.items())},
        "f1": _mean([r["f1"] for _, r in recs]),
        "bleu1": _mean([r["bleu1"] for _, r in recs]),
        "invalid_judgements": sum(1 for _, r in recs if not r["valid"]),
        "cumulative_by_depth": cumulative,
        "cost": _cost(recs, sessions),
    }
    block = benchmark(bench).summary(recs, sessions)
    if block is not None:
        out[bench] = block
    return out


def _cost(recs: list[tuple[dict[str, Any], dict[str, Any]]], sessions: list[dict[str, Any]]) -> dict[str, Any]:
    def total(rows: list[dict[str, Any]], key: str) -> float:
        return sum(float(r.get(key, 0) or 0) for r in rows)

    ing = [s["cost"] for s in sessions]
    ans = [r["answer_usage"] for _, r in recs]
    jud = [r["judge_usage"] for _, r in recs] + [s["judge_usage"] for s in sessions if "judge_usage" in s]
    ops: dict[str, int] = {}
    for s in sessions:
        for k, v in s["ops"].items():
            ops[k] = ops.get(k, 0) + int(v)
    return {
        "sessions": len(sessions),
        "ingest": {"llm_calls": int(total(ing, "llm_calls")), "prompt_tokens": int(total(ing, "prompt_tokens")),
                   "completion_tokens": int(total(ing, "completion_tokens")), "seconds": total(ing, "seconds"),
                   "errors": int(total(ing, "errors")), "ops": ops},
        "answer": {"llm_calls": int(total(ans, "calls")), "prompt_tokens": int(total(ans, "prompt_tokens")),
                   "completion_tokens": int(total(ans, "completion_tokens")),
                   "seconds": sum(float(r["context_seconds"]) + float(r["answer_seconds"]) for _, r in recs)},
        "judge": {"llm_calls": int(total(jud, "calls")), "prompt_tokens": int(total(jud, "prompt_tokens")),
                  "completion_tokens": int(total(jud, "completion_tokens"))},
        "context_items_mean": _mean([float(len(r["context"])) for _, r in recs]),
        "truncated_questions": sum(1 for _, r in recs if r.get("omitted_messages")),
    }


def render_markdown(results: Mapping[str, Any]) -> str:
    """The human report: setup, overall and per-category tables, benchmark-specific metrics, cost."""
    meta, summary = results["meta"], results["summary"]
    systems = list(summary)
    out = [f"# {meta['bench']} evaluation", "", "```", str(meta.get("command", "")), "```", "",
           f"- data: `{meta.get('data')}`",
           f"- models: agent/system `{meta.get('llm')}`, answer `{meta.get('answer_llm')}`, "
           f"judge `{meta.get('judge_llm')}`, embedder `{meta.get('embedder')}`",
           f"- k = {meta.get('k')}; conversations: {meta.get('conversations')}; sessions ingested per "
           f"conversation: {meta.get('sessions') or 'all'}; questions selected: {meta.get('questions_selected')}",
           f"- complete: {'yes' if meta.get('complete') else 'NO (rerun the command to resume)'}", ""]
    out += ["## Overall", "", "| system | answered | accuracy % | F1 | BLEU-1 | invalid judgements |",
            "| --- | ---: | ---: | ---: | ---: | ---: |"]
    out += [f"| {s} | {v['answered']} | {pct(v['accuracy'])} | {num(v['f1'])} | {num(v['bleu1'])} | "
            f"{v['invalid_judgements']} |" for s, v in summary.items()]
    cats = sorted({c for v in summary.values() for c in v["by_category"]})
    out += ["", "## Accuracy per category (%, question count)", "",
            "| category | " + " | ".join(systems) + " |", "| --- |" + " ---: |" * len(systems)]
    for c in cats:
        cells = [(f"{pct(v['by_category'][c]['accuracy'])} ({v['by_category'][c]['count']})"
                  if c in v["by_category"] else "—") for v in summary.values()]
        out.append(f"| {c} | " + " | ".join(cells) + " |")
    out += benchmark(str(meta["bench"])).report_section(summary, "##")
    if "common" in results:
        common = results["common"]
        out += ["", f"## Like for like: only what every system finished ({common['questions']} questions, "
                    f"{common['sessions']} sessions)", "",
                "The run is partial, so the tables above cover different items per system; these do not.", "",
                "| system | accuracy % | F1 | BLEU-1 |", "| --- | ---: | ---: | ---: |"]
        out += [f"| {s} | {pct(v['accuracy'])} | {num(v['f1'])} | {num(v['bleu1'])} |"
                for s, v in common["summary"].items()]
        out += benchmark(str(meta["bench"])).report_section(common["summary"], "###")
    out += ["", "## Cost per system", "",
            "| system | sessions | ingest LLM calls | ingest prompt / completion tokens | ingest s | ingest errors "
            "| answer calls | answer prompt / completion tokens | answer s (incl. retrieval) | truncated contexts |",
            "| --- |" + " ---: |" * 9]
    for s, v in summary.items():
        c = v["cost"]
        i, a = c["ingest"], c["answer"]
        out.append(f"| {s} | {c['sessions']} | {i['llm_calls']} | {i['prompt_tokens']} / {i['completion_tokens']} "
                   f"| {i['seconds']:.1f} | {i['errors']} | {a['llm_calls']} | {a['prompt_tokens']} / "
                   f"{a['completion_tokens']} | {a['seconds']:.1f} | {c['truncated_questions']} |")
    out += ["", "Memory operations per system: " + "; ".join(
        f"{s}: " + ", ".join(f"{k} {n}" for k, n in sorted(v["cost"]["ingest"]["ops"].items()))
        for s, v in summary.items()),
        "", "LLM calls count requests and tokens are those of the original calls, whether or not the on-disk cache "
        "answered them, so they do not depend on the cache (judge calls are listed in results.json). Seconds are "
        "the wall time measured when each item was first computed.",
        "", "Plots: `accuracy_by_category.png`, `cumulative_accuracy.png`, `cost.png`.", ""]
    return "\n".join(out)


def write_results(out_dir: Path, results: Mapping[str, Any]) -> None:
    """``results.json`` and ``report.md`` (written to temp files, then renamed)."""
    for name, text in (("results.json", json.dumps(results, indent=1, ensure_ascii=False, default=str)),
                       ("report.md", render_markdown(results))):
        tmp = out_dir / f".{name}.tmp"
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(out_dir / name)
