"""Reporting periods: month/quarter/year to date and the comparable span before it.

The previous span starts at the previous month/quarter/year start and ends at the same offset,
with the day of month clipped (Mar 31 -> Feb 28/29), so "vs last month" compares like with like.

`parse_period` also reads the everyday forms query_metric accepts: "last N days|weeks|months|
quarters|years" (a rolling span of that length ending today, compared with the same number of
days just before it), "previous month|quarter|year|week" (the last complete calendar one, compared
with the one before it; "last month" means the same) and explicit ISO start/end dates.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass, replace

from ..errors import InvalidParams

PERIODS = ("MTD", "QTD", "YTD")
PERIOD_WORDS = {"MTD": "this month", "QTD": "this quarter", "YTD": "this year"}
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
    title: str = ""  # label of a parsed period ("last 30 days"); MTD/QTD/YTD use _NAMES
    compare_text: str = ""

    def __iter__(self):
        # lets callers unpack: start, end, prev_start, prev_end = resolve_period(...)
        return iter((self.start, self.end, self.prev_start, self.prev_end))

    @property
    def label(self) -> str:
        return self.title or _NAMES[self.kind][0]

    @property
    def comparison(self) -> str:
        return self.compare_text or _NAMES[self.kind][1]

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


# ---- free-form periods (query_metric) ---------------------------------------------------------------

PERIOD_FORMS = ("MTD", "QTD", "YTD", "last N days", "last N weeks", "last N months", "last N quarters",
                "last N years", "previous week", "previous month", "previous quarter", "previous year",
                "today", "yesterday")
_UNIT_MONTHS = {"month": 1, "quarter": 3, "year": 12}
_ALIASES = {"this month": "MTD", "month to date": "MTD", "this quarter": "QTD", "quarter to date": "QTD",
            "this year": "YTD", "year to date": "YTD"}
_ROLLING = re.compile(r"^(?:last|past|trailing)\s+(\d+)\s+(day|week|month|quarter|year)s?$")
_PREVIOUS = re.compile(r"^(?:previous|last|prior)\s+(week|month|quarter|year)$")


def _rolling(n: int, unit: str, today: dt.date) -> Period:
    if n < 1:
        raise InvalidParams("a rolling period needs at least 1 unit, e.g. 'last 30 days'")
    if unit in ("day", "week"):
        start = today - dt.timedelta(days=n * (7 if unit == "week" else 1) - 1)
    else:
        start = shift_months(today, -n * _UNIT_MONTHS[unit]) + dt.timedelta(days=1)
    span = f"{n} {unit}{'s' if n != 1 else ''}"
    return custom_period(start, today, title=f"last {span}", compare_text=f"the {span} before")


def _previous(unit: str, today: dt.date) -> Period:
    if unit == "week":
        start = today - dt.timedelta(days=today.weekday() + 7)  # Monday of last ISO week
        return custom_period(start, start + dt.timedelta(days=6), title="previous week",
                             compare_text="the week before")
    n = _UNIT_MONTHS[unit]
    cur_start = period_start({"month": "MTD", "quarter": "QTD", "year": "YTD"}[unit], today)
    start = shift_months(cur_start, -n)
    prev_start = shift_months(start, -n)
    return Period(f"previous {unit}", start, cur_start - dt.timedelta(days=1), prev_start,
                  start - dt.timedelta(days=1), title=f"previous {unit}", compare_text=f"the {unit} before")


def custom_period(start: dt.date, end: dt.date, title: str = "", compare_text: str = "") -> Period:
    """[start, end] compared with the span of the same number of days just before it."""
    if start > end:
        raise InvalidParams(f"the period starts ({start}) after it ends ({end})")
    days = (end - start).days + 1
    prev_end = start - dt.timedelta(days=1)
    return Period("custom" if not title else title, start, end, prev_end - dt.timedelta(days=days - 1), prev_end,
                  title=title or "custom range", compare_text=compare_text or f"the previous {days} days")


def _iso(value: str | dt.date, name: str) -> dt.date:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise InvalidParams(f"{name} {value!r} is not an ISO date (YYYY-MM-DD)") from None


def parse_period(text: str | None, today: dt.date, start: str | dt.date | None = None,
                 end: str | dt.date | None = None) -> Period:
    """A period from its everyday name (see PERIOD_FORMS), a calendar name ("2025", "Q2 2025", "March 2026"),
    a range in words ("2026-03-01..2026-06-30", "since 2026-03-01"), or explicit ISO `start`/`end` dates.
    A name and dates that say the same span are accepted (models often send both); a contradiction is refused
    with the argument to drop."""
    if start is not None or end is not None:
        if start is None:
            raise InvalidParams("an explicit range needs a start date (end defaults to today)")
        a, b = _iso(start, "start"), _iso(end, "end") if end is not None else today
        dated = custom_period(a, b, title=f"{a.isoformat()} to {b.isoformat()}")
        if not text:
            return dated
        named = parse_period(text, today)
        if (named.start, named.end) == (a, b) or (end is None and named.start == a):
            return named
        raise InvalidParams(f"period {text!r} is {named.start} to {named.end}, but start/end say {a} to {b}: "
                            "drop `period` to use the dates, or drop `start` and `end` to use the period")
    key = re.sub(r"[\s_]+", " ", (text or "YTD").strip().lower())  # "previous_quarter", as models write it
    key = _ALIASES.get(key, key)
    if key.upper() in PERIODS:
        return resolve_period(key.upper(), today)
    if key in ("today", "yesterday"):
        d = today - dt.timedelta(days=key == "yesterday")
        return custom_period(d, d, title=key, compare_text="the day before")
    if m := _ROLLING.match(key):
        return _rolling(int(m.group(1)), m.group(2), today)
    if m := _PREVIOUS.match(key):
        return _previous(m.group(1), today)
    if (found := _calendar(key, today)) is not None:
        return found
    raise InvalidParams(f"unknown period {text!r}: use one of {', '.join(PERIOD_FORMS)}, a year ('2025'), a "
                        "quarter ('Q2 2025'), a month ('March 2026'), a range ('2026-03-01..2026-06-30', "
                        "'since 2026-03-01'), or start/end dates (YYYY-MM-DD)")


_MONTH_NAMES = {m: i for i, m in enumerate(("january", "february", "march", "april", "may", "june", "july",
                                            "august", "september", "october", "november", "december"), 1)}
_DATE = r"(\d{4}-\d{2}-\d{2})"
_RANGE = re.compile(rf"^(?:from |between )?{_DATE}\s*(?:\.\.|to|until|through|-|and)\s*{_DATE}$")
_SINCE = re.compile(rf"^(?:since|from|after) {_DATE}$")
_YEAR = re.compile(r"^(?:fy\s?)?(\d{4})$")
_QUARTER = re.compile(r"^q([1-4])\s*(?:of\s+)?(\d{4})$|^(\d{4})[\s-]*q([1-4])$")
_MONTH = re.compile(r"^([a-z]+)\s+(\d{4})$|^(\d{4})-(\d{2})$")


def _calendar(key: str, today: dt.date) -> Period | None:
    """A year, quarter or month by its name, or a range of ISO dates; the part after today is cut off."""
    if m := _RANGE.match(key):
        a, b = _iso(m.group(1), "start"), _iso(m.group(2), "end")
        return custom_period(a, b, title=f"{a.isoformat()} to {b.isoformat()}")
    if m := _SINCE.match(key):
        a = _iso(m.group(1), "start")
        return custom_period(a, today, title=f"since {a.isoformat()}")
    if m := _YEAR.match(key):
        return _span(dt.date(int(m.group(1)), 1, 1), 12, m.group(1), today)
    if m := _QUARTER.match(key):
        q, year = (m.group(1), m.group(2)) if m.group(1) else (m.group(4), m.group(3))
        return _span(dt.date(int(year), 3 * int(q) - 2, 1), 3, f"Q{q} {year}", today)
    if m := _MONTH.match(key):
        if m.group(1):
            month = _MONTH_NAMES.get(m.group(1)) or next(
                (i for name, i in _MONTH_NAMES.items() if len(m.group(1)) >= 3 and name.startswith(m.group(1))), None)
            year = int(m.group(2))
        else:
            month, year = int(m.group(4)), int(m.group(3))
        if month and 1 <= month <= 12:
            first = dt.date(year, month, 1)
            return _span(first, 1, f"{first:%B %Y}", today)
    return None


def _span(first: dt.date, months: int, title: str, today: dt.date) -> Period:
    """A calendar span of `months` from `first`, compared with the same span one span earlier."""
    if first > today:
        raise InvalidParams(f"{title} has not started yet (today is {today})")
    natural = shift_months(first, months) - dt.timedelta(days=1)
    last = min(natural, today)
    prev_first = shift_months(first, -months)
    prev_last = first - dt.timedelta(days=1) if last == natural else shift_months(last, -months)
    unit = {12: "year", 3: "quarter", 1: "month"}[months]
    return Period(title, first, last, prev_first, prev_last, title=title,
                  compare_text=f"the same days of the {unit} before")


def year_earlier(p: Period) -> Period:
    """The same span, compared with the same dates one year earlier (Feb 29 clips to Feb 28)."""
    return replace(p, prev_start=shift_months(p.start, -12), prev_end=shift_months(p.end, -12),
                   compare_text="the same dates last year")
