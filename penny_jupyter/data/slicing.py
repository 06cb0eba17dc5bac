"""One catalog metric, sliced: `query_metric` over any period, per time bucket, by a dimension, filtered.

`compile_slice` builds ONE DuckDB query over the metric's source (group totals, the comparison span,
opening balances and per-bucket measures together); `query_metric` runs it and shapes a
`MetricSlice`. `bucket_starts` mirrors DuckDB's date_trunc so every bucket of the span is present.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Iterable

from ..errors import InvalidParams
from .catalog import Metric, check_dimension
from .periods import Period

GRAINS = ("day", "week", "month", "quarter")
# With no `top`, a breakdown shows at most this many values (a customer cut can have thousands).
MAX_GROUPS = 100


@dataclass
class MetricSlice:
    """One metric over [start, end]: the total, per-group totals (ranked) and per-bucket series."""
    metric: Metric
    period: Period
    grain: str | None
    by: str | None
    compare: bool
    total: float | None
    previous: float | None
    groups: list[dict[str, Any]]  # {key, value, previous, rank}, largest first
    group_count: int
    lowest: dict[str, Any] | None  # the smallest group overall (it may fall outside `groups`)
    buckets: list[dt.date]  # first day of each bucket, clipped to the span
    series: dict[str | None, list[float | None]]  # group key (None without `by`) -> value per bucket

    @property
    def change(self) -> float | None:
        return None if self.total is None or self.previous is None else self.total - self.previous

    @property
    def change_pct(self) -> float | None:
        if self.total is None or not self.previous:
            return None
        return (self.total - self.previous) / abs(self.previous) * 100


def compile_slice(m: Metric, by: str | None, grain: str | None, filters: Iterable[str], compare: bool,
                  cut: bool = True) -> str:
    """ONE query over the metric's source: a `part 0` row per group (plus the grand total, group NULL with
    is_total 1) holding current/comparison measures and the opening balance, ranked, and `part 1` rows
    with per-bucket measures for the groups that made the cut ($top)."""
    filters = list(filters)
    src = m.source([by, *filters])
    a, b = {"flow": ("value", "NULL"), "ratio": ("num", "den"), "balance": ("delta", "NULL")}[m.kind]
    g = f"CAST({by} AS VARCHAR)" if by else "NULL::VARCHAR"
    # filters match case-insensitively: "emea" from a chat message means EMEA
    where = ["day <= $end"] + [f"lower(CAST({d} AS VARCHAR)) = lower($f{i})" for i, d in enumerate(filters)]
    if m.kind != "balance":
        where.append("day >= $lo")

    def agg(col: str, cond: str | None) -> str:
        return f"sum({col})" + (f" FILTER (WHERE {cond})" if cond else "")

    cur_cond = "day >= $start" if m.kind != "balance" else None
    cmp_cond = ("day BETWEEN $cs AND $ce" if m.kind != "balance" else "day <= $ce") if compare else "false"
    ca, pa = agg("a", cur_cond), agg("a", cmp_cond)
    # typed NULLs: an untyped one in a CTE is text to PostgreSQL, and the UNION below would not match
    none = "CAST(NULL AS DOUBLE)"
    cb, pb = (agg("b", cur_cond), agg("b", cmp_cond)) if m.kind == "ratio" else (none, none)
    op = agg("a", "day < $start") if m.kind == "balance" else none
    # an empty group is worth 0 of a flow or balance (it ranks among the values), but has no ratio
    rank_val = "ca / nullif(cb, 0)" if m.kind == "ratio" else "coalesce(ca, 0)"
    grouping = "GROUPING SETS ((g), ())" if by else "()"
    is_total = "grouping(g)" if by else "1"
    gcol = "g" if by else "NULL::VARCHAR AS g"
    # a balance that is zero now and then (a churned customer's ARR) is not a member of the ranking
    live = " WHERE is_total = 1 OR abs(coalesce(ca, 0)) > 1e-9 OR abs(coalesce(pa, 0)) > 1e-9" \
        if m.kind == "balance" and by else ""
    sql = (f"WITH base AS (SELECT {g} AS g, day, CAST({a} AS DOUBLE) AS a, CAST({b} AS DOUBLE) AS b "
           f"FROM ({src}) WHERE {' AND '.join(where)}),\n"
           f"grp AS (SELECT {gcol}, {is_total} AS is_total, {ca} AS ca, {cb} AS cb, {pa} AS pa, {pb} AS pb, {op} AS op "
           f"FROM base GROUP BY {grouping}),\n"
           f"ranked AS (SELECT *, row_number() OVER (PARTITION BY is_total ORDER BY {rank_val} DESC NULLS LAST, g) AS rk, "
           f"row_number() OVER (PARTITION BY is_total ORDER BY {rank_val} ASC NULLS LAST, g) AS rk_low, "
           f"count(*) OVER (PARTITION BY is_total) AS n FROM grp{live})\n"
           f"SELECT 0 AS part, g, NULL::DATE AS bucket, ca, cb, pa, pb, op, is_total, rk, n, rk_low FROM ranked "
           f"WHERE is_total = 1 OR rk <= $top OR rk_low = 1")
    if grain:
        # Cutting the series to the ranked groups costs a second pass over the ranking; only worth it
        # when there may be many groups (the rest are dropped in Python).
        keep = " AND g IN (SELECT g FROM ranked WHERE is_total = 0 AND rk <= $top)" if by and cut else ""
        sql += (f"\nUNION ALL\nSELECT 1, g, CAST(date_trunc('{grain}', day) AS DATE), sum(a), sum(b), NULL, NULL, NULL, "
                f"NULL, NULL, NULL, NULL FROM base WHERE day >= $start{keep} GROUP BY ALL")
    return sql


def bucket_starts(start: dt.date, end: dt.date, grain: str) -> list[dt.date]:
    """The first day of every `grain` bucket touching [start, end] (DuckDB's date_trunc: weeks start Monday)."""
    def trunc(d: dt.date) -> dt.date:
        if grain == "day":
            return d
        if grain == "week":
            return d - dt.timedelta(days=d.weekday())
        if grain == "month":
            return d.replace(day=1)
        return dt.date(d.year, 3 * ((d.month - 1) // 3) + 1, 1)

    out, b = [], trunc(start)
    while b <= end:
        out.append(b)
        if grain == "day":
            b += dt.timedelta(days=1)
        elif grain == "week":
            b += dt.timedelta(days=7)
        else:
            y, mo = divmod(b.year * 12 + b.month - 1 + (1 if grain == "month" else 3), 12)
            b = dt.date(y, mo + 1, 1)
    return out


def default_grain(period: Period) -> str:
    days = period.days
    return "day" if days <= 45 else "week" if days <= 120 else "month" if days <= 800 else "quarter"


def query_metric(cur, m: Metric, period: Period, *, grain: str | None = None, by: str | None = None,
                 top: int | None = None, filters: dict[str, str] | None = None, compare: bool = True) -> MetricSlice:
    """The metric over `period` (compared with period.prev_* when `compare`), optionally per `grain` bucket,
    cut `by` a dimension (ranked, the `top` N kept) and filtered to dimension values, in one query."""
    if grain is not None and grain not in GRAINS:
        raise InvalidParams(f"unknown grain {grain!r}: use one of {', '.join(GRAINS)}")
    if by:
        check_dimension(m, by)
    filters = dict(filters or {})
    for d in filters:
        check_dimension(m, d, "filtered")
    if top is not None and top < 1:
        raise InvalidParams("top must be at least 1")
    params: dict[str, Any] = {"start": period.start, "end": period.end, "top": top or MAX_GROUPS}
    if m.kind != "balance":
        params["lo"] = min(period.start, period.prev_start) if compare else period.start
    if compare:
        params["ce"] = period.prev_end
        if m.kind != "balance":
            params["cs"] = period.prev_start
    for i, v in enumerate(filters.values()):
        params[f"f{i}"] = str(v)
    cut = top is not None or (by in m.joined)  # customer: thousands of groups; region: four
    rows = cur.execute(compile_slice(m, by, grain, filters, compare, cut), params).fetchall()

    def value(a, b, cmp: bool = False) -> float | None:
        if m.kind == "ratio":
            return a / b if b else None
        return None if cmp and not compare else (a or 0.0)

    total = previous = None
    groups, lowest, n, opening, raw = [], None, 0, {}, {}
    for part, g, bucket, ca, cb, pa, pb, op, is_total, rk, cnt, rk_low in rows:
        if part == 1:
            raw.setdefault(g, {})[bucket] = (ca, cb)
            continue
        row = {"key": g, "value": value(ca, cb), "previous": value(pa, pb, True) if compare else None, "rank": rk}
        if is_total:
            total, previous = row["value"], row["previous"]
            if not by:
                opening[None] = op or 0.0
        else:
            n = cnt
            opening[g] = op or 0.0
            if rk <= params["top"]:
                groups.append(row)
            if rk_low == 1:
                lowest = row
    groups.sort(key=lambda r: r["rank"])
    if by and lowest is None and groups:
        lowest = groups[-1]

    buckets = bucket_starts(period.start, period.end, grain) if grain else []
    series: dict[str | None, list[float | None]] = {}
    keys = [r["key"] for r in groups] if by else [None]
    for k in keys if grain else []:
        daily = raw.get(k, {})
        if m.kind == "balance":
            level, vals = opening.get(k, 0.0), []
            for bk in buckets:
                level += (daily.get(bk, (0.0, None))[0] or 0.0)
                vals.append(level)
        elif m.kind == "ratio":
            vals = [(lambda ab: ab[0] / ab[1] if ab[1] else None)(daily.get(bk, (None, None))) for bk in buckets]
        else:
            vals = [daily.get(bk, (0.0, None))[0] or 0.0 for bk in buckets]
        series[k] = vals
    clipped = [max(bk, period.start) for bk in buckets]
    return MetricSlice(m, period, grain, by, compare, total, previous, groups, n, lowest, clipped, series)


def dimension_values(cur, m: Metric, dim: str, limit: int = 30) -> list[str]:
    """Distinct values of one of a metric's dimensions (to say what a filter could have been)."""
    check_dimension(m, dim)
    return [r[0] for r in cur.execute(f"SELECT DISTINCT CAST({dim} AS VARCHAR) AS v FROM ({m.source([dim])}) "
                                      f"WHERE {dim} IS NOT NULL ORDER BY 1 LIMIT {int(limit)}").fetchall()]
