"""Queries stop at their limits for real: the query's process is killed (not just the reply sent), memory
comes back, a person runs one query at a time, and no path of the server's files comes out of run_sql."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from data_fixtures import config, data_dir  # noqa: E402,F401

from penny_jupyter.data.sqlprocess import SqlProcess  # noqa: E402
from penny_jupyter.engine import Engine  # noqa: E402
from penny_jupyter.tenancy import Principal  # noqa: E402
from penny_jupyter.tools.base import Tool, ToolResult  # noqa: E402

ALICE = Principal("alice", "demo", frozenset({"member"}))
BOB = Principal("bob", "demo", frozenset({"member"}))

RUNAWAYS = {
    "scalar": "select lpad('x', 2000000000, 'a') as s",  # one call that DuckDB's interrupt cannot stop
    "recursive": "with recursive t(n) as (select 1 union all select n + 1 from t) select count(*) from t",
}


@pytest.fixture
def engine(config):  # noqa: F811
    config.sql_timeout = 2.0
    config.tool_timeout = 20.0
    e = Engine(config)
    yield e
    e.close()


@pytest.fixture
def spied(monkeypatch):
    """Every query a SqlProcess ran: (process, seconds it took, finished) once its caller got the answer."""
    seen = []
    real = SqlProcess.query

    def query(self, sql, limit, timeout):
        started = time.monotonic()
        try:
            return real(self, sql, limit, timeout)
        finally:
            seen.append((self, time.monotonic() - started))

    monkeypatch.setattr(SqlProcess, "query", query)
    return seen


async def _sql(engine, who, query):
    return await engine.executor.run(who, engine.executor.prepare("run_sql", {"query": query}, who))


def _rss_mb(pid: int | str = "self") -> float:
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] in "ZX"
    except FileNotFoundError:
        return True


@pytest.mark.parametrize("kind", sorted(RUNAWAYS))
def test_a_runaway_query_is_stopped_at_sql_timeout_and_its_work_ends(engine, spied, kind):
    asyncio.run(_sql(engine, ALICE, "select 1"))  # the process is started and warm
    outcome = asyncio.run(_sql(engine, ALICE, RUNAWAYS[kind]))
    assert not outcome.ok and outcome.error.code == "timeout"
    assert "longer than 2 seconds and was stopped" in outcome.error.message
    proc, took = spied[-1]
    assert took < 2.0 + 3.0, took  # the lpad alone runs ~50 s here: its process was killed, not waited for
    deadline = time.monotonic() + 5
    while not _gone(proc.proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _gone(proc.proc.pid), "the query's process is still running"
    # and the next query of the same person runs at once, on a fresh process
    again = asyncio.run(_sql(engine, ALICE, "select count(*) as n from invoices"))
    assert again.ok and again.result.data["rows"][0][0] > 0
    assert spied[-1][0] is not proc


@pytest.mark.parametrize("query", ["select repeat('ab', 1500000000) as s",  # past DuckDB's accounting
                                   "select length(string_agg(lpad('x', 50000000, 'a'), '')) from range(40)"])
def test_a_query_that_eats_memory_is_stopped_and_the_server_does_not_grow(engine, query):
    engine.config.sql_timeout = 60.0
    engine.config.warehouse_memory_limit = "256MB"
    asyncio.run(_sql(engine, ALICE, "select 1"))
    before = _rss_mb()
    outcome = asyncio.run(_sql(engine, ALICE, query))
    assert not outcome.ok and outcome.error.code == "sql_out_of_memory", outcome.error
    assert "more memory than the warehouse allows (256MB)" in outcome.error.message
    assert _rss_mb() - before < 200


def test_one_query_at_a_time_per_person_others_are_not_held_up(engine):
    async def main():
        runaway = asyncio.ensure_future(_sql(engine, ALICE, RUNAWAYS["scalar"]))
        await asyncio.sleep(0.7)  # alice's first query is running
        second = await _sql(engine, ALICE, "select 1 as one")
        bobs = await _sql(engine, BOB, "select 2 as two")
        return await runaway, second, bobs

    first, second, bobs = asyncio.run(main())
    assert first.error.code == "timeout"
    assert not second.ok and second.error.code == "rate_limited" and second.error.status == 429
    assert "you already have a query running" in second.error.message and second.error.retry_after >= 1
    assert bobs.ok and bobs.result.data["rows"] == [[2]]
    assert asyncio.run(_sql(engine, ALICE, "select 3 as three")).ok  # once it ended, alice runs again


def test_a_cancelled_query_is_killed_too(engine, spied):
    engine.config.sql_timeout = 60.0

    async def main():
        task = asyncio.ensure_future(_sql(engine, ALICE, RUNAWAYS["recursive"]))
        await asyncio.sleep(1.5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    deadline = time.monotonic() + 5
    while not spied and time.monotonic() < deadline:
        time.sleep(0.05)
    assert spied, "the tool's thread is still waiting on its query"
    proc, took = spied[-1]
    assert took < 5 and _gone(proc.proc.pid) or proc.proc.wait(5) is not None


def test_a_tool_query_is_interrupted_at_the_tool_timeout_and_its_thread_ends(engine):
    ended = threading.Event()

    def runaway(ctx, params):
        try:
            ctx.warehouse().execute(RUNAWAYS["recursive"]).fetchall()
            return ToolResult(text="finished?")
        finally:
            ended.set()

    from penny_jupyter.tools.kpis import KpiParams

    engine.tools.register(Tool(name="runaway", description="a query that never ends", params=KpiParams,
                               run=runaway))
    engine.config.tool_timeout = 1.0
    outcome = asyncio.run(engine.executor.run(ALICE, engine.executor.prepare("runaway", {}, ALICE)))
    assert not outcome.ok and outcome.error.code == "timeout"
    assert ended.wait(5), "the tool's thread kept running its query after the timeout"


@pytest.mark.parametrize("query", [
    "select * from pragma_database_list", "select * from duckdb_databases", "select path from main.duckdb_databases",
    "select database_name, path from duckdb_databases()", "select * from sqlite_master",
])
def test_run_sql_does_not_show_the_servers_paths(engine, query, data_dir):  # noqa: F811
    outcome = asyncio.run(_sql(engine, ALICE, query))
    assert not outcome.ok and outcome.error.code == "sql_refused"
    assert str(data_dir) not in outcome.error.message


def test_what_is_left_says_database_names_only(engine, data_dir):  # noqa: F811
    ok = asyncio.run(_sql(engine, ALICE, "select current_database() as db, current_schema() as s"))
    assert ok.ok and ok.result.data["rows"] == [["demo", "main"]]
    # a path in an error message (DuckDB names its extension folder) is blanked out too
    engine.config.sql_timeout = 10.0
    for q in ("select * from information_schema.schemata", "show databases"):
        out = asyncio.run(_sql(engine, ALICE, q))
        text = repr(out.result.data if out.ok else out.error.message)
        assert str(data_dir) not in text and "/warehouses" not in text, text


def test_a_query_process_ends_when_its_server_is_killed(tmp_path, data_dir):  # noqa: F811
    """A server killed outright cannot stop its children: they notice and end, runaway query or not."""
    import subprocess
    import textwrap

    script = tmp_path / "server.py"
    script.write_text(textwrap.dedent(f"""
        import threading, time
        from pathlib import Path
        from penny_jupyter.data.sqlprocess import SqlProcess
        proc = SqlProcess(Path({str(data_dir / 'warehouses' / 'demo.duckdb')!r}), threads=1, memory_limit="1GB")
        print(proc.proc.pid, flush=True)
        threading.Thread(target=proc.query, args=("select lpad('x', 2000000000, 'a')", 1, 600), daemon=True).start()
        time.sleep(600)
    """))
    server = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    child = int(server.stdout.readline())
    time.sleep(1.0)  # the child is inside its lpad
    assert not _gone(child)
    server.kill()
    server.wait()
    deadline = time.monotonic() + 10
    while not _gone(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _gone(child), "the query process outlived its server"
