"""Two replicas of Penny: two real `jupyter server` processes on one data dir (one SQLite app database, WAL
across processes) and one real Redis (`PennyConfig.redis_url`). The same person's sockets on both replicas see
every event of a turn once, in seq order; `resume` on the other replica gives the rest of a dropped turn with
no gap and no duplicate; with Redis stopped each replica delivers to its own sockets only and says so once in
its log; with Redis back the replicas hear each other again."""

from __future__ import annotations

import json
import secrets
import shutil
import time

import pytest
import websocket

from conftest import AS_OF, TEST_SCALE
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


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, demo_warehouse_template):
    base = tmp_path_factory.mktemp("replicas")
    data = base / "penny-data"
    (data / "warehouses").mkdir(parents=True)
    shutil.copy(demo_warehouse_template, data / "warehouses" / "demo.duckdb")
    redis = RedisServer(base / "redis").start()
    token = secrets.token_hex(16)
    args = [f"--PennyConfig.redis_url={redis.url}", "--PennyConfig.model=builtin",
            f"--PennyConfig.demo_scale={TEST_SCALE}", f"--PennyConfig.as_of={AS_OF}"]
    servers = []
    try:
        for name in ("a", "b"):
            (base / name).mkdir()
            server = LiveServer(root=base / name, data_dir=data, extra_args=args, token=token)
            servers.append(server)
            server.start()
            server.get("penny/api/conversations")  # one after the other: the first builds the database
        yield redis, *servers
    finally:
        for server in servers:
            server.stop()
        redis.stop()


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
