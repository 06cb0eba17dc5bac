"""What SQLite's file-wide write lock serialised must hold on a real PostgreSQL, where two replicas (two
Database objects: separate engines and pools) write at once: conversation seqs, artifact versions, the
audit chain, migrations."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from penny_jupyter.chat.conversations import ConversationService
from penny_jupyter.engine import Engine
from penny_jupyter.errors import Conflict
from penny_jupyter.settings import PennyConfig
from penny_jupyter.storage import Database
from penny_jupyter.storage import schema as s
from penny_jupyter.storage.migrations import MIGRATIONS
from penny_jupyter.tenancy import Principal
from penny_jupyter.tools.audit import AuditLog
from penny_jupyter.tools.base import ArtifactDraft

ALICE = Principal("alice", "acme", frozenset({"member"}))


@pytest.fixture
def replicas(pg_database):
    dbs = [Database(pg_database), Database(pg_database)]
    yield dbs
    for d in dbs:
        d.close()


def together(n: int, work) -> None:
    """Run work(i) on n threads released at the same instant; re-raise the first failure."""
    gate, errors = threading.Barrier(n), []

    def run(i):
        try:
            gate.wait()
            work(i)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not [t for t in threads if t.is_alive()], "a writer hung"
    if errors:
        raise errors[0]


def test_two_replicas_appending_to_one_conversation_never_duplicate_or_reorder_a_seq(replicas):
    services = [ConversationService(d) for d in replicas]
    conv = services[0].create(ALICE, "busy")
    writers, per_writer = 6, 20
    got: dict[int, list[tuple[int, str]]] = {i: [] for i in range(writers)}

    def write(i):
        svc = services[i % 2]  # three writers on each replica
        for j in range(per_writer):
            if j % 4 == 3:
                seq = svc.record_event(ALICE, conv.id, {"type": "assistant.delta", "text": f"w{i}-{j}"})
            else:
                seq = svc.append_message(ALICE, conv.id, "user", f"w{i}-{j}").seq
            got[i].append((seq, f"w{i}-{j}"))

    together(writers, write)
    total = writers * per_writer
    seqs = [seq for i in got for seq, _ in got[i]]
    assert sorted(seqs) == list(range(1, total + 1)), "every seq once, none skipped"
    for i in got:  # each writer's appends come back in the order it made them
        assert [seq for seq, _ in got[i]] == sorted(seq for seq, _ in got[i])
    events = services[1].events_after(ALICE, conv.id, 0)
    assert [e["seq"] for e in events] == list(range(1, total + 1))
    by_seq = {seq: text for i in got for seq, text in got[i]}
    messages = services[0].messages(ALICE, conv.id)
    assert len(messages) == writers * (per_writer - per_writer // 4)
    assert all(by_seq[m.seq] == m.content for m in messages), "a message's seq is the one its writer was told"
    assert services[1].get(ALICE, conv.id).last_seq == total


def test_two_replicas_creating_one_conversation_id_at_once_get_the_same_one(replicas):
    services = [ConversationService(d) for d in replicas]
    seen = []
    together(6, lambda i: seen.append(services[i % 2].get_or_create(ALICE, "conv_same", "hello").id))
    assert seen == ["conv_same"] * 6
    assert [c.id for c in services[0].list(ALICE)] == ["conv_same"]


def table(tag: str, rows: int = 120) -> ArtifactDraft:
    data = [{"customer": f"cust-{i:04d}", "arr": i * 1.5, "tag": tag} for i in range(rows)]
    return ArtifactDraft(type="table", title=f"Table {tag}", spec={"columns": [{"name": k} for k in data[0]],
                                                                   "rows": data}, source={"tool": "run_sql"})


def test_two_refreshes_of_one_artifact_never_make_the_same_version(tmp_path, pg_database):
    # Two replicas sharing the app database and the artifact folder; specs over 1 KB go to the folder.
    engines = [Engine(PennyConfig(data_dir=str(tmp_path / "data"), database_url=pg_database,
                                  artifact_inline_bytes=1024)) for _ in range(2)]
    try:
        art = engines[0].artifacts.save(ALICE, table("v1"))
        made: list[tuple[int, str]] = []
        conflicts = []

        def refresh(i):
            for j in range(4):
                tag = f"r{i}-{j}"
                try:
                    made.append((engines[i % 2].artifacts.add_version(ALICE, art["id"], table(tag))["version"], tag))
                except Conflict:
                    conflicts.append(tag)

        together(6, refresh)
        versions = [v["version"] for v in engines[1].artifacts.versions(ALICE, art["id"])]
        assert sorted(v for v, _ in made) == versions[1:] == list(range(2, len(made) + 2)), \
            "each success made its own next version, none twice, none skipped"
        assert len(made) + len(conflicts) == 24 and made
        for version, tag in made:  # each version holds what its refresh wrote
            assert engines[0].artifacts.get(ALICE, art["id"], version)["spec"]["rows"][0]["tag"] == tag
        latest = engines[1].artifacts.get(ALICE, art["id"])
        assert latest["version"] == versions[-1]
        blobs = engines[0].blobs
        stored = [p for p in blobs.fs.find(blobs.root) if p.endswith(".json")]
        assert len(stored) == len(versions), "a refresh that lost left no payload behind"
    finally:
        for e in engines:
            e.close()


def test_the_audit_chain_stays_one_chain_per_tenant_under_concurrent_writers(replicas):
    # One log per replica, as the server builds it; four threads on each (a busy server's tool calls).
    logs = [AuditLog(replicas[0]), AuditLog(replicas[1])]

    def write(i):
        for j in range(25):
            logs[i % 2].record(tenant="globex" if j % 5 == 4 else "acme", user=f"u{i}", tool="t",
                               params_digest="d", outcome="ok", duration_ms=j / 7, row_count=j)

    together(8, write)
    check = AuditLog(replicas[0])
    acme, globex = check.list("acme", limit=1000), check.list("globex", limit=1000)
    assert len(acme) == 8 * 20 and len(globex) == 8 * 5
    for tenant, rows in (("acme", acme), ("globex", globex)):
        assert check.verify(tenant) == (True, None)
        hashes, prevs = {r["hash"] for r in rows}, [r["prevHash"] for r in rows]
        assert len(set(prevs)) == len(rows), "no two rows follow the same head: no fork"
        assert len(hashes - set(prevs)) == 1, "exactly one head"
        assert prevs.count("") == 1, "exactly one start"


def test_replicas_starting_at_once_on_a_fresh_database_migrate_it_once(pg_database):
    dbs: list[Database] = []
    together(4, lambda i: dbs.append(Database(pg_database)))
    try:
        assert {d.schema_version for d in dbs} == {MIGRATIONS[-1][0]}
        with dbs[0].connect() as c:
            assert c.execute(select(func.count()).select_from(s.migrations_table)).scalar() == len(MIGRATIONS)
    finally:
        for d in dbs:
            d.close()
