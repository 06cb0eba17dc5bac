"""ConversationService on SQLite and PostgreSQL (every test runs on both, db_fixtures.db_url): order, rename, delete, idempotent client ids, tenant scoping, migrations."""

from __future__ import annotations

import pytest

from penny_jupyter.chat.conversations import ConversationService
from penny_jupyter.errors import Conflict, NotFound
from penny_jupyter.storage import Database
from penny_jupyter.storage.migrations import MIGRATIONS
from penny_jupyter.tenancy import Principal

ALICE = Principal("alice", "acme")
BOB = Principal("bob", "globex")
CAROL = Principal("carol", "acme")


@pytest.fixture
def db(db_url):
    d = Database(db_url)
    yield d
    d.close()


@pytest.fixture
def svc(db):
    return ConversationService(db)


def test_schema_is_at_the_latest_migration_and_reopening_changes_nothing(tmp_path, db):
    assert db.schema_version == MIGRATIONS[-1][0]
    again = Database(db.url)
    assert again.schema_version == db.schema_version
    again.close()


def test_create_list_rename_delete(svc):
    a = svc.create(ALICE, "First")
    b = svc.create(ALICE, "Second")
    assert {c.id for c in svc.list(ALICE)} == {a.id, b.id}
    assert svc.rename(ALICE, a.id, "Renamed").title == "Renamed"
    svc.append_message(ALICE, a.id, "user", "hello")
    svc.delete(ALICE, a.id)
    assert [c.id for c in svc.list(ALICE)] == [b.id]
    with pytest.raises(NotFound):
        svc.messages(ALICE, a.id)


def test_messages_come_back_in_order_with_increasing_seq(svc):
    conv = svc.create(ALICE)
    for i in range(20):
        svc.append_message(ALICE, conv.id, "user" if i % 2 == 0 else "assistant", f"m{i}")
    seqs = [m.seq for m in svc.messages(ALICE, conv.id)]
    assert [m.content for m in svc.messages(ALICE, conv.id)] == [f"m{i}" for i in range(20)]
    assert seqs == list(range(1, 21))
    assert svc.record_event(ALICE, conv.id, {"type": "assistant.delta", "text": "x"}) == 21
    assert [e["seq"] for e in svc.events_after(ALICE, conv.id, 19)] == [20, 21]


def test_same_client_message_id_is_stored_once(svc):
    conv = svc.create(ALICE)
    svc.append_message(ALICE, conv.id, "user", "hi", client_message_id="c1")
    with pytest.raises(Conflict):
        svc.append_message(ALICE, conv.id, "user", "hi", client_message_id="c1")
    assert len(svc.messages(ALICE, conv.id)) == 1
    assert len(svc.events_after(ALICE, conv.id, 0)) == 1, "the refused message left no event behind"


def test_ids_are_scoped_per_tenant_and_private_to_the_author(svc):
    a = svc.create(ALICE, "acme's", "conv_123")
    b = svc.create(BOB, "globex's", "conv_123")
    assert svc.get(ALICE, "conv_123").title == "acme's"
    assert svc.get(BOB, "conv_123").title == "globex's"
    svc.append_message(BOB, b.id, "user", "bob's secret")
    assert [m.content for m in svc.messages(ALICE, a.id)] == []
    for call in (lambda: svc.get(CAROL, "conv_123"), lambda: svc.messages(CAROL, "conv_123"),
                 lambda: svc.rename(CAROL, "conv_123", "x"), lambda: svc.delete(CAROL, "conv_123"),
                 lambda: svc.append_message(CAROL, "conv_123", "user", "x")):
        with pytest.raises(NotFound) as e:
            call()
        assert str(e.value) == "conversation 'conv_123' not found"
    # carol cannot take over alice's id either
    with pytest.raises(NotFound):
        svc.get_or_create(CAROL, "conv_123")


def test_text_postgresql_would_refuse_is_stored_the_same_way_on_both(svc):
    """PostgreSQL refuses NUL in text and enforces VARCHAR lengths; SQLite does neither. Both store the same."""
    conv = svc.create(ALICE, "t" * 500)
    assert len(svc.get(ALICE, conv.id).title) == 200
    msg = svc.append_message(ALICE, conv.id, "user", "a\x00b")
    assert msg.content == "a\ufffdb" and [m.content for m in svc.messages(ALICE, conv.id)] == ["a\ufffdb"]
    assert svc.rename(ALICE, conv.id, "x\x00" * 150).title == "x\ufffd" * 100
