"""get_company_kpis: the headline metrics for a period, as a summary and a dashboard artifact.

Numbers come from the metrics catalog in one warehouse query; this module only shapes them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from ..artifacts.spec import jsonable
from ..data.catalog import KPI_METRICS as KPIS, valid_units
from ..errors import NotFound
from ..data.queries import MetricValue, compute_metrics
from ..data.periods import PERIOD_WORDS, Period, resolve_period
from .base import ArtifactDraft, Tool, ToolContext, ToolResult


class KpiParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    period: Literal["MTD", "QTD", "YTD"] = Field("MTD", description="Month, quarter or year to date.")
    unit: str = Field("company", description="'company', a region (NA, EMEA, APAC, LATAM) or a department "
                                             "(Engineering, Sales, Marketing, Support, Finance, Operations).",
                      json_schema_extra={"enum": valid_units()})  # for models; people may write "emea"


def metric_widget(mv: MetricValue, period: Period) -> dict[str, Any]:
    return {"type": "metric", **mv.to_dict(), "sparkline": mv.series, "comparison": period.comparison}


def summary_line(mv: MetricValue, period: Period) -> str:
    d = mv.to_dict()
    if d["value"] is None:
        return f"- **{d['label']}** no data in this span"
    if d["previous"] is None:
        return f"- **{d['label']}** {d['formatted']} (no comparison: nothing in {period.comparison})"
    if d["change_pct"] is None and mv.metric.unit != "percent":
        return f"- **{d['label']}** {d['formatted']}, vs {d['formatted_previous']} in {period.comparison}"
    line = f"- **{d['label']}** {d['formatted']}, {d['formatted_change']} vs {period.comparison}"
    if few(mv.metric.unit, d["value"], d["previous"]):
        line += f" (from {d['formatted_previous']}: too few to read much into)"
    return line


FEW = 10  # counts below this on either side make a percentage change mostly noise (7 vs 1 is "▲ 600%")


def few(unit: str, value: float | None, previous: float | None) -> bool:
    return unit == "count" and value is not None and previous is not None and min(value, previous) < FEW


def run(ctx: ToolContext, params: KpiParams) -> ToolResult:
    cat = ctx.catalog()
    unit, dim, _ = cat.resolve_unit(params.unit)  # InvalidParams naming the valid units
    if not cat.kpis:
        raise NotFound("none of the KPIs is mapped to your company's data yet; an admin can map them in "
                       f"{cat.where}. query_metric answers for the mapped metrics: {', '.join(cat.metrics)}",
                       code="not_mapped")
    period = resolve_period(params.period, ctx.today)
    res = compute_metrics(ctx.warehouse(), cat, cat.kpis, period, unit)
    scope = "Company" if unit == "company" else unit
    title = f"Company KPIs · {period.kind}" + ("" if unit == "company" else f" · {unit}")
    lines = [f"{scope} KPIs, {period.describe()}:"]
    lines += [summary_line(mv, period) for mv in res.values]
    if res.omitted:
        lines.append(f"Not shown for {unit} (these metrics have no {dim} breakdown): "
                     + ", ".join(o["label"] for o in res.omitted) + ".")
    unmapped = [m.label for n, m in cat.unmapped.items() if n in KPIS]
    if unmapped:
        lines.append("Not mapped to your company's data: " + ", ".join(unmapped) + ".")
    metrics = [mv.to_dict() for mv in res.values]
    brief = _brief(lines[0], res.values, period)
    data = {
        "period": period.kind, "unit": unit, "start": period.start.isoformat(), "end": period.end.isoformat(),
        "previous_start": period.prev_start.isoformat(), "previous_end": period.prev_end.isoformat(),
        "metrics": metrics, "omitted": res.omitted, "unmapped": unmapped,
    }
    spec = {
        "layout": "grid",
        "period": {"kind": period.kind, "start": period.start, "end": period.end,
                   "previous_start": period.prev_start, "previous_end": period.prev_end},
        "unit": unit,
        "widgets": [metric_widget(mv, period) for mv in res.values],
    }
    draft = ArtifactDraft(type="dashboard", title=title, spec=jsonable(spec),
                          source={"tool": "get_company_kpis", "params": {"period": period.kind, "unit": unit}})
    return ToolResult(text="\n".join(lines), data=jsonable(data), artifacts=[draft], row_count=len(metrics),
                      brief=brief)


MOVERS = 3  # the brief answer names the headline KPI and this many of the biggest relative moves


def _brief(heading: str, values: list[MetricValue], period: Period) -> str:
    """The headline KPI and the biggest moves, not all 13 (the dashboard under the answer shows every one).
    A move on too few events (7 vs 1) is not a move worth naming."""
    if len(values) <= MOVERS + 1:
        return "\n".join([heading] + [summary_line(mv, period) for mv in values])
    head, rest = values[0], values[1:]
    moved = [mv for mv in rest if mv.change_pct is not None
             and not few(mv.metric.unit, mv.value, mv.previous)]
    moved.sort(key=lambda mv: abs(mv.change_pct), reverse=True)
    lines = [heading, summary_line(head, period)]
    if moved:
        lines += ["", f"The biggest moves of the other {len(rest)}:"]
        lines += [summary_line(mv, period) for mv in moved[:MOVERS]]
    return "\n".join(lines)


def _label(p: KpiParams) -> str:
    unit = "" if p.unit.lower() == "company" else f" for {p.unit}"
    return f"KPIs{unit} · {PERIOD_WORDS[p.period]}"


def _params_for(cat) -> type[KpiParams]:
    """The KPIs' parameters naming a company's own units (Tool.for_catalog)."""
    units = cat.valid_units()
    return create_model("KpiParams", __base__=KpiParams, unit=(str, Field(
        "company", description="'company'" + (", or one of: " + ", ".join(units[1:]) if units[1:] else ""),
        json_schema_extra={"enum": units})))


GET_COMPANY_KPIS = Tool(
    name="get_company_kpis",
    title="Company KPIs",
    description="Headline company metrics (revenue, MRR, ARR, new customers, churn, pipeline, win rate, gross "
                "margin, burn, incidents, MTTR, uptime, headcount) for month, quarter or year to date, each "
                "compared with the same days of the previous period; optionally for one region or department.",
    params=KpiParams,
    run=run,
    label=_label,
    for_catalog=_params_for,
)
