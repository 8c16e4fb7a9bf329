"""MLD / soft F1 from the definition: hand-computed cases, edge cases, invalid output, caching."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from reward_fakes import TableEmbedder

from deltamem.core import Add, ConfigError, Delete, EmbedderError, Update
from deltamem.embed.base import Vectors
from deltamem.embed.hashing import HashingEmbedder
from deltamem.reward import MLDScorer, RewardConfig

# One target memory g = (1, 0) with three keywords; p contains two of them and has cos(p, g) = 0.6.
G = "Caroline moved to Seattle in March 2024"
P = "Caroline relocated to Seattle in March"
EXTRA = "Caroline bought a red bicycle"
SINGLE = {G: (1.0, 0.0), P: (0.6, 0.8), EXTRA: (0.0, 1.0)}
TARGET = [{"id": "m1", "text": G, "keywords": ["Seattle", "March", "2024"]}]


def scorer(table: dict[str, tuple[float, ...]], **cfg: object) -> MLDScorer:
    return MLDScorer(TableEmbedder(table), config=RewardConfig(**cfg))  # type: ignore[arg-type]


def pred(*texts: str) -> list[dict[str, str]]:
    return [{"id": f"p{i}", "text": t} for i, t in enumerate(texts)]


# cos = 0.6, κ = 2/3 → product 0.4, threshold(τ=0.5) 2/3, threshold(τ=0.7) 0, min 0.6
@pytest.mark.parametrize(("cfg", "s"), [
    ({"credit": "product"}, 0.4),
    ({"credit": "threshold", "threshold": 0.5}, 2 / 3),
    ({"credit": "threshold", "threshold": 0.7}, 0.0),
    ({"credit": "min"}, 0.6),
    ({"credit": "product", "use_keywords": False}, 0.6),
])
def test_one_pair_by_hand(cfg: dict[str, object], s: float) -> None:
    r = scorer(SINGLE, **cfg).score(pred(P), TARGET)
    assert r.outcome == "scored"
    assert r.delta_pred == (P,) and r.delta_target == (G,)
    assert r.p_soft == pytest.approx(s, abs=1e-6)
    assert r.r_soft == pytest.approx(s, abs=1e-6)
    assert r.reward == pytest.approx(s, abs=1e-6)
    assert r.mld == pytest.approx(2 - 2 * s, abs=1e-6)
    if s > 0:
        (pair,) = r.pairs
        assert pair.cosine == pytest.approx(0.6, abs=1e-6)
        assert pair.kappa == pytest.approx(1.0 if cfg.get("use_keywords") is False else 2 / 3)
        assert pair.credit == pytest.approx(s, abs=1e-6)
        if cfg.get("use_keywords") is not False:
            assert pair.keywords_found == ("Seattle", "March") and pair.keywords_missing == ("2024",)
    else:
        assert r.pairs == () and r.unmatched_pred == (P,) and r.unmatched_target == (G,)


def test_unequal_sizes_by_hand() -> None:
    # Δ_pred = {P, EXTRA}, Δ_target = {G}; EXTRA is orthogonal to G. Σs = 0.4.
    r = scorer(SINGLE).score(pred(P, EXTRA), TARGET)
    assert r.p_soft == pytest.approx(0.2, abs=1e-6)
    assert r.r_soft == pytest.approx(0.4, abs=1e-6)
    assert r.reward == pytest.approx(2 * 0.2 * 0.4 / 0.6, abs=1e-6)  # = 2·0.4 / 3
    assert r.mld == pytest.approx(3 - 0.8, abs=1e-6)
    assert r.unmatched_pred == (EXTRA,) and r.unmatched_target == ()


# Two pairs where matching on cosine and matching on credit disagree.
G1, G2 = "Caroline moved to Seattle", "Caroline adopted a cat"
P1, P2 = "Caroline moved to a new city", "Caroline's Seattle flat has a cat"
PAIRS = {G1: (1.0, 0.0), G2: (0.0, 1.0), P1: (0.8, 0.6), P2: (0.6, 0.8)}
TARGET2 = [{"id": "g1", "text": G1, "keywords": ["Seattle"]}, {"id": "g2", "text": G2}]


def test_matching_maximises_total_credit() -> None:
    # credit = [[0.8·0, 0.6·1], [0.6·1, 0.8·1]]: diagonal 0.8 < anti-diagonal 1.2.
    r = scorer(PAIRS).score(pred(P1, P2), TARGET2)
    assert {(p.pred, p.target) for p in r.pairs} == {(P1, G2), (P2, G1)}
    assert r.total_credit == pytest.approx(1.2, abs=1e-6)
    assert r.reward == pytest.approx(0.6, abs=1e-6)
    assert r.mld == pytest.approx(1.6, abs=1e-6)


def test_matching_on_cosine_is_the_papers_reading() -> None:
    # cos = [[0.8, 0.6], [0.6, 0.8]] picks the diagonal; its credits are 0 and 0.8.
    r = scorer(PAIRS, match_on="cosine").score(pred(P1, P2), TARGET2)
    assert [(p.pred, p.target) for p in r.pairs] == [(P2, G2)]
    assert r.reward == pytest.approx(0.4, abs=1e-6)
    assert r.mld == pytest.approx(2.4, abs=1e-6)


def test_negative_cosine_is_clipped_to_zero() -> None:
    r = scorer({G: (1.0, 0.0), P: (-1.0, 0.0)}, use_keywords=False).score(pred(P), TARGET)
    assert r.reward == 0.0 and r.mld == 2.0 and r.pairs == ()


# -- edge cases ----------------------------------------------------------------------------------------------------

STATE = [{"id": "m1", "text": "Caroline lives in Boston"}, {"id": "m2", "text": "Rex is a dog"}]
NEW = [{"id": "m1", "text": G, "keywords": ["Seattle", "March", "2024"]}, {"id": "m2", "text": "Rex is a dog"}]
TABLE = {"Caroline lives in Boston": (0.0, 1.0), "Rex is a dog": (1.0, 1.0), **SINGLE}


def test_identical_states_score_one_whatever_the_order_and_spelling() -> None:
    s = scorer(TABLE)
    r = s.score([{"id": "x", "text": "rex is a DOG."}, {"id": "y", "text": G + "!"}], NEW)
    assert (r.reward, r.p_soft, r.r_soft, r.mld, r.outcome) == (1.0, 1.0, 1.0, 0.0, "identical")
    assert s.embed_calls == 0  # unchanged memories cancel out before any embedding


def test_exactly_one_empty_difference_scores_zero() -> None:
    s = scorer(TABLE)
    grown = [*STATE, {"id": "m3", "text": EXTRA}]
    missed = s.score('[{"op": "NOOP"}]', grown, state=STATE)  # a new fact to add, the agent did nothing
    assert (missed.reward, missed.outcome, missed.mld) == (0.0, "one_empty", 1.0)
    assert missed.delta_pred == () and missed.delta_target == (EXTRA,)
    spurious = s.score(f'[{{"op": "ADD", "text": "{EXTRA}"}}]', STATE, state=STATE)  # nothing to do, agent added
    assert (spurious.reward, spurious.outcome, spurious.mld) == (0.0, "one_empty", 1.0)
    assert "only one difference is empty" in spurious.reason


def test_doing_nothing_when_a_fact_changed_leaves_the_stale_memory_unmatched() -> None:
    r = scorer(TABLE).score('[{"op": "NOOP"}]', NEW, state=STATE)
    assert r.delta_pred == ("Caroline lives in Boston",) and r.delta_target == (G,)
    assert (r.reward, r.mld, r.outcome) == (0.0, 2.0, "scored")  # cos(Boston, G) = 0


def test_empty_op_list_on_an_unchanged_target_scores_one() -> None:
    assert scorer(TABLE).score("[]", STATE, state=STATE).reward == 1.0


def test_a_duplicate_of_an_existing_memory_is_not_cancelled() -> None:
    r = scorer(TABLE).score('[{"op": "ADD", "text": "Rex is a dog."}]', STATE, state=STATE)
    assert r.delta_pred == ("Rex is a dog.",) and r.reward == 0.0


# -- agent output: parsed, applied, or rejected with the reason ----------------------------------------------------

def test_raw_output_is_applied_to_the_state() -> None:
    out = f'```json\n[{{"op": "UPDATE", "id": "m1", "text": "{P}"}}]\n```'
    r = scorer(TABLE).score(out, NEW, state=STATE)
    assert r.outcome == "scored" and r.reward == pytest.approx(0.4, abs=1e-6)


def test_parsed_ops_and_op_dicts_score_like_raw_text() -> None:
    s = scorer(TABLE)
    a = s.score([Update(id="m1", text=P)], NEW, state=STATE)
    b = s.score([{"op": "UPDATE", "id": "m1", "text": P}], NEW, state=STATE)
    c = s.score([Delete(id="m1"), Add(text=P)], NEW, state=STATE)  # another op sequence, same state
    assert a.reward == b.reward == c.reward == pytest.approx(0.4, abs=1e-6)


@pytest.mark.parametrize(("output", "reason"), [
    ("I would update Caroline's city.", "no JSON list of operations"),
    ('[{"op": "UPDATE", "id": "m99", "text": "x"}]', "unknown or deleted memory id 'm99'"),
    ('[{"op": "MERGE", "id": "m1"}]', "unknown op 'MERGE'"),
    ('[{"op": "UPDATE", "id": "m1", "text": "a"}, {"op": "DELETE", "id": "m1"}]', "already changed"),
    ('[{"op": "ADD", "text": "  "}]', "text is empty"),
])
def test_invalid_output_scores_zero_with_the_reason(output: str, reason: str) -> None:
    r = scorer(TABLE).score(output, NEW, state=STATE)
    assert (r.reward, r.p_soft, r.r_soft, r.mld, r.outcome) == (0.0, 0.0, 0.0, None, "invalid")
    assert reason in r.reason
    assert "invalid" in r.explain() and reason in r.explain(width=200)


def test_misuse_is_a_config_error() -> None:
    s = scorer(TABLE)
    with pytest.raises(ConfigError, match="needs state"):
        s.score("[]", NEW)
    with pytest.raises(ConfigError, match="needs a string 'text'"):
        s.score(pred(P), [{"id": "m1"}])
    with pytest.raises(ConfigError, match="credit must be"):
        RewardConfig(credit="sum")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="threshold"):
        RewardConfig(threshold=1.5)


# -- keywords ------------------------------------------------------------------------------------------------------

def test_paraphrase_missing_a_keyword_scores_below_one_keeping_it() -> None:
    target = [{"id": "m1", "text": "Caroline moved to Seattle in March 2024", "keywords": ["Seattle", "March 2024"]}]
    keeps = "Caroline relocated to Seattle in March 2024"
    misses = "Caroline relocated to a new city in March 2024"
    # Same cosine for both, so only κ separates them ...
    table = scorer({target[0]["text"]: (1.0, 0.0), keeps: (0.8, 0.6), misses: (0.8, 0.6)})
    assert table.score(pred(keeps), target).reward == pytest.approx(0.8, abs=1e-6)
    assert table.score(pred(misses), target).reward == pytest.approx(0.4, abs=1e-6)
    # ... and with a real (hashing) embedder the one that keeps the keyword still wins.
    hashing = MLDScorer(HashingEmbedder(dim=256))
    assert hashing.score(pred(keeps), target).reward > hashing.score(pred(misses), target).reward


def test_keyword_mapping_overrides_entry_keywords_by_id_or_text() -> None:
    s = scorer(SINGLE)
    assert s.score(pred(P), TARGET, keywords={"m1": ["Seattle"]}).reward == pytest.approx(0.6, abs=1e-6)
    assert s.score(pred(P), TARGET, keywords={G: ["Portland"]}).reward == 0.0
    with pytest.raises(ConfigError, match="not a string"):
        s.score(pred(P), TARGET, keywords={"m1": "Seattle"})


# -- embedding: batched and cached ---------------------------------------------------------------------------------

def test_one_embed_call_per_reward_then_cached() -> None:
    s = scorer(PAIRS)
    emb = s.embedder
    assert isinstance(emb, TableEmbedder)
    s.score(pred(P1, P2), TARGET2)
    assert len(emb.calls) == 1 and sorted(emb.calls[0]) == sorted(t.lower() for t in (P1, P2, G1, G2))
    s.score(pred(P2, P1), TARGET2)
    assert len(emb.calls) == 1
    assert s.cache_info()["vectors"] == 4


def test_score_many_embeds_the_whole_batch_at_once() -> None:
    s = scorer(TABLE)
    outs = [f'[{{"op": "UPDATE", "id": "m1", "text": "{P}"}}]', "garbage", f'[{{"op": "ADD", "text": "{EXTRA}"}}]']
    results = s.score_many(outs, [NEW, NEW, NEW], states=[STATE, STATE, STATE])
    assert [r.outcome for r in results] == ["scored", "invalid", "scored"]
    assert s.embed_calls == 1


def test_a_small_cache_still_scores_correctly() -> None:
    s = MLDScorer(TableEmbedder(PAIRS), cache_size=1)
    for _ in range(3):
        assert s.score(pred(P1, P2), TARGET2).reward == pytest.approx(0.6, abs=1e-6)


class _BrokenEmbedder:
    name, dim = "broken", 2

    def embed(self, texts: Sequence[str]) -> Vectors:
        return np.zeros((len(texts) + 1, 2), dtype=np.float32)


def test_an_embedder_returning_the_wrong_shape_is_an_embedder_error() -> None:
    with pytest.raises(EmbedderError, match="shape"):
        MLDScorer(_BrokenEmbedder()).score(pred(P), TARGET)


def test_result_to_dict_and_explain_show_the_pairs() -> None:
    r = scorer(SINGLE).score(pred(P, EXTRA), TARGET)
    d = r.to_dict()
    assert d["pairs"][0]["keywords_missing"] == ["2024"] and d["unmatched_pred"] == [EXTRA]
    text = r.explain(width=160)
    for needle in ("reward 0.267", "MLD 2.200", P, G, "0.600", "0.67", "0.400", "2024", "extra", EXTRA):
        assert needle in text
