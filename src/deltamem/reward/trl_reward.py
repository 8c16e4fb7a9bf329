"""The MLD reward as a TRL ``GRPOTrainer`` reward function. Pure Python: no torch, no trl import.

Expected dataset columns (one row = one training transition ``(S_t, d_{t+1}) → S*_{t+1}``):

* ``prompt``: whatever the agent is prompted with (TRL's own column; not read here).
* ``state``: S_t, the memories before the session, as a list of ``{"id": str, "text": str, "keywords": [str]}``
  (or that list as a JSON string). The completion's operations are applied to it.
* ``target``: S*_{t+1}, the labelled memories after the session, same format; its ``keywords`` are the K_j of κ.

TRL passes every non-prompt column to reward functions as a keyword argument holding one value per completion, so
``make_trl_reward(scorer)`` can be given to ``GRPOTrainer(reward_funcs=[...])`` as is.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from deltamem.core import ConfigError
from deltamem.reward.mld import MLDScorer

RewardFunc = Callable[..., list[float]]


def completion_text(completion: Any) -> str:
    """The final text of one completion: a string, or the last assistant message of a conversational completion.

    >>> completion_text([{"role": "assistant", "content": "[]"}])
    '[]'
    """
    if isinstance(completion, str):
        return completion
    if isinstance(completion, Mapping):
        return _content(completion.get("content"))
    if isinstance(completion, Sequence) and completion:
        messages = [m for m in completion if isinstance(m, Mapping)]
        assistant = [m for m in messages if m.get("role", "assistant") == "assistant"]
        if assistant:
            return _content(assistant[-1].get("content"))
    raise ConfigError(f"cannot read a completion of type {type(completion).__name__}")


def _content(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):  # multimodal content parts: keep the text parts
        return "".join(p.get("text", "") for p in content if isinstance(p, Mapping) and p.get("type") == "text")
    return "" if content is None else str(content)


def make_trl_reward(scorer: MLDScorer, *, state_column: str = "state", target_column: str = "target",
                    name: str = "mld_reward") -> RewardFunc:
    """A TRL reward function ``f(completions, **kwargs) -> list[float]`` scoring each completion with ``scorer``.

    The whole batch is scored with :meth:`MLDScorer.score_many` (one embed call). If TRL passes ``log_metric``,
    the batch means of P_soft and R_soft and the share of invalid outputs are logged as ``<name>/p_soft``,
    ``<name>/r_soft`` and ``<name>/invalid``. A missing column is a :class:`ConfigError` (a data bug, not a bad
    rollout); a bad completion gets reward 0.
    """

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
