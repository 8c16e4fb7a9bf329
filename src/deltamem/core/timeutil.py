"""Timestamps: always timezone-aware UTC, serialised in one sortable ISO-8601 form."""

from __future__ import annotations

from datetime import UTC, date, datetime


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def as_utc(value: datetime | date | str) -> datetime:
    """Coerce a datetime, a date or an ISO-8601 string to an aware UTC datetime (naive values are taken as UTC)."""
    if isinstance(value, str):
        text = value.strip()
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        try:
            value = datetime.fromisoformat(text)
        except ValueError as e:
            raise ValueError(f"not an ISO-8601 date or time: {value!r}") from e
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day, tzinfo=UTC)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def to_iso(value: datetime) -> str:
    """Serialise as fixed-width UTC ISO-8601 so that string order equals time order (SQL range filters rely on it)."""
    return as_utc(value).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
