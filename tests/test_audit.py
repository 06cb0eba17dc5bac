"""The audit log: a row for every call however it ended, a per-tenant hash chain that shows tampering.
Every test runs on SQLite and on PostgreSQL (db_fixtures.db_url)."""

from __future__ import annotations

import asyncio
import threading

import pytest
from pydantic import BaseModel
from sqlalchemy import text

from penny_jupyter.errors import InvalidParams, NotFound
from penny_jupyter.settings import PennyConfig
from penny_jupyter.storage import Database
from penny_jupyter.tenancy import Principal
from penny_jupyter.tools.audit import AuditLog, digest_params
from penny_jupyter.tools.executor import ToolExecutor
from penny_jupyter.tools.base import Tool, ToolResult
from penny_jupyter.tools.registry import ToolRegistry

ALICE = Principal("alice", "acme")
BOB = Principal("bob", "globex")


class CountParams(BaseModel):
    n: int = 1


def count(ctx, params):
    return ToolResult(text=f"{params.n} rows", row_count=params.n)


def broken(ctx, params):
    raise RuntimeError("bug")


@pytest.fixture
def db(db_url):
    d = Database(db_url)
    yield d
    d.close()


@pytest.fixture
def ex(tmp_path, db):
    reg = ToolRegistry()
    reg.register(Tool("count", "counts", CountParams, count))
    reg.register(Tool("broken", "raises", CountParams, broken))
    cfg = PennyConfig(data_dir=str(tmp_path), rate_limit_user="3/minute", rate_limit_tools={})
    return ToolExecutor(reg, None, None, cfg, audit=AuditLog(db))


def call(ex, who, name, params):
    return asyncio.run(ex.run(who, ex.prepare(name, params, who), persist=False))


def test_migration_v2_adds_the_audit_table(db):
    assert db.schema_version >= 2


def test_every_call_is_recorded_and_the_chain_verifies(ex):
    assert call(ex, ALICE, "count", {"n": 7}).ok
    assert not call(ex, ALICE, "broken", {}).ok
    with pytest.raises(InvalidParams):
        ex.prepare("count", {"n": "many"}, ALICE)
    with pytest.raises(NotFound):
        ex.prepare("nope", {}, ALICE)
    call(ex, ALICE, "count", {})  # 3rd counted call: the last one allowed this minute
    assert call(ex, ALICE, "count", {}).error.code == "rate_limited"

    rows = ex.audit.list("acme")
    assert [r["outcome"] for r in rows] == ["rate_limited", "ok", "unknown_tool", "invalid_params", "tool_failed",
                                            "ok"]
    first = rows[-1]
    assert first["tool"] == "count" and first["user"] == "alice" and first["rowCount"] == 7
    assert first["paramsDigest"] == digest_params({"n": 7}) and first["prevHash"] == ""
    assert first["at"].endswith("Z") and first["durationMs"] >= 0
    assert rows[-2]["prevHash"] == first["hash"]
    assert ex.audit.verify("acme") == (True, None)


def test_list_pages_back_and_never_shows_another_tenant(ex):
    for n in range(3):
        call(ex, ALICE, "count", {"n": n})
    call(ex, BOB, "count", {"n": 9})
    alice = ex.audit.list("acme")
    assert len(alice) == 3 and {r["tenant"] for r in alice} == {"acme"}
    assert [r["rowCount"] for r in ex.audit.list("acme", limit=2)] == [2, 1]
    assert [r["rowCount"] for r in ex.audit.list("acme", before=alice[1]["id"])] == [0]
    bob = ex.audit.list("globex")
    assert [r["rowCount"] for r in bob] == [9] and bob[0]["prevHash"] == ""  # chains are per tenant
    assert ex.audit.verify("globex") == (True, None) and ex.audit.verify("acme") == (True, None)


def test_an_edited_row_breaks_the_chain_at_that_row(ex, db):
    for n in range(4):
        call(ex, ALICE, "count", {"n": n})
    call(ex, BOB, "count", {})
    ids = [r["id"] for r in reversed(ex.audit.list("acme"))]
    with db.begin() as conn:
        conn.execute(text("UPDATE audit SET outcome = 'ok', row_count = 1000 WHERE id = :id"), {"id": ids[2]})
    assert ex.audit.verify("acme") == (False, ids[2])
    assert ex.audit.verify("globex") == (True, None)  # another tenant's chain is untouched


def test_a_deleted_row_is_seen_at_the_next_one(ex, db):
    for n in range(3):
        call(ex, ALICE, "count", {"n": n})
    ids = [r["id"] for r in reversed(ex.audit.list("acme"))]
    with db.begin() as conn:
        conn.execute(text("DELETE FROM audit WHERE id = :id"), {"id": ids[1]})
    assert ex.audit.verify("acme") == (False, ids[2])


def test_a_rehashed_row_still_breaks_the_next_link(ex, db):
    """Recomputing the edited row's own hash is not enough: the next row names the old one."""
    from penny_jupyter.tools.audit import chain_hash

    for n in range(3):
        call(ex, ALICE, "count", {"n": n})
    rows = list(reversed(ex.audit.list("acme")))
    forged = {"at": rows[1]["at"], "tenant": "acme", "user": "alice", "tool": "count",
              "params_digest": rows[1]["paramsDigest"], "outcome": "ok", "duration_ms": 0.0,
              "row_count": rows[1]["rowCount"]}
    with db.begin() as conn:
        conn.execute(text("UPDATE audit SET duration_ms = 0, hash = :h WHERE id = :id"),
                     {"h": chain_hash(rows[1]["prevHash"], forged), "id": rows[1]["id"]})
    assert ex.audit.verify("acme") == (False, rows[2]["id"])


def test_concurrent_writers_keep_one_chain(tmp_path, db):
    """Threads with their own connections (and a second Database on the same file, as the kernel would
    open) append at once: no fork in the chain, no lost row."""
    other = Database(db.url)
    logs = [AuditLog(db), AuditLog(other)]
    errors = []

    def write(i):
        try:
            for j in range(15):
                logs[i % 2].record(tenant="acme", user=f"u{i}", tool="t", params_digest="d", outcome="ok",
                                   duration_ms=j, row_count=j)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    other.close()
    assert errors == []
    rows = AuditLog(db).list("acme", limit=1000)
    assert len(rows) == 90
    assert AuditLog(db).verify("acme") == (True, None)


def test_the_log_offers_no_way_to_change_a_row():
    assert not [m for m in dir(AuditLog) if m.startswith(("update", "delete", "remove", "edit"))]


def test_a_writer_whose_remembered_head_is_stale_appends_after_the_real_one(db):
    """Two logs on one database (a kernel and the server): each remembers the head it wrote last."""
    one, two = AuditLog(db), AuditLog(db)
    for log in (one, two, one, one, two):
        log.record(tenant="acme", user="u", tool="t", params_digest="d", outcome="ok", duration_ms=1.5, row_count=None)
    rows = one.list("acme")
    assert len(rows) == 5 and len({r["prevHash"] for r in rows}) == 5
    assert one.verify("acme") == (True, None)
