"""The run's checkpoint file: one JSON line per finished (system, conversation, session) and (system, question).

Lines are appended and flushed as soon as an item is done, so an interrupted run loses at most the item in flight;
a torn last line is ignored when the file is read back. The report is built from these records only.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any

from deltamem.core.errors import ConfigError

__all__ = ["Checkpoints"]

log = logging.getLogger(__name__)


class Checkpoints:
    """Append-only JSONL of ``{"kind": "session"|"question", "system", "conversation", ...}`` records."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self.sessions: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.questions: dict[tuple[str, str], dict[str, Any]] = {}
        if path.exists():
            self._read()

    def _read(self) -> None:
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except OSError as e:
            raise ConfigError(f"cannot read checkpoints {self.path}: {e}") from e
        for n, text in enumerate(lines, start=1):
            if not text.strip():
                continue
            try:
                rec = json.loads(text)
            except json.JSONDecodeError:
                # Only the last line can be torn by an interruption; anything else is a damaged file.
                if n == len(lines):
                    log.warning("%s: ignoring the torn last line (the run was interrupted)", self.path)
                    continue
                raise ConfigError(f"{self.path}: line {n} is not JSON; delete the file to start over") from None
            self._index(rec)

    def _index(self, rec: dict[str, Any]) -> None:
        if rec.get("kind") == "session":
            self.sessions[(rec["system"], rec["conversation"], rec["session"])] = rec
        elif rec.get("kind") == "question":
            self.questions[(rec["system"], rec["question"])] = rec

    def session(self, system: str, conversation: str, session: str) -> dict[str, Any] | None:
        """The record of an ingested session, if any."""
        return self.sessions.get((system, conversation, session))

    def question(self, system: str, question: str) -> dict[str, Any] | None:
        """The record of an answered question, if any."""
        return self.questions.get((system, question))

    def write(self, rec: dict[str, Any]) -> None:
        """Append one record (and index it)."""
        text = json.dumps(rec, ensure_ascii=False, default=str)
        with self._lock:
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(text + "\n")
                fh.flush()
            self._index(rec)
