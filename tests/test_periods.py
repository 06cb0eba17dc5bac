"""Periods as people and small models write them: calendar names and ranges in one `period` argument; a
named period sent with the same dates is accepted, a contradiction is refused naming what to drop."""

from __future__ import annotations

import datetime as dt

import pytest

from penny_jupyter.data.periods import parse_period
from penny_jupyter.errors import InvalidParams

TODAY = dt.date(2026, 11, 18)
D = dt.date.fromisoformat


@pytest.mark.parametrize("text, start, end, prev_start, prev_end", [
    ("2025", "2025-01-01", "2025-12-31", "2024-01-01", "2024-12-31"),
    ("2026", "2026-01-01", "2026-11-18", "2025-01-01", "2025-11-18"),  # this year: cut at today, like YTD
    ("Q2 2025", "2025-04-01", "2025-06-30", "2025-01-01", "2025-03-31"),
    ("2025-Q3", "2025-07-01", "2025-09-30", "2025-04-01", "2025-06-30"),
    ("March 2026", "2026-03-01", "2026-03-31", "2026-02-01", "2026-02-28"),
    ("mar 2026", "2026-03-01", "2026-03-31", "2026-02-01", "2026-02-28"),
    ("2026-11", "2026-11-01", "2026-11-18", "2026-10-01", "2026-10-18"),  # the month so far vs the same days
    ("2026-03-01..2026-06-30", "2026-03-01", "2026-06-30", "2025-10-30", "2026-02-28"),
    ("between 2026-01-01 and 2026-01-31", "2026-01-01", "2026-01-31", "2025-12-01", "2025-12-31"),
    ("since 2026-03-01", "2026-03-01", "2026-11-18", "2025-06-11", "2026-02-28"),
])
def test_calendar_names_and_ranges(text, start, end, prev_start, prev_end):
    p = parse_period(text, TODAY)
    assert (p.start, p.end, p.prev_start, p.prev_end) == (D(start), D(end), D(prev_start), D(prev_end))


def test_a_named_period_with_the_same_dates_is_that_period():
    assert parse_period("MTD", TODAY, "2026-11-01", "2026-11-18") == parse_period("MTD", TODAY)
    assert parse_period("QTD", TODAY, "2026-10-01") == parse_period("QTD", TODAY)


def test_a_contradiction_says_which_argument_to_drop():
    with pytest.raises(InvalidParams) as e:
        parse_period("MTD", TODAY, "2026-01-01", "2026-03-31")
    assert str(e.value.message) == ("period 'MTD' is 2026-11-01 to 2026-11-18, but start/end say 2026-01-01 to "
                                    "2026-03-31: drop `period` to use the dates, or drop `start` and `end` to use "
                                    "the period")


@pytest.mark.parametrize("text, says", [("Q2 2027", "has not started yet"), ("sometime", "unknown period"),
                                        ("2026-13", "unknown period")])
def test_periods_that_cannot_be_read(text, says):
    with pytest.raises(InvalidParams, match=says):
        parse_period(text, TODAY)


def test_a_period_written_with_underscores_reads_the_same():
    assert parse_period("previous_quarter", TODAY) == parse_period("previous quarter", TODAY)
