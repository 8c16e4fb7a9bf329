"""The real packaged model (Qwen2.5-Coder-1.5B, CPU) on one scenario. Asserts only what it reliably does."""

from __future__ import annotations

from pathlib import Path

import pytest

from deltamem.core import AgentOutputError

pytestmark = pytest.mark.slow

SUITE = Path(__file__).parents[2] / "src" / "deltamem" / "eval" / "data" / "scenarios.json"


@pytest.fixture(scope="module")
def llm():  # type: ignore[no-untyped-def]
    from deltamem.llm.local_gguf import LocalGGUFChatModel

    model = LocalGGUFChatModel.from_name("qwen2.5-coder-1.5b", context_size=4096, progress=False)
    yield model
    model.close()


def test_local_model_updates_a_moved_city_or_fails_cleanly(llm) -> None:  # type: ignore[no-untyped-def]
    from deltamem.embed.onnx_minilm import MiniLMEmbedder
    from deltamem.eval.scenarios import load_scenarios, run_scenario
    from deltamem.reward import MLDScorer

    embedder = MiniLMEmbedder()
    sc = next(s for s in load_scenarios(SUITE) if s.name == "moved-city")
    result = run_scenario(sc, llm=llm, embedder=embedder, scorer=MLDScorer(embedder))
    if not result.parsed:  # an unusable reply is reported, never applied
        assert result.error.startswith("AgentOutputError") and result.final_state == []
        return
    assert 0.0 <= result.reward <= 1.0
    assert result.usage["calls"] <= 3
    assert "Aisha works as an architect." in result.final_state  # untouched facts survive
    assert any("London" in t for t in result.final_state)


def test_local_model_answers_from_memory(llm, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from deltamem.embed.onnx_minilm import MiniLMEmbedder
    from deltamem.facade.memory import Memory
    from deltamem.stores.sqlite import SqliteStore

    m = Memory(store=SqliteStore(tmp_path / "m.db"), embedder=MiniLMEmbedder(), llm=llm)
    m.add(["Caroline lives in Seattle.", "Caroline works as a nurse.", "Caroline adopted a cat named Miso."],
          user_id="c")
    ans = m.answer("What is the name of Caroline's cat?", user_id="c", k=3)
    assert "Miso" in ans.text
    assert len(ans.memory_ids) == 3


def test_agent_output_error_leaves_memory_untouched(llm, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from deltamem.agent import AgentConfig, MemoryAgent
    from deltamem.embed.onnx_minilm import MiniLMEmbedder
    from deltamem.facade.memory import Memory
    from deltamem.stores.sqlite import SqliteStore

    emb = MiniLMEmbedder()
    m = Memory(store=SqliteStore(tmp_path / "m.db"), embedder=emb, llm=llm)
    m.add(["Caroline lives in Boston."], user_id="c")
    before = m.state(user_id="c")
    # 3 output tokens cannot hold a JSON reply, in either mode: the agent must raise, the store must not change.
    for config in (AgentConfig(mode="session", max_output_tokens=3), AgentConfig(extract_tokens=3)):
        m.agent = MemoryAgent(llm, embedder=emb, config=config)
        with pytest.raises(AgentOutputError):
            m.add([{"role": "user", "content": "I moved to Seattle last week."}], user_id="c",
                  session_date="2024-03-04")
        assert m.state(user_id="c") == before


# The demo's sessions and its first three questions on the 1.5B model: about 75 s on an idle 2-core machine (the whole
# tour, 14 answers, is `bash scripts/demo.sh`: about 130-180 s). The fakes of tests/cli/test_demo.py cover every answer.
@pytest.mark.timeout(900)
def test_demo_tour_reports_every_check(llm, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The demo's agent tour with the real model runs to the end and marks every expected fact, right or wrong: the
    agent's quality is measured there, not asserted here."""
    from deltamem.cli.demo_cmd import _agent_tour
    from deltamem.embed.onnx_minilm import MiniLMEmbedder
    from deltamem.facade.memory import Memory
    from deltamem.stores.sqlite import SqliteStore

    m = Memory(store=SqliteStore(tmp_path / "m.db"), embedder=MiniLMEmbedder(), llm=llm)
    report = _agent_tour(m, tmp_path, questions=3)
    assert (report.answers_total, report.memory_total) == (3, 11)
    assert 0 <= report.answers_passed <= 3 and 0 <= report.memory_passed <= 11
    assert len(report.session_s) == 4 and len(report.answer_s) == 3 and report.load_s is None  # loaded by fixture
    assert (tmp_path / "caroline.jsonl").exists()
