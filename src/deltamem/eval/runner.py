"""The evaluation loop: for every (system, conversation) ingest sessions in order, answer and judge questions.

Every finished session and question is appended to ``checkpoints.jsonl`` at once. A rerun of the same command
resumes: a (system, conversation) whose items are all recorded is skipped; otherwise its memory is rebuilt by
ingesting its sessions again **through the on-disk LLM cache** (so no model call is repeated, and the recorded cost
of a session is the one of its first ingestion) and only the missing items are computed. Rebuilding rather than
persisting each system's store keeps resume working for any :class:`MemorySystem`, mem0 included.

Units run in a thread pool of ``concurrency`` workers; the models' gates bound how many calls run at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

from deltamem.core.errors import DeltamemError
from deltamem.eval.answering import answer_question
from deltamem.eval.benchmarks import benchmark
from deltamem.eval.checkpoint import Checkpoints
from deltamem.eval.judging import judge_answer
from deltamem.eval.metering import MeteredChatModel
from deltamem.eval.plan import ConversationPlan, Step
from deltamem.eval.systems._turns import iso
from deltamem.eval.systems.base import ContextItem, IngestReport, MemorySystem
from deltamem.eval.systems.full_context import OMITTED_PREFIX
from deltamem.llm.base import Usage

__all__ = ["RunInterrupted", "RunOptions", "run_benchmark"]

#: A session judge (HaluMem) searches the system with each update point's content, top 10 (the official adapter's
#: value).
UPDATE_SEARCH_K = 10


class RunInterrupted(DeltamemError):
    """The run stopped early (``stop_after``); rerunning resumes from the checkpoints."""


@dataclass(frozen=True, slots=True)
class RunOptions:
    """How to run: benchmark, retrieval depth, workers, judge strictness; ``stop_after`` is for tests."""

    bench: str
    k: int = 10
    concurrency: int = 1
    strict_judge: bool = True
    progress: bool = True
    stop_after: int | None = None  # stop after this many new checkpoint records (simulates an interruption)


def usage_dict(u: Usage) -> dict[str, Any]:
    """JSON-ready usage."""
    return {"calls": u.calls, "prompt_tokens": u.prompt_tokens, "completion_tokens": u.completion_tokens,
            "cached_tokens": u.cached_tokens, "seconds": round(u.seconds, 4)}


def item_dict(item: ContextItem) -> dict[str, Any]:
    """JSON-ready context item."""
    return {"text": item.text, "score": item.score, "date": item.date, "id": item.id}


class _Budget:
    """Counts new checkpoint records and raises RunInterrupted once ``limit`` is reached."""

    def __init__(self, limit: int | None) -> None:
        self.limit, self.count, self._lock = limit, 0, threading.Lock()

    def check(self) -> None:
        """Raise if the limit is already reached (so no other unit starts a new item)."""
        with self._lock:
            if self.limit is not None and self.count >= self.limit:
                raise RunInterrupted(f"stopped after {self.count} new items (stop_after)")

    def tick(self) -> None:
        with self._lock:
            self.count += 1
            if self.limit is not None and self.count >= self.limit:
                raise RunInterrupted(f"stopped after {self.count} new items (stop_after)")


def run_benchmark(plans: Sequence[ConversationPlan], systems: Mapping[str, MemorySystem], *,
                  answer_model: MeteredChatModel, judge_model: MeteredChatModel | None, checkpoints: Checkpoints,
                  options: RunOptions) -> list[str]:
    """Run every (system, conversation) unit; returns the failures (one line each; empty when all finished).

    :class:`RunInterrupted` propagates (the checkpoints written so far stay valid).
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    units = [(name, plan) for plan in plans for name in systems]
    budget = _Budget(options.stop_after)
    failures: list[str] = []
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, disable=not options.progress, transient=False) as progress:
        tasks = {(n, p.id): progress.add_task(f"{n} · {p.id[:24]}", total=len(p.steps) + len(p.questions))
                 for n, p in units}

        def work(name: str, plan: ConversationPlan) -> None:
            task = tasks[(name, plan.id)]
            _Unit(name, systems[name], plan, answer_model, judge_model, checkpoints, options, budget,
                  lambda: progress.advance(task)).run()

        pool = ThreadPoolExecutor(max_workers=max(1, options.concurrency))
        try:
            futures = [(n, p, pool.submit(work, n, p)) for n, p in units]
            for name, plan, fut in futures:
                try:
                    fut.result()
                except DeltamemError as e:
                    if isinstance(e, RunInterrupted):
                        raise
                    failures.append(f"{name} / {plan.id}: {type(e).__name__}: {e}")
        except BaseException:
            # Interrupted (Ctrl-C, stop_after): start nothing new; units in flight finish their current item.
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
    return failures


class _Unit:
    """One system on one conversation."""

    def __init__(self, name: str, system: MemorySystem, plan: ConversationPlan, answer_model: MeteredChatModel,
                 judge_model: MeteredChatModel | None, ckpt: Checkpoints, options: RunOptions, budget: _Budget,
                 advance: Callable[[], None]) -> None:
        self.name, self.system, self.plan = name, system, plan
        self.answer_model, self.judge_model, self.ckpt = answer_model, judge_model, ckpt
        self.options, self.budget, self.advance = options, budget, advance

    def done(self) -> bool:
        return (all(self.ckpt.session(self.name, self.plan.id, s.session.key) for s in self.plan.steps)
                and all(self.ckpt.question(self.name, q.id) for q in self.plan.questions))

    def run(self) -> None:
        if self.done():
            for _ in range(len(self.plan.steps) + len(self.plan.questions)):
                self.advance()
            return
        conv = self.plan.id
        self.system.reset(conv)
        previous: set[str] = set()
        for position, step in enumerate(self.plan.steps, start=1):
            report = self.system.ingest(conv, step.session, speakers=self.plan.speakers)
            if self.ckpt.session(self.name, conv, step.session.key) is None:
                self.budget.check()
                rec = self._session_record(position, step, report, previous)
                self.ckpt.write(rec)
                self.budget.tick()
            if self._judges(step):
                previous = {m.text for m in self.system.memories(conv)}
            self.advance()
            for q in step.questions:
                if self.ckpt.question(self.name, q.id) is None:
                    self.budget.check()
                    self.ckpt.write(self._question_record(position, step, q))
                    self.budget.tick()
                self.advance()

    def _judges(self, step: Step) -> bool:
        """Whether this step's session is judged itself (HaluMem), beside its questions."""
        return step.gold is not None and benchmark(self.options.bench).judges_sessions

    def _session_record(self, position: int, step: Step, report: IngestReport, previous: set[str]
                        ) -> dict[str, Any]:
        rec: dict[str, Any] = {
            "kind": "session", "system": self.name, "conversation": self.plan.id, "session": step.session.id,
            "position": position, "date": iso(step.session.date),
            "cost": asdict(report.cost), "ops": dict(report.ops), "error": report.error,
        }
        if self._judges(step) and self.judge_model is not None:
            conv = self.plan.id
            after = [m.text for m in self.system.memories(conv)]
            # "Extracted" = what this session created or changed: texts not held before it.
            extracted = list(dict.fromkeys(t for t in after if t not in previous))

            def search(query: str) -> list[str]:
                items, _ = self.system.context(conv, query, k=UPDATE_SEARCH_K)
                return [i.text for i in items]

            with self.judge_model.measure() as judge_usage:
                rec.update(benchmark(self.options.bench).judge_session(self.judge_model, step, extracted, search,
                                                                       strict=self.options.strict_judge))
            rec["extracted"] = extracted
            rec["memories"] = len(after)
            rec["judge_usage"] = usage_dict(judge_usage)
        return rec

    def _question_record(self, position: int, step: Step, q: Any) -> dict[str, Any]:
        conv = self.plan.id
        asked_at = q.asked_at or step.session.date
        start = time.perf_counter()
        items, _ = self.system.context(conv, q.question, asked_at=asked_at, k=self.options.k)
        context_seconds = time.perf_counter() - start
        with self.answer_model.measure() as answer_usage:
            start = time.perf_counter()
            answer = answer_question(self.answer_model, q, items, today=asked_at)
            answer_seconds = time.perf_counter() - start
        judge = self.judge_model
        if judge is not None:
            with judge.measure() as judge_usage:
                verdict = judge_answer(self.options.bench, judge, q, answer.text, strict=self.options.strict_judge)
        else:
            judge_usage = Usage()
            verdict = judge_answer(self.options.bench, None, q, answer.text)
        omitted = sum(int(i.id[len(OMITTED_PREFIX):]) for i in items if i.id and i.id.startswith(OMITTED_PREFIX))
        return {
            "kind": "question", "system": self.name, "conversation": conv, "question": q.id,
            "after_session": step.session.id, "position": position, "depth": self.plan.depth.get(q.id, position),
            "category": q.category, "answer": answer.text, **verdict,
            "context": [item_dict(i) for i in items], "omitted_messages": omitted,
            "context_seconds": round(context_seconds, 4), "answer_seconds": round(answer_seconds, 4),
            "answer_usage": usage_dict(answer_usage), "judge_usage": usage_dict(judge_usage),
        }
