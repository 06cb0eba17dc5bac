"""Every catalog metric, sliced at random, against an independent pandas computation on the demo data.

For each metric hypothesis draws a span inside the data, an optional grain, an optional breakdown
dimension and an optional filter; `slicing.query_metric` must agree with pandas on the total, the
comparison total (the same number of days just before), every returned group and every bucket.
The pandas side is written from the tables' meaning (open pipeline = deals created and not yet
closed; headcount = hired and not yet gone; uptime = service-minutes without downtime), not by
translating the catalog's SQL.
"""

import datetime as dt
import math
import sys
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent))
from data_fixtures import AS_OF, warehouse_template  # noqa: E402

from penny_jupyter.data import catalog, slicing  # noqa: E402
from penny_jupyter.data.periods import parse_period  # noqa: E402

DATA_START = dt.date(2024, 1, 1)
FREQ = {"day": "D", "week": "W-SUN", "month": "M", "quarter": "Q"}


@pytest.fixture(scope="module")
def wh(tmp_path_factory):
    con = duckdb.connect(str(warehouse_template(tmp_path_factory, "demo")), read_only=True)
    tables = {t: con.execute(f"SELECT * FROM {t}").df() for (t,) in con.execute(
        "SELECT table_name FROM duckdb_tables()").fetchall()}
    yield con, _frames(tables)
    con.close()


def _d(s):
    return pd.to_datetime(s).dt.normalize()


def _frames(t):
    """metric -> (kind, frame). Flow frames carry `value`, ratio frames `num`/`den`, balance frames the
    columns their `alive` rule reads plus a weight `w`."""
    cus = t["customers"].copy()
    dup = cus["name"].map(cus["name"].value_counts()) > 1
    cus["customer"] = np.where(dup, cus["name"] + " (#" + cus["customer_id"].astype(str) + ")", cus["name"])
    who = cus[["customer_id", "customer", "industry"]]
    inv = t["invoices"].merge(who, on="customer_id", how="left").assign(day=lambda x: _d(x["issue_date"]))
    mrr = t["mrr_events"].merge(who, on="customer_id", how="left").assign(day=lambda x: _d(x["day"]))
    tix = t["support_tickets"].merge(who, on="customer_id", how="left").assign(day=lambda x: _d(x["opened_at"]))
    exp = t["expenses"].assign(day=lambda x: _d(x["day"]))
    pay = t["payments"].assign(day=lambda x: _d(x["paid_date"]))
    deals = t["deals"].assign(created=lambda x: _d(x["created_date"]), closed=lambda x: _d(x["close_date"]))
    emp = t["employees"].assign(hired=lambda x: _d(x["hire_date"]), left=lambda x: _d(x["termination_date"]))
    inc = t["incidents"].copy()
    won = deals[deals["is_closed"]].assign(day=lambda x: x["closed"], num=lambda x: x["is_won"].astype(float), den=1.0)
    res = inc[inc["resolved_at"].notna()]
    mttr = res.assign(day=_d(res["resolved_at"]), num=(res["resolved_at"] - res["opened_at"]).dt.total_seconds() / 3600,
                      den=1.0)
    # uptime: every service on every calendar day, minus that day's downtime (a day holds at most 1440 minutes)
    days = pd.date_range(DATA_START, AS_OF)
    grid = pd.MultiIndex.from_product([t["services"]["name"], days], names=["service", "day"]).to_frame(index=False)
    down = inc.assign(day=_d(inc["opened_at"])).groupby(["service", "day"])["downtime_minutes"].sum().rename("down")
    grid = grid.merge(down.reset_index(), on=["service", "day"], how="left").fillna({"down": 0})
    grid["den"] = 1440.0
    grid["num"] = 1440.0 - grid["down"].clip(upper=1440)
    margin = pd.concat([inv.assign(num=inv["amount"], den=inv["amount"]),
                        exp[exp["is_cogs"]].assign(num=-exp["amount"], den=0.0)])
    burn = pd.concat([exp.assign(value=exp["amount"]), pay.assign(value=-pay["amount"])])
    return {
        "revenue": ("flow", inv.assign(value=inv["amount"])),
        "mrr": ("balance", mrr.assign(w=mrr["mrr_delta"], since=mrr["day"], until=pd.NaT)),
        "arr": ("balance", mrr.assign(w=mrr["mrr_delta"] * 12, since=mrr["day"], until=pd.NaT)),
        "new_customers": ("flow", cus.assign(day=_d(cus["signup_date"]), value=1.0)),
        "churn": ("flow", mrr[mrr["kind"] == "churn"].assign(value=lambda x: -x["mrr_delta"])),
        "pipeline": ("balance", deals.assign(w=deals["amount"], since=deals["created"], until=deals["closed"])),
        "win_rate": ("ratio", won),
        "gross_margin": ("ratio", margin),
        "burn": ("flow", burn),
        "spend": ("flow", exp.assign(value=exp["amount"])),
        "incidents": ("flow", inc.assign(day=_d(inc["opened_at"]), value=1.0)),
        "mttr": ("ratio", mttr),
        "uptime": ("ratio", grid),
        "headcount": ("balance", emp.assign(w=1.0, since=emp["hired"], until=emp["left"])),
        "tickets": ("flow", tix.assign(value=1.0)),
    }


def _alive(f, x):
    """Rows counted in a balance at the end of day x: started on or before x, not ended by then."""
    x = pd.Timestamp(x)
    return (f["since"] <= x) & (f["until"].isna() | (f["until"] > x))


def expected(kind, f, a, b, by):
    """(value per group, or the total when by is None) over [a, b]."""
    key = f[by].astype(str) if by else pd.Series("", index=f.index)
    if kind == "balance":
        m = _alive(f, b)
        return f.loc[m, "w"].groupby(key[m]).sum()
    m = (f["day"] >= pd.Timestamp(a)) & (f["day"] <= pd.Timestamp(b))
    if kind == "flow":
        return f.loc[m, "value"].groupby(key[m]).sum()
    num, den = f.loc[m, "num"].groupby(key[m]).sum(), f.loc[m, "den"].groupby(key[m]).sum()
    return (num / den.where(den != 0)).astype(float)


def expected_series(kind, f, p, periods, by, freq):
    """group -> value per bucket (bucket = calendar day/week/month/quarter, cut to the span)."""
    key = f[by].astype(str) if by else pd.Series("", index=f.index)
    if kind == "balance":  # the level at each bucket's last day inside the span
        ends = [min(q.end_time.date(), p.end) for q in periods]
        levels = [f.loc[m, "w"].groupby(key[m]).sum() for m in (_alive(f, e) for e in ends)]
        return lambda k: [float(lv.get(k or "", 0.0)) for lv in levels]
    m = (f["day"] >= pd.Timestamp(p.start)) & (f["day"] <= pd.Timestamp(p.end))
    bucket = f.loc[m, "day"].dt.to_period(freq)
    if kind == "flow":
        tab = f.loc[m, "value"].groupby([key[m], bucket]).sum()
        return lambda k: [float(tab.get((k or "", q), 0.0)) for q in periods]
    num = f.loc[m, "num"].groupby([key[m], bucket]).sum()
    den = f.loc[m, "den"].groupby([key[m], bucket]).sum()

    def ratio(k):
        out = []
        for q in periods:
            d_ = den.get((k or "", q), 0.0)
            out.append(float(num.get((k or "", q))) / d_ if d_ else None)
        return out
    return ratio


def close(got, want):
    if want is None or (isinstance(want, float) and math.isnan(want)):
        return got is None
    return got is not None and math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-6)


def scalar(series, kind):
    if len(series) == 0:
        return None if kind == "ratio" else 0.0
    v = float(series.iloc[0])
    return None if math.isnan(v) else v


@st.composite
def slices(draw, name):
    m = catalog.METRICS[name]
    start = draw(st.dates(DATA_START, AS_OF))
    end = min(AS_OF, start + dt.timedelta(days=draw(st.integers(0, 500))))
    by = draw(st.sampled_from([None, *m.dimensions]))
    grain = draw(st.sampled_from([None, "week", "month", "quarter"] + (["day"] if (end - start).days < 60 else [])))
    fdim = draw(st.sampled_from([None, *[d for d in m.dimensions if d not in ("customer", by)]]))
    return start, end, by, grain, fdim, draw(st.integers(0, 10_000))


@pytest.mark.parametrize("name", list(catalog.METRICS))
def test_metric_matches_pandas(wh, name):
    con, frames = wh
    kind, frame = frames[name]

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    @given(slices(name))
    def check(s):
        start, end, by, grain, fdim, pick = s
        f, filters = frame, {}
        if fdim:
            values = sorted(frame[fdim].dropna().astype(str).unique())
            filters = {fdim: values[pick % len(values)]}
            f = frame[frame[fdim].astype(str) == filters[fdim]]
        p = parse_period(None, AS_OF, start, end)
        got = slicing.query_metric(con.cursor(), catalog.get_metric(name), p, grain=grain, by=by, filters=filters)

        want_total = scalar(expected(kind, f, p.start, p.end, None), kind)
        want_prev = scalar(expected(kind, f, p.prev_start, p.prev_end, None), kind)
        assert close(got.total, want_total), (got.total, want_total)
        assert close(got.previous, want_prev), (got.previous, want_prev)

        if by:
            cur = expected(kind, f, p.start, p.end, by)
            prev = expected(kind, f, p.prev_start, p.prev_end, by)
            if kind == "balance":  # groups alive now or at the comparison date
                members = {k for s_ in (cur, prev) for k, v in s_.items() if abs(v) > 1e-9}
            else:
                members = set(cur.index) | set(prev.index)
            assert got.group_count == len(members)
            assert len(got.groups) == min(len(members), slicing.MAX_GROUPS)
            for g in got.groups:
                assert g["key"] in members
                want = cur.get(g["key"], None if kind == "ratio" else 0.0)
                assert close(g["value"], None if want is None or pd.isna(want) else float(want)), g
            ranked = [g["value"] for g in got.groups if g["value"] is not None]
            assert ranked == sorted(ranked, reverse=True)
            shown = {g["key"] for g in got.groups}
            rest = [float(v) for k, v in cur.items() if k not in shown and not pd.isna(v)]
            if rest and ranked and len(ranked) == len(got.groups):
                assert max(rest) <= ranked[-1] + 1e-6  # what was cut is never larger than what was kept

        if grain:
            periods = pd.period_range(p.start, p.end, freq=FREQ[grain])
            assert got.buckets == [max(q.start_time.date(), p.start) for q in periods]
            want = expected_series(kind, f, p, periods, by, FREQ[grain])
            for k in ([g["key"] for g in got.groups] if by else [None]):
                for q, v, w in zip(periods, got.series[k], want(k)):
                    assert close(v, w), (k, q, v, w)

    check()
