"""run_python on a tenant whose warehouse is its own PostgreSQL: the sandbox gets the data, not the connection.

penny.sql goes back to the server over the run's own Unix socket (sandbox/sqlchannel.py), which runs each query
as the caller with run_sql's checks and row cap. The code inside sees run_sql's sentences as exceptions, never
holds the URL or its password, still has no network, and one tenant's code never reads another's database.
Real PostgreSQL, real bubblewrap.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import sys
import threading
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from data_fixtures import AS_OF, config, data_dir, warehouse_template  # noqa: F401,E402 (fixtures)
from pg_server import USER  # noqa: E402

from penny_jupyter.data.warehouse import Warehouses  # noqa: E402
from penny_jupyter.errors import PennyError, ToolTimeout  # noqa: E402
from penny_jupyter.sandbox import runner, sqlchannel  # noqa: E402
from penny_jupyter.tenancy import Principal  # noqa: E402
from penny_jupyter.tools.base import ToolContext  # noqa: E402
from penny_jupyter.tools.python import RUN_PYTHON, PythonParams  # noqa: E402
from penny_jupyter.tools.sql import RUN_SQL, SqlParams  # noqa: E402

pytestmark = pytest.mark.skipif(not runner.probe()[0], reason="bubblewrap cannot isolate on this machine")

READER = "penny_ro"
# Trust auth on the test cluster ignores it, so it can be put in the URL and looked for inside the sandbox.
PASSWORD = f"pw-{uuid.uuid4().hex}"


def _company(pg_server, tmp_path_factory, template: str):
    url = pg_server.create_database()
    pg_server.load_duckdb(warehouse_template(tmp_path_factory, template), url, reader=READER)
    return url, url.replace(f"//{USER}@", f"//{READER}:{PASSWORD}@")


@pytest.fixture(scope="module")
def databases(pg_server, tmp_path_factory):
    """Two companies, two databases: acme holds the demo company, globex another one."""
    acme, acme_url = _company(pg_server, tmp_path_factory, "demo")
    globex, globex_url = _company(pg_server, tmp_path_factory, "acme")
    yield SimpleNamespace(acme=acme_url, globex=globex_url, names={"acme": acme.rsplit("/", 1)[1],
                                                                   "globex": globex.rsplit("/", 1)[1]})
    pg_server.drop_database(acme)
    pg_server.drop_database(globex)


@pytest.fixture
def warehouses(config, databases):  # noqa: F811
    config.tenant_sources = {"acme": {"warehouse": databases.acme}, "globex": {"warehouse": databases.globex}}
    config.sandbox_timeout, config.sandbox_cpu_seconds, config.sandbox_output_bytes = 10.0, 10, 4 << 20
    w = Warehouses(config)
    yield w
    w.close()


def ctx(warehouses, tenant: str = "acme") -> ToolContext:
    return ToolContext(principal=Principal("alice", tenant), warehouses=warehouses, config=warehouses.config,
                       today=AS_OF)


def run(c: ToolContext, code: str):
    return RUN_PYTHON.run(c, PythonParams(code=code))


def direct(pg_server, databases, sql: str, params=None, tenant: str = "acme") -> list[tuple]:
    import psycopg

    with psycopg.connect(pg_server.dsn(databases.names[tenant])) as conn:
        return conn.execute(sql, params).fetchall()


def printed(res) -> dict:
    return json.loads(res.data["stdout"].strip().splitlines()[-1])


def no_channel_left() -> bool:
    return not [t for t in threading.enumerate() if t.name == "penny-sql-channel"]


REVENUE = "SELECT region, sum(amount) AS revenue FROM invoices GROUP BY 1 ORDER BY 1"


def test_penny_sql_returns_what_run_sql_returns(warehouses, pg_server, databases):
    code = f"""
import json
df = penny.sql({REVENUE!r})
penny.show(df, title="Revenue by region")
d = penny.sql("SELECT issue_date, amount::numeric(12, 2) AS amount, invoice_id FROM invoices "
              "ORDER BY issue_date, invoice_id LIMIT 3")
n = penny.sql("SELECT count(*) AS n FROM invoices WHERE region LIKE 'E%' AND amount > $1 AND status = $2", 100, "paid")
print(json.dumps({{"rows": df.values.tolist(), "dates": [x.isoformat() for x in d.issue_date],
                  "dtypes": [str(t) for t in d.dtypes], "n": int(n.n[0]), "truncated": df.attrs["truncated"],
                  "db": penny.sql("SELECT current_database() AS db").db[0]}}))
"""
    r = run(ctx(warehouses), code)
    assert r.failure is None, r.data["stderr"]
    got = printed(r)
    by_sql = RUN_SQL.run(ctx(warehouses), SqlParams(query=REVENUE)).data["rows"]
    want = direct(pg_server, databases, REVENUE)
    assert [g[0] for g in got["rows"]] == [w[0] for w in want] == [s[0] for s in by_sql]
    assert [g[1] for g in got["rows"]] == pytest.approx([float(w[1]) for w in want]) == [s[1] for s in by_sql]
    # dates are dates (datetime64, as DuckDB's .df() gives), a NUMERIC is a float, a bigint an integer
    dates = direct(pg_server, databases, "SELECT issue_date FROM invoices ORDER BY issue_date, invoice_id LIMIT 3")
    assert got["dates"] == [f"{d.isoformat()}T00:00:00" for (d,) in dates]
    assert got["dtypes"][0].startswith("datetime64") and got["dtypes"][1:] == ["float64", "int64"]
    # values bound as the server binds them (`$1`), with a literal % in the same query
    want_n = direct(pg_server, databases, "SELECT count(*) FROM invoices WHERE region LIKE 'E%%' AND amount > %s "
                    "AND status = %s", [100, "paid"])[0][0]
    assert got["n"] == want_n > 0
    assert got["truncated"] is False and got["db"] == databases.names["acme"]
    table = r.artifacts[0]
    assert table.type == "table" and table.title == "Revenue by region"
    assert [c["format"] for c in table.spec["columns"]] == ["text", "number"]
    assert [row["region"] for row in table.spec["rows"]] == [w[0] for w in want]
    assert no_channel_left()


def test_refusals_reach_the_code_as_run_sqls_sentences(warehouses, pg_server, databases):
    refused = ["DELETE FROM invoices", "SELECT pg_read_file('/etc/passwd')", "SELECT 1; DROP TABLE customers",
               "SELECT * FROM pg_authid",  # past the guard: PostgreSQL itself refuses the role
               "SELECT count(*) FROM invoices WHERE region = ?"]  # two values for one placeholder
    code = f"""
import json
out = []
for q in {refused!r}:
    try:
        penny.sql(q, *(["EMEA", "NA"] if "?" in q else []))
        out.append(None)
    except penny.SqlError as e:
        out.append([e.code, str(e)])
out.append(int(penny.sql("SELECT count(*) AS n FROM invoices").n[0]))
print(json.dumps(out))
penny.sql("DELETE FROM invoices")
"""
    r = run(ctx(warehouses), code)
    got = printed(r)
    for query, (code_, message) in zip(refused[:4], got):
        with pytest.raises(PennyError) as e:
            RUN_SQL.run(ctx(warehouses), SqlParams(query=query))
        assert (code_, message) == (e.value.code, e.value.message)
        assert "Traceback" not in message and "psycopg" not in message
    assert got[0][0] == "sql_refused" and "DELETE statements are not allowed" in got[0][1]
    assert "pg_read_file" in got[1][1] and "2 statements" in got[2][1] and "permission denied" in got[3][1]
    assert got[4] == ["sql_error", "the query failed: 2 values were given and the query uses 1 (as ? or $1). Fix the "
                      "SQL and try again (SHOW TABLES and DESCRIBE <table> list the tables and columns)."]
    # the code that did not catch it failed at its line with the sentence; the warehouse is as it was
    assert r.failure.message.startswith("Line 12 raised penny.SqlError: DELETE statements are not allowed")
    assert r.failure.message.endswith("over them. Fix the code and run it again.")
    count = direct(pg_server, databases, "SELECT count(*) FROM invoices")[0][0]
    assert got[5] == count > 0
    assert RUN_SQL.run(ctx(warehouses), SqlParams(query="SELECT count(*) AS n FROM invoices")).data["rows"] == [[count]]


def test_the_row_cap_holds_and_the_frame_says_it_was_cut(warehouses):
    code = """
import json
df = penny.sql("SELECT g FROM generate_series(1, 200000) AS g")
print(json.dumps({"n": len(df), "truncated": df.attrs["truncated"], "last": int(df.g.iloc[-1]),
                  "dtype": str(df.g.dtype)}))
"""
    cap = warehouses.config.sql_row_cap
    r = run(ctx(warehouses), code)
    assert printed(r) == {"n": cap, "truncated": True, "last": cap, "dtype": "int32"}
    assert f"penny.sql: the result has more rows than the {cap:,} that came back" in r.data["stderr"]


def test_the_sandbox_holds_no_credentials_and_has_no_network(warehouses, pg_server, databases):
    code = f"""
import glob, json, os, socket
blobs = {{"environ": json.dumps(dict(os.environ))}}
paths = glob.glob("/proc/[0-9]*/cmdline") + glob.glob("/proc/[0-9]*/environ") + glob.glob("/opt/penny/*.py")
for top in ("/work", "/tmp"):
    paths += [os.path.join(root, f) for root, dirs, files in os.walk(top) for f in files]
for p in paths:
    if p != "/work/.penny/code.py":  # this text, which names the port to try
        try:
            blobs[p] = open(p, "rb").read(1 << 20).decode(errors="replace")
        except OSError:
            pass
try:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(2)
    s.connect(("127.0.0.1", {pg_server.port}))
    net = "ALLOWED"
except OSError as e:
    net = "DENIED " + type(e).__name__
try:
    penny.db()
    db = "ALLOWED"
except RuntimeError as e:
    db = str(e)
who = penny.sql("SELECT current_user AS u").u[0]
print(json.dumps({{"blobs": blobs, "net": net, "db": db, "who": who, "socket": os.environ["PENNY_SQL_SOCKET"]}}))
"""
    r = run(ctx(warehouses), code)
    got = printed(r)
    assert "environ" in got["blobs"] and any(p.endswith("/cmdline") for p in got["blobs"]), got["blobs"].keys()
    for needle in (PASSWORD, databases.names["acme"], f":{pg_server.port}", "postgresql+psycopg", "postgresql://"):
        assert [p for p, text in got["blobs"].items() if needle in text] == [], needle
    assert got["net"].startswith("DENIED")
    assert "use penny.sql(query)" in got["db"]
    assert got["who"] == READER  # the URL's role: the server ran the query as the tenant's reader
    assert got["socket"] == "/work/.penny/sql.sock"
    assert PASSWORD not in json.dumps(r.data)


def test_another_tenant_reads_its_own_database(warehouses, pg_server, databases):
    code = """
import json
df = penny.sql("SELECT current_database() AS db, sum(amount) AS revenue FROM invoices")
print(json.dumps({"db": df.db[0], "revenue": float(df.revenue[0])}))
"""
    globex = printed(run(ctx(warehouses, "globex"), code))
    acme = printed(run(ctx(warehouses, "acme"), code))
    assert globex["db"] == databases.names["globex"] and acme["db"] == databases.names["acme"]
    assert globex["revenue"] == pytest.approx(direct(pg_server, databases, "SELECT sum(amount) FROM invoices",
                                                     tenant="globex")[0][0])
    assert globex["revenue"] != pytest.approx(acme["revenue"])


@pytest.mark.parametrize("how", ["timeout", "cancel"])
def test_a_query_in_flight_stops_with_the_run(warehouses, pg_server, databases, how):
    c = ctx(warehouses)
    if how == "timeout":
        warehouses.config.sandbox_timeout = 2.0
    else:  # as the executor does: the flag, then interrupt() from another thread
        stop = threading.Event()
        c.cancelled = stop.is_set
        threading.Timer(1.5, lambda: (stop.set(), c.interrupt())).start()
    started = time.monotonic()
    with pytest.raises(PennyError) as e:
        run(c, "print('asking', flush=True)\npenny.sql('SELECT pg_sleep(30)')")
    assert e.value.code == ("timeout" if how == "timeout" else "cancelled")
    assert time.monotonic() - started < 8  # not the 30 s of the query, nor its 10 s statement_timeout
    assert no_channel_left()
    sleeping = direct(pg_server, databases, "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
                      "AND query LIKE %s", ["%pg_sleep(30)%"])[0][0]
    assert sleeping == 0  # (this query's own text says $1: psycopg binds on the server)
    assert isinstance(e.value, ToolTimeout) == (how == "timeout")


def test_unsafe_mode_reaches_the_channel_at_its_host_path(warehouses, monkeypatch, pg_server, databases):
    monkeypatch.setattr(runner, "BWRAP", "/nonexistent/bwrap")
    warehouses.config.sandbox_mode = "unsafe-no-isolation"
    code = ("import os\nprint(os.environ['PENNY_SQL_SOCKET'])\n"
            "int(penny.sql('SELECT count(*) AS n FROM customers').n[0])")
    r = run(ctx(warehouses), code)
    assert r.data["isolation"] == "none"
    assert int(r.data["value"]) == direct(pg_server, databases, "SELECT count(*) FROM customers")[0][0]
    path = r.data["stdout"].strip()
    assert path.endswith("/.penny/sql.sock") and not path.startswith("/work/") and not os.path.exists(path)


def test_a_warehouse_file_run_gets_no_channel(tmp_path):
    cmd = runner.build_command(str(tmp_path), "/data/x.duckdb", runner.Limits())
    env = {cmd[i + 1]: cmd[i + 2] for i, a in enumerate(cmd) if a == "--setenv"}
    assert env["PENNY_SQL_SOCKET"] == "" and env["PENNY_WAREHOUSE"] == runner.WAREHOUSE_INSIDE
    cmd = runner.build_command(str(tmp_path), None, runner.Limits(), sql=True)
    env = {cmd[i + 1]: cmd[i + 2] for i, a in enumerate(cmd) if a == "--setenv"}
    assert env["PENNY_SQL_SOCKET"] == "/work/.penny/sql.sock" and env["PENNY_WAREHOUSE"] == ""
    assert runner.WAREHOUSE_INSIDE not in cmd


# ---------------------------------------------------------------------------- the channel's own limits
def _ask(path: str, body: bytes, header: int | None = None) -> dict:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(path)
        s.sendall(struct.pack(">I", len(body) if header is None else header) + body)
        size = struct.unpack(">I", s.recv(4))[0]
        data = b""
        while len(data) < size:
            data += s.recv(size - len(data))
        return json.loads(data)


def test_the_channel_bounds_requests_and_queries(tmp_path, monkeypatch):
    result = SimpleNamespace(columns=[("x", "INTEGER")], rows=[[1]], truncated=False)
    asked = []
    channel = sqlchannel.SqlChannel(lambda text, values: asked.append((text, values)) or result, max_queries=2)
    path = str(tmp_path / "sql.sock")
    with channel.serve(path):
        assert os.stat(path).st_mode & 0o777 == 0o600
        assert _ask(path, b"{}", header=sqlchannel.MAX_REQUEST_BYTES + 1)["error"]["code"] == "too_large"
        assert _ask(path, b"not json")["error"]["code"] == "bad_request"
        assert _ask(path, json.dumps({"sql": "SELECT 1", "params": [{"a": 1}]}).encode())["error"]["code"] == \
            "bad_request"
        assert _ask(path, json.dumps({"sql": "SELECT 1", "params": [2]}).encode()) == {
            "columns": [["x", "INTEGER"]], "truncated": False, "rows": [[1]]}
        _ask(path, json.dumps({"sql": "SELECT 2"}).encode())
        assert "already sent 2 queries" in _ask(path, json.dumps({"sql": "SELECT 3"}).encode())["error"]["message"]
    assert asked == [("SELECT 1", [2]), ("SELECT 2", [])]
    assert no_channel_left()
    with pytest.raises(OSError):
        _ask(path, b"{}")
    # a reply past the byte cap is cut at a row, and says so
    monkeypatch.setattr(sqlchannel, "MAX_RESPONSE_BYTES", (64 << 10) + 1000)
    big = SimpleNamespace(columns=[("s", "VARCHAR")], rows=[["x" * 100]] * 100, truncated=False)
    reply = json.loads(sqlchannel._encode(big))
    assert reply["truncated"] is True and 0 < len(reply["rows"]) < 10
