"""query_metric and describe_data: periods, grains, breakdowns, top N, filters, comparisons, errors, artifacts."""

import asyncio
import datetime as dt
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from data_fixtures import AS_OF, config, ctx, data_dir, warehouses  # noqa: E402,F401

from penny_jupyter.artifacts.html import to_html, to_text  # noqa: E402
from penny_jupyter.artifacts.spec import TableWidget, format_number, validate_dashboard  # noqa: E402
from penny_jupyter.data import catalog  # noqa: E402
from penny_jupyter.data.periods import parse_period, year_earlier  # noqa: E402
from penny_jupyter.errors import InvalidParams  # noqa: E402
from penny_jupyter.tenancy import Principal  # noqa: E402
from penny_jupyter.tools.executor import ToolExecutor  # noqa: E402
from penny_jupyter.tools.metrics import (DESCRIBE_DATA, QUERY_METRIC, DescribeDataParams,  # noqa: E402
                                         QueryMetricParams, resolve)
from penny_jupyter.tools.registry import ToolRegistry  # noqa: E402

d = dt.date


def run(ctx, **kw):
    return QUERY_METRIC.run(ctx, QueryMetricParams(**kw))


def _no_bdata(obj):
    if isinstance(obj, dict):
        assert "bdata" not in obj
        for v in obj.values():
            _no_bdata(v)
    elif isinstance(obj, list):
        for v in obj:
            _no_bdata(v)


def _check_artifacts(res):
    """Every artifact is plain JSON the spec models and the static renderers accept."""
    for a in res.artifacts:
        assert json.loads(json.dumps(a.spec)) == a.spec
        _no_bdata(a.spec)
        if a.type == "dashboard":
            validate_dashboard(a.spec)
        elif a.type == "chart":
            validate_dashboard({"widgets": [{"type": "chart", **a.spec}]})
            import plotly.graph_objects as go
            go.Figure(a.spec["figure"])  # plotly itself accepts the hand-written figure
        elif a.type == "table":
            TableWidget.model_validate({"type": "table", **a.spec})
        art = {"type": a.type, "title": a.title, "spec": a.spec}
        assert a.title in to_html(art) or a.title.replace("&", "&amp;") in to_html(art)
        assert to_text(art).count("\n") >= 1


# ---- periods ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text,expected", [
    ("MTD", (d(2026, 11, 1), d(2026, 11, 18), d(2026, 10, 1), d(2026, 10, 18))),
    ("QTD", (d(2026, 10, 1), d(2026, 11, 18), d(2026, 7, 1), d(2026, 8, 18))),
    ("YTD", (d(2026, 1, 1), d(2026, 11, 18), d(2025, 1, 1), d(2025, 11, 18))),
    ("this month", (d(2026, 11, 1), d(2026, 11, 18), d(2026, 10, 1), d(2026, 10, 18))),
    ("last 30 days", (d(2026, 10, 20), d(2026, 11, 18), d(2026, 9, 20), d(2026, 10, 19))),
    ("Last 2 Weeks", (d(2026, 11, 5), d(2026, 11, 18), d(2026, 10, 22), d(2026, 11, 4))),
    ("last 6 months", (d(2026, 5, 19), d(2026, 11, 18), d(2025, 11, 16), d(2026, 5, 18))),
    ("last 1 year", (d(2025, 11, 19), d(2026, 11, 18), d(2024, 11, 19), d(2025, 11, 18))),
    ("previous month", (d(2026, 10, 1), d(2026, 10, 31), d(2026, 9, 1), d(2026, 9, 30))),
    ("last month", (d(2026, 10, 1), d(2026, 10, 31), d(2026, 9, 1), d(2026, 9, 30))),
    ("previous quarter", (d(2026, 7, 1), d(2026, 9, 30), d(2026, 4, 1), d(2026, 6, 30))),
    ("last quarter", (d(2026, 7, 1), d(2026, 9, 30), d(2026, 4, 1), d(2026, 6, 30))),
    ("previous year", (d(2025, 1, 1), d(2025, 12, 31), d(2024, 1, 1), d(2024, 12, 31))),
    ("last year", (d(2025, 1, 1), d(2025, 12, 31), d(2024, 1, 1), d(2024, 12, 31))),
    ("previous week", (d(2026, 11, 9), d(2026, 11, 15), d(2026, 11, 2), d(2026, 11, 8))),
    ("yesterday", (d(2026, 11, 17), d(2026, 11, 17), d(2026, 11, 16), d(2026, 11, 16))),
])
def test_period_forms(text, expected):
    assert tuple(parse_period(text, AS_OF)) == expected


def test_explicit_range_and_year_earlier():
    p = parse_period(None, AS_OF, "2025-01-01", "2025-03-31")
    assert tuple(p) == (d(2025, 1, 1), d(2025, 3, 31), d(2024, 10, 3), d(2024, 12, 31))
    assert tuple(parse_period(None, AS_OF, "2026-11-01"))[:2] == (d(2026, 11, 1), AS_OF)
    assert tuple(year_earlier(parse_period("YTD", d(2024, 2, 29))))[2:] == (d(2023, 1, 1), d(2023, 2, 28))
    for bad in [("fortnight", None, None), (None, "2025-13-01", None), (None, "2025-03-01", "2025-01-01"),
                ("YTD", "2025-01-01", None), (None, None, "2025-01-01")]:
        with pytest.raises(InvalidParams):
            parse_period(bad[0], AS_OF, bad[1], bad[2])


@pytest.mark.parametrize("period", ["MTD", "QTD", "YTD", "last 30 days", "last 8 weeks", "last 6 months",
                                    "previous month", "previous quarter", "last year", "previous week"])
def test_every_period_form_runs(ctx, period):
    res = run(ctx, metric="revenue", period=period)
    p = parse_period(period, AS_OF)
    assert res.data["start"] == p.start.isoformat() and res.data["end"] == p.end.isoformat()
    assert res.data["total"] > 0 and res.data["previous"] > 0
    assert sum(r["value"] for r in res.data["rows"]) == pytest.approx(res.data["total"])
    _check_artifacts(res)


def test_explicit_dates(ctx):
    res = run(ctx, metric="revenue", start="2025-01-01", end="2025-03-31", grain="month")
    assert [r["period"] for r in res.data["rows"]] == ["2025-01-01", "2025-02-01", "2025-03-01"]
    q1 = run(ctx, metric="revenue", period="previous quarter", compare="none")
    assert res.data["total"] != q1.data["total"]  # a different quarter


# ---- grain ---------------------------------------------------------------------------------------------

def test_monthly_revenue_ytd_is_a_line_chart_and_table(ctx):
    res = run(ctx, metric="revenue", period="YTD", grain="month")
    assert [a.type for a in res.artifacts] == ["chart", "table"]
    chart = res.artifacts[0].spec
    assert chart["kind"] == "line" and chart["figure"]["layout"]["template"] is not None
    assert len(res.data["rows"]) == 11 and res.row_count == 11
    whole, so_far = chart["figure"]["data"]  # November is partial on the 18th: its own dotted segment
    assert whole["y"] + so_far["y"][-1:] == [r["value"] for r in res.data["rows"]]
    assert "Revenue" in res.text and "$" in res.text and "vs the same days last year" in res.text
    _check_artifacts(res)


@pytest.mark.parametrize("period,grain", [("last 30 days", "day"), ("last 12 weeks", "week"),
                                          ("YTD", "month"), ("last 3 years", "quarter")])
def test_default_grain_follows_the_span(ctx, period, grain):
    assert run(ctx, metric="tickets", period=period).data["grain"] == grain


def test_weeks_and_quarters_partition_the_span(ctx):
    total = run(ctx, metric="tickets", period="last 6 months", grain="day").data["total"]
    for grain in ("week", "month", "quarter"):
        rows = run(ctx, metric="tickets", period="last 6 months", grain=grain).data["rows"]
        assert sum(r["value"] for r in rows) == total
        assert rows[0]["period"] == "2026-05-19"  # the first bucket is clipped to the span


def test_balance_series_ends_at_the_total(ctx):
    res = run(ctx, metric="mrr", period="last 6 months", grain="month")
    assert res.data["rows"][-1]["value"] == pytest.approx(res.data["total"])
    assert "at the end of" in res.text


# ---- by / top / filters ---------------------------------------------------------------------------------

def test_breakdown_is_a_bar_chart_and_table(ctx):
    res = run(ctx, metric="churn", period="previous quarter", by="region")
    assert [a.type for a in res.artifacts] == ["chart", "table"]
    assert res.artifacts[0].spec["kind"] == "bar"
    rows = res.data["rows"]
    assert {r["region"] for r in rows} == {"NA", "EMEA", "APAC", "LATAM"}
    assert [r["value"] for r in rows] == sorted((r["value"] for r in rows), reverse=True)
    assert sum(r["value"] for r in rows) == pytest.approx(res.data["total"])
    assert f"largest: {rows[0]['region']}" in res.text and f"smallest: {rows[-1]['region']}" in res.text
    _check_artifacts(res)


def test_by_and_grain_make_a_dashboard(ctx):
    res = run(ctx, metric="revenue", period="YTD", by="region", grain="month")
    (art,) = res.artifacts
    assert art.type == "dashboard"
    kinds = [(w["type"], w.get("kind")) for w in art.spec["widgets"]]
    assert kinds == [("chart", "line"), ("chart", "bar"), ("table", None)]
    assert len(art.spec["widgets"][0]["figure"]["data"]) == 4
    assert len(res.data["series"]) == 4 * 11
    _check_artifacts(res)


def test_top_customers_by_arr(ctx):
    res = run(ctx, metric="arr", top=10)
    assert res.data["by"] == "customer" and res.row_count == 10
    vals = [r["value"] for r in res.data["rows"]]
    assert vals == sorted(vals, reverse=True) and vals[0] > 0
    assert "showing the top 10 of" in res.text
    also = run(ctx, metric="ARR", by="customers", top=3)
    assert [r["customer"] for r in also.data["rows"]] == [r["customer"] for r in res.data["rows"][:3]]


def test_top_without_customer_dimension_needs_by(ctx):
    with pytest.raises(InvalidParams, match="top needs `by`"):
        run(ctx, metric="uptime", top=3)
    assert run(ctx, metric="incidents", by="service", top=3).row_count == 3


def test_filters(ctx):
    all_ = run(ctx, metric="revenue", period="YTD", by="region")
    emea = run(ctx, metric="revenue", period="YTD", filters={"region": "emea"})
    assert emea.data["filters"] == {"region": "EMEA"} and "region EMEA" in emea.text
    want = next(r["value"] for r in all_.data["rows"] if r["region"] == "EMEA")
    assert emea.data["total"] == pytest.approx(want)
    both = run(ctx, metric="revenue", period="YTD", by="segment", filters={"region": "EMEA", "segment": "SMB"})
    assert [r["segment"] for r in both.data["rows"]] == ["SMB"]


def test_unknown_filter_value_lists_the_values(ctx):
    with pytest.raises(InvalidParams, match="EMEA"):
        run(ctx, metric="revenue", filters={"region": "Atlantis"})


def test_compare(ctx):
    prev = run(ctx, metric="revenue", period="MTD", compare="previous_period")
    yoy = run(ctx, metric="revenue", period="MTD", compare="previous_year")
    none = run(ctx, metric="revenue", period="MTD", compare="none")
    assert prev.data["total"] == yoy.data["total"] == none.data["total"]
    assert prev.data["comparison_start"] == "2026-10-01" and yoy.data["comparison_start"] == "2025-11-01"
    assert prev.data["previous"] != yoy.data["previous"]
    assert none.data["previous"] is None and "vs" not in none.text
    assert yoy.data["change_pct"] == pytest.approx((yoy.data["total"] - yoy.data["previous"]) /
                                                   yoy.data["previous"] * 100)
    assert "vs the same dates last year" in yoy.text


# ---- errors ---------------------------------------------------------------------------------------------

def test_dimension_not_allowed_lists_the_dimensions(ctx):
    with pytest.raises(InvalidParams) as e:
        run(ctx, metric="uptime", by="region")
    assert "service" in e.value.message and "region" in e.value.message
    with pytest.raises(InvalidParams, match="region, segment, customer, industry"):
        run(ctx, metric="revenue", filters={"department": "Sales"})


def test_unknown_metric_lists_names(ctx):
    with pytest.raises(InvalidParams) as e:
        run(ctx, metric="happiness")
    assert all(n in e.value.message for n in catalog.METRICS)


def test_synonym(ctx):
    assert run(ctx, metric="sales", period="MTD").data["metric"] == "revenue"


def test_params_schema_is_strict():
    schema = QUERY_METRIC.describe()["parameters"]
    assert schema["additionalProperties"] is False
    assert {"metric", "period", "start", "end", "grain", "by", "top", "filters", "compare"} <= set(schema["properties"])
    assert all(p.get("description") for p in schema["properties"].values())
    with pytest.raises(Exception):
        QueryMetricParams(metric="revenue", color="red")


# ---- through the engine --------------------------------------------------------------------------------

def test_runs_through_the_executor(warehouses, config):
    reg = ToolRegistry()
    reg.register(QUERY_METRIC)
    reg.register(DESCRIBE_DATA)
    ex = ToolExecutor(reg, warehouses, None, config)
    who = Principal("alice", "demo")
    call = ex.prepare("query_metric", {"metric": "win_rate", "period": "YTD", "by": "region"})
    out = asyncio.run(ex.run(who, call, persist=False))
    assert out.ok and out.result.row_count == 4
    bad = ex.prepare("query_metric", {"metric": "uptime", "by": "region"})
    out = asyncio.run(ex.run(who, bad, persist=False))
    assert not out.ok and out.error.code == "invalid_params" and "service" in out.error.message
    with pytest.raises(InvalidParams):
        ex.prepare("query_metric", {"metric": "revenue", "bogus": 1})
    out = asyncio.run(ex.run(who, ex.prepare("describe_data", {}), persist=False))
    assert out.ok and out.result.artifacts[0].type == "document"


def test_describe_data(ctx):
    res = DESCRIBE_DATA.run(ctx, DescribeDataParams())
    tables = {t["table"]: t for t in res.data["tables"]}
    cur = ctx.warehouse()
    assert tables["invoices"]["rows"] == cur.execute("SELECT count(*) FROM invoices").fetchone()[0]
    assert {"name": "amount", "type": "DOUBLE"} in tables["invoices"]["columns"]
    assert {m["name"] for m in res.data["metrics"]} == set(catalog.METRICS)
    md = res.artifacts[0].spec["markdown"]
    assert "| Revenue | `revenue` |" in md and "`invoices`" in md
    assert "customer" in next(m for m in res.data["metrics"] if m["name"] == "arr")["dimensions"]
    assert "invoices" in res.text and "15 catalog metrics" in res.text


def test_calls_that_resolve_alike_give_the_same_answer(ctx):
    """resolve() is what the eval compares: a grain equal to the default, a plural dimension or a top N without
    `by` read as the tool reads them; calls that resolve differently do differ."""
    def same(a: dict, b: dict) -> bool:
        same_query = resolve(QueryMetricParams(**a), ctx.today) == resolve(QueryMetricParams(**b), ctx.today)
        assert same_query == (run(ctx, **a).data == run(ctx, **b).data)
        return same_query

    assert same({"metric": "revenue", "period": "previous month"},
                {"metric": "sales", "period": "last_month", "grain": "day"})
    assert same({"metric": "arr", "top": 5}, {"metric": "arr", "by": "customers", "top": 5})
    assert not same({"metric": "revenue", "period": "previous month"},
                    {"metric": "revenue", "period": "previous month", "grain": "week"})
    assert not same({"metric": "arr", "top": 5}, {"metric": "arr", "by": "customer", "top": 6})


def test_a_breakdowns_change_column_reads_as_a_signed_percent(ctx):
    res = run(ctx, metric="revenue", period="QTD", by="region")
    table = next(a for a in res.artifacts if a.type == "table").spec
    col = next(c for c in table["columns"] if c["key"] == "change_pct")
    assert col["label"] == "Change" and col["format"] == "change_1"
    html = to_html({"type": "table", "title": table["title"], "spec": table})
    for row in table["rows"]:
        pct = row["change_pct"]
        arrow = "▲" if pct > 0 else "▼" if pct < 0 else "■"
        assert f"{arrow} {abs(pct):.1f}%" in html


def test_a_partial_last_month_is_marked_and_kept_out_of_highest_and_lowest(ctx):
    """On Nov 20, "revenue by month this year" ends with 20 days of November: not the lowest month."""
    res = run(ctx, metric="revenue", period="YTD", grain="month")
    assert res.data["partial_days"] == AS_OF.day
    months = {r["period"]: r["value"] for r in res.data["rows"]}
    full = {k: v for k, v in months.items() if not k.startswith(f"{AS_OF:%Y-%m}")}
    assert f"{AS_OF:%B %Y} so far is {AS_OF.day} days of data: partial" in res.text
    lowest = min(full, key=full.get)
    assert f"lowest {format_number(full[lowest], 'currency')} ({lowest[:10]})" in res.text
    # a balance (MRR at a day's end) is whole on any day: never partial
    assert run(ctx, metric="mrr", period="YTD", grain="month").data["partial_days"] == 0


def test_a_partial_last_month_draws_as_a_dotted_segment_of_its_own(ctx):
    res = run(ctx, metric="revenue", period="YTD", grain="month")
    traces = next(a for a in res.artifacts if a.type == "chart").spec["figure"]["data"]
    whole, so_far = traces
    assert so_far["name"] == f"so far ({AS_OF.day} days)" and so_far["line"]["dash"] == "dot"
    assert whole["x"][-1] == so_far["x"][0] and so_far["x"][-1].startswith(f"{AS_OF:%Y-%m}")
    assert len(whole["x"]) == len(res.data["rows"]) - 1
