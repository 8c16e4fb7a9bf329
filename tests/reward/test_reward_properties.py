"""Properties of the reward that follow from its definition, checked on generated states (hypothesis)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reward_fakes import TableEmbedder

from deltamem.reward import MLDScorer, RewardConfig

POOL = [
    ("Caroline lives in Seattle", ("Seattle",)),
    ("Caroline lives in Boston", ("Boston",)),
    ("Caroline works as a nurse at Mass General", ("nurse", "Mass General")),
    ("Caroline works as a teacher", ("teacher",)),
    ("Caroline has a dog named Rex", ("Rex",)),
    ("Caroline's dog Rex is 5 years old", ("Rex", "5")),
    ("Caroline's sister Maya lives in Denver", ("Maya", "Denver")),
    ("Caroline started pottery classes in May 2024", ("pottery", "May 2024")),
    ("Caroline is vegetarian", ()),
    ("Caroline runs every morning", ("runs",)),
    ("Caroline plans a trip to Japan in October", ("Japan", "October")),
    ("Caroline's favourite band is Radiohead", ("Radiohead",)),
]
SPURIOUS = "The assistant once mentioned a hovercraft"
_rng = np.random.default_rng(7)
# Pool vectors live in dims 0..5 (with negative parts, so clipping is exercised); the spurious one in dim 6 only.
TABLE = {text: (*_rng.normal(size=6).tolist(), 0.0) for text, _ in POOL}
TABLE[SPURIOUS] = (0.0,) * 6 + (1.0,)
CONFIGS = [RewardConfig(), RewardConfig(credit="threshold", threshold=0.3), RewardConfig(credit="min"),
           RewardConfig(match_on="cosine"), RewardConfig(use_keywords=False)]
SCORERS = [MLDScorer(TableEmbedder(TABLE), config=c) for c in CONFIGS]

indices = st.lists(st.integers(0, len(POOL) - 1), max_size=8)
scorers = st.sampled_from(SCORERS)


def records(idx: list[int], *, with_keywords: bool = True) -> list[dict[str, object]]:
    return [{"id": f"m{n}", "text": POOL[i][0], "keywords": list(POOL[i][1]) if with_keywords else []}
            for n, i in enumerate(idx)]


def unique(idx: list[int]) -> list[int]:
    return list(dict.fromkeys(idx))


@settings(max_examples=300, deadline=None)
@given(scorer=scorers, p=indices, t=indices.map(unique))
def test_reward_is_a_number_in_0_1_consistent_with_mld(scorer: MLDScorer, p: list[int], t: list[int]) -> None:
    r = scorer.score(records(p), records(t))
    assert 0.0 <= r.reward <= 1.0
    assert 0.0 <= r.p_soft <= 1.0 and 0.0 <= r.r_soft <= 1.0
    assert r.mld is not None
    n = len(r.delta_pred) + len(r.delta_target)
    assert 0.0 <= r.mld <= n
    if n:
        assert r.mld == pytest.approx(n * (1 - r.reward), abs=1e-9)  # reward = 1 − MLD / (|Δp| + |Δt|)
    if r.delta_pred and r.delta_target:
        assert r.total_credit == pytest.approx(r.p_soft * len(r.delta_pred), abs=1e-9)
        assert r.total_credit == pytest.approx(r.r_soft * len(r.delta_target), abs=1e-9)


@settings(max_examples=200, deadline=None)
@given(scorer=scorers, p=indices, t=indices.map(unique), data=st.data())
def test_reward_ignores_the_order_of_memories(scorer: MLDScorer, p: list[int], t: list[int],
                                              data: st.DataObject) -> None:
    a = scorer.score(records(p), records(t))
    b = scorer.score(records(data.draw(st.permutations(p))), records(data.draw(st.permutations(t))))
    assert b.reward == pytest.approx(a.reward, abs=1e-9)
    assert b.mld == pytest.approx(a.mld, abs=1e-9)
    assert sorted(b.delta_pred) == sorted(a.delta_pred) and sorted(b.delta_target) == sorted(a.delta_target)


@settings(max_examples=200, deadline=None)
@given(scorer=scorers, t=indices.map(unique), data=st.data())
def test_identical_states_score_one(scorer: MLDScorer, t: list[int], data: st.DataObject) -> None:
    shuffled = [{**m, "id": f"x{i}", "text": str(m["text"]).upper() + "."}
                for i, m in enumerate(records(data.draw(st.permutations(t))))]
    r = scorer.score(shuffled, records(t))
    assert (r.reward, r.mld) == (1.0, 0.0)


@settings(max_examples=300, deadline=None)
@given(scorer=scorers, p=indices, t=indices.map(unique), at=st.integers(0, 8))
def test_a_spurious_extra_memory_never_raises_the_reward(scorer: MLDScorer, p: list[int], t: list[int],
                                                         at: int) -> None:
    base = records(p)
    extra = [*base[:at], {"id": "spurious", "text": SPURIOUS}, *base[at:]]
    before = scorer.score(base, records(t)).reward
    after = scorer.score(extra, records(t)).reward
    assert after <= before + 1e-12
    if before > 0:
        assert after < before  # strictly lower: the extra memory widens |Δ_pred| and earns nothing


@settings(max_examples=200, deadline=None)
@given(p=indices, t=indices.map(unique))
def test_keywords_can_only_lower_the_product_reward(p: list[int], t: list[int]) -> None:
    with_kw = SCORERS[0].score(records(p), records(t)).reward
    without = SCORERS[0].score(records(p), records(t, with_keywords=False)).reward
    assert with_kw <= without + 1e-12


OP = st.one_of(
    st.builds(lambda i: {"op": "DELETE", "id": f"m{i}"}, st.integers(0, 6)),
    st.builds(lambda i, j: {"op": "UPDATE", "id": f"m{i}", "text": POOL[j][0]}, st.integers(0, 6),
              st.integers(0, len(POOL) - 1)),
    st.builds(lambda j: {"op": "ADD", "text": POOL[j][0]}, st.integers(0, len(POOL) - 1)),
    st.builds(lambda i, j: {"op": "ADD", "id": f"m{i}", "text": POOL[j][0]}, st.integers(0, 6),
              st.integers(0, len(POOL) - 1)),
    st.just({"op": "NOOP"}),
)


@settings(max_examples=300, deadline=None)
@given(s=indices.map(unique), t=indices.map(unique), ops=st.lists(OP, max_size=5))
def test_records_and_a_full_memory_state_give_the_same_result(s: list[int], t: list[int],
                                                              ops: list[dict[str, object]]) -> None:
    # S_t as records takes a shortcut (only the entries ops name are materialised); it must agree with core.apply.
    from deltamem.reward import state_from_records

    scorer = SCORERS[0]
    fast = scorer.score(ops, records(t), state=records(s))
    full = scorer.score(ops, records(t), state=state_from_records(records(s)))
    assert (fast.outcome, fast.reason) == (full.outcome, full.reason)
    assert fast.reward == pytest.approx(full.reward, abs=1e-12)
    assert sorted(fast.delta_pred) == sorted(full.delta_pred)
