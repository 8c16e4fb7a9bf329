"""The normalised view every benchmark loader produces, plus shared validation and file-integrity helpers.

The harness only needs :class:`Conversation` (sessions of messages, in the package's one vocabulary
:mod:`deltamem.core.session`, then questions); each loader also returns
its own typed records with the benchmark-specific extras (LoCoMo evidence dia_ids, HaluMem memory points,
PersonaMem options, LongMemEval abstention flags).
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

from deltamem.core.errors import ConfigError, CorruptDataError
from deltamem.core.session import Session

T = TypeVar("T")

Verify = Literal["off", "warn", "raise"]


@dataclass(frozen=True, slots=True)
class Question:
    """One scored question in the normalised view.

    ``category`` is the benchmark's own label (LoCoMo ``"1"``..``"5"``, a question type elsewhere).
    ``after_session_id`` set means the question is asked right after that session (HaluMem); None means after
    the whole history. ``context_end`` (PersonaMem) means the question sees messages ``[0, context_end)`` of the
    conversation's single session. ``scored`` is False for items the official protocol skips (LoCoMo category 5).
    """

    id: str
    question: str
    answer: str
    category: str
    evidence_session_ids: tuple[str, ...] = ()
    evidence: tuple[str, ...] = ()
    options: tuple[str, ...] = ()
    asked_at: datetime | None = None
    after_session_id: str | None = None
    context_end: int | None = None
    is_abstention: bool = False
    scored: bool = True


@dataclass(frozen=True, slots=True)
class Conversation:
    """One independent history to ingest (fresh memory each), followed by its questions."""

    id: str
    sessions: tuple[Session, ...]
    questions: tuple[Question, ...]
    speakers: tuple[str, ...] = ()


class DataIntegrityWarning(UserWarning):
    """A data file whose sha256 differs from the published one (or has no published one)."""


def sha256_of(path: str | Path) -> str:
    """The hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    try:
        with Path(path).open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e}") from e
    return digest.hexdigest()


def verify_sha256(
    path: str | Path,
    *,
    known: Mapping[str, str],
    expected: str | None = None,
    on_mismatch: Literal["warn", "raise"] = "raise",
) -> bool | None:
    """Check ``path`` against ``expected`` or, by file name, against ``known``.

    Returns True on a match, False on a mismatch that only warned, and None when no reference hash exists
    (a :class:`DataIntegrityWarning` is issued then). A mismatch raises :class:`CorruptDataError` naming the file
    and both hashes unless ``on_mismatch="warn"``.
    """
    p = Path(path)
    ref = expected or known.get(p.name)
    if ref is None:
        warnings.warn(f"{p}: no published sha256 for a file of this name; not verified", DataIntegrityWarning,
                      stacklevel=2)
        return None
    actual = sha256_of(p)
    if actual == ref.lower():
        return True
    msg = f"{p}: sha256 {actual} differs from the published {ref} (truncated, modified or another release?)"
    if on_mismatch == "raise":
        raise CorruptDataError(msg)
    warnings.warn(msg, DataIntegrityWarning, stacklevel=2)
    return False


def maybe_verify(path: Path, known: Mapping[str, str], verify: Verify) -> None:
    """Run :func:`verify_sha256` per a loader's ``verify`` option (``"off"`` skips hashing)."""
    if verify == "off":
        return
    if verify not in ("warn", "raise"):
        raise ConfigError(f"verify must be 'off', 'warn' or 'raise', not {verify!r}")
    verify_sha256(path, known=known, on_mismatch=verify)


def data_file(data_dir: str | Path, bench: str, filename: str) -> Path:
    """``<data_dir>/<bench>/<filename>``, checked to exist (a ConfigError explains what is missing)."""
    p = Path(data_dir) / bench / filename
    if not p.is_file():
        raise ConfigError(f"{p} not found: download the official file or point data_dir at the folder holding it")
    return p


def require_file(path: str | Path) -> Path:
    """``path`` as a Path, or a ConfigError if there is no such file."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{p}: no such file")
    return p


class Record:
    """Typed access to one JSON object, raising CorruptDataError that names the file and the record."""

    __slots__ = ("data", "path", "where")

    def __init__(self, data: Any, *, path: Path, where: str) -> None:
        self.path = path
        self.where = where
        if not isinstance(data, dict):
            raise self.error(f"expected a JSON object, got {type(data).__name__}")
        self.data: dict[str, Any] = data

    def error(self, what: str) -> CorruptDataError:
        """A CorruptDataError for this record."""
        return CorruptDataError(f"{self.path}: {self.where}: {what}")

    def get(self, key: str, typ: type[T] | tuple[type, ...], *, default: Any = ..., nullable: bool = False) -> Any:
        """``data[key]`` checked against ``typ``; missing keys raise unless ``default`` is given."""
        if key not in self.data:
            if default is ...:
                raise self.error(f"missing required key {key!r}")
            return default
        value = self.data[key]
        if value is None and nullable:
            return None
        # bool is an int subclass; a JSON true where a number belongs is a schema error.
        if not isinstance(value, typ) or (isinstance(value, bool) and bool not in _as_tuple(typ)):
            raise self.error(f"key {key!r} should be {_type_name(typ)}, got {type(value).__name__}")
        return value

    def str_list(self, key: str, *, required: bool = True) -> tuple[str, ...]:
        """A list of strings under ``key`` (an absent optional key gives ``()``)."""
        value = self.get(key, list, default=... if required else None)
        if value is None:
            return ()
        if not all(isinstance(v, str) for v in value):
            raise self.error(f"key {key!r} should be a list of strings")
        return tuple(value)

    def child(self, data: Any, where: str) -> Record:
        """A nested record (``where`` is appended to this one's location)."""
        return Record(data, path=self.path, where=f"{self.where} {where}")

    def parse_date(self, key: str, fmt: str, *, default: Any = ...) -> datetime | None:
        """``data[key]`` parsed with ``strptime(fmt)``."""
        raw = self.get(key, str, default=default)
        if raw is None or raw is default:
            return None
        return parse_date(raw, fmt, err=lambda m: self.error(f"key {key!r}: {m}"))


def read_text(path: Path) -> str:
    """A whole UTF-8 file: ConfigError if it cannot be read, CorruptDataError if it is not UTF-8."""
    try:
        return path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e}") from e
    except UnicodeDecodeError as e:
        raise CorruptDataError(f"{path}: not UTF-8 text: {e}") from e


def read_json(path: Path) -> Any:
    """Parse a whole JSON file; a truncated or malformed file raises CorruptDataError with the position."""
    text = read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise CorruptDataError(
            f"{path}: not valid JSON (truncated or corrupt?) at line {e.lineno} column {e.colno}: {e.msg}"
        ) from e


def iter_jsonl(path: Path) -> Iterator[tuple[int, Any]]:
    """``(line_number, value)`` for each non-blank line of a JSON Lines file."""
    try:
        fh = path.open(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e}") from e
    with fh:
        try:
            for lineno, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    yield lineno, json.loads(line)
                except json.JSONDecodeError as e:
                    raise CorruptDataError(
                        f"{path}: line {lineno}: not valid JSON (truncated or corrupt?) at column {e.colno}: {e.msg}"
                    ) from e
        except UnicodeDecodeError as e:
            raise CorruptDataError(f"{path}: not UTF-8 text: {e}") from e


def parse_date(raw: str, fmt: str, *, err: Any) -> datetime:
    """``strptime`` that turns a ValueError into ``err(message)`` (a CorruptDataError)."""
    try:
        return datetime.strptime(raw.strip(), fmt)
    except ValueError as e:
        raise err(f"date {raw!r} does not match {fmt!r}") from e


def _as_tuple(typ: type | tuple[type, ...]) -> tuple[type, ...]:
    return typ if isinstance(typ, tuple) else (typ,)


def _type_name(typ: type | tuple[type, ...]) -> str:
    return " or ".join(t.__name__ for t in _as_tuple(typ))
