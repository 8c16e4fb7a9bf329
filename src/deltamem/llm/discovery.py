"""Discovery files: a running ``deltamem serve-llm`` says where it is, so that other commands can use it.

While it serves, ``deltamem serve-llm`` keeps one small JSON file, ``<runtime dir>/serve-llm-<pid>.json`` (mode 0600,
directory 0700), describing itself as a :class:`ServerRecord`: its base URL, the model it serves (packaged name,
sha256 where known, and the GGUF path), its pid, when it started, its context size, and whether clients must send an
API key (and which environment variable holds it: never the key itself). The file is removed when the server stops
cleanly (Ctrl-C, SIGTERM).

The runtime dir is ``$XDG_RUNTIME_DIR/deltamem`` when that variable is set (per user, cleared at logout), else
``~/.cache/deltamem/run``. Server and clients must see the same ``XDG_RUNTIME_DIR`` / ``HOME`` to find each other.

A file can outlive its server (``kill -9``, a crash). Readers therefore treat records as hints:
:func:`read_records` deletes files whose pid is dead, and :func:`probe` asks the server itself (``GET /v1/models``
with a short timeout). A server that refuses the connection is gone (the record may be deleted); one that is slow or
answers strangely is only skipped, since it may merely be busy.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
FORMAT = 1  # bump when fields change meaning; readers skip records of another format
_PREFIX = "serve-llm-"


@dataclass(frozen=True, slots=True)
class ServerRecord:
    """What a running ``serve-llm`` advertises about itself (the JSON of its discovery file).

    Attributes:
        base_url: the API root clients use, ``http://127.0.0.1:8011/v1`` (loopback even when bound to all
            interfaces).
        model: the name the server lists in ``/v1/models`` (the packaged name, or the file's stem).
        path: the GGUF file it serves (absolute).
        packaged: the packaged model name (``qwen2.5-coder-1.5b``), or None for a file given by path.
        sha256: the model file's sha256 where known without hashing it (packaged models), else None.
        pid: the server's process id.
        started: when it started serving (ISO 8601, UTC).
        context_size: llama.cpp's context in tokens.
        api_key_env: the environment variable holding the key clients must send, or None when none is needed.
        embeddings: the embedder behind ``/v1/embeddings``, or None.
    """

    base_url: str
    model: str
    path: str
    packaged: str | None
    sha256: str | None
    pid: int
    started: str
    context_size: int
    api_key_env: str | None = None
    embeddings: str | None = None

    @property
    def api_key_required(self) -> bool:
        """Whether clients must send a bearer key."""
        return self.api_key_env is not None

    def to_json(self) -> dict[str, Any]:
        """The file's content (``api_key_required`` spelled out for people reading it)."""
        return {"format": FORMAT, **asdict(self), "api_key_required": self.api_key_required}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ServerRecord:
        """Parse a discovery file's JSON; ValueError if it is not a record of this format."""
        if data.get("format") != FORMAT:
            raise ValueError(f"discovery format {data.get('format')!r}, expected {FORMAT}")
        try:
            record = cls(base_url=str(data["base_url"]), model=str(data["model"]), path=str(data["path"]),
                         packaged=_opt_str(data.get("packaged")), sha256=_opt_str(data.get("sha256")),
                         pid=int(data["pid"]), started=str(data["started"]), context_size=int(data["context_size"]),
                         api_key_env=_opt_str(data.get("api_key_env")), embeddings=_opt_str(data.get("embeddings")))
        except (KeyError, TypeError) as e:
            raise ValueError(f"discovery record lacks or mistypes a field: {e}") from e
        if not record.base_url.startswith(("http://", "https://")) or record.pid <= 0:
            raise ValueError(f"discovery record has an unusable base_url or pid: {record.base_url!r}, {record.pid}")
        return record


def _opt_str(value: object) -> str | None:
    return None if value is None else str(value)


def now_iso() -> str:
    """The current time as ISO 8601 UTC (for :attr:`ServerRecord.started`)."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def client_url(host: str, port: int) -> str:
    """The base URL a local client should use for a server bound to ``host:port``."""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/v1"


def runtime_dir(env: Mapping[str, str]) -> Path:
    """``$XDG_RUNTIME_DIR/deltamem`` if set, else ``~/.cache/deltamem/run`` (``env`` is the environment to read)."""
    xdg = env.get("XDG_RUNTIME_DIR", "").strip()
    if xdg:
        return Path(xdg).expanduser() / "deltamem"
    home = env.get("HOME", "").strip()
    return (Path(home).expanduser() if home else Path.home()) / ".cache" / "deltamem" / "run"


def record_path(directory: Path, pid: int) -> Path:
    """Where the server with ``pid`` keeps its record."""
    return directory / f"{_PREFIX}{pid}.json"


def write_record(record: ServerRecord, directory: Path) -> Path:
    """Write ``record`` to its file in ``directory`` (created 0700), readable by this user only; return the path.

    Written to a temp file and renamed into place, so readers never see half a record.
    """
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = record_path(directory, record.pid)
    tmp = path.with_name(f".{path.name}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(record.to_json(), f, indent=2)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return path


@contextlib.contextmanager
def advertise(record: ServerRecord, directory: Path) -> Iterator[Path | None]:
    """Keep ``record``'s file in ``directory`` for the duration of the block (None if it could not be written: the
    server still runs, clients just will not find it)."""
    try:
        path: Path | None = write_record(record, directory)
    except OSError as e:
        log.warning("could not write the serve-llm discovery file in %s: %s", directory, e)
        path = None
    try:
        yield path
    finally:
        if path is not None:
            with contextlib.suppress(OSError):
                path.unlink()


def pid_alive(pid: int) -> bool:
    """Whether a process with ``pid`` exists (signal 0: nothing is sent)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, belongs to someone else
    except OSError:
        return False
    return True


def read_records(directory: Path, *, alive: Callable[[int], bool] = pid_alive) -> list[ServerRecord]:
    """The records in ``directory``, newest first. Files of dead processes are deleted; unreadable files, files of
    another format and files owned by another user are skipped."""
    records: list[ServerRecord] = []
    try:
        paths = sorted(directory.glob(f"{_PREFIX}*.json"))
    except OSError:
        return []
    uid = os.getuid() if hasattr(os, "getuid") else None
    for path in paths:
        pid_text = path.stem[len(_PREFIX):]
        if not pid_text.isdigit():
            continue
        if not alive(int(pid_text)):
            log.debug("removing the stale discovery file %s (process gone)", path)
            discard(path)
            continue
        try:
            if uid is not None and path.stat().st_uid != uid:
                continue
            record = ServerRecord.from_json(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError) as e:
            log.debug("skipping the discovery file %s: %s", path, e)
            continue
        if record.pid == int(pid_text):
            records.append(record)
    return sorted(records, key=lambda r: r.started, reverse=True)


def discard(path: Path) -> None:
    """Delete a stale discovery file (already gone is fine)."""
    with contextlib.suppress(OSError):
        path.unlink()


@dataclass(frozen=True, slots=True)
class Health:
    """The answer of :func:`probe`: ``ok``; else ``reason``, and ``gone`` when nothing listens there any more."""

    ok: bool
    reason: str = ""
    gone: bool = False


def probe(record: ServerRecord, *, api_key: str | None = None, timeout: float = 2.0) -> Health:
    """Ask the server of ``record`` for ``/v1/models`` within ``timeout`` seconds; healthy when it answers 200 and
    lists ``record.model``."""
    request = urllib.request.Request(record.base_url.rstrip("/") + "/models", method="GET")
    if api_key:
        request.add_header("Authorization", f"Bearer {api_key}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            body = json.loads(resp.read(1 << 20))
    except urllib.error.HTTPError as e:
        return Health(False, f"answered HTTP {e.code} to GET /v1/models")
    except urllib.error.URLError as e:
        if isinstance(e.reason, ConnectionRefusedError):
            return Health(False, "refused the connection", gone=True)
        return Health(False, f"did not answer ({e.reason})")
    except (TimeoutError, OSError) as e:
        return Health(False, f"did not answer within {timeout:g}s ({e})")
    except ValueError:
        return Health(False, "answered /v1/models with something that is not JSON")
    data = body.get("data") if isinstance(body, dict) else None
    ids = [m.get("id") for m in data if isinstance(m, dict)] if isinstance(data, list) else []
    if record.model not in ids:
        return Health(False, f"lists {ids} in /v1/models, not {record.model!r}")
    return Health(True)
