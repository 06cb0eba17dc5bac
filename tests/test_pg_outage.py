"""PostgreSQL restarted under a running Penny: while it is down every store call is a 503 store_unavailable with
a sentence (no driver traceback), and once it is back the same objects work again, rebuilt by nobody."""

from __future__ import annotations

from contextlib import contextmanager

import pytest

from penny_jupyter.engine import Engine
from penny_jupyter.errors import StoreUnavailable, to_wire
from penny_jupyter.settings import PennyConfig
from penny_jupyter.tenancy import Principal
from penny_jupyter.tools.base import ArtifactDraft

ALICE = Principal("alice", "acme", frozenset({"member"}))
SENTENCE = "Penny's database is not answering; try again in a moment"


@contextmanager
def stopped(pg_server):
    pg_server.stop()
    try:
        yield
    finally:
        if not pg_server.running():
            pg_server.start()


def refused(call) -> None:
    with pytest.raises(StoreUnavailable) as e:
        call()
    wire = to_wire(e.value)
    assert (wire.status, wire.code, wire.message) == (503, "store_unavailable", SENTENCE)
    assert wire.headers() == {"Retry-After": "2"}


def test_a_restarted_postgresql_answers_503_then_works_again_without_rebuilding(tmp_path, pg_server, pg_database):
    engine = Engine(PennyConfig(data_dir=str(tmp_path / "data"), database_url=pg_database))
    try:
        conv = engine.conversations.create(ALICE, "before")
        engine.conversations.append_message(ALICE, conv.id, "user", "one")
        art = engine.artifacts.save(ALICE, ArtifactDraft("table", "t", {"columns": [], "rows": []}))
        engine.audit.record(tenant="acme", user="alice", tool="t", params_digest="d", outcome="ok", duration_ms=1)

        with stopped(pg_server):
            refused(lambda: engine.conversations.list(ALICE))
            refused(lambda: engine.conversations.append_message(ALICE, conv.id, "user", "lost?"))
            refused(lambda: engine.conversations.create(ALICE, "during"))
            refused(lambda: engine.artifacts.get(ALICE, art["id"]))
            refused(lambda: engine.artifacts.add_version(ALICE, art["id"], ArtifactDraft("table", "t2", {})))
            refused(lambda: engine.audit.record(tenant="acme", user="alice", tool="t", params_digest="d",
                                                outcome="ok", duration_ms=1))
            refused(lambda: engine.audit.verify("acme"))

        # back: the pool's dead connections are replaced on checkout; nothing half-written during the outage
        assert [c.title for c in engine.conversations.list(ALICE)] == ["before"]
        assert [m.content for m in engine.conversations.messages(ALICE, conv.id)] == ["one"]
        assert engine.conversations.append_message(ALICE, conv.id, "assistant", "two").seq == 2
        assert [v["version"] for v in engine.artifacts.versions(ALICE, art["id"])] == [1]
        assert engine.artifacts.add_version(ALICE, art["id"], ArtifactDraft("table", "t2", {}))["version"] == 2
        engine.audit.record(tenant="acme", user="alice", tool="t", params_digest="d", outcome="ok", duration_ms=2)
        assert engine.audit.verify("acme") == (True, None) and len(engine.audit.list("acme")) == 2
    finally:
        engine.close()


def test_penny_started_while_postgresql_is_down_says_so_and_works_once_it_is_up(tmp_path, pg_server, pg_database):
    engine = Engine(PennyConfig(data_dir=str(tmp_path / "data"), database_url=pg_database))
    try:
        with stopped(pg_server):
            refused(lambda: engine.conversations)  # the engine builds its database (and migrates) on first use
        assert engine.conversations.list(ALICE) == []
        assert engine.db.schema_version >= 3
    finally:
        engine.close()


def test_after_a_restart_nobody_saw_the_first_request_finds_its_connection_replaced(tmp_path, pg_server,
                                                                                   pg_database, monkeypatch):
    """No request during the outage: the pool still holds connections the restart killed. One idle for
    PING_IDLE_SECONDS is tested on checkout and replaced, so the first request works; without that test (a
    connection in steady use) that one request is refused and the pool emptied, and the next one works."""
    import penny_jupyter.storage.database as database

    engine = Engine(PennyConfig(data_dir=str(tmp_path / "data"), database_url=pg_database))
    try:
        engine.conversations.create(ALICE, "kept")
        monkeypatch.setattr(database, "PING_IDLE_SECONDS", 0.0)  # every checkout counts as idle: no sleeping
        pg_server.stop()
        pg_server.start()
        assert [c.title for c in engine.conversations.list(ALICE)] == ["kept"]

        monkeypatch.setattr(database, "PING_IDLE_SECONDS", 1e9)  # never tested on checkout
        pg_server.stop()
        pg_server.start()
        refused(lambda: engine.conversations.list(ALICE))
        assert [c.title for c in engine.conversations.list(ALICE)] == ["kept"]
    finally:
        engine.close()
