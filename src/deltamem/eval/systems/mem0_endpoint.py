"""The loopback OpenAI-compatible endpoint mem0 runs on: :class:`~deltamem.llm.openai_wire.OpenAIEndpoint`.

mem0 only talks to models over HTTP through the ``openai`` SDK. To run it as a baseline on *the same* model
objects the harness gives every other system (metered, cached, gated), :class:`ChatEndpoint` serves them on
127.0.0.1 behind a random key::

    with ChatEndpoint(llm, embedder=embedder) as ep:
        OpenAI(base_url=ep.base_url, api_key=ep.api_key).chat.completions.create(...)

With :class:`~deltamem.llm.scripted.ScriptedChatModel` and :class:`~deltamem.embed.hashing.HashingEmbedder` it is
also the fake OpenAI server of the mem0 tests.
"""

from __future__ import annotations

from deltamem.llm.openai_wire import OpenAIEndpoint, answer_chat

__all__ = ["ChatEndpoint", "answer_chat"]

#: The endpoint mem0 is given (the name this module has always exported).
ChatEndpoint = OpenAIEndpoint
