"""deltamem: long-term memory for LLM assistants, managed by one agent per session (ADD / UPDATE / DELETE / NOOP).

Quick start::

    from deltamem import Memory
    m = Memory.from_config()                       # SQLite file + local MiniLM embeddings
    m.add("Caroline lives in Boston", user_id="caroline")
    m.search("where does Caroline live?", user_id="caroline")
"""

from typing import TYPE_CHECKING, Any

from deltamem._version import __version__

__all__ = ["AsyncMemory", "Filters", "Memory", "MemoryConfig", "__version__", "load_config"]

if TYPE_CHECKING:
    from deltamem.config import MemoryConfig, load_config
    from deltamem.facade.aio import AsyncMemory
    from deltamem.facade.memory import Memory
    from deltamem.stores.base import Filters


def __getattr__(name: str) -> Any:
    # Lazy, so that `import deltamem.core` (reward, trainer) stays light.
    if name == "Memory":
        from deltamem.facade.memory import Memory

        return Memory
    if name == "AsyncMemory":
        from deltamem.facade.aio import AsyncMemory

        return AsyncMemory
    if name in ("MemoryConfig", "load_config"):
        from deltamem import config

        return getattr(config, name)
    if name == "Filters":
        from deltamem.stores.base import Filters

        return Filters
    raise AttributeError(name)
