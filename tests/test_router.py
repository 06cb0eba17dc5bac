"""The built-in router: the seed's requests and everyday paraphrases land on the right tool call."""

from __future__ import annotations

import pytest

from penny_jupyter.models.builtin import BuiltinRouter

UNITS = ["Engineering", "Sales", "Marketing", "Support", "Finance", "Operations", "NA", "EMEA", "APAC", "LATAM"]

CASES = [
    ("Show me company KPIs for this month", "get_company_kpis", {"period": "MTD", "unit": "company"}),
    ("show me company kpis for this month", "get_company_kpis", {"period": "MTD", "unit": "company"}),
    ("KPIs MTD", "get_company_kpis", {"period": "MTD", "unit": "company"}),
    ("what are our key metrics this quarter?", "get_company_kpis", {"period": "QTD", "unit": "company"}),
    ("company KPIs quarter to date", "get_company_kpis", {"period": "QTD", "unit": "company"}),
    ("How are we doing this year?", "get_company_kpis", {"period": "YTD", "unit": "company"}),
    ("YTD kpis", "get_company_kpis", {"period": "YTD", "unit": "company"}),
    ("KPIs for EMEA this quarter", "get_company_kpis", {"period": "QTD", "unit": "EMEA"}),
    ("engineering kpis", "get_company_kpis", {"period": "MTD", "unit": "Engineering"}),
    ("open the sales funnel dashboard", "load_dashboard", {"slug": "sales-funnel"}),
    ("show me the pipeline", "load_dashboard", {"slug": "sales-funnel"}),
    ("Open the ops incidents dashboard", "load_dashboard", {"slug": "ops-incidents"}),
    ("any outages lately?", "load_dashboard", {"slug": "ops-incidents"}),
    ("finance snapshot please", "load_dashboard", {"slug": "finance-snapshot"}),
    ("how's our burn this quarter", "load_dashboard", {"slug": "finance-snapshot", "period": "QTD"}),
    ("company health dashboard", "load_dashboard", {"slug": "company-health"}),
    ("open a dashboard", "load_dashboard", {"slug": "company-health"}),
]


@pytest.mark.parametrize("text,tool,params", CASES)
def test_routes(text, tool, params):
    route = BuiltinRouter(units=UNITS).route(text)
    assert route is not None, text
    assert (route.tool, route.params) == (tool, params)


@pytest.mark.parametrize("text", ["what's the weather in Lisbon?", "write me a poem", "hello"])
def test_unroutable(text):
    assert BuiltinRouter(units=UNITS).route(text) is None
