"""query_metric and describe_data: any catalog metric over any period, sliced; and what the data holds.

Every number comes from the metrics catalog (`data.slicing.query_metric`, one DuckDB query per call);
this module validates parameters, shapes rows and builds chart/table artifacts. No SQL lives here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, create_model, model_validator

from ..artifacts.spec import format_number, jsonable
from ..data import catalog, formatting, mapping, queries, slicing
from ..data.periods import PERIOD_FORMS, PERIOD_WORDS, Period, parse_period, year_earlier
from ..errors import InvalidParams, NotFound
from .base import ArtifactDraft, Tool, ToolContext, ToolResult

Grain = Literal["day", "week", "month", "quarter"]


class QueryMetricParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # The enums below are offered to models only (the schema); people and the router may still use a synonym
    # ("sales") or a plural ("regions").
    metric: str = Field(description="Catalog metric name or synonym: " + ", ".join(catalog.METRICS)
                        + " (e.g. 'sales' means revenue). describe_data lists them all.",
                        json_schema_extra={"enum": list(catalog.METRICS)})
    period: str | None = Field(None, description="When: " + ", ".join(PERIOD_FORMS) + ", a year ('2025'), a "
                               "quarter ('Q2 2025'), a month ('March 2026'), or a range ('2026-03-01..2026-06-30', "
                               "'since 2026-03-01'). Default YTD.")
    start: dt.date | None = Field(None, description="Range start (YYYY-MM-DD); a range in `period` does the same.",
                                  json_schema_extra={"model_hidden": True})
    end: dt.date | None = Field(None, description="Range end (YYYY-MM-DD); defaults to today.",
                                json_schema_extra={"model_hidden": True})
    grain: Grain | None = Field(None, description="Only when the person asks for a trend or a time bucket "
                                "('by month', 'weekly'). Left out, the tool picks one from the period's length.")
    by: str | None = Field(None, description="Dimension to break the metric down by (region, segment, customer, "
                           "industry, department, service, severity, priority, category: depends on the metric).",
                           json_schema_extra={"enum": sorted({d for m in catalog.METRICS.values() for d in m.dimensions})})
    top: int | None = Field(None, ge=1, le=1000, description="Only when the person asks for the top or largest N: keep "
                            "the N largest values of `by` (without `by`, customers).")
    filters: dict[str, str] | None = Field(None, description="Dimension -> value to restrict to, "
                                           "e.g. {\"region\": \"EMEA\", \"segment\": \"Enterprise\"}.")
    compare: Literal["previous_period", "previous_year", "none"] = Field(
        "previous_period", description="Compare with the span just before (previous_period), the same dates a "
                                       "year earlier (previous_year), or not at all.")

    _asked: str = PrivateAttr("")  # the metric as written: a company's own catalog may name a metric "sales"

    @model_validator(mode="after")
    def _as_the_tool_reads_it(self) -> "QueryMetricParams":
        """Readings that are unambiguous become canonical, so every caller (and the eval) sees one form: a synonym
        is its metric ("sales", "new_logos"), and a time bucket sent as `by` ("by day") is the grain."""
        self._asked = self._asked or self.metric
        try:
            self.metric = catalog.get_metric(self.metric).name
        except NotFound:
            pass  # left as written: the tool answers with the known metrics
        if self.by and self.by.strip().lower() in get_args(Grain) and self.grain is None:
            self.grain, self.by = self.by.strip().lower(), None
        return self


@dataclass(frozen=True)
class MetricQuery:
    """What a query_metric call asks the catalog for, defaults filled in: two calls that read as the same
    MetricQuery give the same answer (the eval compares calls this way)."""
    metric: catalog.Metric
    period: Period
    grain: str | None
    by: str | None
    top: int | None
    filters: tuple[tuple[str, str], ...]
    compare: str


def resolve(p: QueryMetricParams, today: dt.date, cat: catalog.Catalog = catalog.DEMO) -> MetricQuery:
    try:
        m = cat.metric(p._asked if p._asked and cat is not catalog.DEMO else p.metric)
    except NotFound as e:
        if e.code == "not_mapped":
            raise
        raise InvalidParams(e.message, code="unknown_metric") from None
    period = parse_period(p.period, today, p.start, p.end)
    if p.compare == "previous_year":
        period = year_earlier(period)
    by = p.by.strip().lower() if p.by else None
    if by and by.endswith("s") and by[:-1] in m.dimensions:  # "regions", "customers"
        by = by[:-1]
    if p.top and not by:
        if "customer" not in m.dimensions:
            raise InvalidParams(f"top needs `by` for {m.label}; it can be cut by {', '.join(m.dimensions) or 'nothing'}")
        by = "customer"
    grain = p.grain if (p.grain or by) else slicing.default_grain(period)
    filters = tuple(sorted((k.strip().lower(), _canonical(cat, k.strip().lower(), v))
                           for k, v in (p.filters or {}).items()))
    return MetricQuery(m, period, grain, by, p.top, filters, p.compare)


def run_query_metric(ctx: ToolContext, p: QueryMetricParams) -> ToolResult:
    q = resolve(p, ctx.today, ctx.catalog())
    m, period, grain, by, filters = q.metric, q.period, q.grain, q.by, dict(q.filters)
    cur = ctx.warehouse()
    res = slicing.query_metric(cur, m, period, grain=grain, by=by, top=p.top, filters=filters,
                               compare=p.compare != "none")
    if filters and by and not res.groups or filters and not by and _empty(res):
        _explain_empty_filter(cur, m, filters)
    fmt = m.format
    partial = partial_days(m, res.buckets[-1], grain, period.end) if grain and res.buckets else 0
    text = _summary(res, filters, partial)
    scope = "".join(f" · {v}" for v in filters.values())
    head = f"{m.label} by {by or grain}{scope} · {period.label}" if (by or grain) else f"{m.label}{scope} · {period.label}"
    params = p.model_dump(mode="json", exclude_none=True)
    source = {"tool": "query_metric", "params": params}
    artifacts: list[ArtifactDraft] = []
    data: dict[str, Any] = {
        "metric": m.name, "label": m.label, "unit": m.unit, "format": fmt, "period": period.label,
        "start": period.start, "end": period.end, "grain": grain, "by": by, "filters": filters,
        "compare": p.compare, "comparison_start": period.prev_start if res.compare else None,
        "comparison_end": period.prev_end if res.compare else None, "comparison": period.comparison,
        "total": res.total, "previous": res.previous, "change": res.change, "change_pct": res.change_pct,
        "partial_days": partial,
    }
    series_rows = [{"period": b, **({by: k} if by else {}), "value": v}
                   for k, vals in res.series.items() for b, v in zip(res.buckets, vals)]
    if by:
        rows = [{by: g["key"], "value": g["value"], "previous": g["previous"],
                 "change_pct": _pct(g["value"], g["previous"]), "share": _share(g["value"], res.total, m)}
                for g in res.groups]
        cols = [{"key": by, "label": by.title(), "format": "text"}, {"key": "value", "label": m.label, "format": fmt}]
        if res.compare:
            cols += [{"key": "previous", "label": f"{m.label} ({period.comparison})", "format": fmt},
                     {"key": "change_pct", "label": "Change", "format": "change_1"}]
        if m.kind != "ratio":
            cols.append({"key": "share", "label": "Share of total", "format": "percent_1"})
        table = {"title": head, "columns": cols, "rows": rows}
        bar = _chart("bar", head, [{"type": "bar", "name": m.label, "x": [r[by] for r in rows],
                                    "y": [r["value"] for r in rows]}], m)
        data["rows"], data["series"] = rows, series_rows
        if grain:  # a trend per group AND the breakdown: one dashboard holds both charts and the table
            line = _chart("line", f"{m.label} by {grain}, per {by}", _lines(res), m)
            spec = {"layout": "grid", "widgets": [{"type": "chart", **line}, {"type": "chart", **bar},
                                                  {"type": "table", **table}]}
            artifacts.append(ArtifactDraft("dashboard", head, jsonable(spec), source))
        else:
            artifacts.append(ArtifactDraft("chart", head, jsonable(bar), source))
            artifacts.append(ArtifactDraft("table", head, jsonable(table), source))
    else:
        rows = series_rows
        table = {"title": head, "columns": [{"key": "period", "label": grain.title(), "format": "date"},
                                            {"key": "value", "label": m.label, "format": fmt}], "rows": rows}
        artifacts.append(ArtifactDraft("chart", head, jsonable(_chart("line", head, _lines(res, partial),
                                                                            m)), source))
        artifacts.append(ArtifactDraft("table", head, jsonable(table), source))
        data["rows"] = rows
    return ToolResult(text=text, data=jsonable(data), artifacts=artifacts, row_count=len(rows))


def _canonical(cat: catalog.Catalog, dim: str, value: str) -> str:
    """'emea' -> 'EMEA' for the known dimension values, so titles and summaries read right."""
    return next((k for k in cat.dimension_values.get(dim, ()) if k.lower() == str(value).strip().lower()), value)


def _empty(res: slicing.MetricSlice) -> bool:
    return not res.total and all(not v for vals in res.series.values() for v in vals)


def _explain_empty_filter(cur, m: catalog.Metric, filters: dict[str, str]) -> None:
    """Nothing matched: if a filter value does not exist, say which values do (a typo is likelier than zero)."""
    for dim, v in filters.items():
        known = slicing.dimension_values(cur, m, dim)
        if known and v.lower() not in (k.lower() for k in known):
            raise InvalidParams(f"no {dim} called {v!r}; {dim} values include: {', '.join(known)}")


def _pct(v: float | None, p: float | None) -> float | None:
    return None if v is None or not p else round((v - p) / abs(p) * 100, 2)


def _share(v: float | None, total: float | None, m: catalog.Metric) -> float | None:
    return None if m.kind == "ratio" or v is None or not total else v / total


def _lines(res: slicing.MetricSlice, partial_days: int = 0) -> list[dict[str, Any]]:
    """One line per series. A partial last bucket is its own dotted segment ("so far"), so a month of a few days
    does not draw as a cliff in the line of whole months."""
    x = [b.isoformat() for b in res.buckets]
    lines = [{"type": "scatter", "mode": "lines+markers", "name": k if k is not None else res.metric.label,
              "x": x, "y": list(vals)} for k, vals in res.series.items()]
    if partial_days and len(lines) == 1 and len(x) >= 2:
        whole = lines[0]
        lines = [{**whole, "x": x[:-1], "y": whole["y"][:-1]},
                 {"type": "scatter", "mode": "lines+markers", "name": f"so far ({partial_days} days)",
                  "x": x[-2:], "y": whole["y"][-2:], "line": {"dash": "dot"}, "marker": {"symbol": "circle-open"}}]
    return lines


def _chart(kind: str, title: str, traces: list[dict[str, Any]], m: catalog.Metric) -> dict[str, Any]:
    """Plotly figure JSON written out directly (the shape `go.Figure.to_plotly_json()` gives with
    template "none"): plain lists, never `bdata`, and no plotly import on the request path."""
    tick = {"currency": "$~s", "percent": ".1%"}.get(m.unit)
    layout: dict[str, Any] = {"template": {"data": {}, "layout": {}}, "title": {"text": title},
                              "margin": {"l": 50, "r": 20, "t": 40, "b": 40},
                              "showlegend": len(traces) > 1, "yaxis": {"tickformat": tick} if tick else {}}
    if kind == "line":
        layout["xaxis"] = {"type": "date"}
    return {"kind": kind, "title": title, "figure": {"data": traces, "layout": layout}}


def _summary(res: slicing.MetricSlice, filters: dict[str, str], days: int = 0) -> str:
    m, p = res.metric, res.period
    f = m.format
    scope = (" for " + ", ".join(f"{k} {v}" for k, v in filters.items())) if filters else ""
    what = "at the end of" if m.kind == "balance" else "over"
    lines = [f"**{m.label}**{scope} {what} {p.describe()}: {format_number(res.total, f)}"
             + (f", {_change(res.total, res.previous, m)} vs {p.comparison} ({format_number(res.previous, f)})"
                if res.compare else "") + "."]
    if res.by and res.groups:
        top, low = res.groups[0], res.lowest
        lines.append(f"- {res.group_count} {res.by} values; largest: {top['key']} {format_number(top['value'], f)}"
                     + (f" ({_share(top['value'], res.total, m) * 100:.1f}% of total)"
                        if _share(top["value"], res.total, m) is not None else ""))
        if low and low["key"] != top["key"]:
            lines.append(f"- smallest: {low['key']} {format_number(low['value'], f)}")
        if len(res.groups) < res.group_count:
            lines.append(f"- showing the top {len(res.groups)} of {res.group_count}")
    if res.grain and res.buckets and not res.by:
        vals = [(b, v) for b, v in zip(res.buckets, res.series.get(None, [])) if v is not None]
        full = [bv for bv in vals if not (days and bv[0] == res.buckets[-1])]
        if full:
            hi, lo = max(full, key=lambda bv: bv[1]), min(full, key=lambda bv: bv[1])
            lines.append(f"- by {res.grain}: highest {format_number(hi[1], f)} ({hi[0]:%Y-%m-%d}), "
                         f"lowest {format_number(lo[1], f)} ({lo[0]:%Y-%m-%d}), {len(res.buckets)} {res.grain}s")
        if days:
            lines.append(f"- {_bucket_name(res.buckets[-1], res.grain)} so far is {days} day{'s' if days > 1 else ''} "
                         "of data: partial, so it is left out of highest and lowest")
    return "\n".join(lines)


def _bucket_end(start: dt.date, grain: str) -> dt.date:
    if grain == "day":
        return start
    if grain == "week":
        return start + dt.timedelta(days=6)
    months = 3 if grain == "quarter" else 1
    y, mth = divmod(start.month - 1 + months, 12)
    return dt.date(start.year + y, mth + 1, 1) - dt.timedelta(days=1)


def partial_days(m: catalog.Metric, bucket: dt.date, grain: str, end: dt.date) -> int:
    """Days of data in a last bucket the period cuts short (a month of 1 day draws as a cliff), else 0. A balance
    (MRR at the end of the day) is whole on any day, so never partial."""
    if m.kind == "balance" or grain == "day" or end >= _bucket_end(bucket, grain):
        return 0
    return (end - bucket).days + 1


def _bucket_name(start: dt.date, grain: str) -> str:
    if grain == "month":
        return f"{start:%B %Y}"
    if grain == "quarter":
        return f"Q{(start.month - 1) // 3 + 1} {start.year}"
    return f"the {grain} of {start:%b %-d}"


def _change(v: float | None, prev: float | None, m: catalog.Metric) -> str:
    change = None if v is None or prev is None else v - prev
    pct = None if change is None or not prev else change / abs(prev) * 100
    return formatting.format_change(pct, change, m.unit, m.decimals)


def _label(p: QueryMetricParams) -> str:
    m = catalog.METRICS.get(p.metric)
    what = m.label if m else p.metric.replace("_", " ")
    if p.by:
        what += f" by {p.by}"
    if p.top:
        what += f", top {p.top}"
    when = PERIOD_WORDS.get(p.period or "", p.period or "")
    return what + (f" · {when}" if when else "")


def _params_for(cat: catalog.Catalog) -> type[QueryMetricParams]:
    """query_metric's parameters naming a company's own metrics and dimensions (Tool.for_catalog)."""
    dims = sorted({d for m in cat.metrics.values() for d in m.dimensions})
    return create_model(
        "QueryMetricParams", __base__=QueryMetricParams,
        metric=(str, Field(description="Catalog metric name or synonym: " + ", ".join(cat.metrics) + ". describe_data "
                           "lists them all.", json_schema_extra={"enum": list(cat.metrics)})),
        by=(str | None, Field(None, description="Dimension to break the metric down by (" + (", ".join(dims) or "none")
                              + ": depends on the metric).", json_schema_extra={"enum": dims})))


QUERY_METRIC = Tool(
    name="query_metric",
    title="Query a metric",
    description="One business metric from the catalog (revenue, MRR, ARR, churn, pipeline, win rate, spend, "
                "incidents, tickets, ...) over a named period or date range: the total with its change vs the "
                "previous period or year, optionally as a day/week/month/quarter trend, broken down by a "
                "dimension (top N values, e.g. top 10 customers by ARR) and filtered to dimension values.",
    params=QueryMetricParams,
    run=run_query_metric,
    label=_label,
    for_catalog=_params_for,
)


# ---- describe_data ----------------------------------------------------------------------------------

def _count(rows: int | None) -> str:
    return "?" if rows is None else f"{rows:,}"


class DescribeDataParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


def run_describe_data(ctx: ToolContext, params: DescribeDataParams) -> ToolResult:
    cur, cat = ctx.warehouse(), ctx.catalog()
    tables = queries.describe_warehouse(cur)
    metrics = [{"name": m.name, "label": m.label, "description": m.description, "unit": m.unit,
                "kind": m.kind, "dimensions": list(m.dimensions), "synonyms": list(m.synonyms)}
               for m in cat.metrics.values()]
    if cat is not catalog.DEMO:  # a company's own mapping: say which definitions its tables do not answer
        failing = mapping.problems(cur, cat)
        for x in metrics:
            x["problem"] = failing.get(x["name"])
    unmapped = [{"name": m.name, "label": m.label} for m in cat.unmapped.values()]
    md = ["## Metrics", "", "| Metric | Name | Unit | Can be cut by | Also called |", "|---|---|---|---|---|"]
    md += [f"| {x['label']} | `{x['name']}` | {x['unit']} | {', '.join(x['dimensions']) or '—'} | "
           f"{', '.join(x['synonyms'])} |" for x in metrics]
    broken = [x for x in metrics if x.get("problem")]
    if broken:
        md += ["", "**Mapped, but the query fails:** " + "; ".join(f"{x['label']}: {x['problem']}" for x in broken)]
    if unmapped:
        md += ["", "**Not mapped to your data:** " + ", ".join(x["label"] for x in unmapped)]
    md += ["", "## Tables", "", "| Table | Rows | Columns |", "|---|---:|---|"]
    md += [f"| `{t['table']}` | {_count(t['rows'])} | " + ", ".join(f"{c['name']} ({c['type'].lower()})"
                                                               for c in t["columns"]) + " |" for t in tables]
    counted = [t["rows"] for t in tables if t["rows"] is not None]
    rows = f" ({sum(counted):,} rows in all)" if len(counted) == len(tables) else ""
    text = (f"The warehouse has {len(tables)} tables{rows} and "
            f"{len(metrics)} catalog metrics:\n"
            + "\n".join(f"- **{x['label']}** (`{x['name']}`, {x['unit']}): by {', '.join(x['dimensions']) or '—'}"
                        + (f" (its query fails: {x['problem']})" if x.get("problem") else "") for x in metrics)
            + ("\n\nNot mapped to your company's data: " + ", ".join(x["label"] for x in unmapped) + "."
               if unmapped else "")
            + "\n\nTables: " + ", ".join(t["table"] + (f" ({t['rows']:,})" if t["rows"] is not None else "")
                                         for t in tables) + ".")
    art = ArtifactDraft("document", "Available data", {"markdown": "\n".join(md), "title": "Available data"},
                        {"tool": "describe_data", "params": {}})
    return ToolResult(text=text, data=jsonable({"tables": tables, "metrics": metrics, "unmapped": unmapped}),
                      artifacts=[art], row_count=len(tables))


DESCRIBE_DATA = Tool(
    name="describe_data",
    title="Describe the data",
    label=lambda p: "Tables and metrics",
    description="What data there is: the warehouse's tables with their columns, types and row counts, and the "
                "catalog's metrics with their units, the dimensions each can be cut by and their synonyms.",
    params=DescribeDataParams,
    run=run_describe_data,
)
