"""Timestamps: one gate for every time that enters, one storage form, one tolerant reader for what is stored.

Every time that enters deltamem (an op's timestamp, a session date, a message time, an import record, a filter, a
time the agent derives) passes :func:`as_utc`: a ``datetime``, a ``date`` or an ISO-8601 string; naive values are
taken as UTC (documented, and what every caller before this gate did); the result is timezone-aware UTC between
:data:`MIN_TIME` and :data:`MAX_TIME`, else :class:`ValidationError`.

The range is years 1000 to 9999 (UTC). Every such time has a four-digit year, so the fixed-width ISO form of
:func:`to_iso` sorts as time sorts, and it is written exactly as deltamem versions before this gate wrote it: a
database written now stays readable after a downgrade. Years before 1000 were stored in a form those versions
cannot read back; :func:`stored_time` reads such rows (and anything else out of range) clamped into the range, with
a warning, so one bad row never makes its whole namespace unreadable.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, date, datetime

from deltamem.core.errors import ValidationError

log = logging.getLogger("deltamem.timeutil")

#: The earliest accepted time (UTC).
MIN_TIME = datetime(1000, 1, 1, tzinfo=UTC)
#: The latest accepted time (UTC).
MAX_TIME = datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)

# The year of a stored text; before the gate, years below 1000 were written unpadded ("999-01-01T...").
_YEAR = re.compile(r"^(\d{1,5})-")


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def as_utc(value: object, *, what: str = "time") -> datetime:
    """The one validation of a time that enters: an aware UTC ``datetime`` within [MIN_TIME, MAX_TIME].

    Accepts a ``datetime`` (naive = UTC), a ``date`` (midnight UTC) or an ISO-8601 string (``Z`` allowed);
    anything else, or a time outside the range, raises :class:`ValidationError` naming ``what``.
    """
    parsed = _parse(value, what)
    try:
        utc = parsed.replace(tzinfo=UTC) if parsed.utcoffset() is None else parsed.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:00-05:00 is past year 9999 in UTC
        utc = None
    if utc is None or not MIN_TIME <= utc <= MAX_TIME:
        raise ValidationError(f"{what} {value!s:.60} is out of range: times must lie in the years "
                              f"{MIN_TIME.year} to {MAX_TIME.year} (UTC)")
    return utc


def _parse(value: object, what: str) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if not isinstance(value, str):
        raise ValidationError(f"{what} must be an ISO-8601 string or a datetime, not {type(value).__name__}")
    text = value.strip()
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    # fromisoformat accepts ASCII digits only; the explicit check keeps it that way whatever Python does later.
    if not text.isascii():
        raise ValidationError(f"{what} {value!r:.60} is not an ISO-8601 date or time (ASCII digits only)")
    try:
        return datetime.fromisoformat(text)
    except ValueError as e:
        raise ValidationError(f"{what} {value!r:.60} is not an ISO-8601 date or time") from e


def to_iso(value: datetime) -> str:
    """Serialise as fixed-width UTC ISO-8601 so that string order equals time order (SQL range filters rely on it).

    ``strftime("%Y")`` is not used: it does not pad years below 1000 on glibc, which wrote unreadable rows.
    """
    v = as_utc(value)
    return (f"{v.year:04d}-{v.month:02d}-{v.day:02d}T{v.hour:02d}:{v.minute:02d}:{v.second:02d}"
            f".{v.microsecond:06d}+00:00")


def stored_time(value: object, *, what: str = "time", of: str | None = None) -> datetime:
    """A time read back from a store, never failing: a value outside the gate is clamped into range and logged.

    Rows written before the gate may hold years below 1000, in a form without a four-digit year. The namespace
    stays readable: such a value comes back as :data:`MIN_TIME` (or :data:`MAX_TIME`, for a year from 5000 on),
    and a warning names the row (``of``) once per process.
    """
    try:
        return as_utc(value, what=what)
    except ValidationError as e:
        fixed = _clamped(value)
        key = f"{of} {what} {value!s:.60}"
        if key not in _warned:
            if len(_warned) < 10_000:
                _warned.add(key)
            log.warning("%s (stored in %s by an older version) is read as %s; update or re-add it to fix the row",
                        e, of or "a row", to_iso(fixed))
        return fixed


_warned: set[str] = set()


def _clamped(value: object) -> datetime:
    # The nearer end of the range: a stored year below 1000 (the known case) or garbage reads as MIN_TIME.
    year = value.year if isinstance(value, date) else None
    if isinstance(value, str) and (m := _YEAR.match(value.strip())) is not None:
        year = int(m.group(1))
    return MAX_TIME if year is not None and year >= 5000 else MIN_TIME
