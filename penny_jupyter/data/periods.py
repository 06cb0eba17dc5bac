"""Reporting periods: month/quarter/year to date and the comparable span before it.

The previous span starts at the previous month/quarter/year start and ends at the same offset,
with the day of month clipped (Mar 31 -> Feb 28/29), so "vs last month" compares like with like.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass

from ..errors import InvalidParams

PERIODS = ("MTD", "QTD", "YTD")
_MONTHS = {"MTD": 1, "QTD": 3, "YTD": 12}
_NAMES = {"MTD": ("month to date", "the same days last month"),
          "QTD": ("quarter to date", "the same days last quarter"),
          "YTD": ("year to date", "the same days last year")}


@dataclass(frozen=True)
class Period:
    kind: str
    start: dt.date
    end: dt.date
    prev_start: dt.date
    prev_end: dt.date

    def __iter__(self):
        # lets callers unpack: start, end, prev_start, prev_end = resolve_period(...)
        return iter((self.start, self.end, self.prev_start, self.prev_end))

    @property
    def label(self) -> str:
        return _NAMES[self.kind][0]

    @property
    def comparison(self) -> str:
        return _NAMES[self.kind][1]

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def describe(self) -> str:
        return f"{self.label} ({_fmt_range(self.start, self.end)})"


def _fmt_range(a: dt.date, b: dt.date) -> str:
    if a.year == b.year:
        return f"{a:%b} {a.day} – {b:%b} {b.day}, {b.year}"
    return f"{a:%b} {a.day}, {a.year} – {b:%b} {b.day}, {b.year}"


def shift_months(d: dt.date, months: int) -> dt.date:
    """The same day `months` months away, clipped to the end of a shorter month."""
    m = d.year * 12 + (d.month - 1) + months
    y, mo = divmod(m, 12)
    mo += 1
    return dt.date(y, mo, min(d.day, calendar.monthrange(y, mo)[1]))


def period_start(kind: str, today: dt.date) -> dt.date:
    if kind == "MTD":
        return today.replace(day=1)
    if kind == "QTD":
        return dt.date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
    if kind == "YTD":
        return dt.date(today.year, 1, 1)
    raise InvalidParams(f"unknown period {kind!r}: use one of {', '.join(PERIODS)}")


def resolve_period(kind: str, today: dt.date) -> Period:
    """Current span [start, today] and the previous span of the same shape one period earlier."""
    kind = (kind or "").upper()
    start = period_start(kind, today)
    n = _MONTHS[kind]
    return Period(kind, start, today, shift_months(start, -n), shift_months(today, -n))
