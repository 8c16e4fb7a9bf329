"""Memory routes: add (facts / ops, or a session as a job), read, search, update, delete, answer, reset."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from deltamem.facade.memory import MAX_OFFSET
from deltamem.facade.scope import to_operations
from deltamem.server.convert import change_set_out, memory_out
from deltamem.server.deps import IdempotencyKey, Scoped, State, idempotent
from deltamem.server.dto import (
    AddRequest,
    AnswerOut,
    AnswerRequest,
    ChangeSetOut,
    ErrorBody,
    JobAccepted,
    MemoryOut,
    MemoryPage,
    ResetOut,
    ResetRequest,
    SearchOut,
    SearchRequest,
    SessionRequest,
    UpdateRequest,
)
from deltamem.stores.base import Filters

router = APIRouter(prefix="/v1", tags=["memories"])
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (400, 401, 403, 404, 409, 413, 422, 429)}


@router.post("/memories", status_code=201, response_model=ChangeSetOut, responses=ERRORS)
def add_memories(req: AddRequest, caller: Scoped, st: State, idem: IdempotencyKey = None) -> object:
    """Add facts (strings) or explicit operations, applied now as one change set."""
    def produce() -> ChangeSetOut:
        ops = to_operations(req.facts if req.facts is not None else req.ops or [], metadata=req.metadata)
        cs = st.memory.apply(ops, namespace=caller.namespace, session_id=req.session_id, actor="user")
        return change_set_out(cs, caller.rel)
    return idempotent(st, caller, idem, "add", req, 201, produce)


@router.post("/sessions", status_code=202, response_model=JobAccepted, responses=ERRORS)
def add_session(req: SessionRequest, caller: Scoped, st: State, idem: IdempotencyKey = None) -> object:
    """Queue a conversation session for the memory agent; poll ``status_url`` for the change set."""
    def produce() -> JobAccepted:
        job = st.jobs.create(tenant=caller.tenant, namespace=caller.namespace,
                             request=req.model_dump(mode="json", by_alias=False))
        st.runner.submit(job)
        return JobAccepted(job_id=job.id, status=job.status, status_url=f"/v1/jobs/{job.id}")
    return idempotent(st, caller, idem, "session", req, 202, produce,
                      headers=lambda out: {"Location": out.status_url} if isinstance(out, JobAccepted) else {})


@router.get("/memories", response_model=MemoryPage, responses=ERRORS)
def list_memories(caller: Scoped, st: State, limit: Annotated[int, Query(ge=1, le=MAX_OFFSET)] = 100,
                  offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0) -> MemoryPage:
    """Live memories, oldest first, one page at a time."""
    limit = min(limit, st.config.max_page)
    entries = st.memory.get_all(namespace=caller.namespace, limit=limit, offset=offset)
    return MemoryPage(items=[memory_out(e, caller.rel) for e in entries], limit=limit, offset=offset,
                      next_offset=offset + limit if len(entries) == limit else None)


@router.get("/memories/{memory_id}", response_model=MemoryOut, responses=ERRORS)
def get_memory(memory_id: str, caller: Scoped, st: State) -> MemoryOut:
    """One live memory."""
    return memory_out(st.memory.get(memory_id, namespace=caller.namespace), caller.rel)


@router.put("/memories/{memory_id}", response_model=ChangeSetOut, responses=ERRORS)
def update_memory(memory_id: str, req: UpdateRequest, caller: Scoped, st: State) -> ChangeSetOut:
    """Replace a memory's text (404 if it is not a live memory of the namespace)."""
    st.memory.get(memory_id, namespace=caller.namespace)
    cs = st.memory.update(memory_id, req.text, namespace=caller.namespace, timestamp=req.timestamp)
    return change_set_out(cs, caller.rel)


@router.delete("/memories/{memory_id}", response_model=ChangeSetOut, responses=ERRORS)
def delete_memory(memory_id: str, caller: Scoped, st: State) -> ChangeSetOut:
    """Retire a memory (kept in history; revertable; 404 if it is not a live memory of the namespace)."""
    st.memory.get(memory_id, namespace=caller.namespace)
    return change_set_out(st.memory.delete(memory_id, namespace=caller.namespace), caller.rel)


@router.delete("/memories", response_model=ChangeSetOut, responses=ERRORS)
def delete_all_memories(caller: Scoped, st: State) -> ChangeSetOut:
    """Retire every live memory of the namespace as one revertable change set."""
    return change_set_out(st.memory.delete_all(namespace=caller.namespace), caller.rel)


@router.post("/search", response_model=SearchOut, responses=ERRORS)
def search(req: SearchRequest, caller: Scoped, st: State) -> SearchOut:
    """The k memories most relevant to the query."""
    f = req.filters
    filters = Filters(since=f.since, until=f.until, metadata=dict(f.metadata)) if f is not None else None
    hits = st.memory.search(req.query, namespace=caller.namespace, k=req.k, mode=req.mode, filters=filters)
    return SearchOut.model_validate({"results": [{"memory": memory_out(h.entry, caller.rel), "score": h.score}
                                                 for h in hits]})


@router.post("/answer", response_model=AnswerOut, responses=ERRORS)
def answer(req: AnswerRequest, caller: Scoped, st: State) -> AnswerOut:
    """Answer a question from the top-k memories."""
    a = st.memory.answer(req.question, namespace=caller.namespace, k=req.k, today=req.today)
    return AnswerOut(answer=a.text, memory_ids=a.memory_ids, memories=[memory_out(m, caller.rel) for m in a.memories])


@router.post("/reset", response_model=ResetOut, responses=ERRORS)
def reset(req: ResetRequest, caller: Scoped, st: State) -> ResetOut:
    """Erase the namespace completely, history included (irreversible; prefer DELETE /v1/memories)."""
    return ResetOut(removed=st.memory.reset(namespace=caller.namespace))
