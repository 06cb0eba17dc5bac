"""Whole-period metric values, compiled to SQL and run against a tenant warehouse cursor.

`compute_metrics` compiles any set of catalog metrics for a period into ONE DuckDB query (a UNION
ALL of per-metric daily aggregates over [prev_start, end], plus opening balances for balance
metrics), runs it once and derives current value, previous value, change and the daily series
in Python. Also here: a metric per dimension value (`breakdown`) or per month (`monthly`), the
small catalog-owned dashboard queries (`run_query`) and what the warehouse holds
(`describe_warehouse`). One metric sliced by grain, dimension and filters is `slicing`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Iterable

from ..artifacts.spec import format_number
from ..errors import NotFound
from .catalog import Catalog, Metric, check_dimension
from .formatting import format_change
from .periods import Period


@dataclass
class MetricValue:
    metric: Metric
    value: float | None
    previous: float | None
    series: list[float | None]
    days: list[dt.date] = field(repr=False, default_factory=list)
    prev_series: list[float | None] = field(repr=False, default_factory=list)

    @property
    def change(self) -> float | None:
        if self.value is None or self.previous is None:
            return None
        return self.value - self.previous

    @property
    def change_pct(self) -> float | None:
        if self.value is None or self.previous is None or self.previous == 0:
            return None
        return (self.value - self.previous) / abs(self.previous) * 100

    def to_dict(self) -> dict[str, Any]:
        m = self.metric
        return {
            "name": m.name, "label": m.label, "value": self.value, "previous": self.previous,
            "change": self.change, "change_pct": self.change_pct, "unit": m.unit, "format": m.format,
            "up_is_good": m.up_is_good, "formatted": format_number(self.value, m.format),
            "formatted_previous": format_number(self.previous, m.format),
            "formatted_change": format_change(self.change_pct, self.change, m.unit, m.decimals),
        }


@dataclass
class MetricsResult:
    period: Period
    unit: str
    values: list[MetricValue]
    omitted: list[dict[str, str]]


_MEASURES = {"flow": ("sum(value)", "NULL"), "ratio": ("sum(num)", "sum(den)"), "balance": ("sum(delta)", "NULL")}


def _filter(dim: str | None, metric: Metric) -> str:
    return f" AND {dim} = $unit" if dim else ""


def compile_metrics(metrics: Iterable[Metric], dim: str | None = None) -> str:
    """ONE query returning (metric, day, a, b): daily aggregates over [prev_start, end] for every metric,
    and a row with day NULL holding each balance metric's opening level before prev_start."""
    parts = []
    for m in metrics:
        a, b = _MEASURES[m.kind]
        f = _filter(dim, m)
        parts.append(f"SELECT '{m.name}' AS metric, day, CAST({a} AS DOUBLE) AS a, CAST({b} AS DOUBLE) AS b "
                     f"FROM ({m.sql}) WHERE day BETWEEN $prev_start AND $end{f} GROUP BY day")
        if m.kind == "balance":
            parts.append(f"SELECT '{m.name}', NULL::DATE, CAST(sum(delta) AS DOUBLE), NULL::DOUBLE "
                         f"FROM ({m.sql}) WHERE day < $prev_start{f}")
    return "\nUNION ALL\n".join(parts)


def _span_days(a: dt.date, b: dt.date) -> list[dt.date]:
    return [a + dt.timedelta(days=i) for i in range((b - a).days + 1)]


def compute_metrics(cur, cat: Catalog, names: Iterable[str], period: Period, unit: str = "company") -> MetricsResult:
    """Current and previous values plus daily series for `names`, in one round trip to DuckDB."""
    unit, dim, value = cat.resolve_unit(unit)
    wanted = [cat.metric(n) for n in names]
    usable = [m for m in wanted if dim is None or dim in m.dimensions]
    omitted = [{"name": m.name, "label": m.label,
                "reason": f"{m.label} cannot be broken down by {dim}"} for m in wanted if m not in usable]
    rows: list[tuple] = []
    if usable:
        params: dict[str, Any] = {"prev_start": period.prev_start, "end": period.end}
        if dim:
            params["unit"] = value
        rows = cur.execute(compile_metrics(usable, dim), params).fetchall()

    by_metric: dict[str, dict[Any, tuple]] = {m.name: {} for m in usable}
    for name, day, a, b in rows:
        by_metric[name][day] = (a, b)
    cur_days = _span_days(period.start, period.end)
    prev_days = _span_days(period.prev_start, period.prev_end)
    out = []
    for m in usable:
        daily = by_metric[m.name]
        if m.kind == "flow":
            s = [(daily.get(d, (None,))[0] or 0.0) for d in cur_days]
            p = [(daily.get(d, (None,))[0] or 0.0) for d in prev_days]
            out.append(MetricValue(m, sum(s), sum(p), s, cur_days, p))
        elif m.kind == "ratio":
            s, val = _running_ratio(daily, cur_days)
            p, prev = _running_ratio(daily, prev_days)
            out.append(MetricValue(m, val, prev, s, cur_days, p))
        else:
            opening = (daily.get(None, (0.0,))[0] or 0.0)
            level, levels = opening, {}
            for d in _span_days(period.prev_start, period.end):
                level += daily.get(d, (0.0,))[0] or 0.0
                levels[d] = level
            s = [levels[d] for d in cur_days]
            p = [levels[d] for d in prev_days]
            out.append(MetricValue(m, s[-1], p[-1], s, cur_days, p))
    return MetricsResult(period, unit, out, omitted)


def _running_ratio(daily: dict, days: list[dt.date]) -> tuple[list[float | None], float | None]:
    """Cumulative num/den per day: smoother than daily ratios and it ends at the span's value."""
    num = den = 0.0
    series: list[float | None] = []
    for d in days:
        a, b = daily.get(d, (0.0, 0.0))
        num += a or 0.0
        den += b or 0.0
        series.append(num / den if den else None)
    return series, (num / den if den else None)


def breakdown(cur, m: Metric, dimension: str, period: Period) -> list[tuple[str, float | None]]:
    """The metric over the current span, per value of `dimension`, largest first."""
    check_dimension(m, dimension)
    if m.kind == "flow":
        expr, where = "sum(value)", "day BETWEEN $start AND $end"
    elif m.kind == "ratio":
        expr, where = "sum(num) / nullif(sum(den), 0)", "day BETWEEN $start AND $end"
    else:
        expr, where = "sum(delta)", "day <= $end"
    params = {"end": period.end} if m.kind == "balance" else {"start": period.start, "end": period.end}
    rows = cur.execute(f"SELECT CAST({dimension} AS VARCHAR), CAST({expr} AS DOUBLE) FROM ({m.source([dimension])}) "
                       f"WHERE {where} GROUP BY 1 ORDER BY 2 DESC NULLS LAST, 1", params).fetchall()
    return [(k, v) for k, v in rows]


def monthly(cur, m: Metric, end: dt.date, months: int = 12) -> list[tuple[dt.date, float | None]]:
    """The metric per calendar month for the `months` months ending with end's month (balances at month end)."""
    first = dt.date(end.year, end.month, 1)
    y, mo = divmod(first.year * 12 + first.month - 1 - (months - 1), 12)
    start = dt.date(y, mo + 1, 1)
    mon = "CAST(date_trunc('month', day) AS DATE)"
    if m.kind == "balance":
        sql = (f"SELECT month, CAST(sum(d) OVER (ORDER BY month) AS DOUBLE) FROM (SELECT {mon} AS month, "
               f"sum(delta) AS d FROM ({m.sql}) WHERE day <= $end GROUP BY 1) QUALIFY month >= $start ORDER BY 1")
    else:
        expr = "sum(value)" if m.kind == "flow" else "sum(num) / nullif(sum(den), 0)"
        sql = (f"SELECT {mon} AS month, CAST({expr} AS DOUBLE) FROM ({m.sql}) "
               f"WHERE day BETWEEN $start AND $end GROUP BY 1 ORDER BY 1")
    return [(a, b) for a, b in cur.execute(sql, {"start": start, "end": end}).fetchall()]


# ---- small catalog-owned queries for dashboards -----------------------------------------------------

def run_query(cur, cat: Catalog, name: str, period: Period) -> list[dict[str, Any]]:
    if name not in cat.queries:
        raise NotFound(f"unknown catalog query {name!r}; known: {', '.join(cat.queries)}")
    sql = cat.queries[name]
    params: dict[str, Any] = {"end": period.end}
    if "$start" in sql:
        params["start"] = period.start
    res = cur.execute(sql, params)
    cols = [c[0] for c in res.description]
    return [dict(zip(cols, r)) for r in res.fetchall()]


# ---- what the warehouse holds ------------------------------------------------------------------------

def describe_warehouse(cur) -> list[dict[str, Any]]:
    """Every table of the warehouse: name, row count (exact on DuckDB, PostgreSQL's estimate, None where counting
    would scan a whole remote table), columns with their types."""
    dialect = getattr(cur, "dialect", "duckdb")
    pg = dialect == "postgres"  # the company's own PostgreSQL (pgwarehouse.py)
    if pg:
        from .pgwarehouse import describe_sql, row_estimates_sql

        cols = cur.execute(describe_sql(), native=True).fetchall()
    elif dialect != "duckdb":  # another engine (enginewarehouse.py): no counts, they could scan a whole table
        cols = cur.describe()
    else:
        cols = cur.execute("SELECT table_name, column_name, data_type FROM duckdb_columns() "
                           "WHERE database_name = current_database() AND schema_name = 'main' "
                           "ORDER BY table_name, column_index").fetchall()
    tables: dict[str, list[dict[str, str]]] = {}
    for t, c, typ in cols:
        tables.setdefault(t, []).append({"name": c, "type": typ})
    counts: dict[str, int] = {}
    if tables and pg:
        counts = dict(cur.execute(row_estimates_sql(), native=True).fetchall())
    elif tables and dialect == "duckdb":
        q = " UNION ALL ".join(f"SELECT '{t.replace(chr(39), chr(39) * 2)}', count(*) FROM \"{t.replace(chr(34), chr(34) * 2)}\""
                               for t in tables)
        counts = dict(cur.execute(q).fetchall())
    known = pg or dialect == "duckdb"  # rows unknown (None) on the other engines
    return [{"table": t, "rows": counts.get(t, 0) if known else None, "columns": c} for t, c in tables.items()]
