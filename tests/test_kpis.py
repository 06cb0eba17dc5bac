"""KPI values checked against an independent pandas computation over the same warehouse tables."""

import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from data_fixtures import AS_OF, config, ctx, data_dir, warehouses  # noqa: E402,F401

from penny_jupyter.data.periods import resolve_period  # noqa: E402
from penny_jupyter.errors import InvalidParams  # noqa: E402
from penny_jupyter.tools.kpis import GET_COMPANY_KPIS, KpiParams  # noqa: E402


def _tables(ctx):
    cur = ctx.warehouse()
    names = ["invoices", "mrr_events", "customers", "deals", "incidents", "employees", "services"]
    return {n: cur.execute(f"SELECT * FROM {n}").df() for n in names}


def _between(s, a, b):
    d = pd.to_datetime(s).dt.normalize()
    return (d >= pd.Timestamp(a)) & (d <= pd.Timestamp(b))


def expected(t, a, b, region=None, department=None):
    """Independent definitions of the KPIs over [a, b], written straight from the table semantics."""
    inv, mrr, cus, deals, inc, emp = (t[k] for k in ("invoices", "mrr_events", "customers", "deals", "incidents",
                                                     "employees"))
    if region:
        inv, mrr, cus, deals = (x[x["region"] == region] for x in (inv, mrr, cus, deals))
    if department:
        emp = emp[emp["department"] == department]
    if region:
        emp = emp[emp["region"] == region]
    out = {
        "revenue": inv.loc[_between(inv["issue_date"], a, b), "amount"].sum(),
        "mrr": mrr.loc[pd.to_datetime(mrr["day"]) <= pd.Timestamp(b), "mrr_delta"].sum(),
        "new_customers": int(_between(cus["signup_date"], a, b).sum()),
    }
    closed = deals[deals["is_closed"] & _between(deals["close_date"], a, b)]
    out["win_rate"] = closed["is_won"].mean() if len(closed) else None
    hired = pd.to_datetime(emp["hire_date"]) <= pd.Timestamp(b)
    term = pd.to_datetime(emp["termination_date"])
    out["headcount"] = int((hired & (term.isna() | (term > pd.Timestamp(b)))).sum())
    if not region:
        res = inc[inc["resolved_at"].notna()]
        res = res[_between(res["resolved_at"], a, b)]
        hours = (res["resolved_at"] - res["opened_at"]).dt.total_seconds() / 3600
        out["mttr"] = hours.mean() if len(res) else None
        opened = inc[_between(inc["opened_at"], a, b)].copy()
        opened["day"] = opened["opened_at"].dt.normalize()
        per_day = opened.groupby(["service", "day"])["downtime_minutes"].sum().clip(upper=1440)
        minutes = len(t["services"]) * 1440 * ((pd.Timestamp(b) - pd.Timestamp(a)).days + 1)
        out["uptime"] = 1 - per_day.sum() / minutes
    return out


def _check(actual, want, name):
    if want is None:
        assert actual is None, name
    else:
        assert actual == pytest.approx(float(want), rel=1e-9, abs=1e-9), name


@pytest.mark.parametrize("period", ["MTD", "QTD", "YTD"])
def test_kpis_match_pandas(ctx, period):
    res = GET_COMPANY_KPIS.run(ctx, KpiParams(period=period))
    p = resolve_period(period, AS_OF)
    t = _tables(ctx)
    cur_want, prev_want = expected(t, p.start, p.end), expected(t, p.prev_start, p.prev_end)
    got = {m["name"]: m for m in res.data["metrics"]}
    assert len(got) == 13 and res.data["omitted"] == []
    for name in ("revenue", "mrr", "new_customers", "win_rate", "mttr", "headcount", "uptime"):
        _check(got[name]["value"], cur_want[name], name)
        _check(got[name]["previous"], prev_want[name], name + " (previous)")
    assert got["arr"]["value"] == pytest.approx(12 * got["mrr"]["value"])
    rev = got["revenue"]
    if rev["previous"]:
        assert rev["change_pct"] == pytest.approx((rev["value"] - rev["previous"]) / rev["previous"] * 100)
    assert res.data["start"] == p.start.isoformat() and res.data["end"] == AS_OF.isoformat()


def test_summary_and_artifact(ctx):
    res = GET_COMPANY_KPIS.run(ctx, KpiParams())
    rev = next(m for m in res.data["metrics"] if m["name"] == "revenue")
    assert f"**Revenue** {rev['formatted']}" in res.text
    assert "vs the same days last month" in res.text
    (art,) = res.artifacts
    assert art.type == "dashboard" and art.title == "Company KPIs · MTD"
    assert art.source == {"tool": "get_company_kpis", "params": {"period": "MTD", "unit": "company"}}
    widgets = art.spec["widgets"]
    assert art.spec["layout"] == "grid" and len(widgets) == 13
    w = next(w for w in widgets if w["name"] == "revenue")
    for key in ("label", "value", "formatted", "previous", "change_pct", "up_is_good", "unit", "sparkline"):
        assert key in w
    assert len(w["sparkline"]) == AS_OF.day and sum(w["sparkline"]) == pytest.approx(w["value"])
    mrr = next(w for w in widgets if w["name"] == "mrr")
    assert mrr["sparkline"][-1] == pytest.approx(mrr["value"])  # balances end at the period's value


def test_previous_zero_gives_no_change_pct():
    from penny_jupyter.data.catalog import METRICS
    from penny_jupyter.data.queries import MetricValue

    mv = MetricValue(METRICS["incidents"], 3.0, 0.0, [])
    assert mv.change_pct is None and mv.to_dict()["change_pct"] is None


def test_unknown_unit_lists_valid_units(ctx):
    with pytest.raises(InvalidParams) as e:
        GET_COMPANY_KPIS.run(ctx, KpiParams(unit="Narnia"))
    assert "EMEA" in e.value.message and "Engineering" in e.value.message


def test_region_unit(ctx):
    res = GET_COMPANY_KPIS.run(ctx, KpiParams(period="QTD", unit="emea"))
    p = resolve_period("QTD", AS_OF)
    want = expected(_tables(ctx), p.start, p.end, region="EMEA")
    got = {m["name"]: m for m in res.data["metrics"]}
    assert res.data["unit"] == "EMEA"
    for name in ("revenue", "mrr", "new_customers", "win_rate", "headcount"):
        _check(got[name]["value"], want[name], name)
    omitted = {o["name"] for o in res.data["omitted"]}
    assert {"uptime", "mttr", "incidents"} <= omitted and not omitted & set(got)
    assert "Uptime" in res.text and "EMEA" in res.artifacts[0].title


def test_department_unit(ctx):
    res = GET_COMPANY_KPIS.run(ctx, KpiParams(unit="Sales"))
    want = expected(_tables(ctx), AS_OF.replace(day=1), AS_OF, department="Sales")
    got = {m["name"]: m for m in res.data["metrics"]}
    assert set(got) == {"headcount"}
    _check(got["headcount"]["value"], want["headcount"], "headcount")
    assert "revenue" in {o["name"] for o in res.data["omitted"]}


def test_periods_clip_and_shift():
    import datetime as dt

    d = dt.date
    assert tuple(resolve_period("MTD", d(2026, 3, 31))) == (d(2026, 3, 1), d(2026, 3, 31), d(2026, 2, 1), d(2026, 2, 28))
    assert tuple(resolve_period("MTD", d(2024, 3, 31)))[3] == d(2024, 2, 29)
    assert tuple(resolve_period("QTD", d(2026, 5, 31))) == (d(2026, 4, 1), d(2026, 5, 31), d(2026, 1, 1), d(2026, 2, 28))
    assert tuple(resolve_period("QTD", d(2026, 1, 15)))[2:] == (d(2025, 10, 1), d(2025, 10, 15))
    assert tuple(resolve_period("YTD", d(2024, 2, 29))) == (d(2024, 1, 1), d(2024, 2, 29), d(2023, 1, 1), d(2023, 2, 28))
    with pytest.raises(InvalidParams):
        resolve_period("WTD", d(2026, 1, 1))


def test_a_change_between_small_counts_says_it_rests_on_little_data(ctx):
    from penny_jupyter.tools.kpis import few

    res = GET_COMPANY_KPIS.run(ctx, KpiParams(period="MTD"))
    noted = [m for m in res.data["metrics"] if few(m["unit"], m["value"], m["previous"])]
    assert noted, "the test company has small counts this month (new customers, incidents)"
    for m in res.data["metrics"]:
        line = next(li for li in res.text.splitlines() if f"**{m['label']}**" in li)
        assert ("too few to read much into" in line) == (m in noted), line
    assert few("count", 7, 1) and not few("count", 120, 95) and not few("currency", 7, 1)


def test_the_brief_answer_names_the_headline_and_the_biggest_moves_not_all_thirteen(ctx):
    r = GET_COMPANY_KPIS.run(ctx, KpiParams(period="MTD"))
    metrics = r.data["metrics"]
    assert len(metrics) == 13 and r.text.count("\n- ") == 13, "a model still reads every figure"
    brief = r.brief.splitlines()
    bullets = [line for line in brief if line.startswith("- ")]
    assert brief[0] == r.text.splitlines()[0]  # the period it covers
    assert bullets[0].startswith(f"- **{metrics[0]['label']}** ")  # the headline KPI first
    named = [b.split("**")[1] for b in bullets[1:]]
    assert len(named) == 3
    # the three biggest relative moves of the rest, biggest first, none resting on a handful of events
    from penny_jupyter.tools.kpis import few

    movable = sorted((m for m in metrics[1:] if m["change_pct"] is not None
                      and not few(m["unit"], m["value"], m["previous"])), key=lambda m: -abs(m["change_pct"]))
    assert named == [m["label"] for m in movable[:3]]
    assert "The biggest moves of the other 12:" in brief
