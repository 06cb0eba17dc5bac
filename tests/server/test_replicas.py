"""Two replicas of Penny: two real `jupyter server` processes on one data dir, one PostgreSQL app database
(`PennyConfig.database_url`, as a team deploys it) and one real Redis (`PennyConfig.redis_url`). The same
person's sockets on both replicas see every event of a turn once, in seq order; `resume` on the other replica
gives the rest of a dropped turn with no gap and no duplicate; a replica killed mid-turn leaves the person's
message and a turn the other replica ends as interrupted, with a sentence, and then goes on answering; with Redis
stopped each replica delivers to its own sockets only and says so once in its log; with Redis back the replicas
hear each other again."""

from __future__ import annotations

import contextlib
import json
import secrets
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import websocket
from sqlalchemy import create_engine, select

from conftest import AS_OF, TEST_SCALE
from penny_jupyter.chat.leases import INTERRUPTED
from penny_jupyter.storage import schema as s
from tests.fake_ollama import FakeOllama
from tests.live_server import LiveServer
from tests.redis_server import RedisServer

DOWN = "chat events reach sockets on this replica only"
BACK = "chat events reach every replica again"


class Client:
    """A websocket-client connection to one replica's chat socket, with the server's token."""

    def __init__(self, server: LiveServer) -> None:
        url = server.url.replace("http://", "ws://") + "penny/ws"
        self.ws = websocket.create_connection(url, header=[f"Authorization: token {server.token}"], timeout=30)
        ready = self.recv()
        assert ready["type"] == "ready", ready

    def send(self, **frame) -> None:
        self.ws.send(json.dumps(frame))

    def recv(self, timeout: float = 30) -> dict:
        self.ws.settimeout(timeout)
        return json.loads(self.ws.recv())

    def turn(self, cid: str) -> list[dict]:
        """This conversation's events up to and including its assistant.done."""
        out = []
        while True:
            event = self.recv()
            if event.get("conversationId") == cid:
                out.append(event)
                if event["type"] == "assistant.done":
                    return out

    def quiet(self, seconds: float) -> list[dict]:
        """Whatever arrives within `seconds` (nothing, when the test expects silence)."""
        got, deadline = [], time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                got.append(self.recv(timeout=left))
            except websocket.WebSocketTimeoutException:
                break
        return got

    def close(self) -> None:
        self.ws.close()


HEARTBEAT = 0.5  # seconds: a turn of a killed replica is ended 1.5 s after its last beat


@dataclass
class Cluster:
    """Replicas `a` and `b` on one app database, Redis and data dir; `replica()` starts one more."""

    base: Path
    data: Path
    database_url: str
    redis: RedisServer
    args: list[str]
    token: str
    servers: list[LiveServer] = field(default_factory=list)

    def __iter__(self):  # `_, a, b = cluster`
        return iter([self.redis, *self.servers[:2]])

    def replica(self, name: str, *extra: str) -> LiveServer:
        """One more replica; `extra` options replace the cluster's of the same name (traitlets takes one)."""
        (self.base / name).mkdir()
        named = {a.split("=", 1)[0] for a in extra}
        args = [a for a in self.args if a.split("=", 1)[0] not in named] + list(extra)
        server = LiveServer(root=self.base / name, data_dir=self.data, extra_args=args, token=self.token)
        self.servers.append(server)
        server.start()
        server.get("penny/api/conversations")  # one after the other: the first migrates the database
        return server


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, demo_warehouse_template, pg_server):
    base = tmp_path_factory.mktemp("replicas")
    data = base / "penny-data"
    (data / "warehouses").mkdir(parents=True)
    shutil.copy(demo_warehouse_template, data / "warehouses" / "demo.duckdb")
    database_url = pg_server.create_database()
    redis = RedisServer(base / "redis").start()
    args = [f"--PennyConfig.database_url={database_url}", f"--PennyConfig.redis_url={redis.url}",
            "--PennyConfig.model=builtin", f"--PennyConfig.turn_heartbeat_seconds={HEARTBEAT}",
            f"--PennyConfig.demo_scale={TEST_SCALE}", f"--PennyConfig.as_of={AS_OF}"]
    group = Cluster(base, data, database_url, redis, args, secrets.token_hex(16))
    try:
        for name in ("a", "b"):
            group.replica(name)
        yield group
    finally:
        for server in group.servers:
            server.stop()
        redis.stop()
        pg_server.drop_database(database_url)


def log_of(server: LiveServer) -> str:
    return (server.root / f"server-{server.port}.log").read_text()


def new_conversation(server: LiveServer) -> str:
    cid = f"conv_{secrets.token_hex(6)}"
    server.request("POST", "penny/api/conversations", {"title": "replicas", "id": cid})
    return cid


def shape(events: list[dict]) -> list[tuple]:
    return [(e["type"], e.get("seq")) for e in events]


def assert_in_order(events: list[dict]) -> None:
    seqs = [e["seq"] for e in events if "seq" in e]
    assert seqs == sorted(seqs) and len(seqs) == len(set(seqs)), seqs


def test_both_replicas_see_every_event_of_a_turn_once(cluster):
    _, a, b = cluster
    on_a, on_b = Client(a), Client(b)
    try:
        cid = new_conversation(a)
        on_a.send(type="message", conversationId=cid, content="Show me company KPIs for this month")
        mine, theirs = on_a.turn(cid), on_b.turn(cid)
        assert shape(theirs) == shape(mine)
        assert {"message.created", "tool.started", "tool.finished", "artifact", "assistant.done"} <= {
            e["type"] for e in theirs}
        assert_in_order(theirs)
        assert on_b.quiet(0.5) == [] and on_a.quiet(0.1) == []  # nothing twice, on either side

        # What both saw is the stored log, all of it.
        check = Client(b)
        check.send(type="resume", conversationId=cid, afterSeq=0)
        stored = [check.recv() for _ in range(len([e for e in mine if "seq" in e]))]
        check.close()
        assert shape(stored) == [s for s in shape(mine) if s[1] is not None]
    finally:
        on_a.close()
        on_b.close()


def test_resume_on_the_other_replica_after_a_drop(cluster):
    _, a, b = cluster
    cid = new_conversation(a)
    dropped = Client(a)
    dropped.send(type="message", conversationId=cid, content="open the sales funnel dashboard")
    first = dropped.recv()
    assert first["type"] == "message.created" and first["conversationId"] == cid
    dropped.close()  # mid-turn: the turn goes on on A and is stored

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # until A has stored the answer (B reads the same database)
        messages = b.get(f"penny/api/conversations/{cid}/messages")["messages"]
        if any(m["role"] == "assistant" for m in messages):
            break
        time.sleep(0.1)

    later = Client(b)
    try:
        later.send(type="resume", conversationId=cid, afterSeq=first["seq"])
        rest = later.turn(cid)
        seqs = [e["seq"] for e in rest]
        assert seqs == list(range(first["seq"] + 1, first["seq"] + 1 + len(seqs))), seqs  # no gap, no duplicate
        assert rest[-1]["type"] == "assistant.done"
        assert later.quiet(0.3) == []
    finally:
        later.close()


def test_a_replica_killed_mid_turn_leaves_a_turn_the_other_ends_as_interrupted(cluster):
    _, _, b = cluster
    ollama = FakeOllama().start()  # a model that runs a tool, then answers slowly: the kill lands mid-answer
    ollama.reply("Checking. ", tool=("get_company_kpis", {"period": "MTD"}))
    ollama.reply(*[f"part {i} " for i in range(60)], every=0.5)
    # Its own replica, so the other tests keep theirs; small inline_bytes: the artifact's payload is a blob.
    victim = cluster.replica("victim", "--PennyConfig.model=ollama:llama3.2", f"--PennyConfig.ollama_host={ollama.url}",
                             "--PennyConfig.artifact_inline_bytes=256")
    later = None
    try:
        cid = new_conversation(victim)
        live = Client(victim)
        live.send(type="message", conversationId=cid, content="How are we doing?", clientMessageId="c-kill")
        seen: list[dict] = []
        while not (any(e["type"] == "artifact" for e in seen) and seen[-1]["type"] == "assistant.delta"):
            event = live.recv()
            if event.get("conversationId") == cid:
                seen.append(event)
        victim.proc.kill()  # SIGKILL mid-answer: no finally, no atexit, nothing flushed
        victim.proc.wait(10)
        with contextlib.suppress(Exception):
            live.close()
        started = time.monotonic()
        asked, answer_id = seen[0], seen[-1]["messageId"]
        assert asked["type"] == "message.created" and asked["message"]["role"] == "user"

        # B resumes where the person's message left off; once the lease is stale the rest ends the turn.
        later = Client(b)
        rest: list[dict] = []
        while not rest or rest[-1]["type"] != "assistant.done":
            assert time.monotonic() - started < 20, f"the killed turn never ended: {shape(rest)}"
            later.send(type="resume", conversationId=cid, afterSeq=asked["seq"])
            rest = later.quiet(0.3)
        ended_in = time.monotonic() - started
        seqs = [e["seq"] for e in rest]
        assert seqs == list(range(asked["seq"] + 1, asked["seq"] + 1 + len(seqs))), seqs  # no gap, no duplicate
        stored_live = [(e["type"], e["seq"]) for e in seen[1:] if "seq" in e]
        assert shape(rest)[: len(stored_live)] == stored_live  # what went out live is what was stored
        created, done = rest[-2:]
        assert created["type"] == "message.created" and created["message"]["id"] == answer_id
        assert created["message"]["status"] == "interrupted" and created["message"]["content"] == INTERRUPTED
        assert done["messageId"] == answer_id and done["status"] == "interrupted"
        assert [e["type"] for e in rest].count("assistant.done") == 1
        later.send(type="resume", conversationId=cid, afterSeq=done["seq"])
        assert later.quiet(0.5) == []  # nothing after the interrupted end

        messages = b.get(f"penny/api/conversations/{cid}/messages")["messages"]
        assert [(m["role"], m["status"]) for m in messages] == [("user", "complete"), ("assistant", "interrupted")]
        assert messages[0]["content"] == "How are we doing?" and messages[0]["clientMessageId"] == "c-kill"

        # Nothing half-written: every artifact row of the conversation has its payload and was announced;
        # no lease is left.
        engine = create_engine(cluster.database_url)
        try:
            with engine.connect() as c:
                rows = c.execute(select(s.artifacts.c.id, s.artifacts.c.payload_key)
                                 .where(s.artifacts.c.conversation_id == cid)).all()
                leases = c.execute(select(s.turn_leases).where(s.turn_leases.c.conversation_id == cid)).all()
        finally:
            engine.dispose()
        announced = {e["artifact"]["id"] for e in rest if e["type"] == "artifact"}
        assert rows and {r.id for r in rows} == announced and all(r.payload_key for r in rows)
        for r in rows:
            assert b.get(f"penny/api/artifacts/{r.id}")["spec"], r.id  # the blob is there, its hash checks
        assert leases == []

        # B goes on serving the conversation.
        later.send(type="message", conversationId=cid, content="Show me company KPIs for this month")
        turn = later.turn(cid)
        assert turn[-1]["status"] == "complete" and turn[0]["seq"] == done["seq"] + 1
        assert_in_order(turn)
        messages = b.get(f"penny/api/conversations/{cid}/messages")["messages"]
        assert [(m["role"], m["status"]) for m in messages][2:] == [("user", "complete"), ("assistant", "complete")]
        assert "Traceback" not in log_of(b)
        assert ended_in < 3 * HEARTBEAT + 5, ended_in
    finally:
        if later is not None:
            later.close()
        victim.stop()
        ollama.stop()


def test_redis_stopped_delivers_locally_then_recovers(cluster):
    redis, a, b = cluster
    on_a, on_b = Client(a), Client(b)
    try:
        redis.stop()
        cid = new_conversation(a)
        for _ in range(2):  # two turns: the log line is still one
            on_a.send(type="message", conversationId=cid, content="Show me company KPIs for this month")
            mine = on_a.turn(cid)
            assert mine[-1]["type"] == "assistant.done"
            assert_in_order(mine)
        assert on_b.quiet(0.5) == []  # B hears nothing while Redis is away
        time.sleep(0.5)
        assert log_of(a).count(DOWN) == 1, log_of(a)[-3000:]
        assert "Traceback" not in log_of(a)

        redis.start()  # same port
        deadline, heard = time.monotonic() + 12, False
        while time.monotonic() < deadline and not heard:
            on_a.send(type="typing", conversationId=cid)
            heard = any(e["type"] == "typing" for e in on_b.quiet(0.5))
        assert heard, "replica B never heard replica A again after Redis came back"
        on_a.quiet(0.1)
        on_a.send(type="message", conversationId=cid, content="KPIs this quarter")
        mine, theirs = on_a.turn(cid), on_b.turn(cid)
        assert shape(theirs) == shape(mine)
        assert on_b.quiet(0.3) == []
        assert log_of(a).count(DOWN) == 1 and log_of(a).count(BACK) == 1
    finally:
        on_a.close()
        on_b.close()
