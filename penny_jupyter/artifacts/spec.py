"""The dashboard spec format: what `dashboard` artifacts carry in `spec`, and models that validate it.

An artifact is `{id, tenant, type, title, version, spec, createdAt, source: {tool, params}}`.
For `type == "dashboard"` the spec is::

    {"layout": "grid", "period": {...}?, "widgets": [<widget>, ...]}

Every widget has a `type` and may carry `span` (1-4 grid columns; renderers default to 1 for
metric/gauge and the full row for the rest). Widget types:

metric
    One number with its comparison.
    `name` (catalog metric), `label`, `value` (number or null), `formatted` (display string),
    `previous`, `formatted_previous`, `change` (value - previous), `change_pct` (relative %,
    null when previous is 0 or missing), `formatted_change` ("▲ 8.1%", "▼ 0.4 pts"),
    `up_is_good` (colour ▲ green when true), `unit` (currency|percent|count|hours), `format`
    (currency_compact|percent_N|integer|hours_N), `sparkline` (daily values of the current span,
    nulls allowed), `comparison` ("the same days last month").

chart
    `title`, `kind` (line|bar|pie|funnel), `figure`: plotly figure JSON
    (`go.Figure(...).to_plotly_json()` with template "none", data as plain lists, never `bdata`).

gauge
    `title`, `value`, `formatted`, `min`, `max`, `unit`, `thresholds`: list of
    `{value, color}` where the band below `value` takes `color` (ascending by value).

table
    `title`, `columns`: `[{key, label, format}]` (format as for metric, or "text"/"date"),
    `rows`: `[{key: value, ...}]` with JSON scalars.

timeline
    `title`, `events`: `[{time (ISO 8601), title, severity (sev1..sev4 or info), detail}]`,
    newest or most severe first.

grid
    Service status grid: `title`, `items`: `[{name, status (operational|degraded|outage|
    maintenance), detail}]`.

All values are JSON scalars (dates as ISO strings, no NaN) so a spec survives a JSON round trip
unchanged, and `artifacts.html` can render any of them without a kernel.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field

Unit = Literal["currency", "percent", "count", "hours"]
Status = Literal["operational", "degraded", "outage", "maintenance"]


class _Widget(BaseModel):
    model_config = ConfigDict(extra="allow")
    span: int | None = Field(default=None, ge=1, le=4)


class MetricWidget(_Widget):
    type: Literal["metric"]
    name: str
    label: str
    value: float | None
    formatted: str
    previous: float | None = None
    formatted_previous: str | None = None
    change: float | None = None
    change_pct: float | None = None
    formatted_change: str | None = None
    up_is_good: bool = True
    unit: Unit
    format: str
    sparkline: list[float | None] = Field(default_factory=list)
    comparison: str | None = None


class ChartWidget(_Widget):
    type: Literal["chart"]
    title: str
    kind: Literal["line", "bar", "pie", "funnel"]
    figure: dict[str, Any]


class Threshold(BaseModel):
    value: float
    color: str


class GaugeWidget(_Widget):
    type: Literal["gauge"]
    title: str
    value: float | None
    formatted: str | None = None
    min: float
    max: float
    unit: Unit
    thresholds: list[Threshold] = Field(default_factory=list)


class Column(BaseModel):
    key: str
    label: str
    format: str = "text"


class TableWidget(_Widget):
    type: Literal["table"]
    title: str
    columns: list[Column]
    rows: list[dict[str, Any]]


class TimelineEvent(BaseModel):
    time: str
    title: str
    severity: Literal["sev1", "sev2", "sev3", "sev4", "info"] = "info"
    detail: str = ""


class TimelineWidget(_Widget):
    type: Literal["timeline"]
    title: str
    events: list[TimelineEvent]


class GridItem(BaseModel):
    name: str
    status: Status
    detail: str = ""


class GridWidget(_Widget):
    type: Literal["grid"]
    title: str
    items: list[GridItem]


Widget = Annotated[Union[MetricWidget, ChartWidget, GaugeWidget, TableWidget, TimelineWidget, GridWidget],
                   Field(discriminator="type")]


class DashboardSpec(BaseModel):
    model_config = ConfigDict(extra="allow")
    layout: Literal["grid"] = "grid"
    widgets: list[Widget]


def validate_dashboard(spec: dict[str, Any]) -> DashboardSpec:
    """Raises pydantic.ValidationError when a tool produced something the renderers cannot show."""
    ds = DashboardSpec.model_validate(spec)
    for w in ds.widgets:
        if isinstance(w, ChartWidget):
            _check_plain_figure(w.figure)
    return ds


def _check_plain_figure(obj: Any) -> None:
    # plotly>=6 turns numpy arrays into {"bdata": ...}; the JS side and the static HTML want lists
    if isinstance(obj, dict):
        if "bdata" in obj:
            raise ValueError("chart figure carries a binary 'bdata' array; pass plain Python lists")
        for v in obj.values():
            _check_plain_figure(v)
    elif isinstance(obj, list):
        for v in obj:
            _check_plain_figure(v)


def format_number(value: Any, fmt: str = "text") -> str:
    """Display string for a value in one of the spec's formats (the one place numbers get formatted)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if fmt in ("text", "date") or isinstance(value, str) or not isinstance(value, (int, float)):
        return str(value)
    kind, _, digits = fmt.partition("_")
    decimals = int(digits) if digits.isdigit() else 1
    if kind == "currency":
        sign, v = ("-" if value < 0 else ""), abs(value)
        for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
            if v >= limit:
                return f"{sign}${v / limit:,.2f}{suffix}"
        return f"{sign}${v:,.0f}"
    if kind == "percent":
        return f"{value * 100:.{decimals}f}%"
    if kind == "change":  # a change already in percent: 2.85 -> "▲ 2.9%"
        return f"{'▲' if value > 0 else '▼' if value < 0 else '■'} {abs(value):.{decimals}f}%"
    if kind == "hours":
        return f"{value:,.{decimals}f} h"
    if kind in ("integer", "count"):
        return f"{value:,.0f}"
    return f"{value:,.2f}" if isinstance(value, float) else f"{value:,d}"


def jsonable(obj: Any) -> Any:
    """Dates to ISO strings, numpy scalars to Python, NaN/inf to None, tuples to lists."""
    if obj is None or isinstance(obj, (bool, str, int)):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (dt.datetime, dt.date)):
        return obj.isoformat()
    if hasattr(obj, "item"):  # numpy scalar
        return jsonable(obj.item())
    if hasattr(obj, "tolist"):
        return jsonable(obj.tolist())
    return str(obj)
