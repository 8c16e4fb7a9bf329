"""Benchmark loaders: one module per benchmark, each returning typed records and the normalised view.

Every loader takes a file path (nothing is bundled: the data are under their own licences) and raises
:class:`~deltamem.core.errors.CorruptDataError` naming the file and the record for a wrong or truncated file.
"""

from deltamem.core.session import Message, Session
from deltamem.datasets.common import (
    Conversation,
    DataIntegrityWarning,
    Question,
    data_file,
    sha256_of,
    verify_sha256,
)
from deltamem.datasets.halumem import HaluMemUser, load_halumem, load_halumem_conversations
from deltamem.datasets.locomo import LocomoSample, load_locomo, load_locomo_conversations
from deltamem.datasets.longmemeval import LongMemEvalInstance, load_longmemeval, load_longmemeval_conversations
from deltamem.datasets.personamem import (
    PersonaMemQuestion,
    load_personamem_contexts,
    load_personamem_questions,
    personamem_conversations,
)

__all__ = [
    "Conversation",
    "DataIntegrityWarning",
    "HaluMemUser",
    "LocomoSample",
    "LongMemEvalInstance",
    "Message",
    "PersonaMemQuestion",
    "Question",
    "Session",
    "data_file",
    "load_halumem",
    "load_halumem_conversations",
    "load_locomo",
    "load_locomo_conversations",
    "load_longmemeval",
    "load_longmemeval_conversations",
    "load_personamem_contexts",
    "load_personamem_questions",
    "personamem_conversations",
    "sha256_of",
    "verify_sha256",
]
