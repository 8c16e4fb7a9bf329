"""Wiring for one evaluation run: models from specs (cached, gated, metered), systems by name, outputs.

Every model is wrapped the same way: ``backend → gate (N concurrent calls remote, 1 local) → on-disk cache under
<out>/llm_cache → meter``. The answer model, judge model, k and prompts are the same for every system.
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from deltamem.core.errors import ConfigError
from deltamem.embed.base import Embedder
from deltamem.eval.benchmarks import benchmark
from deltamem.eval.checkpoint import Checkpoints
from deltamem.eval.metering import MeteredChatModel
from deltamem.eval.plan import build_plan, resolve_data
from deltamem.eval.report import build_results, write_results
from deltamem.eval.runner import RunOptions, run_benchmark
from deltamem.eval.systems.base import MemorySystem
from deltamem.llm.base import ChatModel
from deltamem.llm.cache import CachedChatModel

__all__ = ["SYSTEMS", "EvalOutcome", "EvalSpec", "evaluate"]

SYSTEMS = ("deltamem", "mem0", "full", "rag")
_CHECKPOINTS = "checkpoints.jsonl"
_RUN = "run.json"


@dataclass(frozen=True, slots=True)
class EvalSpec:
    """Everything ``deltamem eval`` takes. ``answer_llm`` / ``judge_llm`` default to ``llm``."""

    bench: str
    data: Path
    out: Path
    llm: str
    systems: tuple[str, ...] = ("deltamem", "full", "rag")
    answer_llm: str | None = None
    judge_llm: str | None = None
    embedder: str = "minilm"
    conversations: tuple[str, ...] = ()
    sessions: int | None = None
    questions: int | None = None
    k: int = 10
    concurrency: int = 1
    strict_judge: bool = True
    full_context_tokens: int = 6000
    context_size: int | None = None  # local models' KV window; None: 16384 with mem0 (its ~8k prompt), else 8192
    chunk: int = 20
    progress: bool = True
    command: str = ""
    stop_after: int | None = None
    plots: bool = True
    report_only: bool = False  # rebuild results/report/plots from the checkpoints; run nothing
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class EvalOutcome:
    """Where the outputs went, the results dict and the units that failed (rerun to resume them)."""

    out: Path
    results: dict[str, Any]
    failures: list[str]


ModelFactory = Callable[[str], ChatModel]


def default_model_factory(spec: str, *, context_size: int = 8192) -> ChatModel:
    """``fake`` (rule-based, no model) or an LLM spec as in :func:`deltamem.registry.parse_llm_spec`.

    ``context_size`` is the KV window of a ``local`` model (prompt + reply must fit).
    """
    if spec == "fake":
        from deltamem.eval.fake import FakeEvalModel

        return FakeEvalModel()
    from deltamem.config import LLMConfig
    from deltamem.registry import build_chat_model, parse_llm_spec

    fields = {k: v for k, v in parse_llm_spec(spec).items() if v is not None}
    model = build_chat_model(LLMConfig(**fields, context_size=context_size))  # type: ignore[arg-type]
    if model is None:
        raise ConfigError("the evaluation needs an LLM; 'none' is not possible here")
    return model


class _Models:
    """One backend per distinct spec, each behind its gate and the shared cache."""

    def __init__(self, cache_dir: Path, concurrency: int, factory: ModelFactory) -> None:
        self.cache_dir, self.concurrency, self.factory = cache_dir, concurrency, factory
        self._built: dict[str, CachedChatModel] = {}

    def get(self, spec: str) -> CachedChatModel:
        if spec not in self._built:
            # llama.cpp runs in-process: one call at a time. Remote endpoints get ``concurrency`` calls at once.
            size = 1 if spec.split(":", 1)[0] == "local" else max(1, self.concurrency)
            gated = MeteredChatModel(self.factory(spec), gate=threading.Semaphore(size))
            self._built[spec] = CachedChatModel(gated, self.cache_dir)
        return self._built[spec]


def build_system(name: str, *, llm: ChatModel, embedder: Embedder, full_context_tokens: int) -> MemorySystem:
    """A system by name (``deltamem``, ``mem0``, ``full``, ``rag``); mem0 is imported only when asked for."""
    if name == "deltamem":
        from deltamem.eval.systems.deltamem_system import DeltamemSystem

        return DeltamemSystem(llm, embedder)
    if name == "full":
        from deltamem.eval.systems.full_context import FullContextSystem

        return FullContextSystem(max_tokens=full_context_tokens)
    if name == "rag":
        from deltamem.eval.systems.rag import RagSystem

        return RagSystem(embedder)
    if name == "mem0":
        return _mem0(llm, embedder)
    raise ConfigError(f"unknown system {name!r}; choose from {', '.join(SYSTEMS)}")


def _mem0(llm: ChatModel, embedder: Embedder) -> MemorySystem:
    try:
        from deltamem.eval.systems.mem0_system import Mem0System  # type: ignore[import-not-found,unused-ignore]
    except ImportError as e:
        raise ConfigError(f"the mem0 system needs the mem0ai package (pip install mem0ai) and "
                          f"deltamem.eval.systems.mem0_system: {e}") from e
    try:
        system: MemorySystem = Mem0System(llm=llm, embedder=embedder)
    except TypeError as e:
        raise ConfigError(f"Mem0System(llm=..., embedder=...) failed: {e}; see its docstring for its options") from e
    return system


def _check_resume(path: Path, meta: dict[str, Any], *, write: bool = True) -> None:
    """Refuse to resume into an --out folder made with other settings (results would mix)."""
    keys = ("bench", "data", "llm", "answer_llm", "judge_llm", "embedder", "k", "sessions", "questions",
            "conversations", "full_context_tokens", "chunk", "strict_judge")
    if path.exists():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as e:
            raise ConfigError(f"cannot read {path}: {e}") from e
        diff = [k for k in keys if old.get(k) != meta.get(k)]
        if diff:
            raise ConfigError(f"{path.parent} holds a run with other settings ({', '.join(diff)}); "
                              "use another --out or delete the folder")
    elif not write:
        raise ConfigError(f"{path.parent} holds no run to report on (no {path.name})")
    if write:
        path.write_text(json.dumps(meta, indent=1, default=str), encoding="utf-8")


def context_size_for(spec: EvalSpec) -> int:
    """The local models' window: as given, else 16384 when mem0 runs (its prompt alone is ~8k tokens), else 8192."""
    if spec.context_size is not None:
        return spec.context_size
    return 16384 if "mem0" in spec.systems else 8192


def evaluate(spec: EvalSpec, *, model_factory: ModelFactory | None = None,
             embedder: Embedder | None = None) -> EvalOutcome:
    """Run (or resume) one evaluation and write results.json, report.md and the plots into ``spec.out``."""
    plugin = benchmark(spec.bench)
    unknown = [s for s in spec.systems if s not in SYSTEMS]
    if unknown or not spec.systems:
        raise ConfigError(f"unknown system(s) {', '.join(unknown) or '(none given)'}; choose from {', '.join(SYSTEMS)}")
    if spec.k < 1 or spec.concurrency < 1:
        raise ConfigError("--k and --concurrency must be at least 1")
    window = context_size_for(spec)
    if window < 512:
        raise ConfigError(f"--context-size must be at least 512 tokens, got {window}")
    if model_factory is None:
        model_factory = functools.partial(default_model_factory, context_size=window)
    data = resolve_data(spec.bench, spec.data)
    plans = build_plan(spec.bench, data, conversations=spec.conversations or None, sessions=spec.sessions,
                       questions=spec.questions, chunk=spec.chunk)
    if not any(p.questions for p in plans):
        raise ConfigError("no question is selected: widen --sessions / --questions or pick other --conversations")
    if embedder is None:
        from deltamem.config import EmbedderConfig
        from deltamem.registry import build_embedder

        embedder = build_embedder(EmbedderConfig(provider=spec.embedder))  # type: ignore[arg-type]
    spec.out.mkdir(parents=True, exist_ok=True)
    answer_spec, judge_spec = spec.answer_llm or spec.llm, spec.judge_llm or spec.llm
    local_only = ("out", "stop_after", "progress", "extra", "report_only")  # how to run, not what was run
    meta = {**{k: v for k, v in asdict(spec).items() if k not in local_only},
            "data": str(data), "answer_llm": answer_spec, "judge_llm": judge_spec, "embedder": embedder.name,
            "conversations": [p.id for p in plans], "systems": list(spec.systems), "context_size": window,
            **spec.extra}
    _check_resume(spec.out / _RUN, meta, write=not spec.report_only)
    if spec.report_only:
        return _write_outputs(spec, plans, meta, [])
    models = _Models(spec.out / "llm_cache", spec.concurrency, model_factory)
    systems = {name: build_system(name, llm=MeteredChatModel(models.get(spec.llm)), embedder=embedder,
                                  full_context_tokens=spec.full_context_tokens) for name in spec.systems}
    answer = MeteredChatModel(models.get(answer_spec))
    judge = MeteredChatModel(models.get(judge_spec)) if plugin.needs_judge else None
    ckpt = Checkpoints(spec.out / _CHECKPOINTS)
    options = RunOptions(bench=spec.bench, k=spec.k, concurrency=spec.concurrency, strict_judge=spec.strict_judge,
                         progress=spec.progress, stop_after=spec.stop_after)
    try:
        failures = run_benchmark(plans, systems, answer_model=answer, judge_model=judge, checkpoints=ckpt,
                                 options=options)
    finally:
        for s in systems.values():
            close = getattr(s, "close", None)
            if callable(close):
                close()
    return _write_outputs(spec, plans, meta, failures)


def _write_outputs(spec: EvalSpec, plans: Sequence[Any], meta: dict[str, Any], failures: list[str]) -> EvalOutcome:
    """results.json, report.md and the plots, from whatever the checkpoints hold (a partial run says so)."""
    results = build_results(plans, Checkpoints(spec.out / _CHECKPOINTS), list(spec.systems), meta)
    write_results(spec.out, results)
    if spec.plots:
        from deltamem.eval.plots import write_plots

        write_plots(spec.out, results)
    return EvalOutcome(spec.out, results, failures)


def parse_list(text: str | None) -> tuple[str, ...]:
    """``"a,b, c"`` → ``("a", "b", "c")``."""
    return tuple(x.strip() for x in (text or "").split(",") if x.strip())


def systems_arg(text: str) -> Sequence[str]:
    """The --systems value, validated."""
    names = parse_list(text)
    bad = [n for n in names if n not in SYSTEMS]
    if bad or not names:
        raise ConfigError(f"unknown system(s) {', '.join(bad) or '(none given)'}; choose from {', '.join(SYSTEMS)}")
    return names
