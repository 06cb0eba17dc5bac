"""A company's own PostgreSQL as a tenant's warehouse, queried where it lives (no copy): the demo company
loaded into a real PostgreSQL answers exactly as the DuckDB demo does; SQL a person writes stays read-only
and bounded there; one tenant's database is never used for another's call; and the catalog renders for the
dialects Penny does not run (Snowflake, BigQuery, Trino)."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from data_fixtures import AS_OF, config, data_dir, warehouse_template  # noqa: F401,E402 (fixtures)
from pg_server import USER  # noqa: E402
from penny_jupyter.data import catalog, queries, slicing
from penny_jupyter.data.dialects import render
from penny_jupyter.data.warehouse import Warehouses
from penny_jupyter.errors import PennyError, SourceUnavailable
from penny_jupyter.tenancy import Principal
from penny_jupyter.tools.base import ToolContext
from penny_jupyter.tools.dashboards import LOAD_DASHBOARD, DashboardParams, TEMPLATES
from penny_jupyter.tools.kpis import GET_COMPANY_KPIS, KpiParams
from penny_jupyter.tools.metrics import QUERY_METRIC, QueryMetricParams
from penny_jupyter.tools.sql import RUN_SQL, SqlParams

READER = "penny_ro"


@pytest.fixture(scope="module")
def company_db(pg_server, tmp_path_factory):
    """The demo company copied into PostgreSQL; the URL Penny gets names a role with SELECT only."""
    url = pg_server.create_database()
    pg_server.load_duckdb(warehouse_template(tmp_path_factory, "demo"), url, reader=READER)
    yield url.replace(f"//{USER}@", f"//{READER}@")
    pg_server.drop_database(url)


@pytest.fixture
def warehouses(config, company_db):  # noqa: F811
    config.tenant_sources = {"acme": {"warehouse": company_db}}  # "demo" stays on its DuckDB file
    w = Warehouses(config)
    yield w
    w.close()


def ctx(warehouses, tenant: str) -> ToolContext:
    return ToolContext(principal=Principal("alice", tenant), warehouses=warehouses, config=warehouses.config,
                       today=AS_OF)


def same(a, b, path="") -> None:
    """Equal value by value; floats to 1e-9 relative (PostgreSQL and DuckDB sum in different orders)."""
    if isinstance(a, float) or isinstance(b, float):
        assert b == pytest.approx(a, rel=1e-9, abs=1e-9), path
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            same(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            same(x, y, f"{path}[{i}]")
    else:
        assert a == b, path


@pytest.mark.parametrize("period", ["MTD", "QTD", "YTD"])
def test_kpis_on_postgresql_equal_the_duckdb_demo(warehouses, period):
    duck = GET_COMPANY_KPIS.run(ctx(warehouses, "demo"), KpiParams(period=period))
    pg = GET_COMPANY_KPIS.run(ctx(warehouses, "acme"), KpiParams(period=period))
    same(duck.data, pg.data)
    assert duck.text == pg.text
    same(duck.artifacts[0].spec["widgets"], pg.artifacts[0].spec["widgets"])


@pytest.mark.parametrize("slug", sorted(TEMPLATES))
def test_dashboards_on_postgresql_equal_the_duckdb_demo(warehouses, slug):
    duck = LOAD_DASHBOARD.run(ctx(warehouses, "demo"), DashboardParams(slug=slug))
    pg = LOAD_DASHBOARD.run(ctx(warehouses, "acme"), DashboardParams(slug=slug))
    same(duck.data, pg.data)
    same(duck.artifacts[0].spec, pg.artifacts[0].spec)


@pytest.mark.parametrize("params", [
    {"metric": "revenue", "by": "region", "grain": "month", "period": "YTD"},
    {"metric": "churn", "grain": "month", "period": "last 6 months"},
    {"metric": "revenue", "by": "customer", "top": 5, "period": "QTD"},
    {"metric": "pipeline", "by": "segment", "period": "MTD"},
])
def test_query_metric_on_postgresql_equals_the_duckdb_demo(warehouses, params):
    duck = QUERY_METRIC.run(ctx(warehouses, "demo"), QueryMetricParams(**params))
    pg = QUERY_METRIC.run(ctx(warehouses, "acme"), QueryMetricParams(**params))
    same(duck.data, pg.data)
    assert duck.text == pg.text


def test_revenue_by_month_matches_a_hand_written_postgresql_query(warehouses, pg_server, company_db):
    import psycopg

    r = QUERY_METRIC.run(ctx(warehouses, "acme"), QueryMetricParams(metric="revenue", grain="month", period="YTD"))
    dsn = pg_server.dsn(company_db.rsplit("/", 1)[1]).replace(f"user={USER}", f"user={READER}")
    with psycopg.connect(dsn) as conn:
        want = conn.execute("SELECT date_trunc('month', issue_date)::date, sum(amount) FROM invoices "
                            "WHERE issue_date BETWEEN %s AND %s GROUP BY 1 ORDER BY 1",
                            [dt.date(AS_OF.year, 1, 1), AS_OF]).fetchall()
    got = [(row["period"], row["value"]) for row in r.data["rows"]]
    assert [str(p)[:10] for p, _ in got] == [p.isoformat() for p, _ in want]
    assert [v for _, v in got] == pytest.approx([float(v) for _, v in want])


def test_run_sql_runs_a_select_on_postgresql(warehouses):
    r = RUN_SQL.run(ctx(warehouses, "acme"), SqlParams(
        query="SELECT region, count(*)::int AS n FROM customers GROUP BY region ORDER BY region"))
    duck = RUN_SQL.run(ctx(warehouses, "demo"), SqlParams(
        query="SELECT region, count(*)::int AS n FROM customers GROUP BY region ORDER BY region"))
    assert r.artifacts[0].spec["rows"] == duck.artifacts[0].spec["rows"]
    assert [c["format"] for c in r.artifacts[0].spec["columns"]] == ["text", "integer"]


@pytest.mark.parametrize("query", [
    "INSERT INTO customers (customer_id) VALUES (1)",
    "UPDATE customers SET region = 'NA'",
    "DELETE FROM invoices",
    "DROP TABLE customers",
    "CREATE TABLE x (a int)",
    "COPY customers TO '/tmp/leak.csv'",
    "SELECT pg_read_file('/etc/passwd')",
    "SELECT * FROM dblink('host=evil', 'SELECT 1') AS t(a int)",
    "SET ROLE penny",
    "SELECT 1; DROP TABLE customers",
    "SELECT set_config('statement_timeout', '0', false)",
    "SELECT query_to_xml('select set_config(''TimeZone'',''UTC'',false)', true, false, '')",
    "SELECT * FROM ts_stat('SELECT to_tsvector(set_config(''statement_timeout'',''0'',false))')",
])
def test_writes_and_escapes_are_refused_in_a_sentence_and_the_warehouse_stays_usable(warehouses, query):
    with pytest.raises(PennyError) as e:
        RUN_SQL.run(ctx(warehouses, "acme"), SqlParams(query=query))
    assert e.value.code in ("sql_refused", "sql_error") and "Traceback" not in e.value.message
    assert RUN_SQL.run(ctx(warehouses, "acme"), SqlParams(query="SELECT count(*) FROM customers")).data


def test_what_the_guard_might_miss_is_stopped_by_the_database(warehouses, pg_server, company_db):
    """Defence in depth, below sqlguard: a person's SQL runs as ONE declared cursor in a READ ONLY transaction,
    and what one call sets does not outlive it on the pooled connection."""
    import psycopg

    with psycopg.connect(pg_server.dsn(company_db.rsplit("/", 1)[1]), autocommit=True) as owner:
        owner.execute("CREATE SEQUENCE IF NOT EXISTS invoice_numbers")
        owner.execute(f'GRANT USAGE, SELECT, UPDATE ON SEQUENCE invoice_numbers TO "{READER}"')
    cur = warehouses.cursor("acme")
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):  # a SELECT that writes, with the grant to do it
        cur.execute("SELECT nextval('invoice_numbers')", native=True)
    with pytest.raises(psycopg.errors.SyntaxError):  # only a query can be a cursor: no DDL, no second statement
        cur.execute("CREATE TEMP TABLE t AS SELECT 1", native=True)
    with pytest.raises(psycopg.errors.SyntaxError):
        cur.execute("SELECT 1; COMMIT; CREATE TABLE t (a int)", native=True)
    zone = "SELECT current_setting('TimeZone')"
    before = cur.execute(zone, native=True).fetchall()
    cur.execute("SELECT set_config('TimeZone', 'Pacific/Kiritimati', false)", native=True)
    assert cur.execute(zone, native=True).fetchall() == before  # RESET ALL at the start of every call
    assert cur.execute("SELECT 1", native=True).fetchall() == [(1,)]


def test_a_warehouse_url_never_shows_in_an_error(config):  # noqa: F811
    config.tenant_sources = {"acme": {"warehouse": "penny_ro:S3cret@db.internal/acme"}}
    w = Warehouses(config)
    with pytest.raises(PennyError) as e:
        w.cursor("acme")
    assert "S3cret" not in e.value.message and "db.internal" not in e.value.message
    assert "no scheme" in e.value.message


def test_a_runaway_query_is_stopped_and_a_huge_result_is_capped(warehouses):
    warehouses.config.sql_timeout = 1.0
    warehouses.close()
    with pytest.raises(PennyError) as e:
        RUN_SQL.run(ctx(warehouses, "acme"), SqlParams(query="SELECT pg_sleep(30)"))
    assert e.value.code == "timeout" and "1 seconds" in e.value.message
    warehouses.config.sql_row_cap = 500
    r = RUN_SQL.run(ctx(warehouses, "acme"), SqlParams(query="SELECT g FROM generate_series(1, 200000) AS g"))
    assert len(r.artifacts[0].spec["rows"]) == 500 and r.artifacts[0].spec["truncated"] is True


def test_another_tenants_database_is_never_used(warehouses, pg_server, tmp_path_factory):
    other = pg_server.create_database()
    try:
        pg_server.load_duckdb(warehouse_template(tmp_path_factory, "acme"), other)
        warehouses.config.tenant_sources = {**warehouses.config.tenant_sources, "globex": {"warehouse": other}}
        name = "SELECT current_database()"
        acme_db = warehouses.cursor("acme").execute(name, native=True).fetchall()[0][0]
        globex_db = warehouses.cursor("globex").execute(name, native=True).fetchall()[0][0]
        assert acme_db != globex_db and globex_db == other.rsplit("/", 1)[1]
        GET_COMPANY_KPIS.run(ctx(warehouses, "demo"), KpiParams())  # the DuckDB tenant opens no database
        assert set(warehouses._pg) == {"acme", "globex"}
        acme = GET_COMPANY_KPIS.run(ctx(warehouses, "acme"), KpiParams()).data["metrics"]
        globex = GET_COMPANY_KPIS.run(ctx(warehouses, "globex"), KpiParams()).data["metrics"]
        assert [m["value"] for m in acme] != [m["value"] for m in globex]  # two companies, two answers
    finally:
        warehouses.close()
        pg_server.drop_database(other)


def test_a_database_tenant_has_no_file_to_hand_out(warehouses):
    """Nothing (the sandbox included: tests/test_sandbox_pg.py) gets a path or URL for a database tenant."""
    with pytest.raises(SourceUnavailable) as e:
        warehouses.ensure("acme")
    assert "no warehouse file" in e.value.message and "postgresql" not in e.value.message.lower()


@pytest.mark.parametrize("dialect", ["postgres", "snowflake", "bigquery", "trino"])
def test_the_catalog_renders_for_each_dialect(dialect):
    sql = [queries.compile_metrics(catalog.METRICS.values()), *catalog.QUERIES.values()]
    for m in catalog.METRICS.values():
        by = m.dimensions[0] if m.dimensions else None
        sql.append(slicing.compile_slice(m, by, "month", [], True, None))
    for text in sql:
        out = render(text, dialect)
        assert "$" not in out.replace("'$'", "") and "GROUP BY ALL" not in out.upper()


def test_the_admin_panel_probes_the_company_database_without_showing_its_url(warehouses, company_db):
    import asyncio
    from types import SimpleNamespace

    from penny_jupyter.admin import probe_source

    engine = SimpleNamespace(config=warehouses.config, warehouses=warehouses)
    out = asyncio.run(probe_source(engine, "acme"))
    assert out["ok"] and out["kind"] == "postgresql", out
    duck = asyncio.run(probe_source(engine, "demo"))
    assert out["detail"].split("; ")[1] == duck["detail"].split("; ")[1]  # "15 tables" on both
    assert company_db.split("@")[1] not in str(out) and READER not in str(out)
