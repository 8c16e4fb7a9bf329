"""The MCP tools: thin, typed methods over an injected :class:`deltamem.Memory`.

Each method is registered as one MCP tool (see :func:`deltamem.mcp_server.app.build_server`); its docstring is the
tool description and its ``Annotated`` parameters become the input schema. deltamem errors are turned into MCP tool
errors (an ``isError`` result the model can read and act on), never a crashed server.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TYPE_CHECKING, Annotated, Any

from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from deltamem.core import ConfigError, DeltamemError, InvalidOperation, NotFoundError
from deltamem.facade.scope import namespace_for
from deltamem.mcp_server.models import (
    AnswerResult,
    ChatMessage,
    HistoryEvent,
    HistoryResult,
    MemoryItem,
    MemoryPage,
    ScoredMemory,
    SearchResult,
    WriteResult,
)

if TYPE_CHECKING:
    from deltamem.facade.memory import Memory

#: Longest error text sent back to the client: errors may quote the caller's input, which can be huge.
MAX_ERROR_CHARS = 500
#: Bounds on what one call may ask for (one call = one change set or one page).
MAX_FACTS = 100
MAX_MESSAGES = 1000
MAX_PAGE = 500
MAX_HITS = 100

UserId = Annotated[str | None, Field(
    description="Whose memory: the user's id (letters, digits, . _ @ + -). Omit to use the server's default user.")]
AgentId = Annotated[str | None, Field(
    description="Optional agent scope, alone or together with user_id. Omit to use the server's default, if any.")]
MemoryId = Annotated[str, Field(min_length=1, max_length=200,
                                description="A memory id, as returned by search_memory or list_memories.")]


def describe(e: BaseException) -> str:
    """The message a client sees for an anticipated error: the error class and what went wrong, kept short."""
    # InvalidOperation's str() repeats the whole op (with its text); its reason is what the model needs.
    text = e.reason if isinstance(e, InvalidOperation) else str(e)
    if isinstance(e, InvalidOperation) and e.index:
        text = f"item #{e.index}: {text}"
    message = f"{type(e).__name__}: {text}"
    return message if len(message) <= MAX_ERROR_CHARS else message[:MAX_ERROR_CHARS - 1] + "…"


@contextmanager
def tool_errors() -> Iterator[None]:
    """Turn deltamem errors (and bad values, as the CLI does) into MCP tool errors with a clear message.

    Anything else is a bug: the SDK answers it with a generic ``isError`` result and logs the traceback.
    """
    try:
        yield
    except (DeltamemError, OSError, ValueError) as e:
        raise ToolError(describe(e)) from e


class MemoryTools:
    """The deltamem tools over one :class:`~deltamem.Memory`.

    ``user_id`` / ``agent_id`` are the default scope for calls that name none (e.g. the one user of a desktop
    assistant). The SDK runs these synchronous methods on worker threads; the store is thread-safe, the LLM is not
    assumed to be, so calls that use the LLM take one lock.
    """

    def __init__(self, memory: Memory, *, user_id: str | None = None, agent_id: str | None = None) -> None:
        if user_id is not None or agent_id is not None:
            namespace_for(user_id=user_id, agent_id=agent_id)  # reject a bad default at start-up, not per call
        self.memory = memory
        self.user_id = user_id
        self.agent_id = agent_id
        self._llm_lock = threading.Lock()

    def _scope(self, user_id: str | None, agent_id: str | None) -> dict[str, Any]:
        return {"user_id": user_id if user_id is not None else self.user_id,
                "agent_id": agent_id if agent_id is not None else self.agent_id}

    def _namespace(self, scope: dict[str, Any]) -> str:
        return namespace_for(**scope)

    def _check_query(self, query: str, what: str) -> None:
        if not query.strip():
            raise ConfigError(f"{what} must not be empty")
        limit = self.memory.config.max_text_chars
        if len(query) > limit:
            raise ConfigError(f"{what} has {len(query)} characters; the limit is {limit}")

    # -- writes ---------------------------------------------------------------------------------------------------
    def add_memory(
        self,
        facts: Annotated[list[str] | None, Field(
            max_length=MAX_FACTS,
            description="Facts to store as they are: short, self-contained sentences ('Alice is vegetarian').")]
        = None,
        messages: Annotated[list[ChatMessage] | None, Field(
            max_length=MAX_MESSAGES,
            description="A conversation to remember. deltamem's memory agent reads it against what is already "
                        "stored and adds, updates or deletes facts (needs an LLM configured on the server).")]
        = None,
        infer: Annotated[bool, Field(
            description="With messages: false stores each message as it is ('speaker: text') without the agent.")]
        = True,
        session_date: Annotated[str | None, Field(
            description="With messages: ISO-8601 date of the conversation, anchoring 'yesterday', 'last week'.")]
        = None,
        metadata: Annotated[dict[str, str | int | float | bool] | None, Field(
            description="With facts: metadata stored on each new memory.")]
        = None,
        user_id: UserId = None,
        agent_id: AgentId = None,
    ) -> WriteResult:
        """Remember something: store facts, or let the memory agent distil a conversation into facts.

        Give exactly one of facts or messages. The write is one atomic change set, kept in history.
        """
        with tool_errors():
            scope = self._scope(user_id, agent_id)
            if (facts is None) == (messages is None):
                raise ConfigError("give exactly one of facts or messages")
            if facts is not None:
                if not facts:
                    raise ConfigError("facts must not be empty")
                return WriteResult.of(self.memory.add(facts, metadata=metadata, **scope))
            assert messages is not None
            if not any(m.content.strip() for m in messages):
                raise ConfigError("messages must contain some text")
            msgs = [m.to_dict() for m in messages]
            guard: AbstractContextManager[Any] = self._llm_lock if infer else nullcontext()
            with guard:
                result = self.memory.add(msgs, infer=infer, session_date=session_date, **scope)
            if result.change_set is None:
                return WriteResult(status="queued_for_review", namespace=self._namespace(scope),
                                   review_id=result.review_id)
            return WriteResult.of(result.change_set)

    def update_memory(self, memory_id: MemoryId,
                      text: Annotated[str, Field(description="The new text of the fact (replaces the old one).")],
                      user_id: UserId = None, agent_id: AgentId = None) -> WriteResult:
        """Replace a memory's text (the old text stays in its history)."""
        with tool_errors():
            scope = self._scope(user_id, agent_id)
            self.memory.get(memory_id, **scope)  # NotFoundError names the id and the namespace
            return WriteResult.of(self.memory.update(memory_id, text, **scope))

    def delete_memory(self, memory_id: MemoryId, user_id: UserId = None, agent_id: AgentId = None) -> WriteResult:
        """Retire a memory that is wrong or no longer true. It is kept in history and can be restored."""
        with tool_errors():
            scope = self._scope(user_id, agent_id)
            self.memory.get(memory_id, **scope)
            return WriteResult.of(self.memory.delete(memory_id, **scope))

    # -- reads ----------------------------------------------------------------------------------------------------
    def search_memory(
        self,
        query: Annotated[str, Field(description="What to look for, in natural language.")],
        limit: Annotated[int | None, Field(ge=1, le=MAX_HITS,
                                           description="How many memories to return (default: server's top_k).")]
        = None,
        user_id: UserId = None,
        agent_id: AgentId = None,
    ) -> SearchResult:
        """Find the stored memories most relevant to a query (hybrid vector + keyword search)."""
        with tool_errors():
            self._check_query(query, "query")
            hits = self.memory.search(query, k=limit, **self._scope(user_id, agent_id))
            return SearchResult(query=query, results=[ScoredMemory.of_hit(h) for h in hits])

    def list_memories(
        self,
        limit: Annotated[int, Field(ge=1, le=MAX_PAGE, description="Page size.")] = 50,
        offset: Annotated[int, Field(ge=0, description="How many memories to skip (use next_offset).")] = 0,
        user_id: UserId = None,
        agent_id: AgentId = None,
    ) -> MemoryPage:
        """List the live memories, oldest first, one page at a time."""
        with tool_errors():
            # One extra row tells whether another page follows, without counting the namespace.
            entries = self.memory.get_all(limit=limit + 1, offset=offset, **self._scope(user_id, agent_id))
            more = len(entries) > limit
            return MemoryPage(memories=[MemoryItem.of(e) for e in entries[:limit]], offset=offset, limit=limit,
                              next_offset=offset + limit if more else None)

    def get_memory(self, memory_id: MemoryId, user_id: UserId = None, agent_id: AgentId = None) -> MemoryItem:
        """Fetch one live memory by id."""
        with tool_errors():
            return MemoryItem.of(self.memory.get(memory_id, **self._scope(user_id, agent_id)))

    def memory_history(
        self,
        memory_id: Annotated[str | None, Field(
            max_length=200, description="The memory whose changes to show; omit for the whole namespace.")] = None,
        limit: Annotated[int, Field(ge=1, le=MAX_PAGE, description="Show at most this many of the latest changes.")]
        = 100,
        user_id: UserId = None,
        agent_id: AgentId = None,
    ) -> HistoryResult:
        """Show how a memory (or the whole memory) changed over time: every ADD / UPDATE / DELETE, oldest first."""
        with tool_errors():
            scope = self._scope(user_id, agent_id)
            records = self.memory.history(memory_id, **scope)
            if memory_id is not None and not records:
                raise NotFoundError(f"no memory {memory_id!r} in {self._namespace(scope)!r}")
            return HistoryResult(memory_id=memory_id, events=[HistoryEvent.of(r) for r in records[-limit:]])

    def answer(
        self,
        question: Annotated[str, Field(description="The question to answer from memory.")],
        limit: Annotated[int | None, Field(ge=1, le=MAX_HITS,
                                           description="How many memories to retrieve (default: server's top_k).")]
        = None,
        user_id: UserId = None,
        agent_id: AgentId = None,
    ) -> AnswerResult:
        """Answer a question from the stored memories with deltamem's own LLM (needs an LLM on the server).

        Returns the answer and the memories it was based on.
        """
        with tool_errors():
            self._check_query(question, "question")
            with self._llm_lock:
                result = self.memory.answer(question, k=limit, **self._scope(user_id, agent_id))
            return AnswerResult.of(result)
