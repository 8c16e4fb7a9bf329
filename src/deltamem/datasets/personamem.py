"""PersonaMem (Jiang et al., COLM 2025): ``questions_<size>.csv`` + ``shared_contexts_<size>.jsonl``.

The questions file is a CRLF, RFC-4180 CSV whose ``all_options`` column is a Python-literal list of four
``"(a) ..."`` strings. The conversation histories live in a separate JSON Lines file, one object per line with a
single key (the ``shared_context_id``) whose value is the list of chat messages; a question sees messages
``[0, end_index_in_shared_context)`` of its history. Several questions share one history.
"""

from __future__ import annotations

import ast
import csv
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from deltamem.core.errors import ConfigError, CorruptDataError
from deltamem.core.session import Message, Session
from deltamem.datasets.common import (
    Conversation,
    Question,
    Record,
    Verify,
    iter_jsonl,
    maybe_verify,
    require_file,
)

KNOWN_SHA256: Mapping[str, str] = {
    "questions_32k.csv": "cccd34cf53e0bc4d9536c04cff5ca045156d9a4e227e83327112482840bbc93c",
    "questions_32k_dev.csv": "cd1be7d9ca1626fca5d3ee2a3cce1cb769ad77ca8a27e67243f31cbff8029058",
    "shared_contexts_32k.jsonl": "217247ebfec9e8442fc53570c795ab69f21aad08745f7de78d9beab51b122d4a",
}

COLUMNS = (
    "persona_id",
    "question_id",
    "question_type",
    "topic",
    "context_length_in_tokens",
    "context_length_in_letters",
    "distance_to_ref_in_blocks",
    "distance_to_ref_in_tokens",
    "num_irrelevant_tokens",
    "distance_to_ref_proportion_in_context",
    "user_question_or_message",
    "correct_answer",
    "all_options",
    "shared_context_id",
    "end_index_in_shared_context",
)
LETTERS = ("a", "b", "c", "d")
#: The instruction the official long-context query puts between the user's message and the options.
INSTRUCTION = (
    "Find the most appropriate model response and give your final answer (a), (b), (c), or (d) "
    "after the special token <final_answer>."
)


@dataclass(frozen=True, slots=True)
class PersonaMemQuestion:
    """One multiple-choice row. ``correct`` is the letter (``"b"``); ``options`` keep their ``"(a) "`` prefixes."""

    question_id: str
    persona_id: int
    question_type: str
    topic: str
    message: str
    correct: str
    options: tuple[str, ...]
    options_text: str  # the all_options cell as written, which the official query pastes verbatim
    shared_context_id: str
    end_index: int
    context_length_in_tokens: int
    distance_to_ref_in_blocks: int
    distance_to_ref_in_tokens: int

    def prompt(self) -> str:
        """The final user message of the official query: message, instruction, options."""
        return f"{self.message}\n\n{INSTRUCTION}\n\n{self.options_text}"


@dataclass(frozen=True, slots=True)
class PersonaMemMessage:
    """One message of a shared context (no timestamps exist in this benchmark)."""

    role: str
    content: str


def load_personamem_questions(path: str | Path, *, verify: Verify = "off") -> list[PersonaMemQuestion]:
    """Read ``questions_<size>.csv``; a missing column, a short row or a bad cell raises CorruptDataError."""
    p = require_file(path)
    maybe_verify(p, KNOWN_SHA256, verify)
    try:
        with p.open(encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh, strict=True)
            missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise CorruptDataError(f"{p}: header lacks column(s) {', '.join(missing)}")
            return [_row(p, row, n) for n, row in enumerate(reader, start=1)]
    except csv.Error as e:
        raise CorruptDataError(f"{p}: malformed CSV (truncated or corrupt?) near line {reader.line_num}: {e}") from e
    except UnicodeDecodeError as e:
        raise CorruptDataError(f"{p}: not UTF-8 text: {e}") from e


def load_personamem_contexts(
    path: str | Path, *, verify: Verify = "off", only: Iterable[str] | None = None
) -> dict[str, tuple[PersonaMemMessage, ...]]:
    """Read ``shared_contexts_<size>.jsonl`` into ``{shared_context_id: messages}``.

    ``only`` restricts the result to the given ids (the full file holds more histories than a question subset
    needs); every line is still validated.
    """
    p = require_file(path)
    maybe_verify(p, KNOWN_SHA256, verify)
    wanted = set(only) if only is not None else None
    out: dict[str, tuple[PersonaMemMessage, ...]] = {}
    for lineno, obj in iter_jsonl(p):
        rec = Record(obj, path=p, where=f"line {lineno}")
        if len(rec.data) != 1:
            raise rec.error(f"expected one key (the shared_context_id), got {len(rec.data)}")
        cid = next(iter(rec.data))
        messages = rec.get(cid, list)
        parsed = tuple(_message(rec.child(m, f"context {cid[:12]}… message #{i}")) for i, m in enumerate(messages))
        if wanted is None or cid in wanted:
            out[cid] = parsed
    return out


def personamem_conversations(
    questions: Sequence[PersonaMemQuestion], contexts: Mapping[str, Sequence[PersonaMemMessage]]
) -> list[Conversation]:
    """One Conversation per shared context (in order of first use), its questions cut at their ``end_index``.

    Raises CorruptDataError when a question's context is absent or shorter than its ``end_index``.
    """
    if not contexts:
        raise ConfigError("no PersonaMem contexts given: load shared_contexts_<size>.jsonl first")
    grouped: dict[str, list[PersonaMemQuestion]] = {}
    for q in questions:
        context = contexts.get(q.shared_context_id)
        if context is None:
            raise CorruptDataError(f"question {q.question_id}: shared context {q.shared_context_id} is not loaded")
        if q.end_index > len(context):
            raise CorruptDataError(
                f"question {q.question_id}: end_index {q.end_index} beyond its context's {len(context)} messages"
            )
        grouped.setdefault(q.shared_context_id, []).append(q)
    out = []
    for cid, qs in grouped.items():
        messages = tuple(
            Message(speaker=m.role, text=m.content, role=m.role) for m in contexts[cid]
        )
        out.append(
            Conversation(
                id=cid,
                sessions=(Session(id=cid, date=None, messages=messages),),
                questions=tuple(
                    Question(
                        id=q.question_id,
                        question=q.message,
                        answer=q.correct,
                        category=q.question_type,
                        options=q.options,
                        context_end=q.end_index,
                    )
                    for q in qs
                ),
                speakers=("user", "assistant"),
            )
        )
    return out


def _row(path: Path, row: dict[str, str | None], n: int) -> PersonaMemQuestion:
    where = f"row {n} ({row.get('question_id') or '?'})"

    def err(what: str) -> CorruptDataError:
        return CorruptDataError(f"{path}: {where}: {what}")

    short = [c for c in COLUMNS if row.get(c) is None]
    if short or None in row:
        raise err(f"has {len(row) - (1 if None in row else 0)} cells, expected {len(COLUMNS)} (truncated?)")
    cell = {c: str(row[c]) for c in COLUMNS}

    def integer(col: str) -> int:
        try:
            return int(cell[col])
        except ValueError as e:
            raise err(f"column {col!r} should be an integer, got {cell[col]!r}") from e

    correct = cell["correct_answer"].strip().strip("()").lower()
    if correct not in LETTERS:
        raise err(f"correct_answer should be one of (a)-(d), got {cell['correct_answer']!r}")
    try:
        options = ast.literal_eval(cell["all_options"])
    except (ValueError, SyntaxError) as e:
        raise err(f"all_options is not a Python list literal: {e}") from e
    if not (isinstance(options, list) and len(options) == 4 and all(isinstance(o, str) for o in options)):
        raise err("all_options should be a list of 4 strings")
    return PersonaMemQuestion(
        question_id=cell["question_id"],
        persona_id=integer("persona_id"),
        question_type=cell["question_type"],
        topic=cell["topic"],
        message=cell["user_question_or_message"],
        correct=correct,
        options=tuple(options),
        options_text=cell["all_options"],
        shared_context_id=cell["shared_context_id"],
        end_index=integer("end_index_in_shared_context"),
        context_length_in_tokens=integer("context_length_in_tokens"),
        distance_to_ref_in_blocks=integer("distance_to_ref_in_blocks"),
        distance_to_ref_in_tokens=integer("distance_to_ref_in_tokens"),
    )


def _message(m: Record) -> PersonaMemMessage:
    return PersonaMemMessage(role=m.get("role", str), content=m.get("content", str))
