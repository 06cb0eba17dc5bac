"""Turn leases (chat/leases.py), on SQLite and PostgreSQL (db_fixtures.db_url): a turn whose server stopped
beating is ended once, as interrupted, with the next seqs, when its conversation is read; a live one is left
alone, even by a reader racing it; two replicas settling at once end it once; a turn that ends leaves no lease."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from pydantic import BaseModel
from sqlalchemy import select, update

from penny_jupyter.chat.conversations import ConversationService
from penny_jupyter.chat.leases import INTERRUPTED
from penny_jupyter.chat.turn import ChatService
from penny_jupyter.models.builtin import Route
from penny_jupyter.protocol import MessageFrame, check_event
from penny_jupyter.settings import PennyConfig
from penny_jupyter.storage import Database
from penny_jupyter.storage import schema as s
from penny_jupyter.tenancy import Principal
from penny_jupyter.tools.base import Tool, ToolResult
from penny_jupyter.tools.executor import ToolExecutor
from penny_jupyter.tools.registry import ToolRegistry

ALICE = Principal("alice", "acme")


@pytest.fixture
def db(db_url):
    d = Database(db_url)
    yield d
    d.close()


def leases(db: Database) -> list[tuple[str, str]]:
    with db.connect() as c:
        return [tuple(r) for r in c.execute(select(s.turn_leases.c.conversation_id, s.turn_leases.c.message_id))]


def stop_beating(db: Database, seconds: float = 3600) -> None:
    """What a killed server leaves: its leases' last beat `seconds` ago."""
    with db.begin() as c:
        c.execute(update(s.turn_leases).values(beat_at=time.time() - seconds))


def started_turn(svc: ConversationService, message_id: str = "msg_answer") -> tuple[str, int]:
    """A conversation whose turn streamed a little and then stopped: the user message with the lease, a delta."""
    conv = svc.create(ALICE, "cut off")
    svc.append_message(ALICE, conv.id, "user", "how are we doing?", client_message_id="c1", opens_turn=message_id)
    last = svc.record_event(ALICE, conv.id, {"type": "assistant.delta", "conversationId": conv.id,
                                             "messageId": message_id, "text": "Revenue is "})
    return conv.id, last


def test_a_stale_lease_is_settled_once_into_an_interrupted_answer_with_the_next_seqs(db):
    svc = ConversationService(db, turn_heartbeat_seconds=0.1)
    cid, last = started_turn(svc)
    assert [m.role for m in svc.messages(ALICE, cid)] == ["user"]  # beating just now: left alone
    stop_beating(db)

    rest = svc.events_after(ALICE, cid, last)  # a client resuming after the last event it saw
    assert [(e["type"], e["seq"]) for e in rest] == [("message.created", last + 1), ("assistant.done", last + 2)]
    created, done = rest
    for e in rest:
        check_event(e)
    assert created["message"]["id"] == done["messageId"] == "msg_answer"
    assert created["message"]["status"] == done["status"] == "interrupted"
    assert created["message"]["content"] == INTERRUPTED
    assert leases(db) == []

    # Read again, by messages and by resume: nothing more is added.
    msgs = svc.messages(ALICE, cid)
    assert [(m.role, m.status, m.seq) for m in msgs] == [("user", "complete", 1), ("assistant", "interrupted", last + 1)]
    assert msgs[0].content == "how are we doing?" and msgs[0].client_message_id == "c1"
    assert svc.events_after(ALICE, cid, last + 2) == []
    assert svc.settle(ALICE, svc.get(ALICE, cid)) == 0


def test_a_fresh_lease_is_left_alone(db):
    svc = ConversationService(db, turn_heartbeat_seconds=10)
    cid, last = started_turn(svc)
    stop_beating(db, seconds=20)  # two beats missed: under three, the holder may be slow but alive
    assert [m.role for m in svc.messages(ALICE, cid)] == ["user"]
    assert [e["seq"] for e in svc.events_after(ALICE, cid, 0)] == [1, last]
    assert leases(db) == [(cid, "msg_answer")]


def test_two_replicas_settling_at_once_end_the_turn_once(db):
    replicas = [ConversationService(Database(db.url), turn_heartbeat_seconds=0.1) for _ in range(2)]
    try:
        turns = [started_turn(replicas[0], f"msg_t{i}") for i in range(4)]
        stop_beating(db)
        for cid, last in turns:
            gate, ended, errors = threading.Barrier(2), [], []

            def settle(svc):
                try:
                    gate.wait()
                    ended.append(svc.settle(ALICE, svc.get(ALICE, cid)))
                except BaseException as e:  # reported below
                    errors.append(e)

            threads = [threading.Thread(target=settle, args=(svc,)) for svc in replicas]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            assert not errors, errors
            assert sorted(ended) == [0, 1]
            assert [m.status for m in replicas[1].messages(ALICE, cid)] == ["complete", "interrupted"]
            seqs = [e["seq"] for e in replicas[1].events_after(ALICE, cid, 0)]
            assert seqs == list(range(1, last + 3))  # no gap, no duplicate
        assert leases(db) == []
    finally:
        for svc in replicas:
            svc.db.close()


# ---------------------------------------------------------------------- with the turn loop


class NoParams(BaseModel):
    pass


def pause(ctx, params):
    for _ in range(100):  # 1 s: several times a stale lease's age at the test heartbeat
        if ctx.cancelled():
            break
        time.sleep(0.01)
    return ToolResult(text="paused")


class FixedRouter:
    name = "test"

    def __init__(self, tool: str) -> None:
        self.tool = tool

    def route(self, text):
        return Route(self.tool, {}, 1.0)


def make_chat(tmp_path, db: Database, tool: str, heartbeat: float) -> ChatService:
    reg = ToolRegistry()
    reg.register(Tool("pause", "waits a little", NoParams, pause))
    reg.register(Tool("quick", "answers at once", NoParams, lambda ctx, params: ToolResult(text="done")))
    executor = ToolExecutor(reg, warehouses=None, artifacts=None, config=PennyConfig(data_dir=str(tmp_path)))
    return ChatService(ConversationService(db, turn_heartbeat_seconds=heartbeat), executor, FixedRouter(tool))


def run_turn(chat: ChatService, cid: str, during=None) -> list[dict]:
    events: list[dict] = []

    async def emit(e):
        events.append(e)

    async def main():
        task = asyncio.ensure_future(chat.handle_message(ALICE, MessageFrame(type="message", content="go",
                                                                            conversation_id=cid), emit))
        if during:
            await during(events)
        await task

    asyncio.run(main())
    return events


def test_a_turn_that_ends_leaves_no_lease_and_one_answer(tmp_path, db):
    chat = make_chat(tmp_path, db, "quick", heartbeat=0.05)
    events = run_turn(chat, "conv_ok")
    assert events[-1]["type"] == "assistant.done" and events[-1]["status"] == "complete"
    assert leases(db) == []
    assert [(m.role, m.status) for m in chat.conversations.messages(ALICE, "conv_ok")] == [
        ("user", "complete"), ("assistant", "complete")]
    stored = chat.resume(ALICE, "conv_ok", 0)
    assert [e["seq"] for e in stored] == list(range(1, len(stored) + 1))
    assert stored[-1] == events[-1]  # the done that went out live is the stored one


def test_a_running_turn_beats_and_a_reader_meanwhile_settles_nothing(tmp_path, db):
    chat = make_chat(tmp_path, db, "pause", heartbeat=0.05)  # stale after 0.15 s; the tool takes 1 s
    seen: list[list[str]] = []

    async def read_while_it_runs(events):
        while not any(e["type"] == "tool.started" for e in events):
            await asyncio.sleep(0.01)
        for _ in range(5):
            await asyncio.sleep(0.1)
            msgs = await asyncio.to_thread(chat.conversations.messages, ALICE, "conv_live")  # another request
            seen.append([m.role for m in msgs])

    events = run_turn(chat, "conv_live", read_while_it_runs)
    assert seen == [["user"]] * 5
    assert events[-1]["status"] == "complete"
    assert [m.status for m in chat.conversations.messages(ALICE, "conv_live")] == ["complete", "complete"]
    assert leases(db) == []


def test_a_turn_settled_elsewhere_is_stopped_and_its_client_gets_that_end(tmp_path, db):
    """A process that missed its beats (a stalled event loop, the database out of its reach) finds its turn
    ended as interrupted by a reader: it stops the turn, stores no second answer, and its client is told."""
    chat = make_chat(tmp_path, db, "pause", heartbeat=0.05)
    beat, stalled = chat.conversations.beat_turn, threading.Event()
    stalled.set()
    chat.conversations.beat_turn = lambda *key: True if stalled.is_set() else beat(*key)

    async def settle_meanwhile(events):
        while not any(e["type"] == "tool.started" for e in events):
            await asyncio.sleep(0.01)
        stop_beating(db)
        assert [m.status for m in chat.conversations.messages(ALICE, "conv_late")] == ["complete", "interrupted"]
        stalled.clear()  # its next beat finds the lease gone

    t = time.monotonic()
    events = run_turn(chat, "conv_late", settle_meanwhile)
    assert time.monotonic() - t < 0.8, "the turn ran on after its lease was lost"
    assert [(m.role, m.status) for m in chat.conversations.messages(ALICE, "conv_late")] == [
        ("user", "complete"), ("assistant", "interrupted")]
    stored = chat.resume(ALICE, "conv_late", 0)
    assert stored[-1]["type"] == "assistant.done" and stored[-1]["status"] == "interrupted"
    assert events[-1] == stored[-1]  # the client got the stored end, and nothing was logged after it
    assert leases(db) == []
