"""The facade users import: :class:`Memory` (sync) and :class:`AsyncMemory`, with what they return and their helpers.

Data flows one way through it: a session → the memory agent (reading the store through search) → operations →
:class:`~deltamem.facade.writer.ChangeWriter` → one change set committed to the store. Ingestion and the review
queue write through the same writer; nothing in this package or below it imports :class:`Memory`.
"""

from deltamem.facade.answering import Answer
from deltamem.facade.ingest import IngestResult
from deltamem.facade.memory import Memory
from deltamem.facade.review import Review
from deltamem.facade.writer import ChangeWriter

__all__ = ["Answer", "ChangeWriter", "IngestResult", "Memory", "Review"]
