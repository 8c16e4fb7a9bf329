"""The one implementation of the HTTP client: each API method is a *plan*, a generator that yields requests (and
pauses) and receives responses. :class:`deltamem.client.MemoryClient` (httpx.Client) and
:class:`deltamem.client.AsyncMemoryClient` (httpx.AsyncClient) only drive plans; neither knows a route.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any, TypedDict, TypeVar, Unpack

import httpx
from pydantic import BaseModel

from deltamem.core import errors as core_errors
from deltamem.server.dto import (
    AnswerOut,
    ChangeSetList,
    ChangeSetOut,
    HistoryList,
    HitOut,
    ImportOut,
    JobAccepted,
    JobOut,
    MemoryOut,
    MemoryPage,
    ResetOut,
    ReviewItemOut,
    ReviewList,
    SearchOut,
)

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


class Scope(TypedDict, total=False):
    """Whose memory: the same keywords as :class:`deltamem.Memory`."""

    user_id: str
    agent_id: str
    namespace: str


class ServerError(core_errors.DeltamemError):
    """An error answer that maps to no deltamem exception (401, 403, 413, 429, 5xx, ...)."""

    def __init__(self, status: int, type_: str, message: str, details: Any = None) -> None:
        super().__init__(f"{status} {type_}: {message}")
        self.status, self.type, self.details = status, type_, details


@dataclass(frozen=True, slots=True)
class Call:
    """One HTTP request. ``upload``: a file to stream as the body; ``download``: where to stream the response."""

    method: str
    path: str
    params: Mapping[str, Any] = field(default_factory=dict)
    json: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    upload: IO[bytes] | None = None
    download: IO[bytes] | None = None
    resend: bool | None = None  # may be sent again after a dropped connection; None: decided by the method

    @property
    def resendable(self) -> bool:
        """Sending it twice changes nothing more than sending it once: GET / PUT / DELETE (idempotent by HTTP's
        rules), a POST carrying an Idempotency-Key (the server replays it) or marked ``resend`` (a read), and never a
        streamed upload (its body is spent)."""
        if self.upload is not None:
            return False
        if self.resend is not None:
            return self.resend
        return self.method in ("GET", "HEAD", "PUT", "DELETE") or "Idempotency-Key" in self.headers


@dataclass(frozen=True, slots=True)
class Pause:
    """Wait before the next step (polling, Retry-After)."""

    seconds: float


Step = Call | Pause
Plan = Generator[Step, Any, T]

_TYPES: dict[str, type[core_errors.DeltamemError]] = {
    cls.__name__: cls for cls in (core_errors.ConfigError, core_errors.NotFoundError, core_errors.ConflictError,
                                  core_errors.CorruptDataError, core_errors.EmbeddingDimensionError,
                                  core_errors.LLMError, core_errors.EmbedderError, core_errors.StoreError,
                                  core_errors.ValidationError)}


def raise_for(response: httpx.Response) -> None:
    """Turn an error answer into the deltamem exception it was raised from on the server."""
    if response.status_code < 400:
        return
    try:
        err = response.json()["error"]
        type_, message, details = str(err["type"]), str(err["message"]), err.get("details")
    except (ValueError, KeyError, TypeError):
        type_, message, details = "HTTPError", response.text[:500], None
    if type_ == "InvalidOperation":
        raise core_errors.InvalidOperation(message, index=(details or {}).get("index"))
    if type_ == "AgentOutputError":
        raise core_errors.AgentOutputError(message, raw=str((details or {}).get("raw", "")))
    cls = _TYPES.get(type_)
    if cls is not None:
        raise cls(message)
    raise ServerError(response.status_code, type_, message, details)


#: A connection lost before any answer: typically a keep-alive connection the server closed while it sat idle in the
#: pool (a server older than deltamem 0.1 closed it silently after every 500).
DROPPED = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError, httpx.ConnectError)


def request(call: Call, *, retries: int = 3) -> Plan[httpx.Response]:
    """Send a call; on 429 wait as the server says (Retry-After) and retry up to ``retries`` times. A resendable
    call (:attr:`Call.resendable`) whose connection dropped before an answer is sent once more, on a new one."""
    resent = False
    attempt = 0
    while True:
        try:
            response: httpx.Response = yield call
        except DROPPED:
            if resent or not call.resendable:
                raise
            resent = True
            continue
        if response.status_code == 429 and attempt < retries and call.upload is None:
            attempt += 1
            yield Pause(float(response.headers.get("retry-after", "1")))
            continue
        raise_for(response)
        return response


def _model(call: Call, model: type[M]) -> Plan[M]:
    response = yield from request(call)
    return model.model_validate(response.json())


def _scope(scope: Scope) -> dict[str, str]:
    return {k: str(v) for k, v in scope.items() if v is not None}


def _looks_like_messages(data: Any) -> bool:
    return (not isinstance(data, str) and isinstance(data, Sequence) and bool(data)
            and all(isinstance(m, Mapping) and ("role" in m or "speaker" in m) for m in data))


# -- plans: one per API method ----------------------------------------------------------------------------------
def add(data: str | Sequence[Any], *, session_id: str | None = None, session_date: datetime | str | None = None,
        metadata: Mapping[str, Any] | None = None, infer: bool = True, wait: bool = True, poll_s: float = 0.2,
        timeout_s: float = 600.0, idempotency_key: str | None = None, **scope: Unpack[Scope]) -> Plan[Any]:
    """Facts / op dicts → the change set; messages → the job (waited for unless ``wait=False``).

    Every add carries an Idempotency-Key (a fresh one unless given), so a resend after a dropped connection is
    answered from the first request instead of writing twice.
    """
    headers = {"Idempotency-Key": idempotency_key or uuid.uuid4().hex}
    if _looks_like_messages(data):
        body: dict[str, Any] = {"messages": list(data), "session_id": session_id, "infer": infer,
                                "session_date": str(session_date) if session_date else None}
        accepted = yield from _model(Call("POST", "/v1/sessions", _scope(scope), body, headers), JobAccepted)
        job = yield from _model(Call("GET", accepted.status_url), JobOut)
        waited = 0.0
        while wait and job.status in ("pending", "running") and waited < timeout_s:
            yield Pause(poll_s)
            waited += poll_s
            job = yield from _model(Call("GET", accepted.status_url), JobOut)
        return job
    items = [data] if isinstance(data, str) else list(data)
    key = "facts" if all(isinstance(i, str) for i in items) else "ops"
    body = {key: items, "metadata": dict(metadata) if metadata else None, "session_id": session_id}
    return (yield from _model(Call("POST", "/v1/memories", _scope(scope), body, headers), ChangeSetOut))


def job(job_id: str) -> Plan[JobOut]:
    """One ingestion job."""
    return (yield from _model(Call("GET", f"/v1/jobs/{job_id}"), JobOut))


def search(query: str, *, k: int | None = None, mode: str | None = None, filters: Mapping[str, Any] | None = None,
           **scope: Unpack[Scope]) -> Plan[list[HitOut]]:
    """Search hits, best first."""
    body = {"query": query, "k": k, "mode": mode, "filters": dict(filters) if filters else None}
    out = yield from _model(Call("POST", "/v1/search", _scope(scope), body, resend=True), SearchOut)
    return out.results


def get(memory_id: str, **scope: Unpack[Scope]) -> Plan[MemoryOut]:
    """One live memory."""
    return (yield from _model(Call("GET", f"/v1/memories/{memory_id}", _scope(scope)), MemoryOut))


def get_all(*, limit: int | None = None, offset: int = 0, **scope: Unpack[Scope]) -> Plan[list[MemoryOut]]:
    """Live memories, oldest first: one page if ``limit`` is given, else every page."""
    items: list[MemoryOut] = []
    next_offset: int | None = offset
    while next_offset is not None:
        params = {**_scope(scope), "offset": next_offset, "limit": limit or 1000}
        page = yield from _model(Call("GET", "/v1/memories", params), MemoryPage)
        items += page.items
        next_offset = None if limit is not None else page.next_offset
    return items


def update(memory_id: str, text: str, *, timestamp: datetime | None = None,
           **scope: Unpack[Scope]) -> Plan[ChangeSetOut]:
    """Replace a memory's text."""
    body = {"text": text, "timestamp": timestamp.isoformat() if timestamp else None}
    return (yield from _model(Call("PUT", f"/v1/memories/{memory_id}", _scope(scope), body), ChangeSetOut))


def delete(memory_id: str, **scope: Unpack[Scope]) -> Plan[ChangeSetOut]:
    """Retire a memory."""
    return (yield from _model(Call("DELETE", f"/v1/memories/{memory_id}", _scope(scope)), ChangeSetOut))


def delete_all(**scope: Unpack[Scope]) -> Plan[ChangeSetOut]:
    """Retire every live memory of the namespace."""
    return (yield from _model(Call("DELETE", "/v1/memories", _scope(scope)), ChangeSetOut))


def reset(**scope: Unpack[Scope]) -> Plan[int]:
    """Erase the namespace with its history; returns rows removed."""
    out = yield from _model(Call("POST", "/v1/reset", _scope(scope), {"confirm": True}), ResetOut)
    return out.removed


def history(memory_id: str | None = None, *, change_set_id: str | None = None,
            **scope: Unpack[Scope]) -> Plan[list[Any]]:
    """Changes, oldest first."""
    params = {**_scope(scope), **({"memory_id": memory_id} if memory_id else {}),
              **({"change_set_id": change_set_id} if change_set_id else {})}
    return (yield from _model(Call("GET", "/v1/history", params), HistoryList)).items


def change_sets(*, limit: int | None = None, **scope: Unpack[Scope]) -> Plan[list[Any]]:
    """Committed change sets, newest first."""
    params = {**_scope(scope), **({"limit": limit} if limit else {})}
    return (yield from _model(Call("GET", "/v1/change-sets", params), ChangeSetList)).items


def revert(change_set_id: str, *, force: bool = False, **scope: Unpack[Scope]) -> Plan[ChangeSetOut]:
    """Undo a change set as a new one."""
    call = Call("POST", f"/v1/change-sets/{change_set_id}/revert", _scope(scope), {"force": force})
    return (yield from _model(call, ChangeSetOut))


def answer(question: str, *, k: int | None = None, **scope: Unpack[Scope]) -> Plan[AnswerOut]:
    """Answer from memory."""
    call = Call("POST", "/v1/answer", _scope(scope), {"question": question, "k": k}, resend=True)
    return (yield from _model(call, AnswerOut))


def export(target: str | Path | IO[bytes], **scope: Unpack[Scope]) -> Plan[int]:
    """Stream the namespace's export into a file (or binary stream); returns the records written."""
    if isinstance(target, str | Path):
        part = Path(f"{target}.part")
        with open(part, "wb") as f:
            n = yield from export(f, **scope)
        part.replace(target)  # never leave a half-written export under the real name
        return n
    # The transport streams the body into ``target`` and hands back a response holding only the last bytes.
    response = yield from request(Call("GET", "/v1/export", _scope(scope), download=target))
    n = footer_count(response.content)
    if n < 0:
        raise core_errors.CorruptDataError("the export stream ended without its footer; the server failed mid-way")
    return n


def import_(source: str | Path | IO[bytes]) -> Plan[int]:
    """Upload an export (streamed); returns the records written."""
    if isinstance(source, str | Path):
        with open(source, "rb") as f:
            return (yield from import_(f))
    call = Call("POST", "/v1/import", headers={"Content-Type": "application/x-ndjson"}, upload=source)
    return (yield from _model(call, ImportOut)).records


def review_list(*, status: str = "pending", **scope: Unpack[Scope]) -> Plan[list[ReviewItemOut]]:
    """Queued change sets."""
    return (yield from _model(Call("GET", "/v1/review", {**_scope(scope), "status": status}), ReviewList)).items


def review_get(item_id: str, **scope: Unpack[Scope]) -> Plan[ReviewItemOut]:
    """One queued change set."""
    return (yield from _model(Call("GET", f"/v1/review/{item_id}", _scope(scope)), ReviewItemOut))


def review_diff(item_id: str, **scope: Unpack[Scope]) -> Plan[ChangeSetOut]:
    """What approving would change now."""
    return (yield from _model(Call("GET", f"/v1/review/{item_id}/diff", _scope(scope)), ChangeSetOut))


def review_edit(item_id: str, ops: Sequence[Mapping[str, Any]], **scope: Unpack[Scope]) -> Plan[ReviewItemOut]:
    """Replace the queued operations."""
    call = Call("PUT", f"/v1/review/{item_id}", _scope(scope), {"ops": [dict(o) for o in ops]})
    return (yield from _model(call, ReviewItemOut))


def review_approve(item_id: str, *, by: str | None = None, **scope: Unpack[Scope]) -> Plan[ChangeSetOut]:
    """Apply a queued change set."""
    call = Call("POST", f"/v1/review/{item_id}/approve", _scope(scope), {"by": by})
    return (yield from _model(call, ChangeSetOut))


def review_reject(item_id: str, *, by: str | None = None, **scope: Unpack[Scope]) -> Plan[ReviewItemOut]:
    """Discard a queued change set."""
    call = Call("POST", f"/v1/review/{item_id}/reject", _scope(scope), {"by": by})
    return (yield from _model(call, ReviewItemOut))


def footer_count(tail: bytes) -> int:
    """The record count in an export's footer line (-1 if the stream ended without one)."""
    lines = tail.strip().splitlines()
    try:
        footer = json.loads(lines[-1]) if lines else {}
    except ValueError:
        return -1
    return int(footer["records"]) if footer.get("type") == "footer" else -1
