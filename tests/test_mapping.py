"""A company's own tables, described once (data/mapping.py): a second company whose tables and columns are named
nothing like the demo's answers from its own PostgreSQL through its mapping, checked against hand-written
queries; what it did not map says so in a sentence; a mistake in a mapping is a sentence naming where it is;
and one tenant's mapping never changes what another tenant's metrics mean."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from data_fixtures import AS_OF, config, data_dir  # noqa: F401,E402 (fixtures)
from pg_server import USER  # noqa: E402
from penny_jupyter.chat.prompt import system_prompt
from penny_jupyter.data import catalog, mapping
from penny_jupyter.data.warehouse import Warehouses
from penny_jupyter.errors import NotFound, PennyError, SourceConfigError
from penny_jupyter.tenancy import Principal
from penny_jupyter.tools.base import ToolContext
from penny_jupyter.tools.dashboards import LOAD_DASHBOARD, DashboardParams
from penny_jupyter.tools.kpis import GET_COMPANY_KPIS, KpiParams
from penny_jupyter.tools.metrics import DESCRIBE_DATA, QUERY_METRIC, DescribeDataParams, QueryMetricParams

READER = "globex_ro"

# Globex keeps its books in schemas of its own, with its own names: nothing here is the demo's.
SCHEMA = f"""
CREATE SCHEMA billing; CREATE SCHEMA crm; CREATE SCHEMA subs;
CREATE TABLE billing.invoice_lines (line_id int, invoiced_at timestamp, net_usd numeric(12,2), sales_region text,
                                    plan_tier text, state text);
INSERT INTO billing.invoice_lines
SELECT i, TIMESTAMP '2025-06-01 09:00' + (i * 37 % 540) * INTERVAL '1 day' + (i % 13) * INTERVAL '1 hour',
       round((100 + (i * 7919 % 4900))::numeric / 3, 2),
       (ARRAY['Americas', 'Europe'])[1 + i % 2], (ARRAY['Team', 'Business', 'Enterprise'])[1 + i % 3],
       CASE WHEN i % 11 = 0 THEN 'void' ELSE 'posted' END
FROM generate_series(1, 6000) AS i;
CREATE TABLE crm.opportunities (opp_id int, closed_on date, outcome text, territory text);
INSERT INTO crm.opportunities
SELECT i, DATE '2025-06-01' + (i * 53 % 540), (ARRAY['won', 'lost', 'lost', 'open'])[1 + i % 4],
       (ARRAY['Americas', 'Europe'])[1 + i % 2]
FROM generate_series(1, 1500) AS i;
CREATE TABLE subs.mrr_changes (changed_on date, mrr_change numeric(12,2), territory text);
INSERT INTO subs.mrr_changes
SELECT DATE '2025-01-01' + (i * 29 % 690), CASE WHEN i % 5 = 0 THEN -80 ELSE 120 END + i % 17,
       (ARRAY['Americas', 'Europe'])[1 + i % 2]
FROM generate_series(1, 3000) AS i;
DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{READER}') THEN CREATE ROLE "{READER}" LOGIN;
END IF; END $$;
GRANT USAGE ON SCHEMA billing, crm, subs TO "{READER}";
GRANT SELECT ON ALL TABLES IN SCHEMA billing, crm, subs TO "{READER}";
ANALYZE;
"""

MAPPING = {
    "metrics": {
        "revenue": {"table": "billing.invoice_lines", "time": "invoiced_at", "amount": "net_usd",
                    "dimensions": {"region": "sales_region", "segment": "plan_tier"}, "filter": "state <> 'void'"},
        "win_rate": {"table": "crm.opportunities", "time": "closed_on",
                     "numerator": "CASE WHEN outcome = 'won' THEN 1 ELSE 0 END", "denominator": "1",
                     "dimensions": {"region": "territory"}, "filter": "outcome IN ('won', 'lost')"},
        "mrr": {"table": "subs.mrr_changes", "time": "changed_on", "amount": "mrr_change",
                "dimensions": {"region": "territory"}},
        # a metric of Globex's own, over a SELECT of its own
        "large_deals": {"label": "Large invoices", "kind": "flow", "unit": "count", "synonyms": ["big invoices"],
                        "sql": "SELECT invoiced_at, sales_region FROM billing.invoice_lines "
                               "WHERE net_usd::numeric > 1000 AND state = 'posted'",
                        "time": "invoiced_at", "amount": "1", "dimensions": {"region": "sales_region"}},
    },
    "units": {"region": ["Americas", "Europe"]},
}


@pytest.fixture(scope="module")
def globex_db(pg_server):
    import psycopg

    url = pg_server.create_database()
    with psycopg.connect(pg_server.dsn(url.rsplit("/", 1)[1]), autocommit=True) as conn:
        conn.execute(SCHEMA)
    yield url
    pg_server.drop_database(url)


@pytest.fixture
def warehouses(config, globex_db):  # noqa: F811
    config.tenant_sources = {"globex": {"warehouse": globex_db.replace(f"//{USER}@", f"//{READER}@"),
                                        "catalog": MAPPING}}  # "demo" stays on its DuckDB file and the demo catalog
    w = Warehouses(config)
    yield w
    w.close()


def ctx(warehouses, tenant: str = "globex") -> ToolContext:
    return ToolContext(principal=Principal("ana", tenant), warehouses=warehouses, config=warehouses.config,
                       today=AS_OF)


def by_hand(pg_server, url: str, sql: str, *params):
    import psycopg

    with psycopg.connect(pg_server.dsn(url.rsplit("/", 1)[1])) as conn:
        return conn.execute(sql, params).fetchall()


def test_revenue_by_month_this_year_is_the_companys_own_revenue(warehouses, pg_server, globex_db):
    r = QUERY_METRIC.run(ctx(warehouses), QueryMetricParams(metric="revenue", period="YTD", grain="month"))
    want = by_hand(pg_server, globex_db,
                   "SELECT date_trunc('month', invoiced_at)::date, sum(net_usd) FROM billing.invoice_lines "
                   "WHERE state <> 'void' AND invoiced_at::date BETWEEN %s AND %s GROUP BY 1 ORDER BY 1",
                   dt.date(AS_OF.year, 1, 1), AS_OF)
    got = [(str(row["period"])[:10], row["value"]) for row in r.data["rows"]]
    assert [p for p, _ in got] == [p.isoformat() for p, _ in want] and len(want) == AS_OF.month
    assert [v for _, v in got] == pytest.approx([float(v) for _, v in want])
    assert r.data["total"] == pytest.approx(float(sum(v for _, v in want)))


def test_a_breakdown_a_filter_a_ratio_and_a_balance_read_the_mapped_columns(warehouses, pg_server, globex_db):
    c = ctx(warehouses)
    r = QUERY_METRIC.run(c, QueryMetricParams(metric="sales", period="QTD", by="segment",
                                              filters={"region": "europe"}))
    q_start = dt.date(AS_OF.year, 10, 1)
    want = dict(by_hand(pg_server, globex_db,
                        "SELECT plan_tier, sum(net_usd)::float FROM billing.invoice_lines WHERE state <> 'void' "
                        "AND sales_region = 'Europe' AND invoiced_at::date BETWEEN %s AND %s GROUP BY 1",
                        q_start, AS_OF))
    assert {row["segment"]: row["value"] for row in r.data["rows"]} == pytest.approx(want)
    assert r.data["filters"] == {"region": "Europe"}  # the mapping's units name the values

    win = QUERY_METRIC.run(c, QueryMetricParams(metric="win_rate", period="YTD"))
    (won, closed), = by_hand(pg_server, globex_db,
                             "SELECT count(*) FILTER (WHERE outcome = 'won'), count(*) FROM crm.opportunities "
                             "WHERE outcome IN ('won', 'lost') AND closed_on BETWEEN %s AND %s",
                             dt.date(AS_OF.year, 1, 1), AS_OF)
    assert win.data["total"] == pytest.approx(won / closed)

    mrr = QUERY_METRIC.run(c, QueryMetricParams(metric="mrr", period="MTD"))
    (level,), = by_hand(pg_server, globex_db, "SELECT sum(mrr_change)::float FROM subs.mrr_changes "
                                              "WHERE changed_on <= %s", AS_OF)
    assert mrr.data["total"] == pytest.approx(level)


def test_a_metric_of_the_companys_own_is_asked_for_by_name_or_synonym(warehouses, pg_server, globex_db):
    r = QUERY_METRIC.run(ctx(warehouses), QueryMetricParams(metric="big invoices", period="YTD", by="region"))
    want = dict(by_hand(pg_server, globex_db,
                        "SELECT sales_region, count(*)::float FROM billing.invoice_lines WHERE net_usd > 1000 AND "
                        "state = 'posted' AND invoiced_at::date BETWEEN %s AND %s GROUP BY 1",
                        dt.date(AS_OF.year, 1, 1), AS_OF))
    assert r.data["label"] == "Large invoices" and r.data["unit"] == "count"
    assert {row["region"]: row["value"] for row in r.data["rows"]} == pytest.approx(want) and want


def test_what_is_not_mapped_says_so_and_where_to_map_it(warehouses):
    with pytest.raises(NotFound) as e:
        QUERY_METRIC.run(ctx(warehouses), QueryMetricParams(metric="pipeline"))
    assert e.value.code == "not_mapped"
    assert "Open pipeline is not mapped" in e.value.message and "tenant_sources['globex']['catalog']" in e.value.message
    with pytest.raises(PennyError) as e:
        QUERY_METRIC.run(ctx(warehouses), QueryMetricParams(metric="bananas"))
    assert e.value.code == "unknown_metric" and "revenue" in e.value.message


def test_kpis_are_the_mapped_ones_and_name_the_rest(warehouses, pg_server, globex_db):
    r = GET_COMPANY_KPIS.run(ctx(warehouses), KpiParams(period="MTD"))
    assert [m["name"] for m in r.data["metrics"]] == ["revenue", "mrr", "win_rate"]
    assert "Not mapped to your company's data: ARR, New customers, Churned MRR" in r.text
    (month,), = by_hand(pg_server, globex_db, "SELECT sum(net_usd)::float FROM billing.invoice_lines "
                                              "WHERE state <> 'void' AND invoiced_at::date BETWEEN %s AND %s",
                        AS_OF.replace(day=1), AS_OF)
    assert r.data["metrics"][0]["value"] == pytest.approx(month)

    europe = GET_COMPANY_KPIS.run(ctx(warehouses), KpiParams(period="MTD", unit="europe"))
    assert europe.data["unit"] == "Europe" and europe.data["metrics"][0]["value"] < month
    with pytest.raises(PennyError) as e:
        GET_COMPANY_KPIS.run(ctx(warehouses), KpiParams(period="MTD", unit="EMEA"))
    assert "'Americas', 'Europe'" in e.value.message


def test_a_dashboard_shows_what_is_mapped_and_lists_the_rest(warehouses):
    r = LOAD_DASHBOARD.run(ctx(warehouses), DashboardParams(slug="company-health"))
    widgets = r.artifacts[0].spec["widgets"]
    assert [w.get("name") for w in widgets if w["type"] == "metric"] == ["revenue", "mrr", "win_rate"]
    assert {w["title"] for w in widgets if w["type"] == "chart"} == {"MRR, last 12 months", "Revenue by region"}
    assert "Not shown (not mapped to your company's data): New customers, Churned MRR" in r.text
    with pytest.raises(NotFound) as e:
        LOAD_DASHBOARD.run(ctx(warehouses), DashboardParams(slug="ops-incidents"))
    assert e.value.code == "not_mapped" and "Incidents" in e.value.message


def test_describe_data_lists_the_mapped_the_unmapped_and_a_broken_mapping(warehouses, config, globex_db):
    r = DESCRIBE_DATA.run(ctx(warehouses), DescribeDataParams())
    assert [m["name"] for m in r.data["metrics"]] == ["revenue", "win_rate", "mrr", "large_deals"]
    assert not any(m["problem"] for m in r.data["metrics"])
    assert {m["name"] for m in r.data["unmapped"]} == set(catalog.METRICS) - {"revenue", "win_rate", "mrr"}
    rows = {t["table"]: t["rows"] for t in r.data["tables"]}  # every schema the role reads, by schema.table
    assert set(rows) == {"billing.invoice_lines", "crm.opportunities", "subs.mrr_changes"}
    assert rows["billing.invoice_lines"] == 6000

    broken = {"metrics": {**MAPPING["metrics"], "revenue": {**MAPPING["metrics"]["revenue"], "amount": "net_eur"}}}
    config.tenant_sources = {"globex": {**config.tenant_sources["globex"], "catalog": broken}}
    r = DESCRIBE_DATA.run(ctx(warehouses), DescribeDataParams())
    problem = next(m["problem"] for m in r.data["metrics"] if m["name"] == "revenue")
    assert "net_eur" in problem and "Traceback" not in problem
    assert "Revenue** (`revenue`, currency): by region, segment (its query fails" in r.text
    with pytest.raises(PennyError) as e:  # asked for anyway: the engine's sentence, not a traceback
        QUERY_METRIC.run(ctx(warehouses), QueryMetricParams(metric="revenue"))
    assert "net_eur" in e.value.message and "Traceback" not in e.value.message


def test_one_tenants_mapping_never_changes_another_tenants_metrics(warehouses):
    assert warehouses.catalog("demo") is catalog.DEMO
    demo = GET_COMPANY_KPIS.run(ctx(warehouses, "demo"), KpiParams(period="MTD"))
    assert len(demo.data["metrics"]) == len(catalog.KPI_METRICS) and not demo.data["unmapped"]
    assert "pipeline" in system_prompt(AS_OF, warehouses.catalog("demo"))
    globex = system_prompt(AS_OF, warehouses.catalog("globex"))
    assert "large_deals: Large invoices" in globex and "pipeline" not in globex


def test_the_mapping_can_be_a_yaml_file_and_a_change_to_it_is_read(warehouses, config, tmp_path):
    import yaml

    path = tmp_path / "globex.yaml"
    path.write_text(yaml.safe_dump({"metrics": {"revenue": MAPPING["metrics"]["revenue"]}}))
    config.tenant_sources = {"globex": {**config.tenant_sources["globex"], "catalog": str(path)}}
    assert list(warehouses.catalog("globex").metrics) == ["revenue"]
    path.write_text(yaml.safe_dump({"metrics": {k: MAPPING["metrics"][k] for k in ("revenue", "mrr")}}, sort_keys=False))
    import os

    os.utime(path, ns=(1, 1))  # a different modification time, as an edit a second later would give
    assert list(warehouses.catalog("globex").metrics) == ["revenue", "mrr"]


@pytest.mark.parametrize("metrics, says", [
    ({"bookings": {"table": "t", "time": "d", "amount": "a"}}, "'bookings' is not a metric Penny knows"),
    ({"revenue": {"time": "d", "amount": "a"}}, "give either 'table' (a table name) or 'sql'"),
    ({"win_rate": {"table": "t", "time": "d", "numerator": "a"}}, "a ratio takes 'numerator' and 'denominator'"),
    ({"revenue": {"table": "t", "time": "d", "amount": "a; DROP TABLE t"}}, "['amount']: 'a; DROP TABLE t' is not"),
    ({"revenue": {"table": "t", "time": "d", "amount": "(SELECT max(x) FROM y)"}}, "a subquery is not allowed"),
    ({"revenue": {"sql": "DELETE FROM t", "time": "d", "amount": "a"}}, "'sql' must be one SELECT"),
    ({"revenue": {"table": "t", "time": "d", "amount": "a", "dimensions": {"Region Name": "r"}}}, "lower-case name"),
    ({"revenue": {"table": "t", "amount": "a"}}, "['time']: Field required"),
    ({"x'y": {"label": "X", "kind": "flow", "unit": "count", "table": "t", "time": "d", "amount": "1"}},
     "a metric's name must be a lower-case name"),
])
def test_a_mistake_in_a_mapping_is_a_sentence_naming_where(metrics, says):
    with pytest.raises(SourceConfigError) as e:
        mapping.load("globex", {"metrics": metrics}, "postgres")
    assert says in e.value.message and e.value.message.startswith("tenant_sources['globex']['catalog']")


def test_a_mapping_also_describes_a_duckdb_file_of_the_companys_own(config, tmp_path):  # noqa: F811
    import duckdb

    path = tmp_path / "shop.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE orders AS SELECT DATE '2026-11-01' + CAST(i % 18 AS INTEGER) AS ordered_on, i * 1.5 AS total, "
                    "CASE WHEN i % 3 = 0 THEN 'web' ELSE 'store' END AS channel FROM range(1, 200) t(i)")
    config.tenant_sources = {"shop": {"duckdb": str(path), "catalog": {"metrics": {
        "revenue": {"table": "orders", "time": "ordered_on", "amount": "total", "dimensions": {"channel": "channel"}}}}}}
    w = Warehouses(config)
    try:
        r = QUERY_METRIC.run(ctx(w, "shop"), QueryMetricParams(metric="revenue", period="MTD", by="channel"))
    finally:
        w.close()
    assert {row["channel"]: row["value"] for row in r.data["rows"]} == pytest.approx(
        {"web": sum(i * 1.5 for i in range(1, 200) if i % 3 == 0), "store": sum(i * 1.5 for i in range(1, 200) if i % 3)})


def test_run_sql_reads_the_companys_schemas_by_name(warehouses, pg_server, globex_db):
    from penny_jupyter.tools.sql import RUN_SQL, SqlParams

    r = RUN_SQL.run(ctx(warehouses), SqlParams(query="SELECT sales_region, count(*) AS n FROM billing.invoice_lines "
                                                     "GROUP BY 1 ORDER BY 1"))
    assert r.data["rows"] == [list(x) for x in by_hand(pg_server, globex_db, "SELECT sales_region, count(*) FROM "
                                                       "billing.invoice_lines GROUP BY 1 ORDER BY 1")]


def test_the_admin_probe_says_how_the_mapping_fares(config, globex_db, tmp_path):  # noqa: F811
    import asyncio

    from penny_jupyter.admin import probe_source
    from penny_jupyter.engine import Engine

    url = globex_db.replace(f"//{USER}@", f"//{READER}@")

    def probe(mapping_: object) -> dict:
        config.tenant_sources = {"globex": {"warehouse": url, "catalog": mapping_}}
        engine = Engine(config)
        try:
            return asyncio.run(probe_source(engine, "globex"))
        finally:
            engine.close()

    good = probe(MAPPING)
    assert good["ok"] is True and good["kind"] == "postgresql"
    assert f"3 tables. Catalog: 4 metrics mapped, {len(catalog.METRICS) - 3} not." in good["detail"]
    broken = probe({"metrics": {"revenue": {**MAPPING["metrics"]["revenue"], "amount": "net_eur"}}})
    assert broken["ok"] is False and "failing on its tables: Revenue:" in broken["detail"] and "net_eur" in broken["detail"]
    wrong = probe({"metrics": {"revenue": {"table": "t", "time": "d"}}})
    assert wrong["ok"] is False and "a flow takes 'amount'" in wrong["detail"]
    assert READER not in good["detail"] + broken["detail"] + wrong["detail"]  # never the URL or its role


def chat(config, globex_db, asked: str, then=lambda engine: None) -> tuple[list[dict], object]:  # noqa: F811
    """`asked` sent to the engine's chat as Globex's analyst (the built-in router answers): the events it streamed,
    and what `then(engine)` returns while the engine is still up."""
    import asyncio

    from penny_jupyter.engine import Engine

    config.tenant_sources = {"globex": {"warehouse": globex_db.replace(f"//{USER}@", f"//{READER}@"),
                                        "catalog": MAPPING}}
    engine = Engine(config)
    events: list[dict] = []

    async def emit(event: dict) -> None:
        events.append(event)

    try:
        asyncio.run(engine.chat.ask(Principal("ana", "globex"), None, asked, emit))
        return events, then(engine)
    finally:
        engine.close()


def test_asked_in_the_chat_revenue_by_month_is_the_companys_own(config, globex_db, pg_server):  # noqa: F811
    """The path a person takes: a message to the engine's chat (built-in router), not a tool call by hand."""
    events, _ = chat(config, globex_db, "revenue by month this year")
    done = next(e for e in events if e["type"] == "tool.finished")
    assert done["tool"] == "query_metric" and done["ok"], done
    artifact = next(e["artifact"] for e in events if e["type"] == "artifact" and e["artifact"]["type"] == "table")
    want = by_hand(pg_server, globex_db,
                   "SELECT date_trunc('month', invoiced_at)::date, sum(net_usd)::float FROM billing.invoice_lines "
                   "WHERE state <> 'void' AND invoiced_at::date BETWEEN %s AND %s GROUP BY 1 ORDER BY 1",
                   dt.date(AS_OF.year, 1, 1), AS_OF)
    assert [r["value"] for r in artifact["spec"]["rows"]] == pytest.approx([v for _, v in want])
    answer = "".join(e.get("text", "") for e in events if e["type"] == "assistant.delta")
    assert "Revenue" in answer and "Traceback" not in answer


def test_a_like_pattern_a_dimensionless_metric_and_a_name_of_its_own_read_as_written(warehouses, config, pg_server,
                                                                                      globex_db):
    revenue = {**MAPPING["metrics"]["revenue"], "filter": "state LIKE 'post%'", "dimensions": {}}
    sales = {"label": "Sales orders", "kind": "flow", "unit": "count", "table": "crm.opportunities",
             "time": "closed_on", "amount": "1", "filter": "outcome = 'won'"}
    config.tenant_sources = {"globex": {**config.tenant_sources["globex"],
                                        "catalog": {"metrics": {"revenue": revenue, "sales": sales}}}}
    r = QUERY_METRIC.run(ctx(warehouses), QueryMetricParams(metric="revenue", period="YTD"))
    (want,), = by_hand(pg_server, globex_db, "SELECT sum(net_usd)::float FROM billing.invoice_lines WHERE state "
                                             "LIKE 'post%%' AND invoiced_at::date BETWEEN %s AND %s",
                       dt.date(AS_OF.year, 1, 1), AS_OF)
    assert r.data["total"] == pytest.approx(want)  # the % of the mapping's LIKE reached PostgreSQL as written

    own = QUERY_METRIC.run(ctx(warehouses), QueryMetricParams(metric="sales", period="YTD"))
    assert own.data["label"] == "Sales orders"  # the company's "sales", not Penny's synonym for revenue

    board = LOAD_DASHBOARD.run(ctx(warehouses), DashboardParams(slug="company-health"))
    assert "Revenue by region" not in {w.get("title") for w in board.artifacts[0].spec["widgets"]}
    assert "Revenue by region" in board.text.split("Not shown")[1]  # revenue has no region here: listed, not failed


def test_the_admin_probe_never_shows_a_url_it_cannot_read(config):  # noqa: F811
    import asyncio

    from penny_jupyter.admin import probe_source
    from penny_jupyter.engine import Engine

    config.tenant_sources = {"globex": {"warehouse": "penny:s3cret@db/acme"}}
    engine = Engine(config)
    try:
        source = asyncio.run(probe_source(engine, "globex"))
    finally:
        engine.close()
    assert source["kind"] == "unknown" and source["ok"] is False and "s3cret" not in str(source)


@pytest.mark.parametrize("asked, tool, params", [
    ("big invoices by region this year", "query_metric", {"metric": "large_deals", "by": "region", "period": "YTD"}),
    ("KPIs for Europe this month", "get_company_kpis", {"period": "MTD", "unit": "Europe"}),
])
def test_the_built_in_router_knows_the_companys_own_words(config, globex_db, asked, tool, params):  # noqa: F811
    # the demo company has no such metric or unit
    events, demo = chat(config, globex_db, asked, lambda engine: engine.chat.builtin_for("demo").router.route(asked))
    started = next(e for e in events if e["type"] == "tool.started")
    assert started["tool"] == tool and {k: started["params"].get(k) for k in params} == params
    assert next(e for e in events if e["type"] == "tool.finished")["ok"]
    assert getattr(demo, "params", {}).get("metric") != "large_deals" and getattr(demo, "params", {}).get("unit") != "Europe"


def test_a_model_is_offered_the_companys_own_metrics_and_units(config, globex_db):  # noqa: F811
    from penny_jupyter.engine import Engine
    from penny_jupyter.models.base import tool_schema

    config.tenant_sources = {"globex": {"warehouse": globex_db.replace(f"//{USER}@", f"//{READER}@"),
                                        "catalog": MAPPING}}
    engine = Engine(config)
    try:
        own = {t.name: tool_schema(t)["function"]["parameters"]["properties"] for t in engine.chat.tools_for("globex")}
        demo = {t.name: tool_schema(t)["function"]["parameters"]["properties"] for t in engine.chat.tools_for("demo")}
    finally:
        engine.close()
    assert own["query_metric"]["metric"]["enum"] == ["revenue", "win_rate", "mrr", "large_deals"]
    assert own["query_metric"]["by"]["enum"] == ["region", "segment"]
    assert own["get_company_kpis"]["unit"]["enum"] == ["company", "Americas", "Europe"]
    assert "pipeline" in demo["query_metric"]["metric"]["enum"] and "EMEA" in demo["get_company_kpis"]["unit"]["enum"]
    assert own["query_metric"].keys() == demo["query_metric"].keys()  # the same parameters, other words
