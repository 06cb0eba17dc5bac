import datetime as dt
import sys
from pathlib import Path

import duckdb
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from data_fixtures import AS_OF, SCALE  # noqa: E402

from penny_jupyter.data import generator  # noqa: E402
from penny_jupyter.data.generator import FACT_TABLES, fact_rows, generate  # noqa: E402

EXPECTED_COLUMNS = {
    "customers": {"customer_id", "name", "segment", "region", "industry", "signup_date", "churn_date"},
    "subscriptions": {"subscription_id", "customer_id", "plan", "start_date", "end_date", "current_mrr"},
    "mrr_events": {"subscription_id", "customer_id", "day", "kind", "mrr_delta", "region", "segment"},
    "deals": {"deal_id", "region", "segment", "amount", "stage", "created_date", "close_date", "is_won"},
    "deal_stage_history": {"deal_id", "stage", "stage_order", "entered_date"},
    "invoices": {"invoice_id", "customer_id", "issue_date", "due_date", "amount", "status"},
    "payments": {"payment_id", "invoice_id", "paid_date", "amount"},
    "expenses": {"expense_id", "day", "department", "category", "amount", "is_cogs", "region"},
    "incidents": {"incident_id", "service", "severity", "opened_at", "resolved_at", "downtime_minutes"},
    "services": {"service_id", "name", "tier"},
    "service_status_history": {"service", "changed_at", "status"},
    "support_tickets": {"ticket_id", "customer_id", "opened_at", "resolved_at", "priority"},
    "employees": {"employee_id", "department", "region", "hire_date", "termination_date"},
}


def _dump(path, tables=("customers", "invoices", "deals", "incidents", "expenses")):
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in tables}
    finally:
        con.close()


def test_same_tenant_same_rows_other_tenant_different(tmp_path):
    a1, a2, b = tmp_path / "a1.duckdb", tmp_path / "a2.duckdb", tmp_path / "b.duckdb"
    c1 = generate(a1, "demo", scale=0.02, end_date=AS_OF)
    c2 = generate(a2, "demo", scale=0.02, end_date=AS_OF)
    cb = generate(b, "acme", scale=0.02, end_date=AS_OF)
    assert c1 == c2
    assert _dump(a1) == _dump(a2)
    assert _dump(a1) != _dump(b) and c1 != cb


def test_tables_columns_and_dates(tmp_path):
    path = tmp_path / "w.duckdb"
    counts = generate(path, "demo", scale=SCALE, end_date=AS_OF)
    con = duckdb.connect(str(path), read_only=True)
    try:
        for table, cols in EXPECTED_COLUMNS.items():
            have = {r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()}
            assert cols <= have, f"{table} lacks {cols - have}"
            assert counts[table] == con.execute(f"SELECT count(*) FROM {table}").fetchone()[0] > 0
        first, last = con.execute("SELECT min(day), max(day) FROM days").fetchone()
        assert last == AS_OF and first == dt.date(AS_OF.year - 2, 1, 1)
        assert (last - first).days >= 730
        for table, col in [("invoices", "issue_date"), ("payments", "paid_date"), ("expenses", "day"),
                           ("mrr_events", "day"), ("deal_stage_history", "entered_date"),
                           ("customers", "signup_date"), ("employees", "hire_date")]:
            assert con.execute(f"SELECT max({col}) FROM {table}").fetchone()[0] <= AS_OF, table
        for table, col in [("incidents", "opened_at"), ("support_tickets", "opened_at")]:
            assert con.execute(f"SELECT max({col})::DATE FROM {table}").fetchone()[0] <= AS_OF, table
        # activity reaches the last day and COGS is distinguishable from opex
        assert con.execute("SELECT count(*) FROM support_tickets WHERE opened_at::DATE >= ? - 3", [AS_OF]).fetchone()[0] > 0
        assert {r[0] for r in con.execute("SELECT DISTINCT is_cogs FROM expenses").fetchall()} == {True, False}
        assert {r[0] for r in con.execute("SELECT DISTINCT kind FROM mrr_events").fetchall()} == {
            "new", "expansion", "contraction", "churn"}
        # an incident that matters: a sev1 this month with hours of downtime
        sev1 = con.execute("SELECT max(downtime_minutes) FROM incidents WHERE severity = 'sev1' "
                           "AND opened_at >= date_trunc('month', ?::DATE)", [AS_OF]).fetchone()[0]
        assert sev1 >= 120
        assert con.execute("SELECT min(mrr) FROM (SELECT subscription_id, day, sum(mrr_delta) OVER "
                           "(PARTITION BY subscription_id ORDER BY day, event_id) AS mrr FROM mrr_events)").fetchone()[0] >= -0.01
        assert {r[0] for r in con.execute("SELECT DISTINCT severity FROM incidents").fetchall()} <= {
            "sev1", "sev2", "sev3", "sev4"}
    finally:
        con.close()
    assert fact_rows(counts) == sum(counts[t] for t in FACT_TABLES)


def test_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "w.duckdb"
    generate(path, "demo", scale=0.02, end_date=AS_OF)
    before = path.read_bytes()

    def boom(*a, **k):
        raise RuntimeError("disk on fire")

    real_build = generator._build
    monkeypatch.setattr(generator, "_build", lambda rng, cal, scale: {**real_build(rng, cal, scale), "bad": boom})
    with pytest.raises(Exception):
        generate(path, "demo", scale=0.02, end_date=AS_OF)
    assert path.read_bytes() == before  # the old warehouse is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.duckdb"]  # no temp files left behind


def test_cli(tmp_path, capsys):
    assert generator.main(["--tenant", "cli-co", "--scale", "0.02", "--data-dir", str(tmp_path),
                           "--as-of", "2026-03-31"]) == 0
    out = capsys.readouterr().out
    assert "invoices" in out and "fact rows" in out and " s" in out
    assert (tmp_path / "warehouses" / "cli-co.duckdb").exists()
