"""load_dashboard: named dashboard templates computed live from the tenant warehouse.

A template is data: a title, a default period and widget definitions that reference catalog
metrics, metric breakdowns, monthly series or small catalog-owned queries. Every metric and
gauge of a dashboard comes from one catalog query; each chart, table, timeline or grid adds
at most one small query. The spec format is documented in `penny_jupyter.artifacts.spec`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..artifacts.spec import jsonable, validate_dashboard
from ..data import catalog, queries
from ..data.periods import PERIOD_WORDS, Period, resolve_period
from ..errors import NotFound
from .kpis import metric_widget
from .base import ArtifactDraft, Tool, ToolContext, ToolResult

Slug = Literal["company-health", "sales-funnel", "ops-incidents", "finance-snapshot"]

_UPTIME_BANDS = [{"value": 0.995, "color": "#d62728"}, {"value": 0.999, "color": "#ff7f0e"},
                 {"value": 1.0, "color": "#2ca02c"}]
_MARGIN_BANDS = [{"value": 0.6, "color": "#d62728"}, {"value": 0.75, "color": "#ff7f0e"},
                 {"value": 1.0, "color": "#2ca02c"}]
_WIN_BANDS = [{"value": 0.15, "color": "#d62728"}, {"value": 0.22, "color": "#ff7f0e"},
              {"value": 0.5, "color": "#2ca02c"}]

TEMPLATES: dict[str, dict[str, Any]] = {
    "company-health": {
        "title": "Company health", "period": "MTD",
        "description": "Revenue, recurring revenue, customers, burn, people and reliability at a glance.",
        "widgets": [
            *({"type": "metric", "metric": m} for m in
              ("revenue", "mrr", "new_customers", "churn", "burn", "headcount", "uptime", "win_rate")),
            {"type": "chart", "kind": "line", "source": "monthly", "metric": "mrr", "title": "MRR, last 12 months"},
            {"type": "chart", "kind": "bar", "source": "breakdown", "metric": "revenue", "by": "region",
             "title": "Revenue by region"},
            {"type": "gauge", "metric": "gross_margin", "min": 0.0, "max": 1.0, "thresholds": _MARGIN_BANDS},
            {"type": "gauge", "metric": "uptime", "min": 0.99, "max": 1.0, "thresholds": _UPTIME_BANDS},
        ],
    },
    "sales-funnel": {
        "title": "Sales funnel", "period": "QTD",
        "description": "Deal stages for deals created this period, open pipeline, win rate and top deals.",
        "widgets": [
            *({"type": "metric", "metric": m} for m in ("pipeline", "win_rate", "new_customers", "arr")),
            {"type": "chart", "kind": "funnel", "source": "funnel", "title": "Deal funnel (deals created this period)"},
            {"type": "chart", "kind": "bar", "source": "breakdown", "metric": "pipeline", "by": "region",
             "title": "Open pipeline by region"},
            {"type": "gauge", "metric": "win_rate", "min": 0.0, "max": 0.5, "thresholds": _WIN_BANDS},
            {"type": "table", "source": "top_open_deals", "title": "Largest open deals", "columns": [
                {"key": "name", "label": "Deal", "format": "text"}, {"key": "stage", "label": "Stage", "format": "text"},
                {"key": "region", "label": "Region", "format": "text"},
                {"key": "amount", "label": "Amount", "format": "currency_compact"},
                {"key": "age_days", "label": "Age (days)", "format": "integer"}]},
        ],
    },
    "ops-incidents": {
        "title": "Operations and incidents", "period": "MTD",
        "description": "Incidents, MTTR, uptime, service status and support load.",
        "widgets": [
            *({"type": "metric", "metric": m} for m in ("incidents", "mttr", "uptime", "tickets")),
            {"type": "gauge", "metric": "uptime", "min": 0.99, "max": 1.0, "thresholds": _UPTIME_BANDS},
            {"type": "grid", "source": "service_status", "title": "Service status"},
            {"type": "timeline", "source": "incident_timeline", "title": "Incidents this period"},
            {"type": "chart", "kind": "bar", "source": "breakdown", "metric": "incidents", "by": "severity",
             "title": "Incidents by severity"},
            {"type": "chart", "kind": "line", "source": "daily", "metric": "tickets",
             "title": "Support tickets, running total vs previous period"},
        ],
    },
    "finance-snapshot": {
        "title": "Finance snapshot", "period": "QTD",
        "description": "Revenue, burn, margins and where the money goes.",
        "widgets": [
            *({"type": "metric", "metric": m} for m in ("revenue", "burn", "gross_margin", "spend", "mrr", "arr")),
            {"type": "chart", "kind": "bar", "source": "monthly", "metric": "revenue", "title": "Revenue by month"},
            {"type": "chart", "kind": "pie", "source": "breakdown", "metric": "spend", "by": "department",
             "title": "Spend by department"},
            {"type": "gauge", "metric": "gross_margin", "min": 0.0, "max": 1.0, "thresholds": _MARGIN_BANDS},
            {"type": "table", "source": "spend_by_department", "title": "Spend by department", "columns": [
                {"key": "department", "label": "Department", "format": "text"},
                {"key": "payroll", "label": "Payroll", "format": "currency_compact"},
                {"key": "opex", "label": "Operating", "format": "currency_compact"},
                {"key": "cogs", "label": "Cost of revenue", "format": "currency_compact"},
                {"key": "total", "label": "Total", "format": "currency_compact"}]},
        ],
    },
}


def list_dashboards() -> list[dict[str, str]]:
    return [{"slug": k, "title": t["title"], "description": t["description"], "period": t["period"]}
            for k, t in TEMPLATES.items()]


class DashboardParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    slug: Slug = Field(description="Which dashboard: " + ", ".join(TEMPLATES))
    period: Literal["MTD", "QTD", "YTD"] | None = Field(
        None, description="Month, quarter or year to date; default depends on the dashboard.")


def _figure(kind: str, title: str, traces: list[dict[str, Any]], **layout: Any) -> dict[str, Any]:
    import plotly.graph_objects as go

    ctor = {"line": go.Scatter, "bar": go.Bar, "pie": go.Pie, "funnel": go.Funnel}[kind]
    fig = go.Figure([ctor(**t) for t in traces])
    fig.update_layout(template="none", title={"text": title}, margin={"l": 40, "r": 20, "t": 40, "b": 40},
                      showlegend=kind in ("pie", "line") and len(traces) > 1 or kind == "pie", **layout)
    return fig.to_plotly_json()


def _chart(cur, cat: catalog.Catalog, w: dict, period: Period, values: dict[str, queries.MetricValue]
           ) -> dict[str, Any]:
    kind, title, src = w["kind"], w["title"], w["source"]
    if src == "funnel":
        rows = queries.run_query(cur, cat, "deal_funnel", period)
        traces = [{"y": [r["stage"] for r in rows], "x": [int(r["deals"]) for r in rows],
                   "textinfo": "value+percent initial", "name": "Deals"}]
    elif src == "breakdown":
        m = cat.metric(w["metric"])
        rows = queries.breakdown(cur, m, w["by"], period)
        labels, vals = [str(k) for k, _ in rows], [v for _, v in rows]
        if w["by"] == "severity":  # severities read best in their own order
            pairs = sorted(zip(labels, vals))
            labels, vals = [a for a, _ in pairs], [b for _, b in pairs]
        traces = ([{"labels": labels, "values": vals, "name": m.label}] if kind == "pie"
                  else [{"x": labels, "y": vals, "name": m.label}])
    elif src == "monthly":
        m = cat.metric(w["metric"])
        rows = queries.monthly(cur, m, period.end, 12)
        traces = [{"x": [d.isoformat() for d, _ in rows], "y": [v for _, v in rows], "name": m.label}]
        if kind == "line":
            traces[0]["mode"] = "lines+markers"
    elif src == "daily":
        mv = values[w["metric"]]
        cum = mv.metric.kind == "flow"
        traces = []
        for name, series in ((period.kind + " this period", mv.series), (period.comparison, mv.prev_series)):
            ys = _running(series) if cum else list(series)
            traces.append({"x": list(range(1, len(ys) + 1)), "y": ys, "name": name, "mode": "lines"})
        return {"type": "chart", "kind": kind, "title": title,
                "figure": _figure(kind, title, traces, xaxis={"title": {"text": "day of period"}})}
    else:
        raise NotFound(f"unknown chart source {src!r}")
    return {"type": "chart", "kind": kind, "title": title, "figure": _figure(kind, title, traces)}


def _running(series: list) -> list[float]:
    out, total = [], 0.0
    for v in series:
        total += v or 0.0
        out.append(total)
    return out


def _gauge(w: dict, values: dict[str, queries.MetricValue]) -> dict[str, Any]:
    mv = values[w["metric"]]
    d = mv.to_dict()
    return {"type": "gauge", "title": d["label"], "value": d["value"], "formatted": d["formatted"],
            "min": w["min"], "max": w["max"], "unit": d["unit"], "thresholds": w["thresholds"]}


def _timeline(cur, cat: catalog.Catalog, w: dict, period: Period) -> dict[str, Any]:
    events = []
    for r in queries.run_query(cur, cat, "incident_timeline", period):
        if r["resolved_at"] is not None:
            hours = (r["resolved_at"] - r["opened_at"]).total_seconds() / 3600
            state = f"resolved in {hours:.1f} h"
        else:
            state = "still open"
        down = f", {r['downtime_minutes']} min downtime" if r["downtime_minutes"] else ""
        events.append({"time": r["opened_at"].isoformat(), "title": f"{r['severity'].upper()} {r['title']}",
                       "severity": r["severity"], "detail": f"{r['service']}: {state}{down}"})
    return {"type": "timeline", "title": w["title"], "events": events}


def _grid(cur, cat: catalog.Catalog, w: dict, period: Period) -> dict[str, Any]:
    items = []
    for r in queries.run_query(cur, cat, "service_status", period):
        n = r["incidents"]
        detail = f"{n} incident{'s' if n != 1 else ''}, {int(r['downtime_minutes'])} min downtime this period"
        items.append({"name": r["name"], "status": r["status"], "detail": detail})
    return {"type": "grid", "title": w["title"], "items": items}


def _can_show(cat: catalog.Catalog, w: dict) -> bool:
    """A company that mapped its own tables sees the widgets its mapping can compute, not an SQL error: a
    widget's metric must be mapped (with the dimension a breakdown cuts it by), and a catalog query it reads
    (over the demo's tables) must be there."""
    src = w.get("source")
    query = "deal_funnel" if src == "funnel" else src if src in catalog.QUERIES else None
    m = cat.metrics.get(w["metric"]) if w.get("metric") else None
    return ((not w.get("metric") or m is not None) and (query is None or query in cat.queries)
            and (not w.get("by") or (m is not None and w["by"] in m.dimensions)))


def build_dashboard(cur, cat: catalog.Catalog, slug: str, period: Period
                    ) -> tuple[dict[str, Any], list[queries.MetricValue], list[str]]:
    """The dashboard's spec, its metric values, and the titles of widgets the tenant's data cannot show."""
    tpl = TEMPLATES.get(slug)
    if tpl is None:
        raise NotFound(f"unknown dashboard {slug!r}; available dashboards: {', '.join(TEMPLATES)}",
                       code="unknown_dashboard")
    shown = [w for w in tpl["widgets"] if _can_show(cat, w)]
    missing = list(dict.fromkeys(w.get("title") or catalog.METRICS[w["metric"]].label
                                 for w in tpl["widgets"] if w not in shown))
    if not shown:
        raise NotFound(f"the {tpl['title']} dashboard needs metrics that are not mapped to your company's data "
                       f"({', '.join(missing)}); an admin can map them in {cat.where}", code="not_mapped")
    # every metric a metric/gauge/daily-chart widget needs, in one catalog query
    names: list[str] = []
    for w in shown:
        if w["type"] in ("metric", "gauge") or w.get("source") == "daily":
            if w["metric"] not in names:
                names.append(w["metric"])
    res = queries.compute_metrics(cur, cat, names, period)
    values = {mv.metric.name: mv for mv in res.values}
    widgets: list[dict[str, Any]] = []
    for w in shown:
        t = w["type"]
        if t == "metric":
            widgets.append(metric_widget(values[w["metric"]], period))
        elif t == "gauge":
            widgets.append(_gauge(w, values))
        elif t == "chart":
            widgets.append(_chart(cur, cat, w, period, values))
        elif t == "table":
            widgets.append({"type": "table", "title": w["title"], "columns": w["columns"],
                            "rows": queries.run_query(cur, cat, w["source"], period)})
        elif t == "timeline":
            widgets.append(_timeline(cur, cat, w, period))
        elif t == "grid":
            widgets.append(_grid(cur, cat, w, period))
    spec = jsonable({"layout": "grid", "slug": slug,
                     "period": {"kind": period.kind, "start": period.start, "end": period.end,
                                "previous_start": period.prev_start, "previous_end": period.prev_end},
                     "widgets": widgets})
    validate_dashboard(spec)  # a template bug should fail here, not in someone's browser
    return spec, res.values, missing


def run(ctx: ToolContext, params: DashboardParams) -> ToolResult:
    slug = params.slug
    tpl = TEMPLATES.get(slug)
    if tpl is None:
        raise NotFound(f"unknown dashboard {slug!r}; available dashboards: {', '.join(TEMPLATES)}",
                       code="unknown_dashboard")
    period = resolve_period(params.period or tpl["period"], ctx.today)
    spec, values, missing = build_dashboard(ctx.warehouse(), ctx.catalog(), slug, period)
    title = f"{tpl['title']} · {period.kind}"
    lines = [f"{tpl['title']}, {period.describe()}:"]
    for mv in values:
        d = mv.to_dict()
        change = f", {d['formatted_change']} vs {period.comparison}" if d["formatted_change"] != "n/a" else ""
        lines.append(f"- **{d['label']}** {d['formatted']}{change}")
    for w in spec["widgets"]:
        if w["type"] == "grid":
            bad = [i["name"] + " " + i["status"] for i in w["items"] if i["status"] != "operational"]
            lines.append("- Services: " + (", ".join(bad) if bad else f"all {len(w['items'])} operational"))
        elif w["type"] == "timeline":
            worst = [e for e in w["events"] if e["severity"] == "sev1"]
            if worst:
                lines.append(f"- Worst incident: {worst[0]['title']} ({worst[0]['detail']})")
    if missing:
        lines.append("- Not shown (not mapped to your company's data): " + ", ".join(missing))
    data = {"slug": slug, "period": period.kind, "start": period.start.isoformat(), "end": period.end.isoformat(),
            "metrics": [mv.to_dict() for mv in values], "widget_count": len(spec["widgets"])}
    draft = ArtifactDraft(type="dashboard", title=title, spec=spec,
                          source={"tool": "load_dashboard", "params": {"slug": slug, "period": period.kind}})
    return ToolResult(text="\n".join(lines), data=jsonable(data), artifacts=[draft], row_count=len(spec["widgets"]))


def _label(p: DashboardParams) -> str:
    name = p.slug.replace("-", " ")
    return f"{name[0].upper()}{name[1:]} dashboard" + (f" · {PERIOD_WORDS[p.period]}" if p.period else "")


LOAD_DASHBOARD = Tool(
    name="load_dashboard",
    title="Load dashboard",
    description="Open a ready-made dashboard computed live from company data: company-health, sales-funnel "
                "(deal stages funnel, pipeline, win rate), ops-incidents (incident timeline, service status, "
                "MTTR, uptime) or finance-snapshot (revenue, burn, gross margin, spend).",
    params=DashboardParams,
    run=run,
    label=_label,
)
