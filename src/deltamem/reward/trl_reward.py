"""Deprecated: :func:`make_trl_reward`, a TRL reward function that parsed completions with the reward's own op
parser. ``deltamem train`` never used it; its reward is :func:`deltamem.train.make_agent_reward`, which reads a
completion exactly as the deployed agent reads its reply (aliases, the ``aliases`` column). This one stays, unchanged
but for a DeprecationWarning, until it is removed; a custom reward can call :meth:`MLDScorer.score_many`.

Expected dataset columns (one row = one training transition ``(S_t, d_{t+1}) → S*_{t+1}``):

* ``prompt``: whatever the agent is prompted with (TRL's own column; not read here).
* ``state``: S_t, the memories before the session, as a list of ``{"id": str, "text": str, "keywords": [str]}``
  (or that list as a JSON string). The completion's operations are applied to it.
* ``target``: S*_{t+1}, the labelled memories after the session, same format; its ``keywords`` are the K_j of κ.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

from deltamem.core import ConfigError
from deltamem.reward.mld import MLDScorer
from deltamem.reward.text import completion_text

RewardFunc = Callable[..., list[float]]

#: What the warning of :func:`make_trl_reward` says to use instead.
INSTEAD = ("deltamem.train.make_agent_reward (the reward `deltamem train` uses: the agent's own reply parser, "
           "with an `aliases` column) or, for a reward of your own, MLDScorer.score_many")


def make_trl_reward(scorer: MLDScorer, *, state_column: str = "state", target_column: str = "target",
                    name: str = "mld_reward") -> RewardFunc:
    """Deprecated (see the module): a TRL reward function ``f(completions, **kwargs) -> list[float]`` scoring each
    completion with ``scorer``.

    The whole batch is scored with :meth:`MLDScorer.score_many` (one embed call). If TRL passes ``log_metric``,
    the batch means of P_soft and R_soft and the share of invalid outputs are logged as ``<name>/p_soft``,
    ``<name>/r_soft`` and ``<name>/invalid``. A missing column is a :class:`ConfigError` (a data bug, not a bad
    rollout); a bad completion gets reward 0.
    """
    warnings.warn(f"make_trl_reward is deprecated and unused by deltamem's trainer: use {INSTEAD}",
                  DeprecationWarning, stacklevel=2)

    def reward(completions: list[Any], **kwargs: Any) -> list[float]:
        for column in (state_column, target_column):
            if kwargs.get(column) is None:
                raise ConfigError(f"the reward needs a {column!r} dataset column (a list of "
                                  '{"id", "text", "keywords"} per row)')
        states, targets = kwargs[state_column], kwargs[target_column]
        if not (len(states) == len(targets) == len(completions)):
            raise ConfigError("completions, states and targets must have the same length")
        results = scorer.score_many([completion_text(c) for c in completions], targets, states=states)
        log = kwargs.get("log_metric")
        if callable(log) and results:
            n = len(results)
            log(f"{name}/p_soft", sum(r.p_soft for r in results) / n)
            log(f"{name}/r_soft", sum(r.r_soft for r in results) / n)
            log(f"{name}/invalid", sum(r.outcome == "invalid" for r in results) / n)
        return [r.reward for r in results]

    reward.__name__ = reward.__qualname__ = name  # TRL logs rewards under the function's name
    return reward
