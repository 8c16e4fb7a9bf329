"""Getting conversations and memories in and out: ingest (paste or upload a conversation in any format
``deltamem add`` reads; each session becomes a job of the REST server's queue), jobs and their progress, export and
import of a namespace (the versioned JSONL, validated as the REST import validates it)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from pydantic import ValidationError as PydanticValidationError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from deltamem.agent.session import parse_sessions
from deltamem.core import ConfigError, CorruptDataError
from deltamem.facade.scope import namespace_for
from deltamem.server.dto import SessionRequest
from deltamem.server.routes_archive import import_chunks, stream_export
from deltamem.server.ui.auth import Signed, State, check_form
from deltamem.server.ui.render import HEADERS, page
from deltamem.server.ui.views import link, namespace, tenant_namespaces

router = APIRouter()
Name = Annotated[str, Query(max_length=500)]
MAX_FORM_TEXT = 8 * 1024 * 1024


async def _text(form_value: object, upload: object) -> tuple[str, str]:
    """The conversation from the upload (if a file was chosen) or the text box, and the name to report it by."""
    if isinstance(upload, UploadFile) and upload.filename:
        data = await upload.read(MAX_FORM_TEXT + 1)
        if len(data) > MAX_FORM_TEXT:
            raise HTTPException(413, "the file is larger than 8 MiB")
        try:
            return data.decode("utf-8"), upload.filename
        except UnicodeDecodeError as e:
            raise CorruptDataError(f"{upload.filename}: not UTF-8 text") from e
    return (form_value if isinstance(form_value, str) else ""), "the pasted text"


@router.get("/ingest")
def ingest_form(request: Request, session: Signed, st: State, ns: Name = "") -> Response:
    """The form: a namespace (existing or new), a conversation pasted or uploaded."""
    return page(request, "ingest.html", session=session, ns=ns, namespaces=tenant_namespaces(st, session))


@router.post("/ingest")
async def ingest(request: Request, session: Signed, st: State) -> Response:
    """Queue each session of the conversation as a job; the page of the jobs shows their progress."""
    form = await request.form()
    check_form(request, session, str(form.get("csrf", "")))
    name = str(form.get("ns", "")).strip()
    try:
        namespace_for(namespace=name)
        if len(name) > 500:
            raise ConfigError("a namespace name is at most 500 characters")
        raw, source = await _text(form.get("conversation"), form.get("file"))
        if not raw.strip():
            raise ConfigError("paste a conversation or choose a file")
        sessions = parse_sessions(raw, source=source, jsonl=source.endswith(".jsonl"))
        requests = [SessionRequest.model_validate({
            "messages": [{"speaker": m.speaker, "text": m.text, **({"time": m.time} if m.time else {})}
                         for m in s.messages],
            "session_id": s.id, "session_date": s.date}) for s in sessions]
    except (ConfigError, CorruptDataError, PydanticValidationError) as e:
        message = str(e) if not isinstance(e, PydanticValidationError) else (
            f"the conversation does not fit a session: {e.errors()[0].get('msg', '')}")
        return page(request, "ingest.html", code=400, session=session, ns=name, error=message,
                    namespaces=tenant_namespaces(st, session))
    full = session.namespace(name)
    ids = []
    for req in requests:
        job = st.jobs.create(tenant=session.tenant, namespace=full, request=req.model_dump(mode="json"))
        st.runner.submit(job)
        ids.append(job.id)
    target = link("jobs", ids=",".join(ids))
    return RedirectResponse(target, status_code=303, headers=HEADERS)


@router.get("/jobs")
def jobs(request: Request, session: Signed, st: State, ids: Annotated[str, Query(max_length=5000)] = "") -> Response:
    """Ingestion jobs (the given ones, else the tenant's last 50); the page reloads itself while any is running.
    The page of one ingested session lands on its change set (or review item) once the job is done."""
    if ids:
        records = [st.jobs.get(session.tenant, i) for i in ids.split(",")[:100] if i]
    else:
        records = st.jobs.list_jobs(session.tenant, limit=50)
    running = any(j.status in ("pending", "running") for j in records)
    prefix = session.prefix
    if ids and len(records) == 1 and records[0].status == "done" and records[0].result:
        ns, result = records[0].namespace[len(prefix):], records[0].result
        if result.get("change_set"):
            return RedirectResponse(link("change_set", ns=ns, id=result["change_set"]["id"]), status_code=303,
                                    headers=HEADERS)
        if result.get("review_id"):
            return RedirectResponse(link("review_item", ns=ns, id=result["review_id"]), status_code=303,
                                    headers=HEADERS)
    return page(request, "jobs.html", session=session, jobs=records, running=running,
                rel=lambda n: n[len(prefix):] if n.startswith(prefix) else n)


@router.get("/export")
def export(request: Request, session: Signed, st: State, ns: Name = "") -> Response:
    """Download the namespace's versioned JSONL export."""
    full = namespace(st, session, ns)
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in ns)[:80] or "namespace"
    return StreamingResponse(stream_export(st.memory, full), media_type="application/x-ndjson",
                             headers={**HEADERS,
                                      "Content-Disposition": f'attachment; filename="deltamem-{safe}.jsonl"'})


@router.get("/import")
def import_form(request: Request, session: Signed) -> Response:
    """The import form."""
    return page(request, "import.html", session=session)


@router.post("/import")
async def import_(request: Request, session: Signed, st: State) -> Response:
    """Load an export of this tenant's namespaces: validated whole, written in one transaction or not at all."""
    form = await request.form()
    check_form(request, session, str(form.get("csrf", "")))
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return page(request, "import.html", code=400, session=session, error="choose an export file (.jsonl)")
    async def chunks() -> AsyncIterator[bytes]:
        while chunk := await upload.read(1 << 20):
            yield chunk

    try:
        n = await import_chunks(st.memory, session.prefix, chunks())
    except (CorruptDataError, ConfigError) as e:
        return page(request, "import.html", code=422, session=session, error=str(e))
    except HTTPException as e:
        return page(request, "import.html", code=e.status_code, session=session, error=str(e.detail))
    return page(request, "import.html", session=session, imported=n, filename=upload.filename)
