"""Evaluation harness pieces: benchmark loaders (:mod:`.loaders`), metrics (:mod:`.metrics`), judge prompts.

Data files are never bundled; every loader takes the path of a file the user obtained (see docs/benchmarks.md).
"""

from deltamem.eval.loaders import (
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
