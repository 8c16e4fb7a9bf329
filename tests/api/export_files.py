"""Helpers that take export files apart and put them back together (forged, re-sealed or downgraded to v1)."""

from __future__ import annotations

import json
from typing import Any

from deltamem.stores.archive import CHECKSUM, record_to_line, seal
from deltamem.stores.base import ArchiveStore, HistoryRecord

Line = dict[str, Any]


def parse(text: str) -> list[Line]:
    """The JSON objects of an export, header and footer included (lines end at "\\n" only, as when a file is read:
    str.splitlines would also split at characters that JSON writes unescaped, such as U+2028 or U+0085)."""
    return [json.loads(x) for x in text.split("\n") if x.strip()]


def records(lines: list[Line]) -> list[Line]:
    """The record lines (no header, no footer), without their checksums."""
    return [{k: v for k, v in line.items() if k != CHECKSUM} for line in lines[1:-1]]


def sealed(header: Line, recs: list[Line]) -> str:
    """A v2 file whose checksums are all correct: what a forger with the format spec can write."""
    return "".join(line + "\n" for line in seal(header, recs))


def v1(header: Line, recs: list[Line]) -> str:
    """The same records as a version-1 file (no checksums)."""
    head = {**header, "schema_version": 1}
    body = [json.dumps(head), *(json.dumps(r) for r in recs), json.dumps({"type": "footer", "records": len(recs)})]
    return "".join(line + "\n" for line in body)


def full_dump(store: ArchiveStore) -> list[Any]:
    """Everything a store holds, comparable with ==: every namespace's records in order (seq included)."""
    out: list[Any] = []
    for ns in store.namespaces():
        for rec in store.dump(ns):
            line = record_to_line(rec)
            if isinstance(rec, HistoryRecord):
                line["seq"] = rec.seq
            out.append((ns, line))
    return out
