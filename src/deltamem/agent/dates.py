"""Relative dates ("yesterday", "last week", "3 years ago") made absolute against the session date. Pure."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from deltamem.core.timeutil import as_utc

_WEEKDAYS = {d.lower(): i for i, d in enumerate(calendar.day_name)}
_NUM = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
        "nine": 9, "ten": 10, "couple of": 2, "few": 3}
_NUMBER = r"(\d+|a|an|one|two|three|four|five|six|seven|eight|nine|ten|a couple of|a few)"

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\b(today|tonight|this morning|this afternoon|this evening)\b", re.I), "today"),
    (re.compile(r"\b(yesterday|last night)\b", re.I), "yesterday"),
    (re.compile(r"\btomorrow\b", re.I), "tomorrow"),
    (re.compile(rf"\b{_NUMBER} (day|week|month|year)s? ago\b", re.I), "ago"),
    (re.compile(rf"\bin {_NUMBER} (day|week|month|year)s?\b", re.I), "in"),
    (re.compile(r"\b(last|next|this) (week|weekend|month|year)\b", re.I), "rel_unit"),
    (re.compile(r"\b(last|next|this) (monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b", re.I), "rel_day"),
]


# "in a month" after a negation or a first / only ("hasn't had a cigarette in a month", "the first trip in two
# years") is how long something has lasted, not a date a month ahead.
_SPAN_BEFORE = re.compile(r"(n['’]t|\b(not|never|no|first|only|best|worst|longest)\b)", re.I)


@dataclass(frozen=True, slots=True)
class Resolved:
    """A text with its relative date expressions made absolute, and the date the first one denotes."""

    text: str
    date: datetime | None
    expression: str | None


def _count(word: str) -> int:
    word = word.lower().removeprefix("a ").strip() if word.lower().startswith("a ") else word.lower()
    return int(word) if word.isdigit() else _NUM.get(word, 1)


def _shift_months(d: datetime, months: int) -> datetime:
    m = d.month - 1 + months
    year, month = d.year + m // 12, m % 12 + 1
    return d.replace(year=year, month=month, day=min(d.day, calendar.monthrange(year, month)[1]))


def _fmt_day(d: datetime) -> str:
    return f"{d.day} {d.strftime('%B %Y')}"


def resolve(text: str, session_date: datetime) -> Resolved:
    """Replace the relative date expressions in ``text`` (a fact joined from two may hold two); returns the new
    text and the date the first one in the text means.

    Examples against Monday 8 May 2023: "yesterday" → "on 7 May 2023"; "last week" → "in the week of 1 May 2023";
    "last month" → "in April 2023"; "two years ago" → "in 2021"; "next Friday" → "on 12 May 2023".
    """
    base = as_utc(session_date, what="session date").replace(hour=0, minute=0, second=0, microsecond=0)
    found: list[tuple[int, int, str, datetime]] = []  # start, end, phrase, date
    for pattern, kind in _PATTERNS:
        for m in pattern.finditer(text):
            if kind == "in" and _SPAN_BEFORE.search(text[max(0, m.start() - 60):m.start()]):
                continue
            if any(m.start() < end and start < m.end() for start, end, _, _ in found):
                continue  # inside an expression found before ("last week" in "the week before last week")
            try:
                phrase, when = _phrase(kind, m, base)
                found.append((m.start(), m.end(), phrase, as_utc(when, what="resolved date")))
            except (ValueError, OverflowError):  # "5000 years ago", a 5000-digit count: no date to resolve to
                return Resolved(text, None, None)
    if not found:
        return Resolved(text, None, None)
    found.sort()
    out, at = [], 0
    for start, end, phrase, _ in found:
        out += [text[at:start], phrase]
        at = end
    first = found[0]
    return Resolved("".join(out) + text[at:], first[3], text[first[0]:first[1]])


def _phrase(kind: str, m: re.Match[str], base: datetime) -> tuple[str, datetime]:
    if kind in ("today", "yesterday", "tomorrow"):
        d = base + timedelta(days={"today": 0, "yesterday": -1, "tomorrow": 1}[kind])
        return f"on {_fmt_day(d)}", d
    if kind in ("ago", "in"):
        n, unit = _count(m.group(1)), m.group(2).lower()
        sign = -1 if kind == "ago" else 1
        if unit == "day":
            d = base + timedelta(days=sign * n)
            return f"on {_fmt_day(d)}", d
        if unit == "week":
            d = base + timedelta(weeks=sign * n)
            return f"in the week of {_fmt_day(d - timedelta(days=d.weekday()))}", d
        if unit == "month":
            d = _shift_months(base, sign * n)
            return f"in {d.strftime('%B %Y')}", d
        d = base.replace(year=base.year + sign * n, day=min(base.day, 28) if base.month == 2 else base.day)
        return f"in {d.year}", d
    which = m.group(1).lower()
    step = {"last": -1, "next": 1, "this": 0}[which]
    if kind == "rel_day":
        target = _WEEKDAYS[m.group(2).lower()]
        delta = target - base.weekday()
        if step == -1:
            delta = delta - 7 if delta >= 0 else delta
        elif step == 1:
            delta = delta + 7 if delta <= 0 else delta
        d = base + timedelta(days=delta)
        return f"on {m.group(2).capitalize()}, {_fmt_day(d)}", d
    unit = m.group(2).lower()
    if unit in ("week", "weekend"):
        d = base + timedelta(weeks=step)
        monday = d - timedelta(days=d.weekday())
        if unit == "weekend":
            sat = monday + timedelta(days=5)
            return f"on the weekend of {_fmt_day(sat)}", sat
        return f"in the week of {_fmt_day(monday)}", monday
    if unit == "month":
        d = _shift_months(base.replace(day=1), step)
        return f"in {d.strftime('%B %Y')}", d
    d = base.replace(year=base.year + step, month=1, day=1)
    return f"in {d.year}", d
