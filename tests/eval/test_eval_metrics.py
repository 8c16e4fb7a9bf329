"""Metric modules: parity with mem0's own LoCoMo F1/BLEU-1, and hand-computed cases for every benchmark."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from deltamem.eval.metrics import halumem as hm
from deltamem.eval.metrics.judge import JudgeVerdict
from deltamem.eval.metrics.locomo import (
    LocomoItem,
    aggregate_locomo,
    is_abstention,
    parse_locomo_judge,
    score_locomo_item,
)
from deltamem.eval.metrics.longmemeval import LongMemEvalItem, aggregate_longmemeval, parse_yes_no
from deltamem.eval.metrics.personamem import PersonaMemItem, aggregate_personamem, extract_option, is_correct
from deltamem.eval.metrics.text import bleu1, token_f1

PAIRS: list[dict[str, Any]] = json.loads(
    (Path(__file__).parent / "fixtures" / "locomo_metric_parity.json").read_text(encoding="utf-8"))["pairs"]


def test_parity_fixture_is_big_enough() -> None:
    assert len(PAIRS) >= 20


@pytest.mark.parametrize("pair", PAIRS, ids=[f"{i}:{p['prediction'][:20]}" for i, p in enumerate(PAIRS)])
def test_locomo_f1_and_bleu1_match_mem0(pair: dict[str, Any]) -> None:
    # Expected values came from running mem0's evaluation/metrics/utils.py unmodified (see the fixture's note).
    assert token_f1(pair["prediction"], pair["reference"]) == pytest.approx(pair["f1"], abs=1e-12)
    assert bleu1(pair["prediction"], pair["reference"]) == pytest.approx(pair["bleu1"], abs=1e-12)


def test_token_f1_by_hand() -> None:
    # pred {she, went, to, paris}, ref {paris}: P = 1/4, R = 1 -> F1 = 2 * 0.25 / 1.25 = 0.4
    assert token_f1("She went to Paris", "Paris") == pytest.approx(0.4)
    # duplicates count once: {paris} vs {paris}
    assert token_f1("Paris paris PARIS.", "Paris") == 1.0
    assert token_f1("Rome", "Paris") == 0.0


def test_bleu1_by_hand() -> None:
    # 1 of 2 unigrams match, hypothesis (2) shorter than reference (3): 0.5 * exp(1 - 3/2)
    assert bleu1("blue bowl", "a blue vase") == pytest.approx(0.5 * math.exp(-0.5))
    # longer hypothesis: no brevity penalty, clipped precision 2/4
    assert bleu1("the the blue cat", "the blue") == pytest.approx(0.5)


def _j(label: str | None) -> JudgeVerdict:
    return JudgeVerdict(label=label, raw="")


def test_locomo_aggregate_by_hand() -> None:
    items = [
        score_locomo_item(1, "Pip and Moss", "Pip, Moss", _j("CORRECT")),  # f1: {pip,and,moss} vs {pip,moss} = 0.8
        score_locomo_item(1, "Pip", "Pip, Moss", _j("WRONG")),  # f1: P 1, R 0.5 -> 2/3
        score_locomo_item(2, "7 May 2023", "7 May 2023", _j("CORRECT")),  # 1.0
        score_locomo_item(4, "Leeds", "Leeds", _j(None)),  # invalid judgement counts as wrong
        LocomoItem(category=5, f1=1.0, bleu1=1.0, judge=_j("CORRECT")),  # adversarial: dropped
    ]
    rep = aggregate_locomo(items)
    assert rep.skipped_adversarial == 1
    assert rep.overall.count == 4
    assert rep.overall.j == pytest.approx(2 / 4)
    assert rep.overall.invalid_judgements == 1
    assert rep.overall.f1 == pytest.approx((0.8 + 2 / 3 + 1.0 + 1.0) / 4)
    assert rep.by_category[1].j == pytest.approx(0.5)
    assert rep.by_category[1].f1 == pytest.approx((0.8 + 2 / 3) / 2)
    assert set(rep.by_category) == {1, 2, 4}
    assert rep.category_label(4) == "4 (single-hop)"


def test_locomo_judge_parser() -> None:
    assert parse_locomo_judge('Same date. {"label": "CORRECT"}').label == "CORRECT"
    assert parse_locomo_judge("It is INCORRECT").label == "WRONG"
    assert parse_locomo_judge("correct or wrong, hard to say").label is None
    # A real 1.5B judge reply: the negated lower-case word is a WRONG verdict.
    negated = 'I don\'t know\n\nIt is not a correct answer to the question "What is Caroline\'s identity?".'
    assert parse_locomo_judge(negated).label == "WRONG"
    assert parse_locomo_judge("The answer isn't correct.").label == "WRONG"
    assert parse_locomo_judge("the answer is correct").label == "CORRECT"


@pytest.mark.parametrize(("answer", "abstains"), [
    ("I don't know", True), ("I do not know.", True), ("i dont know <final_answer>(d)", True),
    ("Not mentioned in the context", True), ("Unknown", True), ("The context does not say.", True),
    ("No information", True), ("7 May 2023", False), ("She knows pottery", False),
    ("Unknown.", True), ("Unknown Pleasures by Joy Division", False),
])
def test_abstentions_are_recognised(answer: str, abstains: bool) -> None:
    assert is_abstention(answer) is abstains


def test_locomo_abstention_is_wrong_without_a_judge_call() -> None:
    from deltamem.datasets.common import Question
    from deltamem.eval.judging import judge_answer

    class Refuses:
        name = "no-calls"

        def chat(self, *a: object, **k: object) -> object:
            raise AssertionError("the judge must not be called for an abstention")

    q = Question(id="c:1", question="When did Caroline go to the support group?", answer="7 May 2023", category="2")
    v = judge_answer("locomo", Refuses(), q, "I don't know")  # type: ignore[arg-type]
    assert (v["label"], v["correct"], v["valid"], v["judge_raw"]) == ("WRONG", False, True, None)


class _CountingJudge:
    """Replies Correct in the official fenced JSON and counts its calls."""

    name = "counting"

    def __init__(self) -> None:
        self.calls = 0

    def chat(self, *a: object, **k: object) -> object:
        from deltamem.llm.base import ChatResponse
        self.calls += 1
        return ChatResponse(content='```json\n{"reasoning": "ok", "evaluation_result": "Correct"}\n```')


def test_halumem_abstention_is_an_omission_without_a_judge_call_unless_memory_boundary() -> None:
    from deltamem.datasets.common import Question
    from deltamem.eval.judging import judge_answer

    judge = _CountingJudge()
    fact = Question(id="u:s1:0", question="When was Martin born?", answer="1984-09-14", category="Basic Fact Recall",
                    evidence=("Martin was born on 1984-09-14.",))
    v = judge_answer("halumem", judge, fact, "I don't know")  # type: ignore[arg-type]
    assert (v["label"], v["correct"], v["valid"], v["judge_raw"], judge.calls) == ("Omission", False, True, None, 0)
    # A Memory Boundary question asks about what was never said: declining may be right, so the judge decides.
    boundary = Question(id="u:s1:1", question="What is Martin's blood type?", answer="Not mentioned.",
                        category="Memory Boundary")
    v = judge_answer("halumem", judge, boundary, "I don't know")  # type: ignore[arg-type]
    assert (v["label"], v["correct"], judge.calls) == ("Correct", True, 1)


def test_halumem_extraction_update_qa_by_hand() -> None:
    integrity = [
        hm.IntegrityJudgement(score=2, importance=1.0, is_interference=False, memory_type="Persona Memory"),
        hm.IntegrityJudgement(score=1, importance=0.5, is_interference=False, memory_type="Event Memory"),
        hm.IntegrityJudgement(score=None, importance=1.0, is_interference=False, memory_type="Event Memory"),
        hm.IntegrityJudgement(score=0, importance=1.0, is_interference=True, memory_type="Persona Memory"),
        hm.IntegrityJudgement(score=2, importance=1.0, is_interference=True, memory_type="Persona Memory"),
    ]
    accuracy = [hm.AccuracyJudgement(2, True), hm.AccuracyJudgement(1, True), hm.AccuracyJudgement(0, False),
                hm.AccuracyJudgement(None, False)]
    updates = [hm.LabelJudgement("Correct", "Persona Memory"), hm.LabelJudgement("Omission", "Event Memory"),
               hm.LabelJudgement(None, "Event Memory")]
    qa = [hm.LabelJudgement("Correct"), hm.LabelJudgement("Correct"), hm.LabelJudgement("Hallucination"),
          hm.LabelJudgement("Omission")]
    rep = hm.aggregate_halumem(integrity, accuracy, updates, qa)
    # recall: 1 of 3 core points fully covered (all); 1 of 2 valid
    assert rep.recall.all == pytest.approx(1 / 3) and rep.recall.valid == pytest.approx(1 / 2)
    # weighted: 0.5*2*1.0 + 0.5*1*0.5 = 1.25 over importance 2.5 (all) / 1.5 (valid)
    assert rep.weighted_recall.all == pytest.approx(1.25 / 2.5)
    assert rep.weighted_recall.valid == pytest.approx(1.25 / 1.5)
    # FMR: 1 of 2 interference points scored 0
    assert rep.interference_accuracy.all == pytest.approx(0.5)
    # target precision over included: (0.5*2 + 0.5*1) / 2 = 0.75; weighted accuracy (1 + 0.5 + 0) / 4 (all)
    assert rep.target_precision.all == pytest.approx(0.75)
    assert rep.weighted_accuracy.all == pytest.approx(1.5 / 4)
    assert rep.weighted_accuracy.valid == pytest.approx(1.5 / 3)
    p, r = 0.75, 1 / 3
    assert rep.extraction_f1 == pytest.approx(2 * p * r / (p + r))
    assert rep.update["Correct"].all == pytest.approx(1 / 3) and rep.update["Correct"].valid == pytest.approx(0.5)
    assert rep.update["Omission"].all == pytest.approx(1 / 3)
    assert rep.qa["Correct"].all == pytest.approx(0.5)
    assert rep.qa["Hallucination"].all == pytest.approx(0.25) and rep.qa["Omission"].all == pytest.approx(0.25)
    # per memory type: Persona = 3 integrity (hits 2: one core + one interference) + 1 update (correct)
    persona = rep.by_memory_type["Persona Memory"]
    assert persona["total_num"] == 4 and persona["memory_integrity_acc"] == pytest.approx(2 / 4)
    assert persona["memory_update_acc"] == pytest.approx(1 / 4)


def test_halumem_parsers_strict_and_lenient() -> None:
    fenced = '```json\n{"evaluation_result": "Correct"}\n```'
    assert hm.parse_qa_reply(fenced).label == "Correct"
    assert hm.parse_qa_reply('{"evaluation_result": "Correct"}').label is None  # official: needs the fence
    assert hm.parse_qa_reply('{"evaluation_result": "correct"}', strict=False).label == "Correct"
    verdict, included = hm.parse_accuracy_reply(
        '```json\n{"accuracy_score": "1", "is_included_in_golden_memories": "true"}\n```')
    assert verdict.label == "1" and included
    assert hm.parse_integrity_reply('```json\n{"score": "3"}\n```').label is None


def test_personamem_accuracy_by_hand() -> None:
    assert is_correct("<final_answer>(b)</final_answer>", "(b)")
    assert not is_correct("(a) or (b)", "b")
    assert extract_option("I think the answer is c") == "c"
    items = [PersonaMemItem("suggest_new_ideas", True), PersonaMemItem("suggest_new_ideas", False),
             PersonaMemItem("recall_user_shared_facts", True)]
    overall, per = aggregate_personamem(items)
    assert (overall.correct, overall.count) == (2, 3)
    assert per["suggest_new_ideas"].value == pytest.approx(0.5)
    assert per["recall_user_shared_facts"].value == 1.0


def test_longmemeval_accuracy_by_hand() -> None:
    assert parse_yes_no("Yes.").label == "yes" and parse_yes_no("No").label == "no"
    items = [LongMemEvalItem("multi-session", False, True), LongMemEvalItem("multi-session", True, False),
             LongMemEvalItem("temporal-reasoning", False, True), LongMemEvalItem("knowledge-update", True, True)]
    rep = aggregate_longmemeval(items)
    assert rep.by_type["multi-session"].value == pytest.approx(0.5)
    assert rep.task_averaged == pytest.approx((0.5 + 1.0 + 1.0) / 3)  # mean over the types present
    assert rep.overall.value == pytest.approx(3 / 4)
    assert (rep.abstention.correct, rep.abstention.count) == (1, 2)
