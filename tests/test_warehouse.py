import sys
import threading
from pathlib import Path

import duckdb
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from data_fixtures import AS_OF, config, data_dir, warehouses  # noqa: E402,F401

from penny_jupyter.data import generator  # noqa: E402
from penny_jupyter.data.warehouse import Warehouses  # noqa: E402
from penny_jupyter.errors import Forbidden  # noqa: E402
from penny_jupyter.settings import PennyConfig  # noqa: E402

FORBIDDEN = [
    "COPY invoices TO '/tmp/penny-leak.csv'",
    "ATTACH '/tmp/penny-other.duckdb' AS other",
    "SELECT * FROM read_csv('/etc/passwd')",
    "CREATE TABLE evil AS SELECT 1",
    "INSERT INTO services VALUES (99, 'x', 'y', 'z')",
    "SET enable_external_access = true",
    "INSTALL httpfs",
]


@pytest.mark.parametrize("sql", FORBIDDEN)
def test_cursor_is_locked_down(warehouses, sql):
    cur = warehouses.cursor("demo")
    with pytest.raises(duckdb.Error):
        cur.execute(sql)
    assert not Path("/tmp/penny-leak.csv").exists()
    assert cur.execute("SELECT count(*) FROM services").fetchone()[0] == 10  # still usable for reads


def test_tenants_cannot_see_each_other(warehouses):
    a, b = warehouses.cursor("demo"), warehouses.cursor("acme")
    b_path = warehouses.path("acme")
    with pytest.raises(duckdb.Error):
        a.execute(f"ATTACH '{b_path}' AS b (READ_ONLY)")
    with pytest.raises(duckdb.Error):
        a.execute(f"SELECT * FROM '{b_path}'")
    assert [r[0] for r in a.execute("SELECT path FROM duckdb_databases() WHERE path IS NOT NULL").fetchall()] == [
        str(warehouses.path("demo"))]
    # different companies, different data
    q = "SELECT count(*), sum(amount) FROM invoices"
    assert a.execute(q).fetchone() != b.execute(q).fetchone()


def test_path_checks_tenant_name(warehouses, config):
    assert warehouses.path("demo") == config.data_path / "warehouses" / "demo.duckdb"
    for bad in ("../acme", "Demo", "a/b", ""):
        with pytest.raises(Forbidden):
            warehouses.path(bad)


def test_ensure_generates_once(tmp_path, monkeypatch):
    cfg = PennyConfig(data_dir=str(tmp_path), as_of=AS_OF.isoformat(), demo_scale=0.02)
    calls = []
    real = generator.generate

    def counting(*a, **k):
        calls.append(a)
        return real(*a, **k)

    monkeypatch.setattr(generator, "generate", counting)
    w = Warehouses(cfg)
    try:
        threads = [threading.Thread(target=w.ensure, args=("newco",)) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(calls) == 1
        cur = w.cursor("newco")
        assert cur.execute("SELECT max(day) FROM days").fetchone()[0] == AS_OF
        assert w.cursor("newco").execute("SELECT current_setting('threads')").fetchone()[0] == cfg.kpi_query_threads
    finally:
        w.close()


def test_a_stale_demo_is_regenerated_but_your_own_file_is_never_touched(tmp_path):
    import datetime as dt

    old = dt.date(2026, 10, 1)
    cfg = PennyConfig(data_dir=str(tmp_path), demo_scale=0.02, as_of="2026-11-18")
    wh = Warehouses(cfg)
    generator.generate(wh.path("demo"), "demo", scale=0.02, end_date=old)
    mine = wh.path("mine")
    with duckdb.connect(str(mine)) as c:
        c.execute("CREATE TABLE invoices AS SELECT DATE '2026-01-01' AS issue_date, 10.0 AS amount")
    before = mine.stat().st_mtime_ns

    cur = wh.cursor("demo")
    assert cur.execute("SELECT max(end_date) FROM warehouse_info").fetchone()[0] == dt.date(2026, 11, 18)
    assert wh.cursor("mine").execute("SELECT count(*) FROM invoices").fetchone()[0] == 1
    assert mine.stat().st_mtime_ns == before
    wh.close()
