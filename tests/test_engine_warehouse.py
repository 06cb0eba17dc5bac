"""A company warehouse on an engine other than PostgreSQL (data/enginewarehouse.py), here Trino: the real `trino`
client and SQLAlchemy dialect against tests/fake_trino.py, a coordinator speaking Trino's protocol over the demo
company's DuckDB file. The KPIs, dashboards and query_metric equal the DuckDB demo value by value (so the SQL
Penny renders for Trino reads back the same), run_sql runs there behind the guard, the engine's own time limit
is set for every statement, and a missing driver or a coordinator that is down is a sentence without the URL."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from data_fixtures import AS_OF, config, data_dir, warehouse_template  # noqa: F401,E402 (fixtures)
from fake_trino import FakeTrino  # noqa: E402
from test_pg_warehouse import ctx, same  # noqa: E402
from penny_jupyter.data.warehouse import Warehouses  # noqa: E402
from penny_jupyter.errors import PennyError, SourceConfigError, SourceUnavailable, ToolTimeout  # noqa: E402
from penny_jupyter.tools.dashboards import LOAD_DASHBOARD, DashboardParams  # noqa: E402
from penny_jupyter.tools.kpis import GET_COMPANY_KPIS, KpiParams  # noqa: E402
from penny_jupyter.tools.metrics import DESCRIBE_DATA, QUERY_METRIC, DescribeDataParams, QueryMetricParams  # noqa: E402
from penny_jupyter.tools.sql import RUN_SQL, SqlParams  # noqa: E402

pytest.importorskip("trino.sqlalchemy", reason="the trino client is a test dependency (pyproject [test])")


@pytest.fixture(scope="module")
def trino(tmp_path_factory):
    server = FakeTrino(warehouse_template(tmp_path_factory, "demo"))
    yield server
    server.close()


@pytest.fixture
def warehouses(config, trino):  # noqa: F811
    config.tenant_sources = {"acme": {"warehouse": f"trino://penny_ro@127.0.0.1:{trino.port}/lake/main"}}
    w = Warehouses(config)
    yield w
    w.close()


def test_kpis_on_trino_equal_the_duckdb_demo(warehouses, trino):
    duck = GET_COMPANY_KPIS.run(ctx(warehouses, "demo"), KpiParams(period="QTD"))
    remote = GET_COMPANY_KPIS.run(ctx(warehouses, "acme"), KpiParams(period="QTD"))
    same(duck.data, remote.data)
    assert duck.text == remote.text
    assert trino.statements, "the KPIs were computed on the coordinator"


@pytest.mark.parametrize("slug", ["company-health", "sales-funnel", "ops-incidents", "finance-snapshot"])
def test_dashboards_on_trino_equal_the_duckdb_demo(warehouses, slug):
    duck = LOAD_DASHBOARD.run(ctx(warehouses, "demo"), DashboardParams(slug=slug))
    remote = LOAD_DASHBOARD.run(ctx(warehouses, "acme"), DashboardParams(slug=slug))
    same(duck.artifacts[0].spec, remote.artifacts[0].spec)


@pytest.mark.parametrize("params", [
    {"metric": "revenue", "by": "region", "grain": "month", "period": "YTD"},
    {"metric": "arr", "by": "customer", "top": 5, "period": "QTD", "filters": {"segment": "enterprise"}},
])
def test_query_metric_on_trino_equals_the_duckdb_demo(warehouses, params):
    duck = QUERY_METRIC.run(ctx(warehouses, "demo"), QueryMetricParams(**params))
    remote = QUERY_METRIC.run(ctx(warehouses, "acme"), QueryMetricParams(**params))
    same(duck.data, remote.data)


def test_run_sql_runs_on_trino_behind_the_guard(warehouses, trino):
    query = "SELECT region, count(*) AS n FROM customers GROUP BY region ORDER BY region"
    remote = RUN_SQL.run(ctx(warehouses, "acme"), SqlParams(query=query))
    assert remote.data["rows"] == RUN_SQL.run(ctx(warehouses, "demo"), SqlParams(query=query)).data["rows"]
    assert [c["format"] for c in remote.artifacts[0].spec["columns"]] == ["text", "integer"]
    sent = len(trino.statements)
    with pytest.raises(PennyError) as e:
        RUN_SQL.run(ctx(warehouses, "acme"), SqlParams(query="DELETE FROM invoices"))
    assert e.value.code == "sql_refused" and len(trino.statements) == sent  # stopped before the engine
    with pytest.raises(PennyError) as e:
        RUN_SQL.run(ctx(warehouses, "acme"), SqlParams(query="SELECT nope FROM customers"))
    assert "nope" in e.value.message and "Traceback" not in e.value.message
    capped = RUN_SQL.run(ctx(warehouses, "acme"), SqlParams(query="SELECT * FROM invoices", limit=7))
    assert len(capped.data["rows"]) == 7 and capped.data["truncated"] is True


def test_describe_data_lists_the_tables_without_counting_them(warehouses):
    r = DESCRIBE_DATA.run(ctx(warehouses, "acme"), DescribeDataParams())
    tables = {t["table"]: t for t in r.data["tables"]}
    assert "invoices" in tables and tables["invoices"]["rows"] is None
    assert {c["name"] for c in tables["invoices"]["columns"]} >= {"issue_date", "amount", "region"}
    assert "| `invoices` | ? |" in r.artifacts[0].spec["markdown"]


def test_every_statement_carries_the_time_limit_and_a_slow_one_is_stopped(config, trino):  # noqa: F811
    config.sql_timeout = 1
    config.tenant_sources = {"acme": {"warehouse": f"trino://penny_ro@127.0.0.1:{trino.port}/lake/main"}}
    w = Warehouses(config)
    trino.delay = 2.0
    try:
        with pytest.raises(ToolTimeout) as e:
            QUERY_METRIC.run(ctx(w, "acme"), QueryMetricParams(metric="revenue"))
        assert "1 s" in e.value.message
        with pytest.raises(PennyError) as e:
            RUN_SQL.run(ctx(w, "acme"), SqlParams(query="SELECT count(*) FROM invoices"))
        assert e.value.code == "timeout" or "longer than" in e.value.message
    finally:
        trino.delay = 0.0
        w.close()
    assert trino.sessions[-1] == "query_max_run_time=1s"


def test_a_missing_driver_or_a_coordinator_that_is_down_is_a_sentence_without_the_url(config):  # noqa: F811
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once closed
    config.tenant_sources = {"down": {"warehouse": f"trino://penny_ro:S3CRET@127.0.0.1:{port}/lake/main"},
                             "snow": {"warehouse": "snowflake://penny_ro:S3CRET@acme-xy123/analytics/public"}}
    w = Warehouses(config)
    try:
        with pytest.raises(SourceUnavailable) as down:
            GET_COMPANY_KPIS.run(ctx(w, "down"), KpiParams())
        with pytest.raises(SourceConfigError) as snow:
            GET_COMPANY_KPIS.run(ctx(w, "snow"), KpiParams())
    finally:
        w.close()
    assert "cannot be reached" in down.value.message
    assert "pip install snowflake-sqlalchemy" in snow.value.message
    for e in (down, snow):
        assert "S3CRET" not in e.value.message and "penny_ro" not in e.value.message


def test_the_admin_probe_names_the_engine_and_counts_its_tables(config, trino):  # noqa: F811
    import asyncio

    from penny_jupyter.admin import probe_source
    from penny_jupyter.engine import Engine

    config.tenant_sources = {"acme": {"warehouse": f"trino://penny_ro@127.0.0.1:{trino.port}/lake/main"}}
    engine = Engine(config)
    try:
        source = asyncio.run(probe_source(engine, "acme"))
    finally:
        engine.close()
    import duckdb

    assert source["ok"] is True and source["kind"] == "trino"
    with duckdb.connect(str(trino.path), read_only=True) as con:
        n = con.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'main'").fetchone()[0]
    assert f"; {n} tables." in source["detail"] and "penny_ro" not in source["detail"]


@pytest.mark.parametrize("dialect", ["bigquery", "snowflake"])
def test_a_second_statement_hidden_from_duckdbs_reading_is_refused(dialect):
    """sqlguard reads DuckDB's dialect, where \\' is no escape; these engines read it as one, so the text is read
    again as they read it before it is sent."""
    from penny_jupyter.data.enginewarehouse import _one_query
    from penny_jupyter.data.sqlguard import check
    from penny_jupyter.data.sqlprocess import QueryFailed

    hidden = "SELECT 'a\\''; DELETE FROM ds.t WHERE true; SELECT 1 --'"
    check(hidden, any_schema=True)  # one string literal, to DuckDB
    with pytest.raises(QueryFailed) as e:
        _one_query(hidden, dialect)
    assert e.value.kind == "refused"
    _one_query("SELECT region, count(*) AS n FROM customers GROUP BY region", dialect)
