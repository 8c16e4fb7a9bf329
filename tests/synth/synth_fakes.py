from __future__ import annotations

from collections.abc import Callable, Sequence

from deltamem.llm.base import Message
from deltamem.llm.scripted import ScriptedChatModel
from deltamem.synth.fake import fake_reply, prompt_stage

Override = Callable[[str | None, Sequence[Message]], str | None]


def model_with(override: Override | None = None) -> ScriptedChatModel:
    """The rule-based fake, except where ``override(stage, messages)`` returns a reply of its own."""
    def reply(messages: Sequence[Message]) -> str:
        stage = prompt_stage(messages)
        custom = override(stage, messages) if override else None
        return custom if custom is not None else fake_reply(messages)

    return ScriptedChatModel(default=reply, name="test-fake")


def stages_of(model: ScriptedChatModel) -> list[str | None]:
    """The synthesis step of every request the model received, in order."""
    return [prompt_stage(r["messages"]) for r in model.requests]
