"""History, change sets, revert, and the ingestion jobs of the caller's tenant."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from deltamem.facade.memory import MAX_OFFSET
from deltamem.server.convert import change_set_out, change_set_record_out, history_out
from deltamem.server.deps import Scoped, State, TenantWide
from deltamem.server.dto import ChangeSetList, ChangeSetOut, HistoryList, JobOut, RevertRequest
from deltamem.server.routes_memory import ERRORS

router = APIRouter(prefix="/v1", responses=ERRORS)


@router.get("/history", response_model=HistoryList, tags=["history"])
def history(caller: Scoped, st: State, memory_id: str | None = None, change_set_id: str | None = None) -> HistoryList:
    """Every change, oldest first: of one memory, of one change set, or of the whole namespace."""
    records = st.memory.history(memory_id, namespace=caller.namespace, change_set_id=change_set_id)
    return HistoryList(items=[history_out(r, caller.rel) for r in records])


@router.get("/change-sets", response_model=ChangeSetList, tags=["history"])
def change_sets(caller: Scoped, st: State,
                limit: Annotated[int | None, Query(ge=1, le=MAX_OFFSET)] = None) -> ChangeSetList:
    """Committed change sets, newest first."""
    records = st.memory.change_sets(namespace=caller.namespace, limit=limit)
    return ChangeSetList(items=[change_set_record_out(r, caller.rel) for r in records])


@router.post("/change-sets/{change_set_id}/revert", response_model=ChangeSetOut, tags=["history"])
def revert(change_set_id: str, caller: Scoped, st: State, req: RevertRequest | None = None) -> ChangeSetOut:
    """Restore the state before a change set, as a new change set (409 if later change sets touched it)."""
    force = req.force if req is not None else False
    return change_set_out(st.memory.revert(change_set_id, namespace=caller.namespace, force=force), caller.rel)


@router.get("/jobs", response_model=list[JobOut], tags=["jobs"])
def list_jobs(caller: TenantWide, st: State, limit: Annotated[int, Query(ge=1, le=1000)] = 100,
              offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0) -> list[JobOut]:
    """This tenant's ingestion jobs, newest first."""
    return [j.out(caller.prefix) for j in st.jobs.list_jobs(caller.tenant, limit=limit, offset=offset)]


@router.get("/jobs/{job_id}", response_model=JobOut, tags=["jobs"])
def get_job(job_id: str, caller: TenantWide, st: State) -> JobOut:
    """One ingestion job: pending, running, done (change set or review id) or failed (error, raw model output)."""
    return st.jobs.get(caller.tenant, job_id).out(caller.prefix)
