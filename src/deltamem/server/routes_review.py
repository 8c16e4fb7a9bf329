"""The review queue: change sets held back because they would delete or overwrite too much."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter

from deltamem.server.convert import change_set_out, review_out
from deltamem.server.deps import Caller, Scoped, State
from deltamem.server.dto import ChangeSetOut, ReviewDecision, ReviewEditRequest, ReviewItemOut, ReviewList
from deltamem.server.routes_memory import ERRORS

router = APIRouter(prefix="/v1/review", tags=["review"], responses=ERRORS)


def _by(caller: Caller, req: ReviewDecision | None) -> str:
    return (req.by if req is not None and req.by else None) or f"key:{caller.key.id}"


@router.get("", response_model=ReviewList)
def review_list(caller: Scoped, st: State,
                status: Literal["pending", "approved", "rejected", "all"] = "pending") -> ReviewList:
    """Queued change sets, oldest first."""
    items = st.memory.review.list(namespace=caller.namespace, status=None if status == "all" else status)
    return ReviewList(items=[review_out(i, caller.rel) for i in items])


@router.get("/{item_id}", response_model=ReviewItemOut)
def review_get(item_id: str, caller: Scoped, st: State) -> ReviewItemOut:
    """One queued change set."""
    return review_out(st.memory.review.get(item_id, namespace=caller.namespace), caller.rel)


@router.get("/{item_id}/diff", response_model=ChangeSetOut)
def review_diff(item_id: str, caller: Scoped, st: State) -> ChangeSetOut:
    """What approving would change now (nothing is written)."""
    return change_set_out(st.memory.review.diff(item_id, namespace=caller.namespace), caller.rel)


@router.put("/{item_id}", response_model=ReviewItemOut)
def review_edit(item_id: str, req: ReviewEditRequest, caller: Scoped, st: State) -> ReviewItemOut:
    """Replace the queued operations (still pending)."""
    return review_out(st.memory.review.edit(item_id, req.ops, namespace=caller.namespace), caller.rel)


@router.post("/{item_id}/approve", response_model=ChangeSetOut)
def review_approve(item_id: str, caller: Scoped, st: State, req: ReviewDecision | None = None) -> ChangeSetOut:
    """Apply the queued operations as one change set."""
    cs = st.memory.review.approve(item_id, by=_by(caller, req), namespace=caller.namespace)
    return change_set_out(cs, caller.rel)


@router.post("/{item_id}/reject", response_model=ReviewItemOut)
def review_reject(item_id: str, caller: Scoped, st: State, req: ReviewDecision | None = None) -> ReviewItemOut:
    """Discard the queued change set (kept as rejected)."""
    return review_out(st.memory.review.reject(item_id, by=_by(caller, req), namespace=caller.namespace), caller.rel)
