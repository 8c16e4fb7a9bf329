"""JSON out of model text, and append-only JSONL checkpoint files that survive being killed mid-write."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from deltamem.core.errors import CorruptDataError

_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.S)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")
_DECODER = json.JSONDecoder()


class JSONExtractError(ValueError):
    """No JSON object could be read from a reply; the message is written for the model to act on."""


def extract_json_object(text: str) -> dict[str, Any]:
    """The first JSON object in ``text``: code fences stripped, prose around it tolerated, trailing commas fixed.

    >>> extract_json_object('Sure! ```json\\n{"a": [1, 2,],}\\n``` Hope this helps.')
    {'a': [1, 2]}
    """
    if not text or not text.strip():
        raise JSONExtractError("the reply was empty")
    chunks = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    for chunk in chunks:
        for candidate in (chunk, _TRAILING_COMMA.sub(r"\1", chunk)):
            for i, ch in enumerate(candidate):
                if ch != "{":
                    continue
                try:
                    value, _ = _DECODER.raw_decode(candidate, i)
                except json.JSONDecodeError:
                    continue
                if isinstance(value, dict):
                    return value
    if "{" in text and text.count("{") > text.count("}"):
        raise JSONExtractError("the JSON object was cut off before it closed; write a shorter reply")
    raise JSONExtractError("no JSON object found; reply with one JSON object only")


class JsonlCheckpoint:
    """An append-only JSONL file of finished items, keyed by ``key_field``; re-opened to resume.

    Each item is one line written and flushed (and fsynced) at once. A line cut off by a crash is discarded when the
    file is re-opened (the file is truncated back to its last complete line), so a resumed run redoes only that item.
    """

    def __init__(self, path: Path, *, key_field: str = "key") -> None:
        self.path = path
        self.key_field = key_field
        self._items: dict[str, dict[str, Any]] = {}
        if path.exists():
            self._load()

    def _load(self) -> None:
        raw = self.path.read_bytes()
        if raw and not raw.endswith(b"\n"):
            cut = raw.rfind(b"\n") + 1  # drop the partial last line left by an interrupted write
            with self.path.open("r+b") as f:
                f.truncate(cut)
            raw = raw[:cut]
        for n, line in enumerate(raw.decode("utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as e:
                raise CorruptDataError(f"{self.path}:{n} is not valid JSON: {e}") from e
            if not isinstance(item, dict) or self.key_field not in item:
                raise CorruptDataError(f"{self.path}:{n} has no {self.key_field!r} field")
            self._items[str(item[self.key_field])] = item

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: str) -> dict[str, Any] | None:
        """The finished item stored under ``key``, if any."""
        return self._items.get(key)

    def values(self) -> Iterator[dict[str, Any]]:
        """Finished items, in file order."""
        return iter(self._items.values())

    def append(self, item: Mapping[str, Any], *, supersede: bool = False) -> None:
        """Record one finished item (durably, before the caller moves on). ``supersede``: the item replaces one
        recorded earlier under the same key (a retried item); the later line wins when the file is read."""
        key = str(item[self.key_field])
        if key in self._items and not supersede:
            raise CorruptDataError(f"{self.path}: item {key!r} is already recorded")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(item, ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())
        self._items[key] = dict(item)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Every object of a JSONL file; a bad line raises :class:`CorruptDataError` naming the line."""
    out: list[dict[str, Any]] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError as e:
        raise CorruptDataError(f"{path} does not exist") from e
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as e:
            raise CorruptDataError(f"{path}:{n} is not valid JSON: {e}") from e
        if not isinstance(item, dict):
            raise CorruptDataError(f"{path}:{n} is not a JSON object")
        out.append(item)
    return out


def write_jsonl(path: Path, items: list[dict[str, Any]]) -> None:
    """Write a whole JSONL file atomically (temp file + rename), so readers never see half of it."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for item in items:
            f.write(json.dumps(item, ensure_ascii=False) + "\n")
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)
