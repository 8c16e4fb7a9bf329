"""The GRPO reward: the agent's own parser on the completion, then the MLD reward on the resulting state.

A completion is read exactly as the deployed agent reads its reply (:func:`deltamem.agent.parse.parse_reply`,
aliases m1, m2, ... mapped back to memory ids), its operations are applied to S_t and the result is scored against
S*_{t+1} with :class:`deltamem.reward.MLDScorer`. Output the agent could not use (no JSON, a search request where
the ops were due, a malformed op) gets reward 0 and counts as a parse failure. The guards of the agent loop
(support and duplicate checks) are not applied: the policy is judged on what it wrote (ours).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from deltamem.agent.parse import OpsReply, ParseError, parse_reply
from deltamem.core import ConfigError, Operation
from deltamem.reward import MLDScorer, RewardResult, completion_text

RewardFunc = Callable[..., list[float]]


@dataclass(frozen=True, slots=True)
class Scored:
    """One completion's reward and whether the agent could parse it (``parsed=False`` ⇒ reward 0)."""

    reward: float
    parsed: bool
    result: RewardResult | None = None
    error: str = ""


def parse_completion(text: str, aliases: dict[str, str]) -> list[Operation]:
    """The operations of a final agent reply; :class:`ParseError` when the agent could not use it."""
    parsed = parse_reply(text, aliases, allow_search=False)
    assert isinstance(parsed, OpsReply)  # allow_search=False: a search request raises ParseError
    return list(parsed.ops)


def score_completions(scorer: MLDScorer, texts: list[str], *, states: list[Any], targets: list[Any],
                      aliases: list[Any]) -> list[Scored]:
    """Score a batch of completions (one embed call for all of them)."""
    if not (len(texts) == len(states) == len(targets) == len(aliases)):
        raise ConfigError("completions, states, targets and aliases must have the same length")
    out: list[Scored | None] = [None] * len(texts)
    todo: list[int] = []
    preds: list[list[Operation]] = []
    for i, (text, amap) in enumerate(zip(texts, aliases, strict=True)):
        try:
            preds.append(parse_completion(text, _alias_map(amap)))
            todo.append(i)
        except ParseError as e:
            out[i] = Scored(0.0, False, error=str(e))
    results = scorer.score_many(preds, [targets[i] for i in todo], states=[states[i] for i in todo])
    for i, r in zip(todo, results, strict=True):
        out[i] = Scored(r.reward, True, r, r.reason if r.outcome == "invalid" else "")
    return [s for s in out if s is not None]


def _alias_map(value: Any) -> dict[str, str]:
    data = json.loads(value) if isinstance(value, str) else value
    if not isinstance(data, dict):
        raise ConfigError("the aliases column must hold a JSON object {alias: memory id}")
    return {str(k): str(v) for k, v in data.items()}


def make_agent_reward(scorer: MLDScorer, *, name: str = "mld") -> RewardFunc:
    """A TRL reward function over the ``state``, ``target`` and ``aliases`` columns of :mod:`deltamem.train.data`.

    Logs ``<name>/parse_fail`` (share of completions the agent could not parse), ``<name>/invalid`` (parsed but
    the ops do not apply, e.g. a second op on one memory), ``<name>/p_soft`` and ``<name>/r_soft`` through TRL's
    ``log_metric``.
    """

    def reward(completions: list[Any], **kwargs: Any) -> list[float]:
        for column in ("state", "target", "aliases"):
            if kwargs.get(column) is None:
                raise ConfigError(f"the reward needs the {column!r} column built by deltamem.train.data")
        scored = score_completions(scorer, [completion_text(c) for c in completions], states=kwargs["state"],
                                   targets=kwargs["target"], aliases=kwargs["aliases"])
        log = kwargs.get("log_metric")
        if callable(log) and scored:
            n = len(scored)
            results = [s.result for s in scored if s.result is not None]
            log(f"{name}/parse_fail", sum(not s.parsed for s in scored) / n)
            log(f"{name}/invalid", sum(r.outcome == "invalid" for r in results) / n)
            log(f"{name}/p_soft", sum(r.p_soft for r in results) / n)
            log(f"{name}/r_soft", sum(r.r_soft for r in results) / n)
        return [s.reward for s in scored]

    reward.__name__ = reward.__qualname__ = name
    return reward
