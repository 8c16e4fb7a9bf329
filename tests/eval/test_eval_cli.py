"""End to end: ``deltamem eval`` on the mini fixtures with the rule-based fake model and the hashing embedder.

The fake's rules (see deltamem.eval.fake) make every number below computable by hand from the fixtures.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from deltamem.cli.main import app
from deltamem.embed.hashing import HashingEmbedder
from deltamem.eval.fake import FakeEvalModel
from deltamem.eval.harness import EvalSpec, evaluate
from deltamem.eval.plots import PLOTS
from deltamem.eval.runner import RunInterrupted

FIX = Path(__file__).parent / "fixtures"


def _eval(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["--embedder", "hashing", "eval", *args, "--llm", "fake", "--no-progress"])
    return result.exit_code, result.output


def _results(out: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((out / "results.json").read_text(encoding="utf-8"))
    return data


def _assert_outputs(out: Path) -> None:
    for name in PLOTS:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "report.md").is_file()


def test_cli_locomo_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "locomo"
    code, text = _eval("locomo", "--systems", "deltamem,full,rag", "--data", str(FIX / "locomo_mini.json"),
                       "--out", str(out))
    assert code == 0, text
    _assert_outputs(out)
    res = _results(out)
    assert res["meta"]["complete"] and res["meta"]["questions_selected"] == 4
    s = res["summary"]
    q = {x["id"]: x for x in res["questions"]}
    # "In which year did Ben move?": the fake answers from the context line sharing most words with the question;
    # for deltamem two memories can tie on that, and which comes first depends on the store's hybrid ranking, whose
    # BM25 ties are broken by (random) memory id. So that one item is checked for consistency, the rest exactly.
    leeds = q["conv-x1:2"]["systems"]["deltamem"]
    leeds_first = leeds["context"][0]["text"] == "Ben said: I moved to Leeds in 2021."
    assert leeds["correct"] is leeds_first
    assert s["deltamem"]["locomo"]["overall"]["j"] == pytest.approx(0.5 if leeds_first else 0.25)
    assert s["full"]["locomo"]["overall"]["j"] == pytest.approx(0.25)
    assert s["rag"]["locomo"]["overall"]["j"] == pytest.approx(0.25)
    assert s["full"]["locomo"]["overall"]["count"] == 4 and s["full"]["locomo"]["skipped_adversarial"] == 0
    assert q["conv-x2:0"]["systems"]["full"]["answer"] == "I baked bread today."
    assert q["conv-x2:0"]["systems"]["full"]["f1"] == pytest.approx(0.4)  # {i,baked,bread,today} vs {bread}
    assert q["conv-x2:0"]["systems"]["deltamem"]["answer"] == "I baked bread on 2 January 2022."  # date resolved
    assert q["conv-x2:0"]["systems"]["deltamem"]["context"][0]["text"].startswith("Cy said:")
    assert q["conv-x1:0"]["category_label"] == "2 (temporal)"
    assert s["deltamem"]["cumulative_by_depth"] == {"1": 0.5, "2": 0.5 if leeds_first else 0.25}
    assert s["full"]["cumulative_by_depth"] == {"1": 0.5, "2": 0.25}
    cost = s["deltamem"]["cost"]
    assert cost["ingest"]["llm_calls"] == 3 and cost["ingest"]["ops"] == {"ADD": 5}
    assert cost["answer"]["llm_calls"] == 4
    assert s["full"]["cost"]["ingest"]["llm_calls"] == 0
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "| full | overall | 4 | 25.0 |" in report and "--systems deltamem,full,rag" in report


def test_cli_halumem_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "halumem"
    code, text = _eval("halumem", "--data", str(FIX / "halumem_mini.jsonl"), "--out", str(out), "--json")
    assert code == 0, text
    _assert_outputs(out)
    res = _results(out)
    h = res["summary"]["deltamem"]["halumem"]
    # The fake stores "<name> said: <line>": no gold point is covered word for word, the distractor is not stored.
    assert h["recall"]["all"] == 0.0 and h["recall"]["n_all"] == 3
    assert h["interference_accuracy"]["all"] == 1.0 and h["interference_accuracy"]["n_all"] == 1
    assert h["target_precision"]["all"] == 1.0 and h["extraction_f1"] == 0.0
    assert h["update"]["Omission"]["all"] == 1.0 and h["update"]["Omission"]["n_all"] == 1
    assert h["qa"]["Hallucination"]["all"] == 1.0 and h["qa"]["Correct"]["n_all"] == 3
    sessions = [r for r in res["sessions"] if r["system"] == "deltamem"]
    assert [r["extracted"] for r in sessions] == [
        ["Nora Quill said: Hi, I'm Nora, born 3 Feb 1990, and I work as a librarian."],
        ["Nora Quill said: I switched jobs: I'm an archivist now. Also went to Bergen with my sister."],
        ["Nora Quill said: Just saying hello."],
    ]
    full = [r for r in res["sessions"] if r["system"] == "full"]
    assert len(full[0]["extracted"]) == 2  # raw turns: the user line and the assistant line
    assert json.loads(text)["summary"]["rag"]["answered"] == 3


def test_cli_errors_are_readable(tmp_path: Path) -> None:
    code, text = _eval("locomo", "--systems", "deltamem,zep", "--data", str(FIX / "locomo_mini.json"), "--out",
                       str(tmp_path / "x"))
    assert code == 1 and "unknown system(s) zep" in text and "Traceback" not in text
    code, text = _eval("locomo", "--data", str(tmp_path), "--out", str(tmp_path / "y"))
    assert code == 1 and "no locomo file" in text


def _spec(out: Path, bench: str, data: str, **kw: Any) -> EvalSpec:
    return EvalSpec(bench=bench, data=FIX / data, out=out, llm="fake", progress=False, plots=False,  # type: ignore[arg-type]
                    **kw)


@pytest.mark.parametrize(("bench", "data", "stop"), [("locomo", "locomo_mini.json", 5),
                                                     ("halumem", "halumem_mini.jsonl", 4)])
def test_resume_makes_no_duplicate_llm_calls(tmp_path: Path, bench: str, data: str, stop: int) -> None:
    emb = HashingEmbedder()
    fresh_model = FakeEvalModel()
    fresh = evaluate(_spec(tmp_path / "fresh", bench, data), model_factory=lambda _: fresh_model, embedder=emb)

    model = FakeEvalModel()
    with pytest.raises(RunInterrupted):
        evaluate(_spec(tmp_path / "run", bench, data, stop_after=stop), model_factory=lambda _: model,
                 embedder=emb)
    first = model.requests
    lines = (tmp_path / "run" / "checkpoints.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == stop and 0 < first < fresh_model.requests
    resumed = evaluate(_spec(tmp_path / "run", bench, data), model_factory=lambda _: model, embedder=emb)
    # Every model call happens once over the two runs: exactly as many as one uninterrupted run.
    assert model.requests == fresh_model.requests
    again = evaluate(_spec(tmp_path / "run", bench, data), model_factory=lambda _: model, embedder=emb)
    assert model.requests == fresh_model.requests  # a finished run makes no call at all
    assert _scores(again.results) == _scores(resumed.results)
    # deltamem's answers may differ from the fresh run's where the store's hybrid ranking ties (see above); the
    # baselines are deterministic, and every system's recorded cost must match an uninterrupted run.
    for s in ("full", "rag"):
        assert [x[s] for x in _scores(resumed.results)] == [x[s] for x in _scores(fresh.results)]
    for s, summary in resumed.results["summary"].items():
        assert summary["answered"] == fresh.results["summary"][s]["answered"]
        for part in ("ingest", "answer"):
            for key in ("llm_calls", "prompt_tokens", "completion_tokens"):
                assert summary["cost"][part][key] == fresh.results["summary"][s]["cost"][part][key], (s, part, key)
    recs = [json.loads(x) for x in (tmp_path / "run" / "checkpoints.jsonl").read_text(encoding="utf-8").splitlines()]
    keys = [(r["kind"], r["system"], r["conversation"], r.get("session") or r.get("question")) for r in recs]
    assert len(keys) == len(set(keys))  # no item recorded twice


def _scores(res: dict[str, Any]) -> list[dict[str, Any]]:
    # Timings and memory ids differ between runs; answers and judgements are compared.
    return [{s: (r["answer"], r["label"], r["correct"], r["f1"]) for s, r in q["systems"].items()}
            for q in res["questions"]]


def test_resume_refuses_other_settings(tmp_path: Path) -> None:
    emb = HashingEmbedder()
    evaluate(_spec(tmp_path / "r", "locomo", "locomo_mini.json"), model_factory=lambda _: FakeEvalModel(),
             embedder=emb)
    from deltamem.core.errors import ConfigError

    with pytest.raises(ConfigError, match="other settings"):
        evaluate(_spec(tmp_path / "r", "locomo", "locomo_mini.json", k=3), model_factory=lambda _: FakeEvalModel(),
                 embedder=emb)


def test_context_window_defaults_to_what_mem0_needs(tmp_path: Path) -> None:
    from deltamem.cli.eval_cmd import _command
    from deltamem.core.errors import ConfigError
    from deltamem.eval.harness import context_size_for

    base = _spec(tmp_path / "w", "locomo", "locomo_mini.json")
    assert context_size_for(base) == 8192
    # mem0's extraction prompt alone is ~8k tokens: an 8k window cuts its reply and breaks its JSON.
    assert context_size_for(EvalSpec(**{**_fields(base), "systems": ("mem0", "rag")})) == 16384
    assert context_size_for(EvalSpec(**{**_fields(base), "context_size": 4096})) == 4096
    assert "--context-size 4096" in _command(EvalSpec(**{**_fields(base), "context_size": 4096}), False)
    assert "--context-size" not in _command(base, False)
    with pytest.raises(ConfigError, match="at least 512"):
        evaluate(EvalSpec(**{**_fields(base), "context_size": 100}), model_factory=lambda _: FakeEvalModel(),
                 embedder=HashingEmbedder())
    done = evaluate(base, model_factory=lambda _: FakeEvalModel(), embedder=HashingEmbedder())
    assert done.results["meta"]["context_size"] == 8192


def _fields(spec: EvalSpec) -> dict[str, Any]:
    return {f: getattr(spec, f) for f in spec.__dataclass_fields__}


def test_report_only_rebuilds_a_partial_run_without_an_llm(tmp_path: Path) -> None:
    emb = HashingEmbedder()
    out = tmp_path / "partial"
    with pytest.raises(RunInterrupted):
        evaluate(_spec(out, "locomo", "locomo_mini.json", stop_after=4), model_factory=lambda _: FakeEvalModel(),
                 embedder=emb)

    def no_model(_: str) -> FakeEvalModel:
        raise AssertionError("--report-only must not build an LLM")

    partial = evaluate(_spec(out, "locomo", "locomo_mini.json", report_only=True), model_factory=no_model,
                       embedder=emb)
    assert not partial.results["meta"]["complete"]
    assert "NO (rerun the command to resume)" in (out / "report.md").read_text(encoding="utf-8")
    lines = (out / "checkpoints.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 4  # nothing ran
    from deltamem.core.errors import ConfigError

    with pytest.raises(ConfigError, match="holds no run"):
        evaluate(_spec(tmp_path / "empty", "locomo", "locomo_mini.json", report_only=True),
                 model_factory=no_model, embedder=emb)
    code, text = _eval("locomo", "--systems", "deltamem,full,rag", "--data", str(FIX / "locomo_mini.json"),
                       "--out", str(out), "--report-only")
    assert code == 0, text
    assert len((out / "checkpoints.jsonl").read_text(encoding="utf-8").splitlines()) == 4


def test_a_partial_run_is_also_compared_like_for_like(tmp_path: Path) -> None:
    emb = HashingEmbedder()
    out = tmp_path / "halumem"
    # deltamem runs to the end; rag is stopped after its first session and question records.
    evaluate(_spec(out, "halumem", "halumem_mini.jsonl", systems=("deltamem",)),
             model_factory=lambda _: FakeEvalModel(), embedder=emb)
    with pytest.raises(RunInterrupted):
        evaluate(_spec(out, "halumem", "halumem_mini.jsonl", systems=("rag",), stop_after=2),
                 model_factory=lambda _: FakeEvalModel(), embedder=emb)
    partial = evaluate(_spec(out, "halumem", "halumem_mini.jsonl", systems=("deltamem", "rag"), report_only=True),
                       model_factory=lambda _: FakeEvalModel(), embedder=emb).results
    summary, common = partial["summary"], partial["common"]
    assert summary["deltamem"]["answered"] > summary["rag"]["answered"] == common["questions"] > 0
    assert summary["deltamem"]["cost"]["sessions"] > summary["rag"]["cost"]["sessions"] == common["sessions"]
    for s in ("deltamem", "rag"):
        assert common["summary"][s]["answered"] == common["questions"]
        assert common["summary"][s]["cost"]["sessions"] == common["sessions"]
    report = (out / "report.md").read_text(encoding="utf-8")
    assert f"## Like for like: only what every system finished ({common['questions']} questions" in report
    assert "### HaluMem" in report
    # A complete run has nothing to add.
    full = evaluate(_spec(tmp_path / "done", "halumem", "halumem_mini.jsonl"), model_factory=lambda _: FakeEvalModel(),
                    embedder=emb).results
    assert "common" not in full and "Like for like" not in (tmp_path / "done" / "report.md").read_text(encoding="utf-8")
