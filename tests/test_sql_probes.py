"""run_sql probes: every dangerous query is refused with a reason, by the guard AND by the connection.

Each probe goes through the tool (sqlglot guard first: code `sql_refused` and a sentence saying why),
and, where the connection can refuse it, straight to the tenant's locked-down cursor, bypassing the
guard, to prove the wall stands on its own.
"""

import json
import sys
from pathlib import Path

import duckdb
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from data_fixtures import config, ctx, data_dir, warehouses  # noqa: E402,F401

from penny_jupyter.data.sqlguard import check  # noqa: E402
from penny_jupyter.data.warehouse import Warehouses  # noqa: E402
from penny_jupyter.errors import PennyError  # noqa: E402
from penny_jupyter.tenancy import Principal  # noqa: E402
from penny_jupyter.tools.base import ToolContext  # noqa: E402
from penny_jupyter.tools.sql import RUN_SQL, SqlParams  # noqa: E402

LEAK = "/tmp/penny-probe-leak.csv"

# (query, words the refusal must contain, whether the connection itself refuses it too)
PROBES = [
    ("INSERT INTO services VALUES (99, 'x', 'y', 'z')", "INSERT statements are not allowed", True),
    ("UPDATE invoices SET amount = 0", "UPDATE statements are not allowed", True),
    ("DELETE FROM invoices", "DELETE statements are not allowed", True),
    ("CREATE TABLE evil AS SELECT 1", "CREATE statements are not allowed", True),
    ("DROP TABLE invoices", "DROP statements are not allowed", True),
    ("ALTER TABLE invoices ADD COLUMN z INTEGER", "ALTER statements are not allowed", True),
    ("ATTACH '/tmp/penny-probe.duckdb' AS x", "ATTACH statements are not allowed", True),
    ("ATTACH '{other}' AS other (READ_ONLY)", "ATTACH statements are not allowed", True),
    (f"COPY invoices TO '{LEAK}'", "COPY statements are not allowed", True),
    ("SELECT * FROM read_csv('/etc/passwd')", "read_csv() is not allowed", True),
    ("SELECT * FROM read_csv_auto('/etc/passwd')", "read_csv_auto() is not allowed", True),
    ("SELECT * FROM '/etc/passwd'", "looks like a file path", True),
    ("SELECT * FROM '{other}'", "looks like a file path", True),
    ("SELECT * FROM read_parquet('/tmp/x.parquet')", "read_parquet() is not allowed", True),
    ("SELECT * FROM read_text('/etc/hostname')", "read_text() is not allowed", True),
    ("SELECT * FROM glob('/etc/*')", "glob() is not allowed", True),
    ("SELECT * FROM sniff_csv('/etc/passwd')", "sniff_csv() is not allowed", True),
    ("INSTALL httpfs", "INSTALL statements are not allowed", True),
    ("LOAD httpfs", "LOAD statements are not allowed", True),
    ("SET enable_external_access = true", "SET statements are not allowed", True),
    ("RESET memory_limit", "RESET statements are not allowed", True),
    ("PRAGMA enable_profiling", "PRAGMA statements are not allowed", True),
    ("SELECT getenv('HOME')", "getenv() is not allowed", True),
    ("SELECT * FROM duckdb_secrets()", "duckdb_secrets() is not allowed", True),
    ("SELECT 1; DROP TABLE invoices", "2 statements", True),
    ("SELECT 1 /* harmless */; DROP TABLE invoices -- hidden", "2 statements", True),
    ("SELECT 1 --\n; DROP TABLE invoices", "2 statements", True),
    ("EXPORT DATABASE '/tmp/penny-probe-export'", "EXPORT statements are not allowed", True),
    ("CALL pragma_version()", "CALL statements are not allowed", False),
    ("SELECT current_setting('memory_limit')", "current_setting() is not allowed", False),
    ("SELECT * FROM duckdb_settings()", "duckdb_settings() is not allowed", False),
    ("SELECT * FROM query('SELECT 1')", "query() is not allowed", False),
    ("CHECKPOINT", "CHECKPOINT statements are not allowed", False),
    ("SELECT * FROM other.main.invoices", "another database", True),
    ("SELECT * FROM system.main.duckdb_settings()", "duckdb_settings() is not allowed", False),
    ("DETACH demo", "DETACH statements are not allowed", True),
    ("USE memory", "USE statements are not allowed", True),
    ("BEGIN TRANSACTION", "BEGIN statements are not allowed", False),
]


def _q(sql: str, warehouses) -> str:
    return sql.replace("{other}", str(warehouses.path("acme")))


def run_sql(ctx, query: str, limit=None):
    return RUN_SQL.run(ctx, SqlParams(query=query, limit=limit))


@pytest.mark.parametrize("sql,reason,conn_refuses", PROBES, ids=[p[0][:40] for p in PROBES])
def test_probe_is_refused_with_a_reason(ctx, warehouses, sql, reason, conn_refuses):
    with pytest.raises(PennyError) as ei:
        run_sql(ctx, _q(sql, warehouses))
    err = ei.value
    assert err.code == "sql_refused" and err.status == 400
    assert reason in err.message, err.message
    assert err.message.endswith(".") and "Traceback" not in err.message
    assert not Path(LEAK).exists()
    # the warehouse is intact and the tenant still reads it
    assert run_sql(ctx, "SELECT count(*) AS n FROM services").data["rows"] == [[10]]


@pytest.mark.parametrize("sql", [p[0] for p in PROBES if p[2]], ids=[p[0][:40] for p in PROBES if p[2]])
def test_connection_itself_refuses(warehouses, sql):
    """Bypassing sqlglot entirely: the locked-down connection is the wall."""
    cur = warehouses.cursor("demo")
    with pytest.raises(duckdb.Error):
        cur.execute(_q(sql, warehouses)).fetchall()
    assert not Path(LEAK).exists()
    assert not Path("/tmp/penny-probe-export").exists()
    cur = warehouses.cursor("demo")
    assert cur.execute("SELECT count(*) FROM services").fetchone()[0] == 10
    assert cur.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'evil'").fetchone()[0] == 0


def test_connection_settings_are_locked(warehouses):
    cur = warehouses.cursor("demo")
    assert cur.execute("SELECT current_setting('enable_external_access')").fetchone()[0] is False
    assert cur.execute("SELECT current_setting('lock_configuration')").fetchone()[0] is True
    assert cur.execute("SELECT current_setting('access_mode')").fetchone()[0] == "read_only"


def test_guard_accepts_ordinary_queries():
    for q in ["SELECT 1", "WITH a AS (SELECT 1 AS x) SELECT * FROM a", "FROM invoices", "SHOW TABLES",
              "DESCRIBE invoices", "SUMMARIZE invoices", "SELECT * FROM main.invoices", "SELECT * FROM demo.main.invoices",
              "SELECT * FROM information_schema.tables", "SELECT 'a.csv' AS s FROM invoices, customers",
              "SELECT 1 UNION ALL SELECT 2", "SELECT * FROM range(3)", "SELECT 1;",
              "SELECT * EXCLUDE (amount) FROM invoices", "SELECT region, sum(amount) FROM invoices GROUP BY ALL",
              "SELECT *, row_number() OVER (ORDER BY amount) AS rn FROM invoices QUALIFY rn = 1",
              "SELECT list_transform([1, 2], x -> x + 1)", "SELECT '/etc/passwd' AS just_a_string",
              "SELECT * FROM (PIVOT invoices ON region IN ('NA', 'EMEA') USING sum(amount))",
              "SELECT * FROM invoices i, LATERAL (SELECT 1) l", "SELECT * FROM unnest([1, 2, 3])"]:
        check(q, catalogs=["demo"])


def test_empty_long_and_unparsable_queries_are_refused(ctx):
    with pytest.raises(PennyError, match="empty"):
        check("  -- nothing\n ")
    with pytest.raises(PennyError, match="characters long"):
        check("SELECT 1 " + " " * 20_000 + ", 2")
    with pytest.raises(PennyError) as ei:
        run_sql(ctx, "SELEC 1 FROM")
    assert ei.value.code in ("sql_refused", "sql_error") and ei.value.message.endswith(".")


def test_happy_path_joins_and_cte_return_rows_and_a_table_artifact(ctx):
    q = """
    WITH by_region AS (
        SELECT c.region, sum(i.amount) AS revenue, count(*) AS invoices, max(i.issue_date) AS last_invoice
        FROM invoices i JOIN customers c USING (customer_id)
        GROUP BY c.region
    )
    SELECT * FROM by_region ORDER BY revenue DESC
    """
    res = run_sql(ctx, q)
    assert res.data["columns"] == ["region", "revenue", "invoices", "last_invoice"]
    assert res.row_count == len(res.data["rows"]) == 4 and res.data["truncated"] is False
    assert "4 rows" in res.text and "region, revenue, invoices, last_invoice" in res.text
    region, revenue, n, last = res.data["rows"][0]
    assert isinstance(revenue, float) and isinstance(n, int) and isinstance(last, str) and len(last) == 10
    assert json.loads(json.dumps(res.data)) == res.data  # JSON-safe as it is
    [art] = res.artifacts
    assert art.type == "table" and art.source == {"tool": "run_sql", "params": {"query": q}}
    assert [c["key"] for c in art.spec["columns"]] == res.data["columns"]
    assert {c["key"]: c["format"] for c in art.spec["columns"]}["last_invoice"] == "date"
    assert art.spec["rows"][0]["region"] == region
    from penny_jupyter.artifacts.html import to_html

    assert "<table>" in to_html({"type": "table", "title": art.title, "spec": art.spec})


def test_row_cap_truncates_with_the_flag(ctx):
    ctx.config.sql_row_cap = 25
    res = run_sql(ctx, "SELECT * FROM range(1000000000) t(n)")  # streamed: only cap+1 rows are fetched
    assert res.row_count == 25 and res.data["truncated"] is True
    assert res.data["rows"][-1] == [24]
    assert "truncated at 25 rows" in res.text
    res = run_sql(ctx, "SELECT * FROM range(100) t(n)", limit=10)
    assert res.row_count == 10 and res.data["truncated"] is True
    res = run_sql(ctx, "SELECT * FROM range(10) t(n)", limit=10)
    assert res.row_count == 10 and res.data["truncated"] is False
    with pytest.raises(PennyError, match="at most") as ei:
        run_sql(ctx, "SELECT 1", limit=26)
    assert ei.value.code == "invalid_params"


def test_a_query_that_runs_forever_is_stopped_by_the_timeout(ctx):
    ctx.config.sql_timeout = 0.3
    with pytest.raises(PennyError) as ei:
        run_sql(ctx, "SELECT sum(a.range * b.range) FROM range(100000000) a, range(100000000) b")
    assert ei.value.code == "timeout" and ei.value.status == 504
    assert "0.3 seconds" in ei.value.message and "stopped" in ei.value.message
    assert run_sql(ctx, "SELECT 42 AS x").data["rows"] == [[42]]  # the warehouse still answers


def test_a_memory_explosion_is_a_clean_error(tmp_path, config):
    config.warehouse_memory_limit = "64MB"
    wh = Warehouses(config)
    try:
        c = ToolContext(principal=Principal("alice", "demo"), warehouses=wh, config=config, today=config.today())
        assert wh.cursor("demo").execute("SELECT current_setting('memory_limit')").fetchone()[0].endswith("MiB")
        with pytest.raises(PennyError) as ei:
            run_sql(c, "SELECT list(range) FROM range(200000000)")
        assert ei.value.code == "sql_out_of_memory" and ei.value.status == 413
        assert "64MB" in ei.value.message and "Traceback" not in ei.value.message
        assert run_sql(c, "SELECT 1 AS x").row_count == 1
    finally:
        wh.close()


def test_sql_errors_are_short_sentences(ctx):
    with pytest.raises(PennyError) as ei:
        run_sql(ctx, "SELECT no_such_column FROM invoices")
    assert ei.value.code == "sql_error"
    assert "no_such_column" in ei.value.message and "LINE" not in ei.value.message
    with pytest.raises(PennyError) as ei:
        run_sql(ctx, "SELECT * FROM no_such_table")
    assert ei.value.code == "sql_error" and "no_such_table" in ei.value.message


def test_tenant_reads_only_its_own_warehouse(ctx, warehouses, config):
    demo = run_sql(ctx, "SELECT count(*), sum(amount) FROM invoices").data["rows"]
    acme_ctx = ToolContext(principal=Principal("bob", "acme"), warehouses=warehouses, config=config,
                           today=config.today())
    acme = run_sql(acme_ctx, "SELECT count(*), sum(amount) FROM invoices").data["rows"]
    assert demo != acme
    with pytest.raises(PennyError, match="another database"):
        run_sql(ctx, "SELECT * FROM acme.main.invoices")
