"""Versioned JSONL export / import: a header line, one line per record, and a footer that detects truncation.

Line types: ``header`` (format, schema_version, embedder, embedding_dim, namespaces), ``memory`` (entry, deleted_at,
vector as base64 float32), ``change_set``, ``history`` (in commit order; sequence numbers are not exported),
``footer`` (record count). From version 2 every record line carries ``sha256``, the SHA-256 of its canonical JSON
without that field, and the footer ``sha256``, a digest of the header and every record checksum in order. The
checksums detect corruption (a changed byte, a lost or moved line), not forgery: whoever can write a file can
compute them, so an import also checks what the records say (``stores/integrity.py``). The format is described for
users in docs/server.md ("Export format"). Import parses and validates the whole file before anything is written.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Iterator
from typing import IO, Any

import numpy as np

from deltamem._version import __version__
from deltamem.core import CorruptDataError, InvalidOperation, to_iso, utcnow
from deltamem.core.codec import entry_from_dict, entry_to_dict
from deltamem.core.timeutil import as_utc
from deltamem.stores.base import ChangeSetRecord, DumpRecord, HistoryRecord, StoredMemory
from deltamem.stores.integrity import check_record, check_records

FORMAT = "deltamem-export"
#: Version 2 adds a SHA-256 per record and a digest of the whole file in the footer; version 1 files still import.
SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)
#: The field that carries a record's checksum (and, in the footer, the file digest).
CHECKSUM = "sha256"


def record_to_line(rec: DumpRecord) -> dict[str, Any]:
    """One dumped record as a JSON-ready dict."""
    if isinstance(rec, StoredMemory):
        return {
            "type": "memory",
            "memory": entry_to_dict(rec.entry),
            "deleted_at": to_iso(rec.deleted_at) if rec.deleted_at else None,
            "vector": base64.b64encode(np.asarray(rec.vector, dtype="<f4").tobytes()).decode("ascii"),
        }
    if isinstance(rec, ChangeSetRecord):
        return {
            "type": "change_set", "id": rec.id, "namespace": rec.namespace, "created_at": to_iso(rec.created_at),
            "session_id": rec.session_id, "actor": rec.actor, "ops": list(rec.ops), "counts": dict(rec.counts),
            "reverts": rec.reverts, "reverted_by": rec.reverted_by, "note": rec.note,
        }
    return {
        "type": "history", "change_set_id": rec.change_set_id, "namespace": rec.namespace,
        "memory_id": rec.memory_id, "kind": rec.kind,
        "before": entry_to_dict(rec.before) if rec.before else None,
        "after": entry_to_dict(rec.after) if rec.after else None,
        "session_id": rec.session_id, "actor": rec.actor, "created_at": to_iso(rec.created_at),
    }


#: The fields of each record line, all written by :func:`record_to_line` and all required from version 2 on
#: (version 1 readers defaulted a few of them).
FIELDS = {
    "memory": {"type", "memory", "deleted_at", "vector"},
    "change_set": {"type", "id", "namespace", "created_at", "session_id", "actor", "ops", "counts", "reverts",
                   "reverted_by", "note"},
    "history": {"type", "change_set_id", "namespace", "memory_id", "kind", "before", "after", "session_id", "actor",
                "created_at"},
}


def line_to_record(data: dict[str, Any], seq: int, *, strict: bool = False) -> DumpRecord:
    """Parse one record line (raises CorruptDataError / KeyError / ValueError on malformed content); ``strict``
    also refuses a missing or unknown field (see :data:`FIELDS`)."""
    kind = data.get("type")
    if strict and isinstance(kind, str) and kind in FIELDS and set(data) - {CHECKSUM} != FIELDS[kind]:
        missing, unknown = sorted(FIELDS[kind] - set(data)), sorted(set(data) - FIELDS[kind] - {CHECKSUM})
        raise CorruptDataError(f"{kind} record: missing fields {missing}, unknown fields {unknown}")
    if kind == "memory":
        raw = base64.b64decode(data["vector"], validate=True)
        if len(raw) % 4:
            raise ValueError("vector bytes are not float32")
        vector = np.frombuffer(raw, dtype="<f4").astype(np.float32)
        deleted = as_utc(data["deleted_at"]) if data.get("deleted_at") is not None else None
        return StoredMemory(entry_from_dict(data["memory"]), vector, deleted)
    if kind == "change_set":
        counts = data["counts"]
        if not isinstance(data["ops"], list) or not isinstance(counts, dict):
            raise ValueError("ops must be a list and counts an object")
        if not all(type(v) is int for v in counts.values()):
            raise ValueError("counts must be integers")
        return ChangeSetRecord(
            _text(data, "id"), _text(data, "namespace"), as_utc(data["created_at"]), _opt_text(data, "session_id"),
            _text(data, "actor"), tuple(data["ops"]), dict(counts), _opt_text(data, "reverts"),
            _opt_text(data, "reverted_by"), _text({"note": "", **data}, "note"),
        )
    if kind == "history":
        if data["kind"] not in ("ADD", "UPDATE", "DELETE"):
            raise ValueError(f"bad change kind {data['kind']!r}")
        before = entry_from_dict(data["before"]) if data.get("before") is not None else None
        after = entry_from_dict(data["after"]) if data.get("after") is not None else None
        return HistoryRecord(seq, _text(data, "change_set_id"), _text(data, "namespace"), _text(data, "memory_id"),
                             data["kind"], before, after, _opt_text(data, "session_id"), _text(data, "actor"),
                             as_utc(data["created_at"]))
    raise ValueError(f"unknown record type {kind!r}")


def _text(data: dict[str, Any], key: str) -> str:
    value = data[key]
    if not isinstance(value, str):
        raise ValueError(f"{key} must be a string, not {type(value).__name__}")
    return value


def _opt_text(data: dict[str, Any], key: str) -> str | None:
    return None if data.get(key) is None else _text(data, key)


def canonical(obj: Any) -> bytes:
    """The bytes a checksum covers: sorted keys, no spaces, ASCII only (the same for any JSON text of ``obj``)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def record_checksum(line: dict[str, Any]) -> str:
    """The SHA-256 (hex) of a record line's canonical JSON without its own checksum field."""
    return hashlib.sha256(canonical({k: v for k, v in line.items() if k != CHECKSUM})).hexdigest()


def seal(header: dict[str, Any], lines: Iterable[dict[str, Any]]) -> Iterator[str]:
    """The text lines (no newline) of an export: the header, each record line with its checksum, and the footer with
    the record count and the file digest (SHA-256 over the header's canonical JSON and every record checksum, in
    order, so that a removed, added or reordered line, or a changed header, shows)."""
    digest = hashlib.sha256(canonical(header))
    yield json.dumps(header, ensure_ascii=False)
    n = 0
    for line in lines:
        sealed = {**line, CHECKSUM: record_checksum(line)}
        digest.update(sealed[CHECKSUM].encode("ascii"))
        yield json.dumps(sealed, ensure_ascii=False)
        n += 1
    yield json.dumps({"type": "footer", "records": n, CHECKSUM: digest.hexdigest()})


def write_export(out: IO[str], records: Iterable[DumpRecord], *, embedder: str, embedding_dim: int | None,
                 namespaces: list[str]) -> int:
    """Write a complete export; returns the number of records."""
    header = {"type": "header", "format": FORMAT, "schema_version": SCHEMA_VERSION, "deltamem_version": __version__,
              "embedder": embedder, "embedding_dim": embedding_dim, "namespaces": namespaces,
              "exported_at": to_iso(utcnow())}
    count = 0

    def lines() -> Iterator[dict[str, Any]]:
        nonlocal count
        for rec in records:
            count += 1
            yield record_to_line(rec)

    for text in seal(header, lines()):
        out.write(text + "\n")
    return count


def read_export(lines: Iterable[str], *, name: str = "export") -> tuple[dict[str, Any], list[DumpRecord]]:
    """Parse and validate a whole export; raises :class:`CorruptDataError` naming the line on any problem.

    Checksums are verified wherever they are present and required from version 2 on; then the records are checked as
    one whole (:func:`~deltamem.stores.integrity.check_records`: namespaces, duplicates, memory records against the
    replayed history), for every version.
    """
    header: dict[str, Any] | None = None
    records: list[DumpRecord] = []
    footer: dict[str, Any] | None = None
    digest = hashlib.sha256()
    lineno = 0  # named in errors, also in a decoding error that the iterator raises between lines
    try:
        for n, line in enumerate(lines, start=1):
            lineno = n
            if not line.strip():
                continue
            if footer is not None:
                raise CorruptDataError("data after the footer")
            data = json.loads(line)
            if not isinstance(data, dict):
                raise ValueError("a line must be a JSON object")
            if header is None:
                header = _check_header(data)
                digest.update(canonical(header))
            elif data.get("type") == "footer":
                footer = data
            else:
                rec = line_to_record(data, seq=len(records) + 1,  # the more precise message first
                                     strict=header["schema_version"] >= 2)
                digest.update(_verify(data, required=header["schema_version"] >= 2).encode("ascii"))
                check_record(rec)
                records.append(rec)
    except (CorruptDataError, InvalidOperation) as e:  # InvalidOperation: a NamespaceError of a history record
        raise CorruptDataError(f"{name}:{lineno}: {e}") from e
    except (ValueError, KeyError, TypeError) as e:  # UnicodeDecodeError is a ValueError
        raise CorruptDataError(f"{name}:{lineno}: malformed record: {e}") from e
    except RecursionError as e:  # json.loads of thousands of nested brackets
        raise CorruptDataError(f"{name}:{lineno}: malformed record: JSON nested too deeply") from e
    if header is None:
        raise CorruptDataError(f"{name}: empty file, no export header")
    if footer is None:
        raise CorruptDataError(f"{name}: no footer line; the file is truncated")
    if footer.get("records") != len(records):
        raise CorruptDataError(f"{name}: footer says {footer.get('records')} records, found {len(records)}")
    if (CHECKSUM in footer or header["schema_version"] >= 2) and footer.get(CHECKSUM) != digest.hexdigest():
        raise CorruptDataError(f"{name}: the file digest does not match: lines were removed, added or reordered, or "
                               "the header was changed")
    spaces = header.get("namespaces")
    try:
        check_records(records, namespaces=spaces if isinstance(spaces, list) else None)
    except (CorruptDataError, InvalidOperation) as e:
        raise CorruptDataError(f"{name}: {e}") from e
    return header, records


def _verify(data: dict[str, Any], *, required: bool) -> str:
    """Check a record line's checksum (when present, or when ``required``); returns it ('' when absent)."""
    got = data.get(CHECKSUM)
    if got is None and not required:
        return ""
    if got != record_checksum(data):
        raise CorruptDataError("checksum mismatch: the record was changed after it was exported"
                               if got is not None else "the record has no checksum")
    return str(got)


def _check_header(data: dict[str, Any]) -> dict[str, Any]:
    if data.get("type") != "header" or data.get("format") != FORMAT:
        raise CorruptDataError("the first line is not a deltamem export header")
    version = data.get("schema_version")
    if type(version) is not int or version not in READABLE_VERSIONS:
        raise CorruptDataError(
            f"export schema version {version!r} is not supported (this deltamem reads versions "
            f"{', '.join(map(str, READABLE_VERSIONS))})"
        )
    return data
