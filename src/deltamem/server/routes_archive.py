"""Streamed export and import of one namespace (the versioned JSONL format of :mod:`deltamem.stores.archive`).

Export streams while :meth:`Memory.export` writes: it runs in a thread that hands lines over through a bounded
queue, so the one export implementation serves files and HTTP alike. Import spools the body to a temporary file
(in memory up to 8 MiB), checks that every record lies in the caller's tenant, then calls :meth:`Memory.import_`,
which validates the whole file before writing anything.
"""

from __future__ import annotations

import io
import queue
import tempfile
import threading
from collections.abc import AsyncIterator, Iterator
from typing import IO, Any, cast

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from starlette.exceptions import HTTPException

from deltamem.core import CorruptDataError
from deltamem.facade.memory import Memory
from deltamem.server.deps import Scoped, State, TenantWide
from deltamem.server.dto import ImportOut
from deltamem.server.routes_memory import ERRORS
from deltamem.stores.archive import read_export
from deltamem.stores.integrity import namespace_of

router = APIRouter(prefix="/v1", tags=["archive"], responses=ERRORS)
_SPOOL = 8 * 1024 * 1024
_END = object()


class _Cancelled(Exception):
    """The client went away; stop writing the export."""


class _QueueWriter(io.TextIOBase):
    """A text sink that hands each write to the response generator (blocks when it is 64 writes ahead)."""

    def __init__(self) -> None:
        self.q: queue.Queue[Any] = queue.Queue(maxsize=64)
        self.cancelled = threading.Event()

    def write(self, s: str) -> int:
        while True:
            if self.cancelled.is_set():
                raise _Cancelled
            try:
                self.q.put(s.encode("utf-8"), timeout=0.5)
                return len(s)
            except queue.Full:
                continue


def stream_export(memory: Memory, namespace: str) -> Iterator[bytes]:
    """The export of one namespace, chunk by chunk (a failed export ends without its footer: import refuses it)."""
    sink = _QueueWriter()

    def produce() -> None:
        try:
            memory.export(cast(IO[str], sink), namespace=namespace)
        except _Cancelled:
            return
        except Exception as e:  # an edge: the status line is gone, so the missing footer reports it
            sink.q.put(e)
            return
        sink.q.put(_END)

    thread = threading.Thread(target=produce, name="deltamem-export", daemon=True)
    thread.start()
    try:
        while True:
            item = sink.q.get()
            if item is _END or isinstance(item, Exception):
                return
            yield item
    finally:
        sink.cancelled.set()


@router.get("/export", response_class=StreamingResponse, responses={
    200: {"content": {"application/x-ndjson": {"schema": {"type": "string"}}},
          "description": "JSONL: header, records, footer"}})
def export(caller: Scoped, st: State) -> StreamingResponse:
    """Stream a versioned JSONL export of the namespace (memories with vectors, change sets, history)."""
    return StreamingResponse(stream_export(st.memory, caller.namespace), media_type="application/x-ndjson",
                             headers={"Content-Disposition": 'attachment; filename="deltamem-export.jsonl"'})


def import_into_tenant(memory: Memory, prefix: str, body: IO[bytes]) -> int:
    """Import an export read from ``body``, refusing (403) any record outside the namespaces under ``prefix``."""
    def text() -> io.TextIOWrapper:
        body.seek(0)
        return io.TextIOWrapper(body, encoding="utf-8", newline=None)

    try:
        wrapper = text()
        _, records = read_export(wrapper, name="body")
        wrapper.detach()
        for rec in records:  # read_export checked that every entry lies in its record's namespace
            if not namespace_of(rec).startswith(prefix):
                raise HTTPException(403, "the export holds namespaces outside this key's tenant; only exports of "
                                         "this tenant's namespaces can be imported")
        wrapper = text()
        n = memory.import_(wrapper)
        wrapper.detach()
        return n
    except UnicodeDecodeError as e:
        raise CorruptDataError(f"the body is not UTF-8 text: {e}") from e


async def import_chunks(memory: Memory, prefix: str, chunks: AsyncIterator[bytes]) -> int:
    """Spool an export's bytes (in memory up to 8 MiB, then a temporary file) and import it into ``prefix``'s
    namespaces (:func:`import_into_tenant`); used by the REST route and the inspector's upload."""
    with tempfile.SpooledTemporaryFile(max_size=_SPOOL) as body:
        async for chunk in chunks:
            body.write(chunk)
        return await run_in_threadpool(import_into_tenant, memory, prefix, body)


@router.post("/import", response_model=ImportOut, openapi_extra={"requestBody": {"required": True, "content": {
    "application/x-ndjson": {"schema": {"type": "string", "format": "binary"}}}}})
async def import_(request: Request, caller: TenantWide, st: State) -> ImportOut:
    """Load an export of this tenant's namespaces: validated whole, then written in one transaction or not at all."""
    # the size limit is enforced while the body streams in (413)
    return ImportOut(records=await import_chunks(st.memory, caller.prefix, request.stream()))
