"""Change sets (the log, one change set as a diff with the agent's reasons and dropped ops, revert after a
confirmation) and the review queue (why each change set was held; approve, edit its ops, or reject it)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException

from deltamem.core import ConflictError
from deltamem.server.deps import ServerState
from deltamem.server.ui.auth import Signed, State, UiSession, check_form
from deltamem.server.ui.diff import change_diff
from deltamem.server.ui.render import HEADERS, page
from deltamem.server.ui.views import PAGE_SIZE, link, namespace
from deltamem.stores.base import ChangeSetRecord

router = APIRouter()
Name = Annotated[str, Query(max_length=500)]
Id = Annotated[str, Query(max_length=200)]
FormName = Annotated[str, Form(max_length=500)]
FormId = Annotated[str, Form(max_length=200)]
Csrf = Annotated[str, Form(max_length=200)]


def _record(st: ServerState, ns: str, change_set_id: str) -> ChangeSetRecord:
    rec = st.memory.store.change_set(ns, change_set_id)
    if rec is None:
        raise HTTPException(404, "no such change set")
    return rec


def _agent_trace(st: ServerState, session: UiSession, ns: str, rec: ChangeSetRecord) -> dict[str, Any] | None:
    """What the agent dropped or repaired, with its reasons, where the session ran as a job of this server."""
    if rec.session_id is None:
        return None
    job = st.jobs.for_session(session.tenant, ns, rec.session_id)
    if job is None or not job.result:
        return None
    return {k: job.result.get(k) or [] for k in ("rejected", "repaired", "ignored")} | {"job": job.id}


def _changes(st: ServerState, ns: str, change_set_id: str) -> list[dict[str, Any]]:
    return [{"record": h, "diff": change_diff(h.before, h.after)}
            for h in st.memory.store.history(ns, change_set_id=change_set_id)]


@router.get("/changes")
def change_sets(request: Request, session: Signed, st: State, ns: Name = "",
                page_no: Annotated[int, Query(alias="page", ge=1, le=1000)] = 1) -> Response:
    """Committed change sets, newest first."""
    full = namespace(st, session, ns)
    offset = (page_no - 1) * PAGE_SIZE
    records = st.memory.store.change_sets(full, limit=offset + PAGE_SIZE + 1)
    return page(request, "changes.html", session=session, ns=ns, records=records[offset:offset + PAGE_SIZE],
                page_no=page_no, more=len(records) > offset + PAGE_SIZE)


@router.get("/change")
def change_set(request: Request, session: Signed, st: State, ns: Name = "", id: Id = "") -> Response:
    """One change set: its diff (+ ADD, ~ UPDATE, − DELETE), reasons of its ops and what the agent dropped."""
    full = namespace(st, session, ns)
    rec = _record(st, full, id)
    return page(request, "change.html", session=session, ns=ns, rec=rec, changes=_changes(st, full, id),
                trace=_agent_trace(st, session, full, rec))


@router.get("/change/revert")
def revert_confirm(request: Request, session: Signed, st: State, ns: Name = "", id: Id = "") -> Response:
    """The confirmation step: what reverting would undo."""
    full = namespace(st, session, ns)
    rec = _record(st, full, id)
    return page(request, "revert.html", session=session, ns=ns, rec=rec, changes=_changes(st, full, id))


@router.post("/change/revert")
def revert(request: Request, session: Signed, st: State, ns: FormName = "", id: FormId = "",
           csrf: Csrf = "") -> Response:
    """Revert a change set as a new change set; a later change set that depends on it is a clear refusal (409)."""
    check_form(request, session, csrf)
    full = namespace(st, session, ns)
    rec = _record(st, full, id)
    try:
        cs = st.memory.revert(rec.id, namespace=full)
    except ConflictError as e:
        return page(request, "revert.html", code=409, session=session, ns=ns, rec=rec,
                    changes=_changes(st, full, id), error=str(e))
    return RedirectResponse(link("change_set", ns=ns, id=cs.id), status_code=303,
                            headers=HEADERS)


@router.get("/review")
def review(request: Request, session: Signed, st: State, ns: Name = "") -> Response:
    """Change sets held for a person, oldest first, with the reason each was held."""
    full = namespace(st, session, ns)
    return page(request, "review.html", session=session, ns=ns,
                items=st.memory.review.list(namespace=full, status="pending"),
                done=st.memory.review.list(namespace=full, status=None)[-20:])


@router.get("/review/item")
def review_item(request: Request, session: Signed, st: State, ns: Name = "", id: Id = "") -> Response:
    """One held change set: why it was held, what approving would change now, and its ops to edit."""
    full = namespace(st, session, ns)
    item = st.memory.review.get(id, namespace=full)
    diff = st.memory.review.diff(id, namespace=full) if item.status == "pending" else None
    changes = [{"change": c, "diff": change_diff(c.before, c.after)}
               for c in diff.changes] if diff else []
    return page(request, "review_item.html", session=session, ns=ns, item=item, changes=changes)


@router.post("/review/decide")
def review_decide(request: Request, session: Signed, st: State, ns: FormName = "", id: FormId = "",
                  decision: Annotated[str, Form(pattern="^(approve|reject)$")] = "approve",
                  csrf: Csrf = "") -> Response:
    """Approve (commit the ops as one change set) or reject (keep them, unapplied, for the record)."""
    check_form(request, session, csrf)
    full = namespace(st, session, ns)
    by = f"ui:key:{session.key_id}"
    if decision == "approve":
        cs = st.memory.review.approve(id, by=by, namespace=full)
        target = link("change_set", ns=ns, id=cs.id)
    else:
        st.memory.review.reject(id, by=by, namespace=full)
        target = link("review", ns=ns)
    return RedirectResponse(target, status_code=303, headers=HEADERS)


@router.post("/review/edit")
async def review_edit(request: Request, session: Signed, st: State) -> Response:
    """Edit a held change set: each op's text can be changed, and an op left unticked is dropped."""
    form = await request.form()
    check_form(request, session, str(form.get("csrf", "")))
    ns, item_id = str(form.get("ns", "")), str(form.get("id", ""))
    full = namespace(st, session, ns)
    item = st.memory.review.get(item_id, namespace=full)
    ops: list[dict[str, Any]] = []
    for i, op in enumerate(item.ops):
        if form.get(f"keep_{i}") != "on":
            continue
        text = form.get(f"text_{i}")
        ops.append({**op, "text": str(text)} if isinstance(text, str) and "text" in op else dict(op))
    st.memory.review.edit(item_id, ops, namespace=full)
    return RedirectResponse(link("review_item", ns=ns, id=item_id),
                            status_code=303, headers=HEADERS)
