"""The built-in router: the seed's requests and everyday paraphrases land on the right tool call."""

from __future__ import annotations

import pytest

from penny_jupyter.models.builtin import CLARIFY_BELOW, BuiltinRouter, Clarification, Route

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


QM = "query_metric"
METRIC_CASES = [
    ("revenue by month this year", QM, {"metric": "revenue", "period": "YTD", "grain": "month"}),
    ("churn by region last quarter", QM, {"metric": "churn", "period": "previous quarter", "by": "region"}),
    ("top 10 customers by ARR", QM, {"metric": "arr", "by": "customer", "top": 10}),
    ("MRR trend last 6 months", QM, {"metric": "mrr", "period": "last 6 months"}),
    ("new customers by segment QTD", QM, {"metric": "new_customers", "period": "QTD", "by": "segment"}),
    ("win rate by region this year", QM, {"metric": "win_rate", "period": "YTD", "by": "region"}),
    ("Revenue By Month This Year", QM, {"metric": "revenue", "period": "YTD", "grain": "month"}),
    ("REVENUE BY MONTH YTD", QM, {"metric": "revenue", "period": "YTD", "grain": "month"}),
    ("revnue by month this year", QM, {"metric": "revenue", "period": "YTD", "grain": "month"}),
    ("churn by regoin last quater", QM, {"metric": "churn", "period": "previous quarter", "by": "region"}),
    ("top 10 custmers by arr", QM, {"metric": "arr", "by": "customer", "top": 10}),
    ("top five regions by revenue", QM, {"metric": "revenue", "by": "region", "top": 5}),
    ("sales by segment previous year", QM, {"metric": "revenue", "period": "previous year", "by": "segment"}),
    ("spend by department last 3 months", QM, {"metric": "spend", "period": "last 3 months", "by": "department"}),
    ("incidents by severity over the past 30 days", QM,
     {"metric": "incidents", "period": "last 30 days", "by": "severity"}),
    ("weekly tickets last 8 weeks", QM, {"metric": "tickets", "period": "last 8 weeks", "grain": "week"}),
    ("revenue in EMEA by month", QM, {"metric": "revenue", "grain": "month", "filters": {"region": "EMEA"}}),
    ("monthly recurring revenue trend this year", QM, {"metric": "mrr", "period": "YTD"}),
    ("headcount by department", QM, {"metric": "headcount", "by": "department"}),
    ("show me the pipeline by region", QM, {"metric": "pipeline", "by": "region"}),
    ("quarterly revenue last 2 years", QM, {"metric": "revenue", "period": "last 2 years", "grain": "quarter"}),
    ("ARR last month", QM, {"metric": "arr", "period": "previous month"}),
    ("net burn by region last month", QM, {"metric": "burn", "period": "previous month", "by": "region"}),
    ("MTTR by service this quarter", QM, {"metric": "mttr", "period": "QTD", "by": "service"}),
    ("biggest customers by revenue this year", QM, {"metric": "revenue", "period": "YTD", "by": "customer", "top": 10}),
    ("what data do you have?", "describe_data", {}),
    ("What tables are there", "describe_data", {}),
    ("which metrics can I ask about", "describe_data", {}),
    ("SELECT * FROM customers", "run_sql", {"query": "SELECT * FROM customers"}),
    ("select region, sum(amount) from invoices group by 1;", "run_sql",
     {"query": "select region, sum(amount) from invoices group by 1"}),
    ("with x as (select 1 as a) select * from x", "run_sql", {"query": "with x as (select 1 as a) select * from x"}),
    ("FROM invoices LIMIT 5", "run_sql", {"query": "FROM invoices LIMIT 5"}),
    ("can you run this?\n```sql\nselect count(*) from deals\n```", "run_sql", {"query": "select count(*) from deals"}),
]


@pytest.mark.parametrize("text,tool,params", CASES + METRIC_CASES)
def test_routes(text, tool, params):
    route = BuiltinRouter(units=UNITS).route(text)
    assert isinstance(route, Route), (text, route)
    assert (route.tool, route.params) == (tool, params)


@pytest.mark.parametrize("text", ["what's the weather in Lisbon?", "write me a poem", "hello"])
def test_unroutable(text):
    assert BuiltinRouter(units=UNITS).route(text) is None


@pytest.mark.parametrize("text", ["select the top customers from EMEA", "With EMEA, what did revenue do?"])
def test_english_that_starts_like_sql_is_not_sql(text):
    route = BuiltinRouter(units=UNITS).route(text)
    assert not isinstance(route, Route) or route.tool != "run_sql"


def test_confidence_reflects_how_sure_the_router_is():
    r = BuiltinRouter(units=UNITS)
    exact = r.route("churn by region last quarter")
    typo = r.route("churn by regoin last quater")
    sql = r.route("SELECT 1")
    assert sql.confidence > exact.confidence > typo.confidence
    assert all(CLARIFY_BELOW <= x.confidence <= 1 for x in (exact, typo, sql))
    # a bare metric is below the bar: the router asks instead of guessing a period
    assert isinstance(r.route("revenue"), Clarification)


CLARIFY = ["revenue", "churn?", "what's our MRR", "top 10", "by region", "last quarter", "EMEA", "show me a chart",
           "show me the sales and finance dashboards", "compare", "Engineering"]


@pytest.mark.parametrize("text", CLARIFY)
def test_ambiguous_requests_get_a_clarifying_question_whose_suggestions_route(text):
    r = BuiltinRouter(units=UNITS)
    c = r.route(text)
    assert isinstance(c, Clarification), (text, c)
    assert c.question.endswith("?") and 2 <= len(c.suggestions) <= 4
    for s in c.suggestions:  # every suggestion is a full request the router acts on
        assert isinstance(r.route(s), Route), (text, s, r.route(s))


def test_two_dashboards_equally_likely_are_offered_both():
    c = BuiltinRouter(units=UNITS).route("show me the sales and finance dashboards")
    assert c.suggestions == ["open the sales funnel dashboard", "open the finance snapshot dashboard"]


@pytest.mark.parametrize("text,params", [
    ("revenue from 2026-01-01 to 2026-03-31", {"metric": "revenue", "start": "2026-01-01", "end": "2026-03-31"}),
    ("revenue in Q2 2025", {"metric": "revenue", "start": "2025-04-01", "end": "2025-06-30"}),
    ("revenue for feb 2024", {"metric": "revenue", "start": "2024-02-01", "end": "2024-02-29"}),
    ("revenue since 2026-06-01 by region", {"metric": "revenue", "start": "2026-06-01", "by": "region"}),
    ("revenue on 2026-02-03", {"metric": "revenue", "start": "2026-02-03", "end": "2026-02-03"}),
    ("mrr last twenty-four months", {"metric": "mrr", "period": "last 24 months"}),
    ("top fifteen customers by arr", {"metric": "arr", "by": "customer", "top": 15}),
    ("revenue ytd vs last year", {"metric": "revenue", "period": "YTD", "compare": "previous_year"}),
    ("revenue last qtr no comparison", {"metric": "revenue", "period": "previous quarter", "compare": "none"}),
])
def test_dates_numbers_and_comparisons(text, params):
    route = BuiltinRouter(units=UNITS).route(text)
    assert isinstance(route, Route) and (route.tool, route.params) == ("query_metric", params)


@pytest.mark.parametrize("text", ["delete all data", "drop the churn dashboard", "write a poem about revenue",
                                  "tell me a joke about sales", "what can you do?"])
def test_destructive_and_off_topic_requests_get_the_help_reply(text):
    assert BuiltinRouter(units=UNITS).route(text) is None


@pytest.mark.parametrize("text", ["drop table invoices", "DELETE FROM customers WHERE 1=1",
                                  "insert into deals values (1)", "update invoices set amount = 0",
                                  "truncate table support_tickets"])
def test_sql_that_writes_goes_to_run_sql_which_refuses_it(text):
    route = BuiltinRouter(units=UNITS).route(text)
    assert isinstance(route, Route) and (route.tool, route.params) == ("run_sql", {"query": text})


def test_router_params_validate_against_the_tools_params_models():
    from penny_jupyter.tools.dashboards import DashboardParams
    from penny_jupyter.tools.kpis import KpiParams
    from penny_jupyter.tools.metrics import QueryMetricParams
    from penny_jupyter.tools.sql import SqlParams

    models = {"get_company_kpis": KpiParams, "load_dashboard": DashboardParams, "query_metric": QueryMetricParams,
              "run_sql": SqlParams}
    r = BuiltinRouter(units=UNITS)
    for text, _, _ in CASES + METRIC_CASES:
        route = r.route(text)
        if route.tool in models:
            models[route.tool].model_validate(route.params)


@pytest.mark.parametrize("text,code", [
    ("```python\nimport pandas as pd\nprint(1)\n```", "import pandas as pd\nprint(1)"),
    ("df = penny.sql('select 1')\npenny.show(df)", "df = penny.sql('select 1')\npenny.show(df)"),
    ("import numpy as np", "import numpy as np"),
])
def test_pasted_python_goes_to_the_sandbox(text, code):
    route = BuiltinRouter(units=UNITS).route(text)
    assert (route.tool, route.params) == ("run_python", {"code": code})


@pytest.mark.parametrize("text", ["plot revenue by month with a 3-month moving average", "x = total revenue please",
                                  "import the sales dashboard"])
def test_english_is_not_taken_for_python(text):
    route = BuiltinRouter(units=UNITS).route(text)
    assert route is None or getattr(route, "tool", None) != "run_python"


def test_a_start_date_without_a_year_is_its_latest_such_day():
    """'since March 1' is a start date (never MTD): this year's when it has passed, else last year's."""
    import datetime as dt

    from penny_jupyter.models.builtin import BuiltinRouter

    router = BuiltinRouter(today=lambda: dt.date(2026, 12, 1))
    cases = {"revenue since March 1": "2026-03-01", "new customers from 1st march": "2026-03-01",
             "spend since december 5": "2025-12-05", "tickets since june": "2026-06-01",
             "mrr from march 1 2025": "2025-03-01", "churn since 2 feb 2024": "2024-02-02"}
    for text, start in cases.items():
        route = router.route(text)
        assert route.tool == "query_metric" and route.params.get("start") == start, (text, route)
        assert "period" not in route.params and "end" not in route.params, (text, route)


def test_sql_inside_pasted_python_is_python_not_sql():
    from penny_jupyter.models.builtin import BuiltinRouter

    router = BuiltinRouter()
    code = 'df = penny.sql("SELECT region, sum(amount) FROM invoices GROUP BY 1")\npenny.show(df)'
    assert router.route(f"```python\n{code}\n```").tool == "run_python"
    assert router.route(code).tool == "run_python"
    assert router.route("please execute: SELECT 1").params == {"query": "SELECT 1"}


def test_a_range_is_any_two_days_joined_the_way_people_join_them():
    """One grammar for a day (ISO, 'jan 15 2026', '1st of march'), any connector; a yearless start takes the
    end's year, a yearless range ends in its latest such days."""
    import datetime as dt

    router = BuiltinRouter(today=lambda: dt.date(2026, 12, 1))
    cases = {
        "churn between jan 15 2026 and feb 15 2026": ("2026-01-15", "2026-02-15"),
        "revenue from 1st of march 2025 through 10 april 2025": ("2025-03-01", "2025-04-10"),
        "tickets between nov 20 and feb 3 2026": ("2025-11-20", "2026-02-03"),
        "spend from march 3 to april 9": ("2026-03-03", "2026-04-09"),
        "mrr 2026-01-01 until 2026-02-01": ("2026-01-01", "2026-02-01"),
    }
    for text, (start, end) in cases.items():
        route = router.route(text)
        assert route.tool == "query_metric" and (route.params.get("start"), route.params.get("end")) == (start, end), (
            text, route)


@pytest.mark.parametrize("text,params", [
    ("which 5 customers brought in the most revenue last quarter",
     {"metric": "revenue", "by": "customer", "top": 5, "period": "previous quarter"}),
    ("which 3 industries signed up the most new customers over the past 6 months",
     {"metric": "new_customers", "by": "industry", "top": 3, "period": "last 6 months"}),
    ("which 5 expense categories cost us the most this year", {"metric": "spend", "by": "category", "top": 5,
                                                              "period": "YTD"}),
    ("arr leaders by customer, top 10 pls", {"metric": "arr", "by": "customer", "top": 10}),
])
def test_top_n_with_a_verb_phrase_between_entity_and_superlative(text, params):
    route = BuiltinRouter(units=UNITS).route(text)
    assert (route.tool, route.params) == ("query_metric", params)


def test_a_metric_and_a_period_asked_as_a_question_is_one_number_even_for_a_dashboard_topic():
    router = BuiltinRouter(units=UNITS)
    assert router.route("uptime so far this year?").params == {"metric": "uptime", "period": "YTD"}
    assert router.route("each outage this month?").params == {"metric": "incidents", "period": "MTD"}  # singular
    assert router.route("any incidents this month?").tool == "load_dashboard"  # asks to see them
    assert router.route("uptime for billing this month by day").params["filters"] == {"service": "billing"}


@pytest.mark.parametrize("text", ["who won the world cup in 2018?", "where was I last month", "why is the sky blue today"])
def test_a_question_about_the_world_with_a_date_gets_the_help_reply(text):
    assert BuiltinRouter(units=UNITS).route(text) is None


@pytest.mark.parametrize("text,opening", [
    ("hello", "Hello!"), ("hey there, how's it going?", "Hello!"), ("thanks, that's perfect", "Glad it helped"),
    ("why did revenue drop?", "cannot say why"), ("why did gross margin drop?", "cannot say why"),
    ("asdfgh", "can't answer that one yet"), ("write a poem about revenue", "can't answer that one yet")])
def test_what_the_router_will_not_act_on_gets_a_short_reply_and_requests_to_click(text, opening):
    from penny_jupyter.models.builtin import help_reply

    router = BuiltinRouter(units=UNITS)
    assert router.route(text) is None
    sentence, suggestions = help_reply(router, text)
    assert sentence.startswith(opening) or opening in sentence
    assert len(sentence) < 100 and 2 <= len(suggestions) <= 4
    for s in suggestions:  # every button is a request the router acts on
        assert isinstance(router.route(s), Route), s
    if "why" in text:  # a why question gets breakdowns of its own metric
        metric = "revenue" if "revenue" in text else "gross_margin"
        assert all(router.route(s).params.get("metric") == metric for s in suggestions)
        assert any(router.route(s).params.get("by") for s in suggestions)
