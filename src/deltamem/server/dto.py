"""Request and response models of the REST API (pydantic only, no FastAPI: the client imports them too).

Namespaces in responses are relative to the caller's tenant (``user:alice``, never ``tenant:acme/user:alice``), so a
program reads the same values from the server as from an embedded :class:`deltamem.Memory`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AliasChoices, BaseModel, ConfigDict, Field, model_validator

from deltamem.core.limits import MAX_JSON_DEPTH, check_json
from deltamem.core.timeutil import as_utc
from deltamem.core.view import MemoryView

JobStatus = Literal["pending", "running", "done", "failed"]
MAX_ITEMS = 1000  # facts, ops or messages in one request


def _time(value: datetime) -> datetime:
    return as_utc(value)


def _json(value: dict[str, Any]) -> dict[str, Any]:
    # Size, key and depth limits are the Memory's configured ones, checked by the core before it writes; bounding
    # the nesting here already means nothing (the idempotency fingerprint, an error body) serialises a deeper value.
    check_json(value, max_depth=MAX_JSON_DEPTH, max_values=1 << 20, what="a JSON object in the request")
    return value


#: A time in a request: through the core's one gate (aware UTC, years 1000-9999), so a bad one is a 422 up front.
Time = Annotated[datetime, AfterValidator(_time)]
#: Metadata or an operation object in a request.
JsonObject = Annotated[dict[str, Any], AfterValidator(_json)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


# -- errors -------------------------------------------------------------------------------------------------------
class ErrorInfo(_Out):
    """What went wrong: ``type`` is the deltamem exception name (or an HTTP-level kind such as ``Unauthorized``)."""

    type: str
    message: str
    details: Any = None


class ErrorBody(_Out):
    """Every non-2xx response has this body."""

    error: ErrorInfo


# -- memories -----------------------------------------------------------------------------------------------------
class MemoryOut(MemoryView):
    """One memory."""

    # The shape is deltamem.core.view's, shared with the MCP tools and the CLI; this class only names it here.


class ChangeOut(_Out):
    """One memory's change inside a change set."""

    kind: Literal["ADD", "UPDATE", "DELETE"]
    memory_id: str
    before: MemoryOut | None
    after: MemoryOut | None


class ChangeSetOut(_Out):
    """A committed (or, for a review diff, computed) change set."""

    id: str
    namespace: str
    session_id: str | None
    actor: str
    created_at: datetime
    reverts: str | None
    counts: dict[str, int]
    ops: list[dict[str, Any]]
    changes: list[ChangeOut]


class AddRequest(_In):
    """Facts or explicit operations, applied synchronously as one change set. Give exactly one of the two."""

    facts: list[str] | None = Field(default=None, max_length=MAX_ITEMS)
    ops: list[JsonObject] | None = Field(default=None, max_length=MAX_ITEMS)
    metadata: JsonObject | None = None
    session_id: str | None = Field(default=None, max_length=200)

    @model_validator(mode="after")
    def _one_kind(self) -> AddRequest:
        if (self.facts is None) == (self.ops is None):
            raise ValueError("give exactly one of 'facts' (strings) or 'ops' (operation objects)")
        return self


class MessageIn(_In):
    """One utterance; ``role``/``content`` (OpenAI style) and ``speaker``/``text`` are both accepted."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    speaker: str = Field(validation_alias=AliasChoices("speaker", "role", "name"), min_length=1, max_length=200)
    text: str = Field(validation_alias=AliasChoices("text", "content"))
    time: Time | None = None


class SessionRequest(_In):
    """A conversation session for the memory agent (runs as a background job)."""

    messages: list[MessageIn] = Field(min_length=1, max_length=MAX_ITEMS)
    session_id: str | None = Field(default=None, max_length=200)
    session_date: Time | None = None
    infer: bool = True


class JobAccepted(_Out):
    """The answer to a session: where to poll for the outcome."""

    job_id: str
    status: JobStatus
    status_url: str


class JobOut(_Out):
    """An ingestion job: ``done`` carries the change set or the review id, ``failed`` the error.

    ``rejected``: the agent's ops that were not applied, with the reason. ``repaired``: its UPDATEs of an id it was
    never shown, applied as ADDs of their text. ``ignored``: ops whose fields beyond kind, target and text (times,
    metadata, ids, provenance) the model wrote and the agent left out.
    """

    id: str
    status: JobStatus
    namespace: str
    session_id: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    change_set: ChangeSetOut | None = None
    review_id: str | None = None
    rejected: list[dict[str, Any]] = []
    repaired: list[dict[str, Any]] = []
    ignored: list[dict[str, Any]] = []
    error: ErrorInfo | None = None


class UpdateRequest(_In):
    """New text for a memory."""

    text: str
    timestamp: Time | None = None


class FiltersIn(_In):
    """``since <= timestamp <= until`` and metadata equality on every key."""

    since: Time | None = None
    until: Time | None = None
    metadata: dict[str, str | int | float | bool | None] = {}


class SearchRequest(_In):
    """A search over the namespace's live memories."""

    query: str = Field(min_length=1, max_length=10_000)
    k: int | None = Field(default=None, ge=1, le=1000)
    mode: Literal["vector", "keyword", "hybrid"] | None = None
    filters: FiltersIn | None = None


class HitOut(_Out):
    """One search result."""

    memory: MemoryOut
    score: float


class SearchOut(_Out):
    """Search results, best first."""

    results: list[HitOut]


class MemoryPage(_Out):
    """A page of live memories, oldest first; ``next_offset`` is null on the last page."""

    items: list[MemoryOut]
    limit: int
    offset: int
    next_offset: int | None


class HistoryOut(_Out):
    """One recorded change."""

    seq: int
    change_set_id: str
    namespace: str
    memory_id: str
    kind: Literal["ADD", "UPDATE", "DELETE"]
    before: MemoryOut | None
    after: MemoryOut | None
    session_id: str | None
    actor: str
    created_at: datetime


class HistoryList(_Out):
    """Changes, oldest first."""

    items: list[HistoryOut]


class ChangeSetRecordOut(_Out):
    """A committed change set's header."""

    id: str
    namespace: str
    created_at: datetime
    session_id: str | None
    actor: str
    ops: list[dict[str, Any]]
    counts: dict[str, int]
    reverts: str | None
    reverted_by: str | None
    note: str


class ChangeSetList(_Out):
    """Change sets, newest first."""

    items: list[ChangeSetRecordOut]


class RevertRequest(_In):
    """``force``: revert even when later change sets touched the same memories."""

    force: bool = False


class ResetRequest(_In):
    """Erasing a namespace with its history cannot be undone, so it must be confirmed."""

    confirm: Literal[True]


class ResetOut(_Out):
    """Rows removed by a reset."""

    removed: int


# -- review queue -------------------------------------------------------------------------------------------------
class ReviewItemOut(_Out):
    """A change set held back for review."""

    id: str
    namespace: str
    ops: list[dict[str, Any]]
    reason: str
    created_at: datetime
    session_id: str | None
    actor: str
    status: Literal["pending", "approved", "rejected"]
    resolved_at: datetime | None
    resolved_by: str | None
    change_set_id: str | None


class ReviewList(_Out):
    """Queued change sets, oldest first."""

    items: list[ReviewItemOut]


class ReviewEditRequest(_In):
    """Replacement operations for a queued change set."""

    ops: list[JsonObject] = Field(max_length=MAX_ITEMS)


class ReviewDecision(_In):
    """Who decided (defaults to the API key's id)."""

    by: str | None = Field(default=None, max_length=200)


# -- answer, import -----------------------------------------------------------------------------------------------
class AnswerRequest(_In):
    """A question answered from the top-k memories."""

    question: str = Field(min_length=1, max_length=10_000)
    k: int | None = Field(default=None, ge=1, le=1000)
    today: Time | None = None


class AnswerOut(_Out):
    """The answer and the memories it was based on."""

    answer: str
    memory_ids: list[str]
    memories: list[MemoryOut]


class ImportOut(_Out):
    """Records written by an import."""

    records: int


# -- admin --------------------------------------------------------------------------------------------------------
class KeyCreate(_In):
    """A new API key for a tenant."""

    tenant: str = Field(min_length=1, max_length=100)
    label: str = Field(default="", max_length=200)


class KeyOut(_Out):
    """An API key's record (never the key itself)."""

    id: str
    tenant: str | None
    admin: bool
    label: str
    created_at: datetime
    revoked_at: datetime | None


class KeyCreated(KeyOut):
    """A freshly created key: ``key`` is shown once and stored only as a hash."""

    key: str


class KeyList(_Out):
    """API keys."""

    items: list[KeyOut]


class Health(_Out):
    """Liveness."""

    status: Literal["ok"]
    version: str
