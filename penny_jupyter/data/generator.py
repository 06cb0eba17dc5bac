"""Deterministic demo-company generator: one DuckDB warehouse file per tenant.

The company is a growing B2B SaaS business with customers, subscriptions and MRR movements,
a sales pipeline, billing, spend, employees, production incidents and support tickets. Every
table is built with vectorized numpy, handed to DuckDB as a DataFrame and materialized with
`CREATE TABLE AS`, so scale 1 (~1M fact rows, 2+ years of daily activity) takes a few seconds.

The random generator is seeded from a CRC32 of the tenant name (Python's hash() is salted per
process), so the same tenant always gets the same rows and different tenants differ.

Dates are generated as integer day offsets from `origin` (Jan 1 two years before end_date) and
turned into DATE/TIMESTAMP by DuckDB, which is much cheaper than building pandas datetimes.

`_build` calls one builder per table, in a fixed order: they share one random stream, so the order
of their draws is what keeps a tenant's data the same from release to release. Arrays one table
hands to the next (customers to subscriptions, MRR to invoices and spend, incidents to tickets)
travel in small named tuples. The module is longer than ~400 lines on purpose: it is that one
ordered pipeline over one stream and one vocabulary, and splitting it would scatter the draw
order across modules that import each other's intermediate types.

CLI: python -m penny_jupyter.data.generator --tenant demo --scale 1 --data-dir DIR [--as-of DATE]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
import uuid
import zlib
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

REGIONS = ("NA", "EMEA", "APAC", "LATAM")
SEGMENTS = ("SMB", "Mid-Market", "Enterprise")
INDUSTRIES = ("Software", "Retail", "Healthcare", "Financial Services", "Manufacturing",
              "Education", "Media", "Logistics")
DEPARTMENTS = ("Engineering", "Sales", "Marketing", "Support", "Finance", "Operations")
DEAL_STAGES = ("Prospecting", "Qualification", "Proposal", "Negotiation", "Closed Won")
SEVERITIES = ("sev1", "sev2", "sev3", "sev4")
# (name, tier, owning department)
SERVICES = (
    ("api-gateway", "critical", "Engineering"),
    ("web-app", "critical", "Engineering"),
    ("auth", "critical", "Engineering"),
    ("billing", "high", "Finance"),
    ("search", "high", "Engineering"),
    ("data-pipeline", "high", "Operations"),
    ("notifications", "standard", "Engineering"),
    ("reporting", "standard", "Engineering"),
    ("storage", "critical", "Operations"),
    ("mobile-api", "high", "Engineering"),
)

# Fact rows per table at scale 1 (before randomness); tuned so the total lands near 1M.
_TARGET = {"customers": 13000, "deals": 40000, "expense_lines": 120000, "tickets": 165000, "employees": 820}

# Expense categories per department: (category, weight, lognormal median $, is COGS)
_EXPENSE_CATEGORIES = {
    "Engineering": [("Cloud hosting", 5, 900, True), ("Software licenses", 3, 300, False),
                    ("Contractors", 1, 4000, False), ("Equipment", 1, 1200, False)],
    "Sales": [("Travel", 4, 700, False), ("Software licenses", 2, 250, False),
              ("Events", 1, 5000, False), ("Commissions", 2, 2500, False)],
    "Marketing": [("Advertising", 5, 1500, False), ("Events", 1, 8000, False),
                  ("Software licenses", 2, 300, False), ("Agencies", 1, 6000, False)],
    "Support": [("Support tooling", 3, 400, True), ("Software licenses", 2, 200, False),
                ("Training", 1, 800, False)],
    "Finance": [("Payment processing", 4, 700, True), ("Professional services", 1, 5000, False),
                ("Insurance", 1, 3000, False)],
    "Operations": [("Facilities", 3, 2500, False), ("Cloud hosting", 3, 900, True),
                   ("Equipment", 1, 1000, False)],
}
_DEPT_P = {"Engineering": .36, "Sales": .20, "Marketing": .10, "Support": .14, "Finance": .06, "Operations": .14}
_EXPENSE_DEPT_P = (.30, .18, .22, .08, .10, .12)

_NAME_A = np.array(["Acme", "Blue", "Bright", "Cedar", "Clear", "Copper", "Delta", "Echo", "Evergreen",
                    "Falcon", "Golden", "Granite", "Harbor", "Iron", "Juniper", "Keystone", "Lumen",
                    "Maple", "Meridian", "Nimbus", "North", "Nova", "Oak", "Orbit", "Pioneer", "Prism",
                    "Quartz", "Redwood", "River", "Silver", "Sky", "Summit", "Terra", "Vertex", "Vista"])
_NAME_B = np.array(["Analytics", "Bio", "Cloud", "Dynamics", "Foods", "Freight", "Health", "Labs",
                    "Learning", "Logic", "Media", "Motors", "Networks", "Partners", "Retail", "Robotics",
                    "Software", "Solutions", "Systems", "Works"])
_NAME_C = np.array(["Inc", "LLC", "Ltd", "Group", "Co", "GmbH", "SA", "Pty"])
_FIRST = np.array(["Alex", "Sam", "Jordan", "Taylor", "Morgan", "Casey", "Riley", "Jamie", "Avery", "Quinn",
                   "Priya", "Wei", "Lucia", "Mateo", "Amara", "Kenji", "Sofia", "Omar", "Elena", "Noah",
                   "Aisha", "Lars", "Ines", "Tomas", "Mei", "Ravi", "Zoe", "Felix", "Nia", "Hugo"])
_LAST = np.array(["Smith", "Garcia", "Chen", "Patel", "Muller", "Rossi", "Silva", "Kim", "Nguyen", "Okafor",
                  "Johansson", "Dubois", "Tanaka", "Kowalski", "Haddad", "Murphy", "Novak", "Costa",
                  "Larsen", "Fischer", "Reyes", "Singh", "Ahmed", "Brown", "Lopez"])


def tenant_seed(tenant: str) -> int:
    """Stable across processes and platforms (unlike hash())."""
    return zlib.crc32(tenant.encode("utf-8"))


def _choice(rng, options, n, p=None):
    return np.asarray(options)[rng.choice(len(options), size=n, p=p)]


def _strcat(*parts) -> np.ndarray:
    out = np.asarray(parts[0]).astype(str)
    for p in parts[1:]:
        out = np.char.add(out, np.asarray(p).astype(str))
    return out


def _nullable(values: np.ndarray, valid: np.ndarray) -> pd.arrays.IntegerArray:
    """Int64 with NULLs where not valid (open churn dates, unresolved incidents, ...)."""
    return pd.arrays.IntegerArray(np.where(valid, values, 0).astype("int64"), ~valid.astype(bool))


class _Calendar:
    def __init__(self, end_date: dt.date):
        self.end_date = end_date
        self.origin = dt.date(end_date.year - 2, 1, 1)
        self.n_days = (end_date - self.origin).days + 1
        self.origin64 = np.datetime64(self.origin, "D")
        self.dates = self.origin64 + np.arange(self.n_days)
        d = self.dates.astype("int64")
        self.dow = (d + 3) % 7  # 1970-01-01 was a Thursday; 0 = Monday
        doy = (self.dates - self.dates.astype("M8[Y]")).astype("int64")
        t_years = np.arange(self.n_days) / 365.25
        # A growing business that is busiest on weekdays, softer in summer, quiet at year end.
        self.weekly = np.array([1.05, 1.12, 1.12, 1.08, 0.95, 0.33, 0.25])[self.dow]
        self.annual = 1 + 0.10 * np.cos(2 * np.pi * (doy - 75) / 365.25) - 0.45 * np.exp(-(((doy - 359) / 5.0) ** 2))
        self.t_years = t_years

    def shape(self, growth: float, weekly: bool = True) -> np.ndarray:
        s = np.exp(growth * self.t_years) * self.annual
        return s * self.weekly if weekly else s

    def counts(self, rng, total: float, growth: float, weekly: bool = True) -> np.ndarray:
        s = self.shape(growth, weekly)
        return rng.poisson(s * (total / s.sum()))


# A table: (DataFrame, day-offset columns to turn into DATE, second-offset columns to turn into TIMESTAMP).
_Table = tuple[pd.DataFrame, list, list]


class _Customers(NamedTuple):
    signup: np.ndarray  # day offset (negative: before the window)
    seg: np.ndarray  # index into SEGMENTS
    base_mrr: np.ndarray
    churn: np.ndarray  # day offset the customer leaves (may lie beyond the window)
    region: np.ndarray
    segment: np.ndarray


class _Plans(NamedTuple):
    """Subscriptions before their MRR movements: one core plan per customer plus some add-ons."""
    cust: np.ndarray  # customer index
    start: np.ndarray
    end: np.ndarray
    base: np.ndarray  # starting MRR
    plan: np.ndarray
    churned: np.ndarray
    id: np.ndarray


class _Movements(NamedTuple):
    """MRR events in (subscription, day, kind) order with the running subscription level."""
    sub: np.ndarray
    day: np.ndarray
    delta: np.ndarray
    level: np.ndarray
    change_total: np.ndarray  # per subscription: sum of expansions and contractions


class _Bills(NamedTuple):
    inv_id: np.ndarray
    cust: np.ndarray  # customer index
    seg: np.ndarray
    amount: np.ndarray
    paid_day: np.ndarray
    paid: np.ndarray


class _Staff(NamedTuple):
    hire: np.ndarray
    term: np.ndarray
    dept: np.ndarray
    region: np.ndarray
    salary: np.ndarray


class _DealFlow(NamedTuple):
    """Each deal's path through DEAL_STAGES: the day it entered every stage and how it closed."""
    created: np.ndarray
    seg: np.ndarray
    region: np.ndarray
    amount: np.ndarray
    reached: np.ndarray  # 0 = Prospecting only ... 4 = Closed Won
    enter: np.ndarray  # (deal, stage) -> day entered
    won: np.ndarray
    close_day: np.ndarray
    closed: np.ndarray


class _Incidents(NamedTuple):
    day: np.ndarray
    svc: np.ndarray  # index into SERVICES
    sev: np.ndarray  # index into SEVERITIES
    opened: np.ndarray  # second offsets
    resolved: np.ndarray
    is_resolved: np.ndarray


_SERVICE_NAMES = np.array([s[0] for s in SERVICES])


def _month_bounds(cal: _Calendar) -> tuple[np.ndarray, np.ndarray]:
    """Day offsets of the first and last day of every calendar month of the window."""
    months = np.unique(cal.dates.astype("M8[M]"))
    m_first = (months.astype("M8[D]") - cal.origin64).astype("int64")
    m_last = ((months + 1).astype("M8[D]") - 1 - cal.origin64).astype("int64")
    return m_first, m_last


def _build(rng: np.random.Generator, cal: _Calendar, scale: float) -> dict[str, _Table]:
    """Returns table -> (DataFrame, day-offset columns to turn into DATE, second-offset columns -> TIMESTAMP).

    The builders run in this order because they share one random stream: reordering them changes every
    tenant's data."""
    tables: dict[str, _Table] = {"days": _days(cal)}
    tables["customers"], cust = _customers(rng, cal, scale)
    plans = _plans(rng, cal, cust)
    tables["mrr_events"], moves = _mrr_events(rng, cal, cust, plans)
    tables["subscriptions"] = _subscriptions(plans, moves)
    company_mrr = _company_mrr(cal, moves)
    tables["invoices"], bills = _invoices(rng, cal, cust, plans, moves)
    tables["payments"] = _payments(rng, cust, bills)
    tables["employees"], staff = _employees(rng, cal, scale)
    flow = _deal_flow(rng, cal, scale)
    history, cur_stage = _deal_stage_history(cal, flow)
    tables["deals"] = _deals(rng, flow, cur_stage, staff)
    tables["deal_stage_history"] = history
    tables["expenses"] = _expenses(rng, cal, scale, staff, company_mrr)
    tables["incidents"], inc = _incidents(rng, cal, scale)
    tables["services"] = _services()
    tables["service_status_history"] = _service_status_history(cal, inc)
    tables["support_tickets"] = _support_tickets(rng, cal, scale, cust, inc)
    return tables


def _days(cal: _Calendar) -> _Table:
    return pd.DataFrame({"day": np.arange(cal.n_days), "dow": cal.dow, "is_weekend": cal.dow >= 5}), ["day"], []


def _customers(rng, cal: _Calendar, scale: float) -> tuple[_Table, _Customers]:
    """An installed base from before the window plus daily signups."""
    D = cal.n_days
    n_target = max(40, _TARGET["customers"] * scale)
    daily = cal.counts(rng, n_target * 0.65, growth=0.38)
    new_days = np.repeat(np.arange(D), daily)
    legacy_days = -np.sort(rng.integers(1, 3 * 365, size=int(n_target * 0.35)))[::-1]
    signup = np.concatenate([legacy_days, new_days])
    n = len(signup)
    seg = rng.choice(3, size=n, p=(.62, .28, .10))
    region_i = rng.choice(4, size=n, p=(.46, .30, .15, .09))
    base_mrr = np.round(np.exp(rng.normal(np.log([250, 1800, 9000])[seg], 0.45)) / 10) * 10
    monthly_churn = np.array([0.030, 0.014, 0.006])[seg]
    life = np.maximum(31, np.ceil(rng.exponential(30.44 / monthly_churn)))
    churn = signup + life.astype("int64")
    churned = churn < D
    cust_region = np.asarray(REGIONS)[region_i]
    cust_segment = np.asarray(SEGMENTS)[seg]
    names = _strcat(_choice(rng, _NAME_A, n), " ", _choice(rng, _NAME_B, n), " ", _choice(rng, _NAME_C, n))
    customers = pd.DataFrame({
        "customer_id": np.arange(1, n + 1), "name": names, "segment": cust_segment, "region": cust_region,
        "industry": _choice(rng, INDUSTRIES, n), "signup_date": signup, "churn_date": _nullable(churn, churned),
    })
    table = (customers, ["signup_date", "churn_date"], [])
    return table, _Customers(signup, seg, base_mrr, churn, cust_region, cust_segment)


def _plans(rng, cal: _Calendar, cust: _Customers) -> _Plans:
    """One core plan each, an add-on for some; every subscription ends when the customer leaves."""
    D = cal.n_days
    signup, churn, base_mrr, seg = cust.signup, cust.churn, cust.base_mrr, cust.seg
    n = len(signup)
    addon = rng.random(n) < 0.15
    addon_start = signup + rng.integers(30, 400, size=n)
    addon &= addon_start < np.minimum(churn, D)
    a_idx = np.flatnonzero(addon)
    sub_cust = np.concatenate([np.arange(n), a_idx])
    sub_start = np.concatenate([signup, addon_start[a_idx]])
    sub_end = churn[sub_cust]  # every subscription ends when the customer leaves
    sub_base = np.concatenate([base_mrr, np.round(base_mrr[a_idx] * 0.25 / 10) * 10])
    plan = np.concatenate([np.asarray(["Starter", "Growth", "Enterprise"])[seg], np.full(len(a_idx), "Analytics Add-on")])
    n_sub = len(sub_cust)
    sub_churned = sub_end < D
    sub_id = np.arange(1, n_sub + 1)
    return _Plans(sub_cust, sub_start, sub_end, sub_base, plan, sub_churned, sub_id)


def _mrr_events(rng, cal: _Calendar, cust: _Customers, plans: _Plans) -> tuple[_Table, _Movements]:
    """MRR movements: new, expansion, contraction, churn."""
    D = cal.n_days
    sub_cust, sub_start, sub_end, sub_base, sub_churned, sub_id = (
        plans.cust, plans.start, plans.end, plans.base, plans.churned, plans.id)
    n_sub = len(sub_cust)
    active_end = np.minimum(sub_end, D)
    active_days = active_end - sub_start
    k = np.where(active_days > 45, rng.poisson(np.maximum(active_days, 0) / 30.44 * 0.13), 0)
    ev_sub = np.repeat(np.arange(n_sub), k)
    ev_day = sub_start[ev_sub] + 30 + np.floor(rng.random(len(ev_sub)) * (active_days[ev_sub] - 31)).astype("int64")
    expand = rng.random(len(ev_sub)) < 0.68
    ev_delta = np.round(np.where(expand, rng.uniform(.10, .50, len(ev_sub)), -rng.uniform(.05, .25, len(ev_sub)))
                        * sub_base[ev_sub])
    order = np.lexsort((ev_day, ev_sub))
    ev_sub, ev_day, ev_delta, expand = ev_sub[order], ev_day[order], ev_delta[order], expand[order]
    level = sub_base[ev_sub] + pd.Series(ev_delta).groupby(ev_sub).cumsum().to_numpy()
    # Dropping a contraction only raises later levels, so one pass keeps every level >= 30% of base.
    keep = expand | (level >= 0.3 * sub_base[ev_sub])
    ev_sub, ev_day, ev_delta, expand = ev_sub[keep], ev_day[keep], ev_delta[keep], expand[keep]
    change_total = np.bincount(ev_sub, weights=ev_delta, minlength=n_sub)
    ch_idx = np.flatnonzero(sub_churned)
    e_sub = np.concatenate([np.arange(n_sub), ev_sub, ch_idx])
    e_day = np.concatenate([sub_start, ev_day, sub_end[ch_idx]])
    e_delta = np.concatenate([sub_base, ev_delta, -(sub_base[ch_idx] + change_total[ch_idx])])
    e_kind = np.concatenate([np.full(n_sub, "new"), np.where(expand, "expansion", "contraction"),
                             np.full(len(ch_idx), "churn")])
    # a churn and an expansion on the same day must apply expansion first
    kind_rank = np.select([e_kind == "new", e_kind == "churn"], [0, 2], 1)
    order = np.lexsort((kind_rank, e_day, e_sub))
    e_sub, e_day, e_delta, e_kind = e_sub[order], e_day[order], e_delta[order], e_kind[order]
    e_level = pd.Series(e_delta).groupby(e_sub).cumsum().to_numpy()
    ec = sub_cust[e_sub]
    table = (pd.DataFrame({
        "event_id": np.arange(1, len(e_sub) + 1), "subscription_id": sub_id[e_sub], "customer_id": ec + 1,
        "day": e_day, "kind": e_kind, "mrr_delta": e_delta, "region": cust.region[ec], "segment": cust.segment[ec],
    }), ["day"], [])
    return table, _Movements(e_sub, e_day, e_delta, e_level, change_total)


def _subscriptions(plans: _Plans, moves: _Movements) -> _Table:
    sub_mrr_now = np.where(plans.churned, 0.0, plans.base + moves.change_total)
    return (pd.DataFrame({
        "subscription_id": plans.id, "customer_id": plans.cust + 1, "plan": plans.plan, "start_date": plans.start,
        "end_date": _nullable(plans.end, plans.churned), "starting_mrr": plans.base, "current_mrr": sub_mrr_now,
        "status": np.where(plans.churned, "cancelled", "active"),
    }), ["start_date", "end_date"], [])


def _company_mrr(cal: _Calendar, moves: _Movements) -> np.ndarray:
    """Company MRR per day: it drives spend, so costs grow with the business."""
    D = cal.n_days
    e_day, e_delta = moves.day, moves.delta
    in_win = (e_day >= 0) & (e_day < D)
    daily_delta = np.bincount(e_day[in_win], weights=e_delta[in_win], minlength=D)
    return e_delta[e_day < 0].sum() + np.cumsum(daily_delta)


def _invoices(rng, cal: _Calendar, cust: _Customers, plans: _Plans, moves: _Movements) -> tuple[_Table, _Bills]:
    """Monthly invoices on the subscription anniversary, billed at the subscription's MRR that day."""
    D = cal.n_days
    sub_cust, sub_start, sub_id = plans.cust, plans.start, plans.id
    n_sub = len(sub_cust)
    active_end = np.minimum(plans.end, D)
    start64 = cal.origin64 + sub_start
    m0 = start64.astype("M8[M]")
    dom = (start64 - m0.astype("M8[D]")).astype("int64")
    k_lo = np.maximum(0, (-sub_start) // 31 - 1)  # skip months wholly before the window
    k_hi = np.maximum(0, (active_end - sub_start) // 28 + 2)
    n_k = np.maximum(0, k_hi - k_lo)
    i_sub = np.repeat(np.arange(n_sub), n_k)
    i_k = k_lo[i_sub] + (np.arange(len(i_sub)) - np.repeat(np.cumsum(n_k) - n_k, n_k))
    mon = m0[i_sub] + i_k
    bill = np.minimum(mon.astype("M8[D]") + dom[i_sub], (mon + 1).astype("M8[D]") - 1)
    i_day = (bill - cal.origin64).astype("int64")
    ok = (i_day >= 0) & (i_day < active_end[i_sub])
    i_sub, i_day = i_sub[ok], i_day[ok]
    # amount = subscription MRR on the billing day: latest event at or before it
    key_ev = moves.sub.astype("int64") * 100000 + (moves.day + 5000)
    key_inv = i_sub.astype("int64") * 100000 + (i_day + 5000)
    pos = np.searchsorted(key_ev, key_inv, side="right") - 1
    amount = moves.level[pos]
    ic = sub_cust[i_sub]
    iseg = cust.seg[ic]
    n_inv = len(i_sub)
    terms = np.array([0, 15, 30])[iseg]
    delay = np.where(iseg == 0, rng.integers(0, 3, n_inv),
                     np.maximum(0, terms + np.round(rng.normal(2, 8, n_inv)))).astype("int64")
    fails = rng.random(n_inv) < np.array([0.02, 0.01, 0.005])[iseg]
    paid_day = i_day + delay
    paid = ~fails & (paid_day < D)
    due = i_day + terms
    status = np.where(paid, "paid", np.where(due < D - 1, "overdue", "open"))
    inv_id = np.arange(1, n_inv + 1)
    table = (pd.DataFrame({
        "invoice_id": inv_id, "customer_id": ic + 1, "subscription_id": sub_id[i_sub], "issue_date": i_day,
        "due_date": due, "amount": amount, "status": status, "region": cust.region[ic], "segment": cust.segment[ic],
    }), ["issue_date", "due_date"], [])
    return table, _Bills(inv_id, ic, iseg, amount, paid_day, paid)


def _payments(rng, cust: _Customers, bills: _Bills) -> _Table:
    ic, iseg = bills.cust, bills.seg
    p_idx = np.flatnonzero(bills.paid)
    return (pd.DataFrame({
        "payment_id": np.arange(1, len(p_idx) + 1), "invoice_id": bills.inv_id[p_idx], "customer_id": ic[p_idx] + 1,
        "paid_date": bills.paid_day[p_idx], "amount": bills.amount[p_idx],
        "method": np.where(iseg[p_idx] == 0, "card", _choice(rng, ["ach", "wire"], len(p_idx))),
        "region": cust.region[ic[p_idx]],
    }), ["paid_date"], [])


def _employees(rng, cal: _Calendar, scale: float) -> tuple[_Table, _Staff]:
    D = cal.n_days
    h_target = max(12, _TARGET["employees"] * scale)
    n_legacy = int(h_target * 0.60)
    hires = cal.counts(rng, h_target * 0.80, growth=0.45)
    hires[cal.dow >= 5] = 0  # nobody starts on a weekend
    hire = np.concatenate([-rng.integers(1, 6 * 365, n_legacy), np.repeat(np.arange(D), hires)])
    n_emp = len(hire)
    tenure = np.ceil(rng.exponential(365.25 / 0.13, n_emp)).astype("int64") + 60
    term = hire + tenure
    # keep the pre-window staff mostly employed so headcount starts at a realistic level
    term = np.where((hire < 0) & (term < 0), term + 6 * 365, term)
    termed = term < D
    dept_names = np.asarray(list(_DEPT_P))
    emp_dept = dept_names[rng.choice(6, n_emp, p=list(_DEPT_P.values()))]
    emp_region = _choice(rng, REGIONS, n_emp, p=(.50, .28, .14, .08))
    dept_salary = {"Engineering": 150000, "Sales": 110000, "Marketing": 105000, "Support": 70000,
                   "Finance": 115000, "Operations": 95000}
    region_factor = {"NA": 1.0, "EMEA": 0.85, "APAC": 0.7, "LATAM": 0.5}
    salary = np.round(np.array([dept_salary[d] for d in emp_dept]) * np.array([region_factor[r] for r in emp_region])
                      * rng.lognormal(0, 0.18, n_emp), -2)
    table = (pd.DataFrame({
        "employee_id": np.arange(1, n_emp + 1),
        "name": _strcat(_choice(rng, _FIRST, n_emp), " ", _choice(rng, _LAST, n_emp)),
        "department": emp_dept, "region": emp_region,
        "title": _strcat(emp_dept, np.where(rng.random(n_emp) < 0.15, " Manager", " Specialist")),
        "hire_date": hire, "termination_date": _nullable(term, termed), "salary": salary,
    }), ["hire_date", "termination_date"], [])
    return table, _Staff(hire, term, emp_dept, emp_region, salary)


def _deal_flow(rng, cal: _Calendar, scale: float) -> _DealFlow:
    """Deals created daily; each advances stage by stage until it is lost or won."""
    D = cal.n_days
    dcount = cal.counts(rng, max(30, _TARGET["deals"] * scale), growth=0.40)
    d_created = np.repeat(np.arange(D), dcount)
    n_deal = len(d_created)
    d_seg = rng.choice(3, n_deal, p=(.55, .33, .12))
    d_region = _choice(rng, REGIONS, n_deal, p=(.46, .30, .15, .09))
    d_amount = np.round(12 * np.exp(rng.normal(np.log([280, 2000, 10000])[d_seg], 0.5)), -1)
    advance = rng.random((n_deal, 4)) < np.array([0.65, 0.70, 0.75, 0.60])
    reached = np.cumprod(advance, axis=1).sum(axis=1)  # 0 = Prospecting only ... 4 = Closed Won
    dwell = np.ceil(rng.gamma(2.0, [4, 7, 9, 8], (n_deal, 4))).astype("int64")
    enter = d_created[:, None] + np.concatenate([np.zeros((n_deal, 1), "int64"), np.cumsum(dwell, axis=1)], axis=1)
    won = reached == 4
    last_enter = enter[np.arange(n_deal), reached]
    lost_day = last_enter + np.ceil(rng.gamma(2.0, 6, n_deal)).astype("int64")
    close_day = np.where(won, last_enter, lost_day)
    closed = close_day < D
    return _DealFlow(d_created, d_seg, d_region, d_amount, reached, enter, won, close_day, closed)


def _deal_stage_history(cal: _Calendar, flow: _DealFlow) -> tuple[_Table, np.ndarray]:
    """Each reached stage that has happened by end_date, plus Closed Lost; -> (table, current stage per deal)."""
    D = cal.n_days
    reached, enter, won, close_day, closed = flow.reached, flow.enter, flow.won, flow.close_day, flow.closed
    n_deal = len(flow.created)
    h_rows = np.repeat(np.arange(n_deal), reached + 1)
    h_stage_i = np.arange(len(h_rows)) - np.repeat(np.cumsum(reached + 1) - (reached + 1), reached + 1)
    h_day = enter[h_rows, h_stage_i]
    h_stage = np.asarray(DEAL_STAGES)[h_stage_i]
    lost = ~won & closed
    l_idx = np.flatnonzero(lost)
    h_rows = np.concatenate([h_rows, l_idx])
    h_day = np.concatenate([h_day, close_day[l_idx]])
    h_stage = np.concatenate([h_stage, np.full(len(l_idx), "Closed Lost")])
    h_order_i = np.concatenate([h_stage_i, np.full(len(l_idx), 5)])
    hv = h_day < D
    h_rows, h_day, h_stage, h_order_i = h_rows[hv], h_day[hv], h_stage[hv], h_order_i[hv]
    srt = np.lexsort((h_order_i, h_rows))
    h_rows, h_day, h_stage, h_order_i = h_rows[srt], h_day[srt], h_stage[srt], h_order_i[srt]
    # current stage = the last history row of each deal
    last_of = np.r_[h_rows[1:] != h_rows[:-1], True]
    cur_stage = np.empty(n_deal, dtype=object)
    cur_stage[h_rows[last_of]] = h_stage[last_of]
    deal_id = np.arange(1, n_deal + 1)
    table = (pd.DataFrame({
        "deal_id": deal_id[h_rows], "stage": h_stage, "stage_order": h_order_i, "entered_date": h_day,
    }), ["entered_date"], [])
    return table, cur_stage


def _deals(rng, flow: _DealFlow, cur_stage: np.ndarray, staff: _Staff) -> _Table:
    n_deal = len(flow.created)
    d_seg = flow.seg
    sales_reps = np.flatnonzero(staff.dept == "Sales") + 1
    deal_id = np.arange(1, n_deal + 1)
    return (pd.DataFrame({
        "deal_id": deal_id,
        "name": _strcat(_choice(rng, _NAME_A, n_deal), " ", _choice(rng, _NAME_B, n_deal), " - ",
                        np.asarray(["Starter", "Growth", "Enterprise"])[d_seg]),
        "region": flow.region, "segment": np.asarray(SEGMENTS)[d_seg],
        "source": _choice(rng, ["Inbound", "Outbound", "Partner"], n_deal, p=(.5, .35, .15)),
        "owner_id": sales_reps[rng.integers(0, len(sales_reps), n_deal)] if len(sales_reps) else 0,
        "amount": flow.amount, "stage": cur_stage.astype(str), "created_date": flow.created,
        "close_date": _nullable(flow.close_day, flow.closed), "is_closed": flow.closed, "is_won": flow.won & flow.closed,
    }), ["created_date", "close_date"], [])


def _expenses(rng, cal: _Calendar, scale: float, staff: _Staff, company_mrr: np.ndarray) -> _Table:
    """Payroll lines per employee and pay day, plus operating lines that scale with MRR."""
    D = cal.n_days
    hire, term, salary, emp_dept = staff.hire, staff.term, staff.salary, staff.dept
    n_emp = len(hire)
    m_first, m_last = _month_bounds(cal)
    # semi-monthly payroll (15th and last day) so month-to-date spend compares like with like
    pay_days = np.sort(np.concatenate([m_first + 14, m_last]))
    pay_days = pay_days[pay_days < D]
    pe, pm = np.meshgrid(np.arange(n_emp), np.arange(len(pay_days)), indexing="ij")
    pe, pm = pe.ravel(), pm.ravel()
    active = (hire[pe] <= pay_days[pm]) & (term[pe] > pay_days[pm])
    pe, pm = pe[active], pm[active]
    pay_amt = np.round(salary[pe] / 24 * 1.2, 2)  # loaded cost: salary plus benefits and taxes
    pay_dept = emp_dept[pe]
    weights = company_mrr.clip(min=1) * cal.weekly
    x_counts = rng.poisson(weights * (max(50, _TARGET["expense_lines"] * scale) / weights.sum()))
    x_day = np.repeat(np.arange(D), x_counts)
    nx = len(x_day)
    x_dept_i = rng.choice(6, nx, p=_EXPENSE_DEPT_P)
    x_cat = np.empty(nx, dtype=object)
    x_med = np.empty(nx)
    x_cogs = np.empty(nx, dtype=bool)
    for di, dname in enumerate(DEPARTMENTS):
        idx = np.flatnonzero(x_dept_i == di)
        cats = _EXPENSE_CATEGORIES[dname]
        w = np.array([c[1] for c in cats], float)
        ci = rng.choice(len(cats), len(idx), p=w / w.sum())
        x_cat[idx] = np.array([c[0] for c in cats], dtype=object)[ci]
        x_med[idx] = np.array([c[2] for c in cats])[ci]
        x_cogs[idx] = np.array([c[3] for c in cats])[ci]
    x_amt = x_med * rng.lognormal(0, 0.6, nx)
    # Non-payroll spend is ~68% of revenue: with payroll on top the company burns, less each quarter.
    revenue_total = float(company_mrr.sum() / 30.44)
    x_amt = np.round(x_amt * (0.68 * revenue_total / max(x_amt.sum(), 1.0)), 2)
    x_region = _choice(rng, REGIONS, nx, p=(.5, .27, .15, .08))
    return (pd.DataFrame({
        "expense_id": np.arange(1, len(pe) + nx + 1),
        "day": np.concatenate([pay_days[pm], x_day]),
        "department": np.concatenate([pay_dept, np.asarray(DEPARTMENTS)[x_dept_i]]),
        "category": np.concatenate([np.full(len(pe), "Payroll", dtype=object), x_cat]).astype(str),
        "vendor": np.concatenate([np.full(len(pe), "Payroll", dtype=object),
                                  _strcat(_choice(rng, _NAME_A, nx), " ", _choice(rng, _NAME_B, nx))]).astype(str),
        "amount": np.concatenate([pay_amt, x_amt]),
        # support staff serve existing customers, so their pay is cost of revenue
        "is_cogs": np.concatenate([pay_dept == "Support", x_cogs]),
        "region": np.concatenate([staff.region[pe], x_region]),
    }), ["day"], [])


def _incidents(rng, cal: _Calendar, scale: float) -> tuple[_Table, _Incidents]:
    D = cal.n_days
    inc_rate = 0.5 * min(1.0, 0.35 + scale)
    ic_count = rng.poisson(inc_rate * cal.weekly / cal.weekly.mean())
    ic_day = np.repeat(np.arange(D), ic_count)
    n_inc = len(ic_day)
    svc_names = _SERVICE_NAMES
    ic_svc = rng.choice(len(SERVICES), n_inc, p=np.array([3, 3, 2, 2, 2, 2, 1, 1, 2, 2]) / 20)
    ic_sev = rng.choice(4, n_inc, p=(.02, .10, .35, .53))
    opened = ic_day * 86400 + rng.integers(0, 86400, n_inc)
    res_h = np.clip(rng.lognormal(np.log(np.array([2.5, 1.8, 5.0, 20.0])[ic_sev]), 0.6), 0.1, 72)
    downtime = np.round(res_h * 60 * np.select([ic_sev == 0, ic_sev == 1, ic_sev == 2],
                                               [rng.uniform(.6, 1, n_inc), rng.uniform(.1, .4, n_inc),
                                                rng.uniform(0, .05, n_inc)], 0.0))
    # Incidents that matter: a sev1 with hours of downtime this month and one a few months ago.
    last = D - 1
    big_day = last - (cal.end_date.day - 1) // 2
    forced = [(big_day, 0, 0, 4.6, 0.95), (max(0, last - 150), 3, 0, 2.2, 0.9)]
    for fday, fsvc, fsev, fh, fdown in forced:
        ic_day = np.append(ic_day, fday)
        ic_svc = np.append(ic_svc, fsvc)
        ic_sev = np.append(ic_sev, fsev)
        opened = np.append(opened, fday * 86400 + 14 * 3600 + 1260)
        res_h = np.append(res_h, fh)
        downtime = np.append(downtime, round(fh * 60 * fdown))
    order = np.argsort(opened, kind="stable")
    ic_day, ic_svc, ic_sev, opened, res_h, downtime = (a[order] for a in (ic_day, ic_svc, ic_sev, opened, res_h, downtime))
    n_inc = len(ic_day)
    resolved = opened + np.round(res_h * 3600).astype("int64")
    is_resolved = resolved < D * 86400
    title_tpl = np.array(["outage of {s}", "degraded performance on {s}", "elevated error rate in {s}",
                          "latency spike in {s}"])
    titles = np.array([title_tpl[sv].format(s=svc_names[s]).capitalize() for sv, s in zip(ic_sev, ic_svc)])
    table = (pd.DataFrame({
        "incident_id": np.arange(1, n_inc + 1), "service": svc_names[ic_svc], "severity": np.asarray(SEVERITIES)[ic_sev],
        "title": titles, "opened_at": opened, "resolved_at": _nullable(resolved, is_resolved),
        "downtime_minutes": downtime.astype("int64"), "region": _choice(rng, REGIONS, n_inc, p=(.5, .27, .15, .08)),
        "root_cause": _choice(rng, ["deploy", "capacity", "dependency", "config", "hardware"], n_inc),
        "status": np.where(is_resolved, "resolved", "open"),
    }), [], ["opened_at", "resolved_at"])
    return table, _Incidents(ic_day, ic_svc, ic_sev, opened, resolved, is_resolved)


def _services() -> _Table:
    return (pd.DataFrame({
        "service_id": np.arange(1, len(SERVICES) + 1), "name": _SERVICE_NAMES,
        "tier": [s[1] for s in SERVICES], "owner_department": [s[2] for s in SERVICES],
    }), [], [])


def _service_status_history(cal: _Calendar, inc: _Incidents) -> _Table:
    """Operational from the start, monthly maintenance, outages/degradations for sev1/sev2."""
    D = cal.n_days
    ic_svc, ic_sev, opened, resolved, is_resolved = inc.svc, inc.sev, inc.opened, inc.resolved, inc.is_resolved
    s_rows = [(i, 0, "operational", 0) for i in range(len(SERVICES))]
    maint_days, _ = _month_bounds(cal)
    for i in range(len(SERVICES)):
        for md in maint_days + 9 + i:  # staggered maintenance windows, 02:00-02:30
            if md < D and md * 86400 + 9000 < D * 86400:
                s_rows.append((i, md * 86400 + 7200, "maintenance", 0))
                s_rows.append((i, md * 86400 + 9000, "operational", 0))
    for j in np.flatnonzero(ic_sev <= 1):
        s_rows.append((int(ic_svc[j]), int(opened[j]), "outage" if ic_sev[j] == 0 else "degraded", j + 1))
        if is_resolved[j]:
            s_rows.append((int(ic_svc[j]), int(resolved[j]), "operational", j + 1))
    sh = pd.DataFrame(s_rows, columns=["svc", "changed_at", "status", "incident_id"]).sort_values(["svc", "changed_at"], kind="stable")
    return (pd.DataFrame({
        "service": _SERVICE_NAMES[sh["svc"].to_numpy()], "changed_at": sh["changed_at"].to_numpy(),
        "status": sh["status"].to_numpy().astype(str),
        "incident_id": _nullable(sh["incident_id"].to_numpy(), sh["incident_id"].to_numpy() > 0),
    }), [], ["changed_at"])


def _support_tickets(rng, cal: _Calendar, scale: float, cust: _Customers, inc: _Incidents) -> _Table:
    """Proportional to the customer base, with bursts on big incident days."""
    D = cal.n_days
    signup = cust.signup
    order_c = np.argsort(signup, kind="stable")
    signed_by_day = np.searchsorted(np.sort(signup), np.arange(D), side="right")
    base_w = signed_by_day * cal.weekly
    t_counts = rng.poisson(base_w * (max(50, _TARGET["tickets"] * scale) / base_w.sum()))
    for j in np.flatnonzero(inc.sev <= 1):
        t_counts[inc.day[j]] += rng.poisson((60 if inc.sev[j] == 0 else 15) * max(scale, 0.1))
    t_day = np.repeat(np.arange(D), t_counts)
    nt = len(t_day)
    t_cust = order_c[(rng.random(nt) * np.maximum(signed_by_day[t_day], 1)).astype("int64")]
    t_open = t_day * 86400 + rng.integers(0, 86400, nt)
    t_prio_i = rng.choice(4, nt, p=(.35, .45, .15, .05))
    t_res = t_open + np.round(rng.lognormal(np.log(np.array([30, 16, 6, 2.5])[t_prio_i]), 0.8) * 3600).astype("int64")
    t_done = t_res < D * 86400
    csat = rng.choice(5, nt, p=(.04, .06, .15, .35, .40)) + 1
    has_csat = t_done & (rng.random(nt) < 0.35)
    return (pd.DataFrame({
        "ticket_id": np.arange(1, nt + 1), "customer_id": t_cust + 1, "opened_at": t_open,
        "resolved_at": _nullable(t_res, t_done),
        "first_response_minutes": np.round(rng.lognormal(np.log(np.array([240, 120, 45, 15])[t_prio_i]), 0.7)).astype("int64"),
        "priority": np.asarray(["low", "normal", "high", "urgent"])[t_prio_i],
        "channel": _choice(rng, ["email", "chat", "phone", "web"], nt, p=(.4, .35, .1, .15)),
        "category": _choice(rng, ["billing", "bug", "how-to", "feature request", "account"], nt, p=(.15, .3, .3, .1, .15)),
        "status": np.where(t_done, "resolved", "open"), "csat": _nullable(csat, has_csat),
        "region": cust.region[t_cust], "segment": cust.segment[t_cust],
    }), [], ["opened_at", "resolved_at"])


FACT_TABLES = ("customers", "subscriptions", "mrr_events", "deals", "deal_stage_history", "invoices", "payments",
               "expenses", "incidents", "service_status_history", "support_tickets", "employees")


def generate(path: str | os.PathLike, tenant: str, scale: float = 1.0, end_date: dt.date | None = None) -> dict[str, int]:
    """Write the tenant's demo warehouse to `path` atomically; return table -> row count."""
    import duckdb

    if scale <= 0:
        raise ValueError(f"scale must be positive, got {scale}")
    end_date = end_date or dt.date.today()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(np.random.SeedSequence([tenant_seed(tenant), 2026]))
    cal = _Calendar(end_date)
    tables = _build(rng, cal, scale)

    # Build beside the target and rename: readers never see a half-written warehouse.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    counts: dict[str, int] = {}
    try:
        con = duckdb.connect(str(tmp))
        try:
            origin = cal.origin.isoformat()
            for name, (df, day_cols, sec_cols) in tables.items():
                con.register("_src", df)
                repl = [f"(DATE '{origin}' + {c}::INTEGER) AS {c}" for c in day_cols]
                repl += [f"(TIMESTAMP '{origin}' + to_seconds({c}::BIGINT)) AS {c}" for c in sec_cols]
                select = f"SELECT * REPLACE ({', '.join(repl)}) FROM _src" if repl else "SELECT * FROM _src"
                con.execute(f"CREATE TABLE {name} AS {select}")
                con.unregister("_src")
                counts[name] = len(df)
            con.execute("CREATE TABLE warehouse_info AS SELECT ?::VARCHAR AS tenant, ?::DOUBLE AS scale, "
                        "?::DATE AS start_date, ?::DATE AS end_date, now()::TIMESTAMP AS generated_at",
                        [tenant, scale, cal.origin, end_date])
            con.execute("CHECKPOINT")
        finally:
            con.close()
        os.replace(tmp, path)
    finally:
        for leftover in (tmp, Path(str(tmp) + ".wal")):
            if leftover.exists():
                leftover.unlink()
    return counts


def fact_rows(counts: dict[str, int]) -> int:
    return sum(v for k, v in counts.items() if k in FACT_TABLES)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="penny-demo-data", description="Generate a tenant's demo warehouse.")
    ap.add_argument("--tenant", default="demo")
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--data-dir", required=True, help="Penny data dir; the file goes to DIR/warehouses/TENANT.duckdb")
    ap.add_argument("--as-of", default="", help="last day of data (YYYY-MM-DD); default today")
    args = ap.parse_args(argv)
    from ..tenancy import check_tenant_name

    check_tenant_name(args.tenant)
    end = dt.date.fromisoformat(args.as_of) if args.as_of else dt.date.today()
    out = Path(args.data_dir).expanduser() / "warehouses" / f"{args.tenant}.duckdb"
    t0 = time.perf_counter()
    counts = generate(out, args.tenant, args.scale, end)
    secs = time.perf_counter() - t0
    for name, c in counts.items():
        print(f"{name:24s} {c:>10,d}")
    print(f"{'fact rows':24s} {fact_rows(counts):>10,d}")
    print(f"wrote {out} in {secs:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
