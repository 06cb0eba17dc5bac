"""The metrics catalog: every business metric defined once, as data, over the tenant warehouse.

A metric's `sql` is a source query exposing a `day` DATE column, the dimension columns it can
be cut by, and its measure columns, which depend on its aggregation `kind`:

- flow     `value`        summed over the span (revenue, new customers, incidents)
- ratio    `num`, `den`   sum(num) / sum(den) over the span (win rate, MTTR, uptime)
- balance  `delta`        running total of daily deltas; the value is the level at the span's
                          last day (MRR, ARR, open pipeline, headcount)

This module holds definitions only: the metrics, the KPI set, the organisational units, the known
dimension values and the dashboards' own queries, gathered as a `Catalog`, plus lookups over them. The demo
company's catalog is `DEMO`; a company's own tables get theirs from `mapping`. Compiling and running them against a warehouse
is `queries` (whole-period values) and `slicing` (one metric, sliced); display strings are
`formatting`. Tools and dashboards never carry SQL of their own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from ..errors import InvalidParams, NotFound
from .generator import DEPARTMENTS, INDUSTRIES, REGIONS, SEGMENTS

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
           "(epoch(resolved_at) - epoch(opened_at)) / 3600.0 AS num, 1 AS den FROM incidents WHERE resolved_at IS NOT NULL",
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

# Small catalog-owned queries over the demo schema, for the dashboards' funnel, tables, timeline and grid
# (`queries.run_query` runs them). Written once in SQL every engine runs (no DuckDB-only functions,
# and no arithmetic on intervals, which each engine types its own way): dialects.render does the engines.
QUERIES: dict[str, str] = {
    # Deals created in the span, counted at every stage they reached: a cohort funnel, so it never widens.
    "deal_funnel": (
        "SELECT h.stage, min(h.stage_order) AS stage_order, count(DISTINCT h.deal_id) AS deals, "
        "sum(d.amount) AS amount FROM deal_stage_history h JOIN deals d USING (deal_id) "
        "WHERE d.created_date BETWEEN $start AND $end AND h.stage <> 'Closed Lost' AND h.entered_date <= $end "
        "GROUP BY h.stage ORDER BY stage_order"),
    "top_open_deals": (
        "WITH open AS (SELECT d.*, (SELECT h.stage FROM deal_stage_history h "
        "WHERE h.deal_id = d.deal_id AND h.entered_date <= $end ORDER BY h.stage_order DESC LIMIT 1) AS reached "
        "FROM deals d WHERE d.created_date <= $end AND (d.close_date IS NULL OR d.close_date > $end)) "
        "SELECT name, reached AS stage, region, segment, amount, "
        "date_diff('day', created_date, $end) AS age_days FROM open ORDER BY amount DESC, name LIMIT 10"),
    "incident_timeline": (
        "SELECT incident_id, opened_at, resolved_at, severity, service, title, downtime_minutes, status "
        "FROM incidents WHERE CAST(opened_at AS DATE) BETWEEN $start AND $end "
        "ORDER BY (severity IN ('sev1', 'sev2')) DESC, opened_at DESC LIMIT 25"),
    "service_status": (
        "WITH latest AS (SELECT service, status, row_number() OVER (PARTITION BY service ORDER BY changed_at DESC) "
        "AS n FROM service_status_history WHERE changed_at < CAST($end AS TIMESTAMP) + INTERVAL 1 DAY), "
        "st AS (SELECT service, status FROM latest WHERE n = 1), "
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


@dataclass(frozen=True)
class Catalog:
    """What one tenant's data can answer: its metrics, its KPI set, the units KPIs can be cut to and the
    dashboard queries its tables can run. The demo company's is `DEMO`; a company that describes its own
    tables gets one built from that description (`mapping.py`), where the known metrics it did not map are
    `unmapped`: asked for, they say so instead of failing in SQL."""
    metrics: dict[str, Metric]
    kpis: tuple[str, ...] = KPI_METRICS
    units: dict[str, str] = field(default_factory=lambda: dict(UNIT_DIMENSIONS))
    dimension_values: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(DIMENSION_VALUES))
    queries: dict[str, str] = field(default_factory=lambda: dict(QUERIES))
    unmapped: dict[str, Metric] = field(default_factory=dict)
    where: str = ""  # where a company's mapping lives, for the sentences that point an admin to it

    def metric(self, name: str) -> Metric:
        """The metric by name, label or synonym; NotFound (unknown_metric or not_mapped) with a sentence."""
        m = _lookup(self.metrics, name)
        if m is not None:
            return m
        gone = _lookup(self.unmapped, name)
        if gone is not None:
            raise NotFound(f"{gone.label} is not mapped to your company's data, so Penny cannot compute it; an "
                           f"admin can map it in {self.where or 'the tenant catalog'}. Mapped metrics: "
                           f"{', '.join(self.metrics) or 'none'}", code="not_mapped")
        raise NotFound(f"unknown metric {name!r}; known metrics: {', '.join(self.metrics)}", code="unknown_metric")

    def valid_units(self) -> list[str]:
        return ["company", *self.units]

    def resolve_unit(self, unit: str) -> tuple[str, str | None, str | None]:
        """-> (canonical unit, dimension, value); company-wide has no dimension."""
        u = (unit or "company").strip()
        if u.lower() in ("company", "all", "total", ""):
            return "company", None, None
        for name, dim in self.units.items():
            if name.lower() == u.lower():
                return name, dim, name
        raise InvalidParams(f"unknown unit {unit!r}: use {', '.join(repr(x) for x in self.valid_units())}")


def _lookup(metrics: dict[str, Metric], name: str) -> Metric | None:
    key = (name or "").strip().lower()
    if key in metrics:
        return metrics[key]
    keys = {key, key.replace("_", " ")}  # a model writes synonyms as identifiers: "new_logos"
    return next((m for m in metrics.values() if keys & {m.label.lower(), *m.synonyms}), None)


DEMO = Catalog(METRICS)


# The demo vocabulary: what the router and the tools' parameter schemas know by name.
def valid_units() -> list[str]:
    return DEMO.valid_units()


def resolve_unit(unit: str) -> tuple[str, str | None, str | None]:
    return DEMO.resolve_unit(unit)


def get_metric(name: str) -> Metric:
    return DEMO.metric(name)


def check_dimension(m: Metric, dim: str, role: str = "broken down") -> None:
    if dim not in m.dimensions:
        raise InvalidParams(f"{m.label} cannot be {role} by {dim!r}; it can be cut by "
                            f"{', '.join(m.dimensions) or 'nothing'}")
