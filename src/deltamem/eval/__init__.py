"""Evaluation harness pieces: benchmark plug-ins (:mod:`.benchmarks`, over the loaders of :mod:`deltamem.datasets`),
metrics (:mod:`.metrics`), judge prompts.

Data files are never bundled; every loader takes the path of a file the user obtained (see docs/benchmarks.md).
"""

from deltamem.datasets import (
    Conversation,
    Message,
    Question,
    Session,
    load_halumem_conversations,
    load_locomo_conversations,
    load_longmemeval_conversations,
    personamem_conversations,
)

__all__ = [
    "Conversation",
    "Message",
    "Question",
    "Session",
    "load_halumem_conversations",
    "load_locomo_conversations",
    "load_longmemeval_conversations",
    "personamem_conversations",
]
