"""Your own data: tenant_sources as Parquet files (local and on S3) or an existing DuckDB file."""

import logging
import sys
from pathlib import Path

import duckdb
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from data_fixtures import AS_OF, SCALE, warehouse_template  # noqa: E402

from penny_jupyter.data.warehouse import Warehouses  # noqa: E402
from penny_jupyter.errors import PennyError  # noqa: E402
from penny_jupyter.settings import PennyConfig  # noqa: E402
from penny_jupyter.tenancy import Principal  # noqa: E402
from penny_jupyter.tools.kpis import GET_COMPANY_KPIS, KpiParams  # noqa: E402
from penny_jupyter.tools.base import ToolContext  # noqa: E402
from penny_jupyter.tools.sql import RUN_SQL, SqlParams  # noqa: E402


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """The demo warehouse of 'acme' and one Parquet file per table exported from it."""
    src = warehouse_template(tmp_path_factory, "acme")
    out = tmp_path_factory.mktemp("parquet")
    with duckdb.connect(str(src), read_only=True) as c:
        tables = [r[0] for r in c.execute("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall()]
        for t in tables:
            c.execute(f"COPY (SELECT * FROM {t}) TO '{out / (t + '.parquet')}' (FORMAT parquet)")
    return src, out, tables


def make(tmp_path, sources: dict) -> tuple[Warehouses, PennyConfig]:
    cfg = PennyConfig(data_dir=str(tmp_path / "data"), as_of=AS_OF.isoformat(), demo_scale=SCALE,
                      tenant_sources=sources)
    return Warehouses(cfg), cfg


def ctx_for(wh, cfg, tenant="acme") -> ToolContext:
    return ToolContext(principal=Principal("alice", tenant), warehouses=wh, config=cfg, today=cfg.today())


def kpis(ctx, **p):
    return GET_COMPANY_KPIS.run(ctx, KpiParams(**p)).data["metrics"]


@pytest.fixture(scope="module")
def expected(exported, tmp_path_factory):
    """KPIs computed on the original DuckDB file."""
    src, _, _ = exported
    wh, cfg = make(tmp_path_factory.mktemp("orig"), {"acme": {"duckdb": str(src)}})
    try:
        c = ctx_for(wh, cfg)
        return {p: kpis(c, period=p) for p in ("MTD", "YTD")}, kpis(c, period="QTD", unit="EMEA")
    finally:
        wh.close()


def test_local_parquet_tables_give_the_same_kpis(tmp_path, exported, expected):
    src, out, tables = exported
    wh, cfg = make(tmp_path, {"acme": {"tables": {t: str(out / f"{t}.parquet") for t in tables}}})
    try:
        c = ctx_for(wh, cfg)
        assert {p: kpis(c, period=p) for p in ("MTD", "YTD")} == expected[0]
        assert kpis(c, period="QTD", unit="EMEA") == expected[1]
        built = wh.ensure("acme")
        assert built.parent.parent == cfg.data_path / "sources" / "acme" and built.name == "acme.duckdb"
        # same config, same files: no rebuild; the query connection is the locked-down one
        assert wh.refresh("acme") == built
        cur = wh.cursor("acme")
        assert cur.execute("SELECT current_setting('enable_external_access')").fetchone()[0] is False
        assert cur.execute("SELECT count(*) FROM penny_source_info").fetchone()[0] == 1
    finally:
        wh.close()


def test_changed_files_or_config_build_a_new_file(tmp_path, exported):
    _, out, tables = exported
    mine = tmp_path / "svc"
    mine.mkdir()
    with duckdb.connect() as c:
        c.execute(f"COPY (SELECT * FROM read_parquet('{out / 'services.parquet'}') LIMIT 3) TO '{mine / 'a.parquet'}'")
        c.execute(f"COPY (SELECT * FROM read_parquet('{out / 'services.parquet'}') LIMIT 2) TO '{mine / 'b.csv'}'")
    wh, cfg = make(tmp_path, {"acme": {"tables": {"services": str(mine / "*.parquet"), "extra": str(mine / "b.csv")}}})
    try:
        c = ctx_for(wh, cfg)
        first = wh.ensure("acme")
        assert RUN_SQL.run(c, SqlParams(query="SELECT count(*) FROM services")).data["rows"] == [[3]]
        assert RUN_SQL.run(c, SqlParams(query="SELECT count(*) FROM extra")).data["rows"] == [[2]]
        with duckdb.connect() as d:  # a second Parquet file lands in the glob
            d.execute(f"COPY (SELECT * FROM read_parquet('{out / 'services.parquet'}') LIMIT 4) TO "
                      f"'{mine / 'c.parquet'}'")
        second = wh.refresh("acme")
        assert second != first and not first.exists()
        assert RUN_SQL.run(c, SqlParams(query="SELECT count(*) FROM services")).data["rows"] == [[7]]
    finally:
        wh.close()


@pytest.fixture(scope="module")
def s3():
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield server, f"http://{host}:{port}"
    server.stop()


def test_parquet_on_s3_gives_the_same_kpis(tmp_path, exported, expected, s3, monkeypatch):
    import s3fs

    _, url = s3
    _, out, tables = exported
    fs = s3fs.S3FileSystem(key="testing", secret="testing", client_kwargs={"endpoint_url": url,
                                                                           "region_name": "us-east-1"})
    fs.call_s3("create_bucket", Bucket="penny-acme")
    for t in tables:
        fs.put(str(out / f"{t}.parquet"), f"penny-acme/warehouse/{t}/part-0.parquet")
    creds = {"endpoint_url": url, "key": "testing", "secret": "testing", "region": "us-east-1"}
    wh, cfg = make(tmp_path, {"acme": {"tables": {t: f"s3://penny-acme/warehouse/{t}/*.parquet" for t in tables},
                                       "s3": creds}})
    try:
        c = ctx_for(wh, cfg)
        assert {p: kpis(c, period=p) for p in ("MTD", "YTD")} == expected[0]
        # the tenant's SQL cannot reach S3 or the credentials
        with pytest.raises(PennyError) as ei:
            RUN_SQL.run(c, SqlParams(query="SELECT * FROM read_parquet('s3://penny-acme/warehouse/days/*.parquet')"))
        assert ei.value.code == "sql_refused"
        with pytest.raises(duckdb.Error):
            wh.cursor("acme").execute("SELECT * FROM read_parquet('s3://penny-acme/warehouse/days/part-0.parquet')")
        with pytest.raises(duckdb.Error):
            wh.cursor("acme").execute("SELECT * FROM duckdb_secrets()")
    finally:
        wh.close()


def test_s3_down_or_missing_object_is_a_clear_error(tmp_path, s3):
    _, url = s3
    creds = {"endpoint_url": url, "key": "testing", "secret": "testing", "region": "us-east-1"}
    wh, cfg = make(tmp_path, {"acme": {"tables": {"invoices": "s3://no-such-bucket/invoices.parquet"}, "s3": creds}})
    try:
        with pytest.raises(PennyError) as ei:
            wh.cursor("acme")
        e = ei.value
        assert e.code == "source_unavailable" and e.status == 503
        assert "'invoices'" in e.message and "s3://no-such-bucket/invoices.parquet" in e.message
        assert "Traceback" not in e.message and "testing" not in e.message
    finally:
        wh.close()
    # an endpoint nobody listens on
    down = {**creds, "endpoint_url": "http://127.0.0.1:9"}
    wh, cfg = make(tmp_path / "down", {"acme": {"tables": {"days": "s3://penny-acme/days.parquet"}, "s3": down}})
    try:
        with pytest.raises(PennyError) as ei:
            GET_COMPANY_KPIS.run(ctx_for(wh, cfg), KpiParams())
        assert ei.value.code == "source_unavailable" and "'days'" in ei.value.message
        assert "s3://penny-acme/days.parquet" in ei.value.message and "Traceback" not in ei.value.message
    finally:
        wh.close()


def test_missing_local_file_is_a_clear_error(tmp_path, exported):
    _, out, _ = exported
    wh, cfg = make(tmp_path, {"acme": {"tables": {"days": str(out / "days.parquet"),
                                                   "invoices": str(tmp_path / "nope" / "invoices.parquet")}}})
    try:
        with pytest.raises(PennyError) as ei:
            RUN_SQL.run(ctx_for(wh, cfg), SqlParams(query="SELECT 1"))
        e = ei.value
        assert (e.code, e.status) == ("source_unavailable", 503)
        assert "'invoices'" in e.message and str(tmp_path / "nope" / "invoices.parquet") in e.message
        # a missing {"duckdb": path}
        wh2, cfg2 = make(tmp_path / "x", {"acme": {"duckdb": str(tmp_path / "none.duckdb")}})
        with pytest.raises(PennyError) as ei:
            wh2.cursor("acme")
        assert ei.value.code == "source_unavailable" and "none.duckdb" in ei.value.message
        wh2.close()
        # a file that is not a DuckDB database
        junk = tmp_path / "junk.duckdb"
        junk.write_text("not a database")
        wh3, cfg3 = make(tmp_path / "y", {"acme": {"duckdb": str(junk)}})
        with pytest.raises(PennyError) as ei:
            wh3.cursor("acme")
        assert ei.value.code == "source_unavailable" and "junk.duckdb" in ei.value.message
        wh3.close()
    finally:
        wh.close()


def test_bad_source_config_is_refused(tmp_path):
    for bad in ({"tables": {"bad name": "/x.parquet"}}, {"tables": {"t": "/x.xlsx"}}, {"tables": {}}, {"what": 1}):
        wh, _ = make(tmp_path, {"acme": bad})
        with pytest.raises(PennyError) as ei:
            wh.ensure("acme")
        assert ei.value.code == "source_config" and "tenant_sources['acme']" in ei.value.message
        wh.close()


def test_an_existing_duckdb_file_is_used_untouched(tmp_path, exported, expected):
    src, _, _ = exported
    mine = tmp_path / "mine.duckdb"
    mine.write_bytes(src.read_bytes())
    before = (mine.stat().st_mtime_ns, mine.read_bytes())
    wh, cfg = make(tmp_path, {"acme": {"duckdb": str(mine)}})
    try:
        c = ctx_for(wh, cfg)
        assert kpis(c, period="MTD") == expected[0]["MTD"]
        assert wh.ensure("acme") == mine
        assert not (cfg.data_path / "warehouses" / "acme.duckdb").exists()  # no demo generated
        with pytest.raises(duckdb.Error):
            wh.cursor("acme").execute("CREATE TABLE x AS SELECT 1")
    finally:
        wh.close()
    assert (mine.stat().st_mtime_ns, mine.read_bytes()) == before


def test_run_sql_cannot_read_the_source_files(tmp_path, exported):
    _, out, tables = exported
    wh, cfg = make(tmp_path, {"acme": {"tables": {t: str(out / f"{t}.parquet") for t in tables}}})
    try:
        c = ctx_for(wh, cfg)
        assert RUN_SQL.run(c, SqlParams(query="SELECT count(*) FROM days")).row_count == 1
        for q in (f"SELECT * FROM read_parquet('{out / 'days.parquet'}')", f"SELECT * FROM '{out / 'days.parquet'}'"):
            with pytest.raises(PennyError) as ei:
                RUN_SQL.run(c, SqlParams(query=q))
            assert ei.value.code == "sql_refused"
            with pytest.raises(duckdb.Error):  # and the connection refuses it without the guard
                wh.cursor("acme").execute(q).fetchall()
    finally:
        wh.close()
