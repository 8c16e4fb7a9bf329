"""Versioned JSONL export / import: a header line, one line per record, and a footer that detects truncation.

Line types: ``header`` (format, schema_version, embedder, embedding_dim), ``memory`` (entry, deleted_at, vector as
base64 float32), ``change_set``, ``history`` (in commit order; sequence numbers are not exported), ``footer``
(record count). Import parses and validates the whole file before anything is written.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator
from typing import IO, Any

import numpy as np

from deltamem import __version__
from deltamem.core import CorruptDataError, to_iso, utcnow
from deltamem.core.codec import entry_from_dict, entry_to_dict
from deltamem.core.timeutil import as_utc
from deltamem.stores.base import ChangeSetRecord, DumpRecord, HistoryRecord, StoredMemory

FORMAT = "deltamem-export"
SCHEMA_VERSION = 1


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


def line_to_record(data: dict[str, Any], seq: int) -> DumpRecord:
    """Parse one record line (raises CorruptDataError / KeyError / ValueError on malformed content)."""
    kind = data.get("type")
    if kind == "memory":
        raw = base64.b64decode(data["vector"], validate=True)
        if len(raw) % 4:
            raise ValueError("vector bytes are not float32")
        vector = np.frombuffer(raw, dtype="<f4").astype(np.float32)
        deleted = as_utc(data["deleted_at"]) if data.get("deleted_at") else None
        return StoredMemory(entry_from_dict(data["memory"]), vector, deleted)
    if kind == "change_set":
        if not isinstance(data["ops"], list) or not isinstance(data["counts"], dict):
            raise ValueError("ops must be a list and counts an object")
        return ChangeSetRecord(
            str(data["id"]), str(data["namespace"]), as_utc(data["created_at"]), data.get("session_id"),
            str(data["actor"]), tuple(data["ops"]), {str(k): int(v) for k, v in data["counts"].items()},
            data.get("reverts"), data.get("reverted_by"), str(data.get("note", "")),
        )
    if kind == "history":
        if data["kind"] not in ("ADD", "UPDATE", "DELETE"):
            raise ValueError(f"bad change kind {data['kind']!r}")
        before = entry_from_dict(data["before"]) if data.get("before") else None
        after = entry_from_dict(data["after"]) if data.get("after") else None
        return HistoryRecord(seq, str(data["change_set_id"]), str(data["namespace"]), str(data["memory_id"]),
                             data["kind"], before, after, data.get("session_id"), str(data["actor"]),
                             as_utc(data["created_at"]))
    raise ValueError(f"unknown record type {kind!r}")


def write_export(out: IO[str], records: Iterable[DumpRecord], *, embedder: str, embedding_dim: int | None,
                 namespaces: list[str]) -> int:
    """Write a complete export; returns the number of records."""
    header = {"type": "header", "format": FORMAT, "schema_version": SCHEMA_VERSION, "deltamem_version": __version__,
              "embedder": embedder, "embedding_dim": embedding_dim, "namespaces": namespaces,
              "exported_at": to_iso(utcnow())}
    out.write(json.dumps(header, ensure_ascii=False) + "\n")
    n = 0
    for rec in records:
        out.write(json.dumps(record_to_line(rec), ensure_ascii=False) + "\n")
        n += 1
    out.write(json.dumps({"type": "footer", "records": n}) + "\n")
    return n


def read_export(lines: Iterable[str], *, name: str = "export") -> tuple[dict[str, Any], list[DumpRecord]]:
    """Parse and validate a whole export; raises :class:`CorruptDataError` naming the line on any problem."""
    it: Iterator[str] = iter(lines)
    header: dict[str, Any] | None = None
    records: list[DumpRecord] = []
    footer: dict[str, Any] | None = None
    for lineno, line in enumerate(it, start=1):
        if not line.strip():
            continue
        if footer is not None:
            raise CorruptDataError(f"{name}:{lineno}: data after the footer")
        try:
            data = json.loads(line)
            if not isinstance(data, dict):
                raise ValueError("a line must be a JSON object")
            if header is None:
                header = _check_header(data)
            elif data.get("type") == "footer":
                footer = data
            else:
                records.append(line_to_record(data, seq=len(records) + 1))
        except CorruptDataError as e:
            raise CorruptDataError(f"{name}:{lineno}: {e}") from e
        except (ValueError, KeyError, TypeError) as e:
            raise CorruptDataError(f"{name}:{lineno}: malformed record: {e}") from e
    if header is None:
        raise CorruptDataError(f"{name}: empty file, no export header")
    if footer is None:
        raise CorruptDataError(f"{name}: no footer line; the file is truncated")
    if footer.get("records") != len(records):
        raise CorruptDataError(f"{name}: footer says {footer.get('records')} records, found {len(records)}")
    return header, records


def _check_header(data: dict[str, Any]) -> dict[str, Any]:
    if data.get("type") != "header" or data.get("format") != FORMAT:
        raise CorruptDataError("the first line is not a deltamem export header")
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise CorruptDataError(
            f"export schema version {version!r} is not supported (this deltamem reads version {SCHEMA_VERSION})"
        )
    return data
