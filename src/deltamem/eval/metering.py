"""A ChatModel wrapper that counts what calls cost and bounds how many run at once.

The harness runs several (system, conversation) units in threads. Cost must be attributed to the unit that made
the call, so usage is summed into *thread-local accounts* opened with :meth:`MeteredChatModel.measure` (a unit runs
in one thread), besides a global total. The optional ``gate`` semaphore bounds concurrent calls: size N for a
remote endpoint, size 1 for a local in-process model (llama.cpp must not be entered from two threads at once).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

from deltamem.llm.base import ChatModel, ChatModelWrapper, ChatRequest, ChatResponse, Usage

__all__ = ["MeteredChatModel"]


class MeteredChatModel(ChatModelWrapper):
    """Wraps ``inner``; sums :class:`Usage` of every call into :attr:`total` and the open thread-local accounts.

    ``calls`` counts requests, whether the response cache answered them or not, and prompt/completion tokens are
    those of the original call (see :mod:`deltamem.llm.cache`): cost figures describe what a system needs, not what
    this run happened to recompute. ``cached_tokens`` tells the two apart; ``seconds`` is the wall time of real calls
    (waiting at the gate excluded), 0 for cache hits.
    """

    def __init__(self, inner: ChatModel, *, gate: threading.Semaphore | None = None) -> None:
        super().__init__(inner)
        self.total = Usage()
        self._gate = gate
        self._lock = threading.Lock()
        self._local = threading.local()

    @contextmanager
    def measure(self) -> Iterator[Usage]:
        """Yield a Usage that accumulates every call this thread makes inside the block (blocks may nest)."""
        account = Usage()
        stack: list[Usage] = getattr(self._local, "stack", [])
        self._local.stack = stack
        stack.append(account)
        try:
            yield account
        finally:
            stack.remove(account)

    def complete(self, request: ChatRequest) -> ChatResponse:
        """Forward to ``inner`` (through the gate) and record the usage."""
        with self._gate if self._gate is not None else nullcontext():
            start = time.perf_counter()
            response = self.inner.complete(request)
            elapsed = time.perf_counter() - start
        u = response.usage
        # One request = one call, served from the response cache or not, so a system's cost does not depend on
        # what an earlier (interrupted) run left in the cache. Cache hits show as cached_tokens == prompt_tokens.
        seconds = 0.0 if response.cached else elapsed
        used = Usage(u.prompt_tokens, u.completion_tokens, u.cached_tokens, 1, seconds)
        with self._lock:
            self.total = self.total + used
        for account in getattr(self._local, "stack", []):
            _accumulate(account, used)
        return response


def _accumulate(target: Usage, other: Usage) -> None:
    target.prompt_tokens += other.prompt_tokens
    target.completion_tokens += other.completion_tokens
    target.cached_tokens += other.cached_tokens
    target.calls += other.calls
    target.seconds += other.seconds
