"""The state-level reward of DeltaMem: soft F1 over the Memory-based Levenshtein Distance (MLD).

::

    Δ_pred = S_pred \\ S_target    Δ_target = S_target \\ S_pred      (multisets of normalised texts)
    C[i,j] = cos(p_i, g_j) clipped to [0, 1]    κ[i,j] = share of g_j's keywords found in p_i
    s      = C·κ (product) | 1[C ≥ τ]·κ (threshold) | min(C, κ) (min)
    γ*     = one-to-one assignment maximising Σ s (scipy linear_sum_assignment)
    P = Σs/|Δ_pred|   R = Σs/|Δ_target|   reward = 2PR/(P+R) = 2Σs/(|Δ_pred|+|Δ_target|)
    MLD = |Δ_pred| + |Δ_target| − 2Σs

Hot path: texts are normalised, tokenised and embedded once and cached in the scorer; a reward is then a few dict
look-ups, one small matmul, a κ loop over (changed × changed) pairs and one assignment.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.optimize import linear_sum_assignment

from deltamem.core import (
    Add,
    AgentOutputError,
    ConfigError,
    Delete,
    EmbedderError,
    InvalidOperation,
    MemoryState,
    Noop,
    Operation,
    Update,
    apply,
    op_from_dict,
)
from deltamem.embed.base import Embedder
from deltamem.reward.parse import Item, extract_ops, items_of, state_of_items
from deltamem.reward.result import MatchedPair, RewardConfig, RewardResult
from deltamem.reward.text import containment, normalise_text, token_string

Matrix = npt.NDArray[np.float64]
_OPS = (Add, Update, Delete, Noop)


@dataclass(slots=True)
class _Prepared:
    """The two differences of one rollout, as (display text, normalised key[, keywords])."""

    pred: list[tuple[str, str]]
    target: list[tuple[str, str, tuple[str, ...]]]


class MLDScorer:
    """Scores predicted memory states against targets; holds the embedder and the text caches.

    One scorer serves a whole training run: memory texts recur across the rollouts of a group and across epochs, so
    normalised keys, token strings and vectors are cached (bounded, oldest half dropped when full). Vectors are
    fetched with at most one ``embed`` call per :meth:`score` / :meth:`score_many` (all uncached texts together).
    """

    def __init__(self, embedder: Embedder, *, config: RewardConfig | None = None, cache_size: int = 200_000) -> None:
        if cache_size < 1:
            raise ConfigError("cache_size must be at least 1")
        self._embedder = embedder
        self._config = config or RewardConfig()
        self._limit = cache_size
        self._keys: dict[str, str] = {}
        self._tokens: dict[str, str] = {}
        self._kw_tokens: dict[tuple[str, ...], tuple[str, ...]] = {}
        self._vectors: dict[str, npt.NDArray[np.float32]] = {}
        self.embed_calls = 0
        self.embedded_texts = 0

    @property
    def config(self) -> RewardConfig:
        """The credit variant, τ and matching rule in use."""
        return self._config

    @property
    def embedder(self) -> Embedder:
        """The embedder the cosines come from."""
        return self._embedder

    def score(self, pred: Any, target: Any, *, state: Any = None,
              keywords: Mapping[str, Sequence[str]] | None = None) -> RewardResult:
        """The reward of one rollout.

        Without ``state``, ``pred`` is the predicted state S_pred: a :class:`MemoryState`, a list of
        :class:`MemoryEntry` or of records ``{"id", "text", "keywords"}``. With ``state`` (S_t, same forms), ``pred``
        is the agent's output: raw text (see :func:`deltamem.reward.parse.extract_ops`), a list of operations or of
        op dicts; it is applied to S_t with :func:`deltamem.core.apply`. Unparsable output or an invalid op gives
        reward 0 with ``outcome="invalid"`` and the reason.

        ``target`` is S*_{t+1} in the same forms. Each target memory's keywords K_j are its entry's ``keywords``
        unless ``keywords`` maps its id (or, failing that, its text) to others.
        """
        prep = self._prepare(pred, target, state, keywords)
        return prep if isinstance(prep, RewardResult) else self._finish(prep)

    def score_many(self, preds: Sequence[Any], targets: Sequence[Any], *,
                   states: Sequence[Any] | None = None) -> list[RewardResult]:
        """:meth:`score` for a batch (a GRPO step): one ``embed`` call for all uncached texts of the batch.

        K_j come from the target entries' ``keywords`` (there is no per-call override here).
        """
        if len(preds) != len(targets) or (states is not None and len(states) != len(preds)):
            raise ConfigError("preds, targets and states must have the same length")
        preps = [self._prepare(p, t, None if states is None else states[i], None)
                 for i, (p, t) in enumerate(zip(preds, targets, strict=True))]
        self._lookup([k for p in preps if isinstance(p, _Prepared) for k in _keys_of(p)])
        return [p if isinstance(p, RewardResult) else self._finish(p) for p in preps]

    def warm(self, texts: Iterable[str]) -> int:
        """Embed and cache ``texts`` ahead of time (e.g. a dataset's target memories); returns how many were new."""
        before = self.embedded_texts
        self._lookup([self._key(t) for t in texts])
        return self.embedded_texts - before

    def cache_info(self) -> dict[str, int]:
        """Sizes of the caches and how often the embedder was called."""
        return {"vectors": len(self._vectors), "keys": len(self._keys), "embed_calls": self.embed_calls,
                "embedded_texts": self.embedded_texts, "limit": self._limit}

    # -- preparation: inputs → the two differences --------------------------------------------------------------

    def _prepare(self, pred: Any, target: Any, state: Any,
                 keywords: Mapping[str, Sequence[str]] | None) -> _Prepared | RewardResult:
        target_items = items_of(target, what="target")
        if keywords is not None:
            if any(isinstance(v, str) for v in keywords.values()):
                raise ConfigError("keywords must map each target id or text to a list of strings, not a string")
            target_items = [(m, t, tuple(keywords.get(m, keywords.get(t, kw)))) for m, t, kw in target_items]
        if state is None:
            if isinstance(pred, str):
                raise ConfigError("a raw agent output needs state=S_t to apply its operations to")
            pred_items = items_of(pred, what="prediction", keywords=False)
        else:
            if isinstance(pred, MemoryState):
                raise ConfigError("with state=S_t, pred must be the agent output (text or operations), not a state")
            s_t = state if isinstance(state, MemoryState) else items_of(state, require_id=True, keywords=False)
            try:
                pred_items = _apply_output(pred, s_t)
            except (AgentOutputError, InvalidOperation) as e:
                return self._invalid(f"{type(e).__name__}: {e}")
        return self._differences(pred_items, target_items)

    def _differences(self, pred: list[Item], target: list[Item]) -> _Prepared:
        # Multiset complement: a duplicated memory is not cancelled by the single copy the target holds.
        pred_keys = [self._key(t) for _, t, _ in pred]
        target_keys = [self._key(t) for _, t, _ in target]
        left = Counter(target_keys)
        dp: list[tuple[str, str]] = []
        for (_, text, _), key in zip(pred, pred_keys, strict=True):
            if left[key] > 0:
                left[key] -= 1
            else:
                dp.append((text, key))
        left = Counter(pred_keys)
        dt: list[tuple[str, str, tuple[str, ...]]] = []
        for (_, text, kw), key in zip(target, target_keys, strict=True):
            if left[key] > 0:
                left[key] -= 1
            else:
                dt.append((text, key, kw))
        return _Prepared(dp, dt)

    def _invalid(self, reason: str) -> RewardResult:
        return RewardResult(reward=0.0, p_soft=0.0, r_soft=0.0, mld=None, delta_pred=(), delta_target=(), pairs=(),
                            config=self._config, outcome="invalid", reason=reason)

    # -- scoring -------------------------------------------------------------------------------------------------

    def _finish(self, prep: _Prepared) -> RewardResult:
        cfg = self._config
        n_p, n_t = len(prep.pred), len(prep.target)
        delta_pred = tuple(t for t, _ in prep.pred)
        delta_target = tuple(t for t, _, _ in prep.target)
        if n_p == 0 or n_t == 0:
            both = n_p == n_t
            reason = ("both differences are empty: the predicted state equals the target" if both else
                      f"only one difference is empty (|Δ_pred|={n_p}, |Δ_target|={n_t}): nothing can match")
            value = 1.0 if both else 0.0
            return RewardResult(reward=value, p_soft=value, r_soft=value, mld=float(n_p + n_t),
                                delta_pred=delta_pred, delta_target=delta_target, pairs=(), config=cfg,
                                outcome="identical" if both else "one_empty", reason=reason)
        pred_keys = [k for _, k in prep.pred]
        target_keys = [k for _, k, _ in prep.target]
        vectors = self._lookup(pred_keys + target_keys)
        # float64 before the product: a float32 GEMM rounds each cell differently depending on where it sits in
        # the matrix, so merely reordering the memories would move the reward by ~1e-8.
        p_vec = np.stack(vectors[:n_p]).astype(np.float64)
        g_vec = np.stack(vectors[n_p:]).astype(np.float64)
        cos: Matrix = np.clip(p_vec @ g_vec.T, 0.0, 1.0)
        kappa = self._kappa(pred_keys, [kw for _, _, kw in prep.target])
        credit = _credit(cos, kappa, cfg)
        rows, cols = linear_sum_assignment(credit if cfg.match_on == "credit" else cos, maximize=True)
        total = float(credit[rows, cols].sum())
        pairs = tuple(self._pair(prep, int(i), int(j), cos, credit)
                      for i, j in zip(rows, cols, strict=True) if credit[i, j] > 0.0)
        return RewardResult(
            reward=min(1.0, 2.0 * total / (n_p + n_t)), p_soft=total / n_p, r_soft=total / n_t,
            mld=n_p + n_t - 2.0 * total, delta_pred=delta_pred, delta_target=delta_target, pairs=pairs, config=cfg,
        )

    def _pair(self, prep: _Prepared, i: int, j: int, cos: Matrix, credit: Matrix) -> MatchedPair:
        text, key = prep.pred[i]
        target_text, _, kw = prep.target[j]
        kappa, found, missing = containment(kw, key) if self._config.use_keywords else (1.0, (), ())
        return MatchedPair(pred=text, target=target_text, cosine=float(cos[i, j]), kappa=kappa,
                           credit=float(credit[i, j]), keywords_found=found, keywords_missing=missing)

    def _kappa(self, pred_keys: list[str], keywords: list[tuple[str, ...]]) -> Matrix | None:
        """κ[i, j], or None when every κ is 1 (no keywords, or keywords switched off)."""
        if not self._config.use_keywords:
            return None
        kw_tokens = [self._keyword_tokens(kw) for kw in keywords]
        if not any(kw_tokens):
            return None
        pred_tokens = [self._token_string(k) for k in pred_keys]
        kappa = np.ones((len(pred_keys), len(keywords)), dtype=np.float64)
        for j, kws in enumerate(kw_tokens):
            if kws:
                kappa[:, j] = [sum(k in p for k in kws) / len(kws) for p in pred_tokens]
        return kappa

    # -- caches --------------------------------------------------------------------------------------------------

    def _key(self, text: str) -> str:
        key = self._keys.get(text)
        if key is None:
            if not isinstance(text, str):
                raise ConfigError(f"memory text must be a string, got {type(text).__name__}")
            key = normalise_text(text)
            _make_room(self._keys, self._limit)
            self._keys[text] = key
        return key

    def _token_string(self, key: str) -> str:
        tokens = self._tokens.get(key)
        if tokens is None:
            tokens = token_string(key)
            _make_room(self._tokens, self._limit)
            self._tokens[key] = tokens
        return tokens

    def _keyword_tokens(self, keywords: tuple[str, ...]) -> tuple[str, ...]:
        if not keywords:
            return ()
        tokens = self._kw_tokens.get(keywords)
        if tokens is None:
            tokens = tuple(t for t in (token_string(k) for k in keywords) if t != "  ")  # unmatchable ones dropped
            _make_room(self._kw_tokens, self._limit)
            self._kw_tokens[keywords] = tokens
        return tokens

    def _lookup(self, keys: Sequence[str]) -> list[npt.NDArray[np.float32]]:
        """The vectors of ``keys``, embedding all uncached ones in one call (robust to eviction meanwhile)."""
        found = {k: self._vectors.get(k) for k in dict.fromkeys(keys)}
        missing = [k for k, v in found.items() if v is None]
        if missing:
            found.update(zip(missing, self._embed(missing), strict=True))
        return [v for v in (found[k] for k in keys) if v is not None]

    def _embed(self, texts: list[str]) -> npt.NDArray[np.float32]:
        vecs = np.asarray(self._embedder.embed(texts), dtype=np.float32)
        if vecs.ndim != 2 or vecs.shape[0] != len(texts):
            raise EmbedderError(f"embedder {self._embedder.name} returned shape {vecs.shape} for {len(texts)} texts")
        # Re-normalise defensively: the Protocol promises unit rows, and a cosine from a non-unit row would exceed 1.
        norms = np.linalg.norm(vecs, axis=1, keepdims=True)
        unit: npt.NDArray[np.float32] = np.divide(vecs, norms, out=np.zeros_like(vecs), where=norms > 0)
        self.embed_calls += 1
        self.embedded_texts += len(texts)
        _make_room(self._vectors, self._limit, incoming=len(texts))
        self._vectors.update(zip(texts, unit, strict=True))
        return unit


def _keys_of(prep: _Prepared) -> list[str]:
    return [k for _, k in prep.pred] + [k for _, k, _ in prep.target] if prep.pred and prep.target else []


def _credit(cos: Matrix, kappa: Matrix | None, cfg: RewardConfig) -> Matrix:
    match cfg.credit:
        case "product":
            return cos if kappa is None else cos * kappa
        case "threshold":
            hit = (cos >= cfg.threshold).astype(np.float64)
            return hit if kappa is None else hit * kappa
        case "min":
            return cos if kappa is None else np.minimum(cos, kappa)
    raise ConfigError(f"unknown credit variant {cfg.credit!r}")  # pragma: no cover - RewardConfig validates


def _apply_output(output: Any, state: MemoryState | list[Item]) -> list[Item]:
    raw = extract_ops(output) if isinstance(output, str) else output
    if isinstance(raw, Mapping) or not isinstance(raw, Sequence):
        raise AgentOutputError(f"operations must be a list, got {type(raw).__name__}", raw=repr(output))
    ops: list[Operation] = [op if isinstance(op, _OPS) else op_from_dict(op, index=i) for i, op in enumerate(raw)]
    if isinstance(state, MemoryState):
        return items_of(apply(state, ops).state)
    # apply() reads only the entries that ops name (ids of UPDATE / DELETE, and ADD ids for the collision check), so
    # build just those as MemoryEntry and overlay the changes on S_t's items: most of S_t is never materialised.
    named = {op.id for op in ops if not isinstance(op, Noop) and isinstance(op.id, str)}
    changes = apply(state_of_items([it for it in state if it[0] in named]), ops).changes
    changed = {c.memory_id: c.after for c in changes}
    kept = [it for it in state if it[0] not in changed] if changed else list(state)
    return kept + [(e.id, e.text, e.keywords) for e in changed.values() if e is not None]


def _make_room(cache: dict[Any, Any], limit: int, *, incoming: int = 1) -> None:
    # FIFO: drop the oldest half once full. Cheaper than LRU bookkeeping on every hit, and a training run's working
    # set (the current batch's states) is always the newest part of the cache.
    if len(cache) + incoming > limit:
        drop = max(len(cache) + incoming - limit, len(cache) // 2)
        for k in list(itertools.islice(cache, drop)):
            del cache[k]
