"""The metrics catalog: every business metric defined once, as data, over the tenant warehouse.

A metric's `sql` is a source query exposing a `day` DATE column, the dimension columns it can
be cut by, and its measure columns, which depend on its aggregation `kind`:

- flow     `value`        summed over the span (revenue, new customers, incidents)
- ratio    `num`, `den`   sum(num) / sum(den) over the span (win rate, MTTR, uptime)
- balance  `delta`        running total of daily deltas; the value is the level at the span's
                          last day (MRR, ARR, open pipeline, headcount)

`compute_metrics` compiles any set of metrics for a period into ONE DuckDB query (a UNION ALL
of per-metric daily aggregates over [prev_start, end], plus opening balances for balance
metrics), runs it once and derives current value, previous value, change and the daily series
in Python. Tools and dashboards use this module; they never carry SQL of their own.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Iterable

from ..artifacts.spec import format_number
from ..errors import InvalidParams, NotFound
from .generator import DEAL_STAGES, DEPARTMENTS, INDUSTRIES, REGIONS, SEGMENTS
from .periods import Period

UNITS = ("currency", "percent", "count", "hours")


@dataclass(frozen=True)
class Metric:
    name: str
    label: str
    description: str
    sql: str
    kind: str  # flow | ratio | balance
    unit: str  # currency | percent | count | hours
    up_is_good: bool = True
    dimensions: tuple[str, ...] = ()
    synonyms: tuple[str, ...] = ()
    decimals: int = 1
    time_column: str = "day"
    # Dimensions that need a join (customer name, industry) come from `wide_sql`; `sql` stays lean so
    # KPI and dashboard queries never pay for a join they do not use.
    wide_sql: str = ""
    joined: tuple[str, ...] = ()

    def source(self, dims: Iterable[str | None] = ()) -> str:
        """The source query that exposes every dimension in `dims`."""
        return self.wide_sql if self.joined and any(d in self.joined for d in dims) else self.sql

    @property
    def format(self) -> str:
        return {"currency": "currency_compact", "percent": f"percent_{self.decimals}",
                "count": "integer", "hours": f"hours_{self.decimals}"}[self.unit]


_REVENUE = "SELECT issue_date AS day, region, segment, amount AS value FROM invoices"
_MRR = "SELECT day, region, segment, mrr_delta AS delta FROM mrr_events"
# Customer names repeat in real books (and in the demo data): a repeated name gets its id appended,
# so "top customers" never merges two companies.
_CUSTOMERS = ("(SELECT customer_id, CASE WHEN count(*) OVER (PARTITION BY name) > 1 "
              "THEN name || ' (#' || customer_id || ')' ELSE name END AS customer, industry FROM customers)")
_BY_CUSTOMER = ("customer", "industry")


def _wide(select: str, table: str, where: str = "") -> str:
    return (f"SELECT {select}, c.customer, c.industry FROM {table} t LEFT JOIN {_CUSTOMERS} c "
            f"ON c.customer_id = t.customer_id{where}")


METRICS: dict[str, Metric] = {m.name: m for m in [
    Metric("revenue", "Revenue", "Subscription revenue invoiced in the span.", _REVENUE, "flow", "currency",
           dimensions=("region", "segment", *_BY_CUSTOMER), synonyms=("sales", "billings", "turnover", "income"),
           wide_sql=_wide("t.issue_date AS day, t.region, t.segment, t.amount AS value", "invoices"),
           joined=_BY_CUSTOMER),
    Metric("mrr", "MRR", "Monthly recurring revenue at the end of the span.", _MRR, "balance", "currency",
           dimensions=("region", "segment", *_BY_CUSTOMER), synonyms=("monthly recurring revenue", "recurring revenue"),
           wide_sql=_wide("t.day, t.region, t.segment, t.mrr_delta AS delta", "mrr_events"), joined=_BY_CUSTOMER),
    Metric("arr", "ARR", "Annual recurring revenue (12 x MRR) at the end of the span.",
           "SELECT day, region, segment, mrr_delta * 12 AS delta FROM mrr_events", "balance", "currency",
           dimensions=("region", "segment", *_BY_CUSTOMER), synonyms=("annual recurring revenue", "run rate"),
           wide_sql=_wide("t.day, t.region, t.segment, t.mrr_delta * 12 AS delta", "mrr_events"), joined=_BY_CUSTOMER),
    Metric("new_customers", "New customers", "Customers who signed up in the span.",
           "SELECT signup_date AS day, region, segment, industry, 1 AS value FROM customers", "flow", "count",
           dimensions=("region", "segment", "industry"), synonyms=("signups", "new logos", "customer acquisition")),
    Metric("churn", "Churned MRR", "MRR lost to customers who cancelled in the span.",
           "SELECT day, region, segment, -mrr_delta AS value FROM mrr_events WHERE kind = 'churn'", "flow",
           "currency", up_is_good=False, dimensions=("region", "segment", *_BY_CUSTOMER),
           synonyms=("churned mrr", "lost revenue", "cancellations", "attrition"),
           wide_sql=_wide("t.day, t.region, t.segment, -t.mrr_delta AS value", "mrr_events", " WHERE t.kind = 'churn'"),
           joined=_BY_CUSTOMER),
    Metric("pipeline", "Open pipeline", "Value of open deals at the end of the span.",
           "SELECT created_date AS day, region, segment, amount AS delta FROM deals "
           "UNION ALL SELECT close_date AS day, region, segment, -amount AS delta FROM deals "
           "WHERE close_date IS NOT NULL", "balance", "currency",
           dimensions=("region", "segment"), synonyms=("open pipeline", "opportunities", "deals")),
    Metric("win_rate", "Win rate", "Share of deals closed in the span that were won.",
           "SELECT close_date AS day, region, segment, CASE WHEN is_won THEN 1 ELSE 0 END AS num, 1 AS den "
           "FROM deals WHERE is_closed", "ratio", "percent",
           dimensions=("region", "segment"), synonyms=("close rate", "conversion", "deal win rate")),
    Metric("gross_margin", "Gross margin", "(Revenue - cost of revenue) / revenue.",
           "SELECT issue_date AS day, region, amount AS num, amount AS den FROM invoices "
           "UNION ALL SELECT day, region, -amount AS num, 0 AS den FROM expenses WHERE is_cogs",
           "ratio", "percent", dimensions=("region",), synonyms=("margin", "gm", "gross profit margin")),
    Metric("burn", "Net burn", "Cash spent minus cash collected from customers in the span.",
           "SELECT day, region, amount AS value FROM expenses "
           "UNION ALL SELECT paid_date AS day, region, -amount AS value FROM payments", "flow", "currency",
           up_is_good=False, dimensions=("region",), synonyms=("net burn", "burn rate", "cash burn")),
    Metric("spend", "Spend", "Total expenses (payroll, COGS and operating costs) in the span.",
           "SELECT day, department, region, category, amount AS value FROM expenses", "flow", "currency",
           up_is_good=False, dimensions=("department", "region", "category"),
           synonyms=("expenses", "costs", "opex", "spending")),
    Metric("incidents", "Incidents", "Production incidents opened in the span.",
           "SELECT CAST(opened_at AS DATE) AS day, service, severity, region, 1 AS value FROM incidents",
           "flow", "count", up_is_good=False, dimensions=("service", "severity"),
           synonyms=("outages", "incident count", "pages")),
    Metric("mttr", "MTTR", "Mean hours to resolve incidents resolved in the span.",
           "SELECT CAST(resolved_at AS DATE) AS day, service, severity, "
           "epoch(resolved_at - opened_at) / 3600.0 AS num, 1 AS den FROM incidents WHERE resolved_at IS NOT NULL",
           "ratio", "hours", up_is_good=False, dimensions=("service", "severity"),
           synonyms=("mean time to resolve", "mean time to recovery", "time to resolve")),
    Metric("uptime", "Uptime", "Share of service-minutes without downtime in the span.",
           "SELECT d.day, s.name AS service, 1440 - least(coalesce(x.minutes, 0), 1440) AS num, 1440 AS den "
           "FROM days d CROSS JOIN services s LEFT JOIN (SELECT CAST(opened_at AS DATE) AS day, service, "
           "sum(downtime_minutes) AS minutes FROM incidents GROUP BY ALL) x ON x.day = d.day AND x.service = s.name",
           "ratio", "percent", dimensions=("service",), decimals=2, synonyms=("availability", "sla", "downtime")),
    Metric("headcount", "Headcount", "Employees on staff at the end of the span.",
           "SELECT hire_date AS day, department, region, 1 AS delta FROM employees "
           "UNION ALL SELECT termination_date AS day, department, region, -1 AS delta FROM employees "
           "WHERE termination_date IS NOT NULL", "balance", "count",
           dimensions=("department", "region"), synonyms=("employees", "staff", "team size", "fte")),
    Metric("tickets", "Support tickets", "Support tickets opened in the span.",
           "SELECT CAST(opened_at AS DATE) AS day, region, segment, priority, 1 AS value FROM support_tickets",
           "flow", "count", up_is_good=False, dimensions=("region", "segment", "priority", *_BY_CUSTOMER),
           synonyms=("support volume", "tickets opened", "cases"),
           wide_sql=_wide("CAST(t.opened_at AS DATE) AS day, t.region, t.segment, t.priority, 1 AS value",
                          "support_tickets"), joined=_BY_CUSTOMER),
]}

KPI_METRICS = ("revenue", "mrr", "arr", "new_customers", "churn", "pipeline", "win_rate", "gross_margin", "burn",
               "incidents", "mttr", "uptime", "headcount")

# Organisational units a KPI view can be cut to, and the dimension each one filters.
UNIT_DIMENSIONS: dict[str, str] = {**{r: "region" for r in REGIONS}, **{d: "department" for d in DEPARTMENTS}}


# Known values of the fixed dimensions (the router recognises them as filters in a question).
DIMENSION_VALUES: dict[str, tuple[str, ...]] = {"region": REGIONS, "segment": SEGMENTS, "industry": INDUSTRIES,
                                                "department": DEPARTMENTS}


def valid_units() -> list[str]:
    return ["company", *REGIONS, *DEPARTMENTS]


def resolve_unit(unit: str) -> tuple[str, str | None, str | None]:
    """-> (canonical unit, dimension, value); company-wide has no dimension."""
    u = (unit or "company").strip()
    if u.lower() in ("company", "all", "total", ""):
        return "company", None, None
    for name, dim in UNIT_DIMENSIONS.items():
        if name.lower() == u.lower():
            return name, dim, name
    raise InvalidParams(f"unknown unit {unit!r}: use 'company', a region or a department "
                        f"({', '.join(valid_units())})")


def get_metric(name: str) -> Metric:
    key = (name or "").strip().lower()
    if key in METRICS:
        return METRICS[key]
    for m in METRICS.values():
        if key == m.label.lower() or key in m.synonyms:
            return m
    raise NotFound(f"unknown metric {name!r}; known metrics: {', '.join(METRICS)}", code="unknown_metric")


# ---- formatting -------------------------------------------------------------------------------

def format_value(value: float | None, unit: str, decimals: int = 1) -> str:
    return format_number(value, {"currency": "currency_compact", "percent": f"percent_{decimals}",
                                 "hours": f"hours_{decimals}"}.get(unit, "integer"))


def format_change(change_pct: float | None, change: float | None, unit: str, decimals: int = 1) -> str:
    """▲/▼ with the relative change; percentages move in points, which reads less ambiguously."""
    if unit == "percent" and change is not None:
        pts = change * 100
        if round(pts, decimals) == 0:
            return f"■ {0:.{decimals}f} pts"
        return f"{'▲' if pts > 0 else '▼'} {abs(pts):.{decimals}f} pts"
    if change_pct is None:
        return "n/a"
    if round(change_pct, 1) == 0:
        return "■ 0.0%"
    return f"{'▲' if change_pct > 0 else '▼'} {abs(change_pct):.1f}%"


# ---- compilation --------------------------------------------------------------------------------

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


def compute_metrics(cur, names: Iterable[str], period: Period, unit: str = "company") -> MetricsResult:
    """Current and previous values plus daily series for `names`, in one round trip to DuckDB."""
    unit, dim, value = resolve_unit(unit)
    wanted = [get_metric(n) for n in names]
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


def breakdown(cur, name: str, dimension: str, period: Period) -> list[tuple[str, float | None]]:
    """The metric over the current span, per value of `dimension`, largest first."""
    m = get_metric(name)
    if dimension not in m.dimensions:
        raise InvalidParams(f"{m.label} cannot be broken down by {dimension!r}; "
                            f"it can be cut by {', '.join(m.dimensions) or 'nothing'}")
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


def monthly(cur, name: str, end: dt.date, months: int = 12) -> list[tuple[dt.date, float | None]]:
    """The metric per calendar month for the `months` months ending with end's month (balances at month end)."""
    m = get_metric(name)
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

QUERIES: dict[str, str] = {
    # Deals created in the span, counted at every stage they reached: a cohort funnel, so it never widens.
    "deal_funnel": (
        "SELECT h.stage, min(h.stage_order) AS stage_order, count(DISTINCT h.deal_id) AS deals, "
        "sum(d.amount) AS amount FROM deal_stage_history h JOIN deals d USING (deal_id) "
        "WHERE d.created_date BETWEEN $start AND $end AND h.stage <> 'Closed Lost' AND h.entered_date <= $end "
        "GROUP BY h.stage ORDER BY stage_order"),
    "top_open_deals": (
        "WITH open AS (SELECT d.*, (SELECT max(h.stage_order) FROM deal_stage_history h "
        "WHERE h.deal_id = d.deal_id AND h.entered_date <= $end) AS so FROM deals d "
        "WHERE d.created_date <= $end AND (d.close_date IS NULL OR d.close_date > $end)) "
        "SELECT name, list_extract($stages, so + 1) AS stage, region, segment, amount, "
        "CAST($end - created_date AS INTEGER) AS age_days FROM open ORDER BY amount DESC, name LIMIT 10"),
    "incident_timeline": (
        "SELECT incident_id, opened_at, resolved_at, severity, service, title, downtime_minutes, status "
        "FROM incidents WHERE CAST(opened_at AS DATE) BETWEEN $start AND $end "
        "ORDER BY (severity IN ('sev1', 'sev2')) DESC, opened_at DESC LIMIT 25"),
    "service_status": (
        "WITH st AS (SELECT service, arg_max(status, changed_at) AS status FROM service_status_history "
        "WHERE changed_at < CAST($end AS TIMESTAMP) + INTERVAL 1 DAY GROUP BY service), "
        "inc AS (SELECT service, count(*) AS n, sum(downtime_minutes) AS down FROM incidents "
        "WHERE CAST(opened_at AS DATE) BETWEEN $start AND $end GROUP BY service) "
        "SELECT s.name, coalesce(st.status, 'operational') AS status, coalesce(inc.n, 0) AS incidents, "
        "coalesce(inc.down, 0) AS downtime_minutes, s.tier FROM services s LEFT JOIN st ON st.service = s.name "
        "LEFT JOIN inc ON inc.service = s.name ORDER BY s.service_id"),
    "spend_by_department": (
        "SELECT department, sum(amount) FILTER (WHERE NOT is_cogs) AS opex, "
        "sum(amount) FILTER (WHERE is_cogs) AS cogs, sum(amount) AS total, "
        "sum(amount) FILTER (WHERE category = 'Payroll') AS payroll FROM expenses "
        "WHERE day BETWEEN $start AND $end GROUP BY department ORDER BY total DESC"),
}


def run_query(cur, name: str, period: Period) -> list[dict[str, Any]]:
    if name not in QUERIES:
        raise NotFound(f"unknown catalog query {name!r}; known: {', '.join(QUERIES)}")
    sql = QUERIES[name]
    params: dict[str, Any] = {"end": period.end}
    if "$start" in sql:
        params["start"] = period.start
    if "$stages" in sql:
        params["stages"] = list(DEAL_STAGES)
    res = cur.execute(sql, params)
    cols = [c[0] for c in res.description]
    return [dict(zip(cols, r)) for r in res.fetchall()]


# ---- one metric, sliced: query_metric --------------------------------------------------------------

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


def check_dimension(m: Metric, dim: str, role: str = "broken down") -> None:
    if dim not in m.dimensions:
        raise InvalidParams(f"{m.label} cannot be {role} by {dim!r}; it can be cut by "
                            f"{', '.join(m.dimensions) or 'nothing'}")


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
    cb, pb = (agg("b", cur_cond), agg("b", cmp_cond)) if m.kind == "ratio" else ("NULL", "NULL")
    op = agg("a", "day < $start") if m.kind == "balance" else "NULL"
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


def query_metric(cur, name: str, period: Period, *, grain: str | None = None, by: str | None = None,
                 top: int | None = None, filters: dict[str, str] | None = None, compare: bool = True) -> MetricSlice:
    """The metric over `period` (compared with period.prev_* when `compare`), optionally per `grain` bucket,
    cut `by` a dimension (ranked, the `top` N kept) and filtered to dimension values, in one query."""
    m = get_metric(name)
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


def dimension_values(cur, name: str, dim: str, limit: int = 30) -> list[str]:
    """Distinct values of one of a metric's dimensions (to say what a filter could have been)."""
    m = get_metric(name)
    check_dimension(m, dim)
    return [r[0] for r in cur.execute(f"SELECT DISTINCT CAST({dim} AS VARCHAR) AS v FROM ({m.source([dim])}) "
                                      f"WHERE {dim} IS NOT NULL ORDER BY 1 LIMIT {int(limit)}").fetchall()]


# ---- what the warehouse holds ------------------------------------------------------------------------

def describe_warehouse(cur) -> list[dict[str, Any]]:
    """Every table of the warehouse: name, exact row count, columns with their types."""
    cols = cur.execute("SELECT table_name, column_name, data_type FROM duckdb_columns() "
                       "WHERE database_name = current_database() AND schema_name = 'main' "
                       "ORDER BY table_name, column_index").fetchall()
    tables: dict[str, list[dict[str, str]]] = {}
    for t, c, typ in cols:
        tables.setdefault(t, []).append({"name": c, "type": typ})
    counts: dict[str, int] = {}
    if tables:
        q = " UNION ALL ".join(f"SELECT '{t.replace(chr(39), chr(39) * 2)}', count(*) FROM \"{t.replace(chr(34), chr(34) * 2)}\""
                               for t in tables)
        counts = dict(cur.execute(q).fetchall())
    return [{"table": t, "rows": counts.get(t, 0), "columns": c} for t, c in tables.items()]
