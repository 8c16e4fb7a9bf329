"""``AsyncMemory``: the asyncio twin of :class:`deltamem.Memory`.

It holds no logic of its own: each method runs the sync method in a worker thread (the store and embedder are
blocking libraries, wrapped once here), so an event loop is never blocked and behaviour cannot drift.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

from deltamem.config import MemoryConfig
from deltamem.facade.memory import Memory

P = ParamSpec("P")
R = TypeVar("R")


def _threaded(method: Callable[P, R]) -> Callable[..., Awaitable[R]]:
    name = method.__name__

    @functools.wraps(method)
    async def run(self: AsyncMemory, *args: Any, **kwargs: Any) -> R:
        bound: Callable[..., R] = getattr(self.sync, name)
        return await asyncio.to_thread(bound, *args, **kwargs)

    return run


class AsyncMemory:
    """Async facade: ``await mem.add(...)``, ``await mem.search(...)``, ... with the same names and arguments."""

    def __init__(self, memory: Memory) -> None:
        self.sync = memory

    @classmethod
    def from_config(cls, config: MemoryConfig | None = None) -> AsyncMemory:
        """Build from a config, like :meth:`Memory.from_config`."""
        return cls(Memory.from_config(config))

    add = _threaded(Memory.add)
    apply = _threaded(Memory.apply)
    search = _threaded(Memory.search)
    get = _threaded(Memory.get)
    get_all = _threaded(Memory.get_all)
    state = _threaded(Memory.state)
    update = _threaded(Memory.update)
    delete = _threaded(Memory.delete)
    delete_all = _threaded(Memory.delete_all)
    history = _threaded(Memory.history)
    change_sets = _threaded(Memory.change_sets)
    revert = _threaded(Memory.revert)
    export = _threaded(Memory.export)
    import_ = _threaded(Memory.import_)
    reset = _threaded(Memory.reset)
    close = _threaded(Memory.close)

    async def __aenter__(self) -> AsyncMemory:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
