"""Penny at company scale, under load: N people, each with a chat socket, for a fixed time, against one replica
and against two replicas sharing a real PostgreSQL (app state) and a real Redis (events, rate limits), as
`jupyter server` processes the way a team runs them.

Each person is a distinct user of one of four tenants with one conversation. They think (a random pause around
THINK seconds), then ask a question (three in four) or run a tool straight from the socket (one in four), and
wait for the answer. One in five people has a second tab open, on the other replica when there are two, which
only listens. One in ten drops their socket once in the middle of an answer, reconnects (to the other replica
when there are two) and asks for the rest with `resume`, as the sidebar does.

Checked, per person, against the stored event log in PostgreSQL at the end: every stored seq of their
conversation reached every socket that was open throughout (none lost), and none arrived twice. A socket that
resumed drops what it already had by seq, as the sidebar does; those repeats are counted and printed apart.
Measured: message -> first `assistant.delta` (p50/p99), tool frame -> `tool.finished`; the RSS a replica grows
by per idle connected socket (MEM_SOCKETS of them, after 50 for warm-up, on a replica that has not served the
load yet: after it, new sockets reuse memory the turns freed and the growth reads as zero).

Bounded: PENNY_BENCH_USERS (500) people for PENNY_BENCH_SECONDS (60) on each topology, loopback only.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import resource
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(ROOT))
from _report import p50, pct, report  # noqa: E402

USERS = int(os.environ.get("PENNY_BENCH_USERS", 500))
SECONDS = float(os.environ.get("PENNY_BENCH_SECONDS", 60))
THINK = float(os.environ.get("PENNY_BENCH_THINK", 20))  # seconds between one person's requests, on average
MEM_SOCKETS = int(os.environ.get("PENNY_BENCH_MEM_SOCKETS", 500))
TENANTS = ("acme", "globex", "initech", "umbrella")
SCALE = 0.2
QUESTIONS = ("Show me company KPIs for this month", "open the sales funnel dashboard", "plot revenue by month",
             "revenue by region this quarter")
TOOLS = (("get_company_kpis", {"period": "QTD"}), ("query_metric", {"metric": "revenue", "period": "MTD"}),
         ("query_metric", {"metric": "churn_rate", "period": "YTD", "by": "region"}))


# ------------------------------------------------------------------ the servers

def start_replicas(base: Path, n: int, database_url: str, redis_url: str) -> list:
    from tests.live_server import LiveServer

    data = base / "penny-data"
    names = [f"u{i:04d}" for i in range(USERS + MEM_SOCKETS + 50)]
    config = "\n".join([
        "c.ServerApp.identity_provider_class = 'load_identity.TokenNamesUser'",
        f"c.PennyConfig.tenant_map = {({u: TENANTS[i % len(TENANTS)] for i, u in enumerate(names)})!r}",
        "c.PennyConfig.allow_multi_tenant_server = True",  # no kernels are started: nobody runs code here
        f"c.PennyConfig.default_tenant = {TENANTS[0]!r}",
        f"c.PennyConfig.database_url = {database_url!r}",
        f"c.PennyConfig.redis_url = {redis_url!r}",
        "c.PennyConfig.model = 'builtin'",
        f"c.PennyConfig.demo_scale = {SCALE}",
        "c.PennyConfig.rate_limit_user = '600/minute'",
    ])
    servers = []
    for i in range(n):
        root = base / f"replica-{i}"
        (root / "jupyter-config").mkdir(parents=True)
        # Beside LiveServer's jupyter_server_config.json: jupyter loads both the .py and the .json of one name.
        (root / "jupyter-config" / "jupyter_server_config.py").write_text(config + "\n")
        server = LiveServer(root=root, data_dir=data, token="bench-u0000",
                            env={"PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), str(ROOT)])},
                            extra_args=["--ServerApp.log_level=WARN"])
        server.start()
        server.get("penny/api/conversations")  # one after the other: the first one migrates the database
        servers.append(server)
    return servers


def prepare_data(base: Path) -> None:
    from penny_jupyter.data.generator import generate

    wh = base / "penny-data" / "warehouses"
    wh.mkdir(parents=True)
    generate(wh / f"{TENANTS[0]}.duckdb", TENANTS[0], scale=SCALE)
    for tenant in TENANTS[1:]:
        shutil.copy(wh / f"{TENANTS[0]}.duckdb", wh / f"{tenant}.duckdb")


# ------------------------------------------------------------------ the people

@dataclass
class Stream:
    """One person's view of their conversation on one socket (and its replacement), kept as the sidebar keeps it
    (labextension/src/socket.ts): the next seq is taken, an older one dropped as a repeat, a later one dropped as
    a gap and the log asked for the rest with `resume`."""

    last: int = 0
    seen: list[int] = field(default_factory=list)
    repeats: int = 0
    gaps: int = 0
    resume_from: int | None = None
    resumed: bool = False  # this socket was replaced after a drop and asked for the rest

    def accept(self, seq: int, sock: "Socket") -> bool:
        if seq <= self.last:
            self.repeats += 1
            return False
        if seq > self.last + 1:
            self.gaps += 1
            if self.resume_from != self.last:
                self.resume(sock)
            return False
        self.seen.append(seq)
        self.last, self.resume_from = seq, None
        return True

    def resume(self, sock: "Socket") -> None:
        self.resume_from = self.last
        sock.send(type="resume", conversationId=sock.cid, afterSeq=self.last)


class Socket:
    def __init__(self, url: str, user: str, stream: Stream, cid: str, tenant: str | None = None) -> None:
        self.url, self.user, self.stream, self.cid, self.tenant = url, user, stream, cid, tenant
        self.events: asyncio.Queue = asyncio.Queue()
        self.ws = None

    async def open(self) -> None:
        from tornado.httpclient import HTTPRequest
        from tornado.websocket import websocket_connect

        req = HTTPRequest(self.url.replace("http://", "ws://") + "penny/ws",
                          headers={"Authorization": f"token bench-{self.user}"}, request_timeout=120)
        self.ws = await websocket_connect(req, max_message_size=64 << 20)
        ready = json.loads(await self.ws.read_message())
        assert ready["type"] == "ready" and ready["user"] == self.user, ready
        assert self.tenant is None or ready["tenant"] == self.tenant, ready  # each person in their own tenant
        self.reader = asyncio.ensure_future(self._read(self.ws))

    async def _read(self, ws) -> None:
        while (raw := await ws.read_message()) is not None:
            event = json.loads(raw)
            if event.get("conversationId") == self.cid and event.get("seq") is not None:
                if not self.stream.accept(event["seq"], self):
                    continue
            self.events.put_nowait(event)

    def send(self, **frame) -> None:
        self.ws.write_message(json.dumps(frame))

    def close(self) -> None:
        self.ws.close()


@dataclass
class Person:
    name: str
    tenant: str
    cid: str
    home: str  # the replica of their main socket
    other: str  # the other replica (the same one with one replica)
    tab: bool
    drops: bool
    main: Stream = field(default_factory=Stream)
    side: Stream = field(default_factory=Stream)
    first_delta: list[float] = field(default_factory=list)
    tool_done: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    async def connect(self) -> None:
        self.sock = Socket(self.home, self.name, self.main, self.cid, self.tenant)
        await self.sock.open()
        if self.tab:
            self.tab_sock = Socket(self.other, self.name, self.side, self.cid, self.tenant)
            await self.tab_sock.open()

    async def run(self, until: float, rng: random.Random) -> None:
        await asyncio.sleep(rng.uniform(0, THINK))  # people do not all start at once
        first = True
        while time.monotonic() < until:
            if first or rng.random() < 0.75:  # a conversation starts with a message
                await self.ask(rng.choice(QUESTIONS), drop=self.drops and not self.main.resumed and not first)
            else:
                tool, params = rng.choice(TOOLS)
                await self.tool(tool, params)
            first = False
            await asyncio.sleep(rng.uniform(0.5, 1.5) * THINK)

    async def ask(self, question: str, drop: bool) -> None:
        t = time.perf_counter()
        self.sock.send(type="message", conversationId=self.cid, content=question)
        delta = None
        while True:
            event = await asyncio.wait_for(self.sock.events.get(), 120)
            if event.get("conversationId") != self.cid:
                continue
            if event["type"] == "error":
                self.errors.append(event["message"])
                return
            if event["type"] == "assistant.delta" and delta is None:
                delta = (time.perf_counter() - t) * 1000
                self.first_delta.append(delta)
                if drop:  # gone mid-answer; back on the other replica, asking for the rest
                    await self.reconnect()
                    continue
            if event["type"] == "assistant.done":
                return

    async def reconnect(self) -> None:
        self.sock.close()
        self.main.resumed = True
        self.sock = Socket(self.other, self.name, self.main, self.cid, self.tenant)
        await self.sock.open()
        self.main.resume(self.sock)

    async def tool(self, tool: str, params: dict) -> None:
        t = time.perf_counter()
        self.sock.send(type="tool_execute", tool=tool, params=params, conversationId=self.cid)
        while True:
            event = await asyncio.wait_for(self.sock.events.get(), 120)
            if event.get("conversationId") == self.cid and event["type"] == "error":
                self.errors.append(event["message"])
                return
            if event.get("conversationId") == self.cid and event["type"] == "tool.finished":
                self.tool_done.append((time.perf_counter() - t) * 1000)
                return

    def close(self) -> None:
        self.sock.close()
        if self.tab:
            self.tab_sock.close()


def stored_seqs(database_url: str) -> dict[str, list[int]]:
    from sqlalchemy import create_engine, select

    from penny_jupyter.storage import schema as s

    engine = create_engine(database_url)
    out: dict[str, list[int]] = {}
    with engine.connect() as c:
        for cid, seq in c.execute(select(s.events.c.conversation_id, s.events.c.seq).order_by(s.events.c.seq)):
            out.setdefault(cid, []).append(seq)
    engine.dispose()
    return out


async def load(servers: list, database_url: str, label: str) -> dict:
    """USERS people on `servers` for SECONDS; the figures and what the check against the stored log found."""
    rng = random.Random(14)
    urls = [s.url for s in servers]
    people = [Person(name=f"u{i:04d}", tenant=TENANTS[i % len(TENANTS)], cid=f"conv_{label}_{i:04d}", home=urls[i % len(urls)],
                     other=urls[(i + 1) % len(urls)], tab=i % 5 == 0, drops=i % 10 == 3) for i in range(USERS)]
    t = time.perf_counter()
    for k in range(0, len(people), 50):  # connect in batches, as a morning of people opening JupyterLab
        await asyncio.gather(*(p.connect() for p in people[k:k + 50]))
    connect_s = time.perf_counter() - t
    # Warm: each replica has opened each tenant's warehouse once (a cold start is bench_start's business).
    warm = [Socket(url, f"u{k:04d}", Stream(), "-") for url in urls for k in range(len(TENANTS))]
    for s in warm:
        await s.open()
        s.send(type="tool_execute", tool="get_company_kpis", params={"period": "MTD"})
        while (await s.events.get())["type"] != "tool.finished":
            pass
        s.close()
    until = time.monotonic() + SECONDS
    await asyncio.gather(*(p.run(until, random.Random(rng.random())) for p in people))
    await asyncio.sleep(1.0)  # the tabs' last events are in flight through Redis
    stored = stored_seqs(database_url)
    lost = dup = gaps = repeats = 0
    examples: list[str] = []
    for p in people:
        truth = stored.get(p.cid, [])
        for st in [p.main] + ([p.side] if p.tab else []):
            missing = sorted(set(truth) - set(st.seen))  # after every resume: what the person never saw
            lost += len(missing)
            if missing and len(examples) < 3:
                examples.append(f"{p.cid} {'tab' if st is p.side else 'main'}{' resumed' if st.resumed else ''}: "
                                f"seqs {missing} of {len(truth)} missing")
            if st.resumed:  # a replaced socket: its resume and the live events overlap, by design
                repeats += st.repeats + st.gaps
            else:  # open throughout: live delivery alone must bring each event once, in order
                dup += st.repeats
                gaps += st.gaps
    for p in people:
        p.close()
    deltas = [d for p in people for d in p.first_delta]
    tools = [d for p in people for d in p.tool_done]
    errors = [e for p in people for e in p.errors]
    return {"people": len(people), "sockets": len(people) + sum(p.tab for p in people),
            "connect_s": connect_s, "deltas": deltas, "tools": tools, "errors": errors, "examples": examples, "lost": lost,
            "dup": dup, "gaps": gaps, "repeats": repeats, "resumed": sum(p.main.resumed for p in people),
            "events": sum(len(v) for k, v in stored.items() if k.startswith(f"conv_{label}_"))}


async def socket_memory(server) -> float:
    """KB of RSS one idle connected socket costs a replica: MEM_SOCKETS more sockets, after 50 for warm-up."""
    import psutil

    proc = psutil.Process(server.proc.pid)
    first = USERS  # names the load does not use
    warm = [Socket(server.url, f"u{first + i:04d}", Stream(), "-") for i in range(50)]
    for s in warm:
        await s.open()
    await asyncio.sleep(2)
    before = proc.memory_info().rss
    idle = [Socket(server.url, f"u{first + 50 + i:04d}", Stream(), "-") for i in range(MEM_SOCKETS)]
    for k in range(0, len(idle), 50):
        await asyncio.gather(*(s.open() for s in idle[k:k + 50]))
    await asyncio.sleep(2)
    after = proc.memory_info().rss
    for s in warm + idle:
        s.close()
    return (after - before) / MEM_SOCKETS / 1024


def line(r: dict) -> str:
    d, t = r["deltas"], r["tools"]
    return (f"{r['sockets']} sockets of {r['people']} people, {len(d)} messages + {len(t)} tool calls in "
            f"{SECONDS:.0f} s, {r['events']} events stored: {r['lost']} lost, {r['dup']} duplicated, "
            f"{r['gaps']} out of order on open sockets ({r['resumed']} resumed after a drop: {r['repeats']} "
            f"overlaps dropped by seq); first delta p50 {p50(d):.0f} ms, "
            f"p99 {pct(d, 99):.0f} ms; tool p50 {p50(t):.0f} ms, p99 {pct(t, 99):.0f} ms; "
            f"{len(r['errors'])} errors; connected in {r['connect_s']:.1f} s")


async def main(base: Path) -> None:
    from tests.pg_server import postgres
    from tests.redis_server import RedisServer

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 8192)), hard))
    prepare_data(base)
    results, per_socket = {}, None
    with postgres() as pg:
        redis = RedisServer(base / "redis").start()
        try:
            for n in (2, 1):
                url = pg.create_database()
                servers = start_replicas(base / f"cluster-{n}", n, url, redis.url)
                try:
                    if n == 2:  # before the load: after it, new sockets reuse what the turns freed
                        per_socket = await socket_memory(servers[0])
                    results[n] = await load(servers, url, f"r{n}")
                finally:
                    for s in servers:
                        s.stop()
        finally:
            redis.stop()
    two, one = results[2], results[1]
    for r in (two, one):
        for e in sorted(set(r["errors"]))[:3]:
            print(f"  error: {e}", flush=True)
        for e in r["examples"]:
            print(f"  lost: {e}", flush=True)
    ok = two["lost"] == 0 and two["dup"] == 0 and two["gaps"] == 0 and two["deltas"] and pct(two["deltas"], 99) <= 250
    ratio = pct(two["deltas"], 99) / pct(one["deltas"], 99)
    report("scale_two_replicas", f"{line(two)} (target 0 lost, 0 duplicated, first delta p99 <= 250 ms)", ok)
    report("scale_one_replica", f"{line(one)}; two replicas' p99 is {ratio:.2f}x this (baseline, same run)",
           one["lost"] == 0 and one["dup"] == 0 and one["gaps"] == 0)
    report("socket_memory", f"{per_socket:.1f} KB RSS per idle connected socket, over {MEM_SOCKETS} sockets "
           "(target <= 50 KB)", per_socket <= 50)


if __name__ == "__main__":
    base = Path(tempfile.mkdtemp(prefix="penny-scale-"))
    try:
        asyncio.run(main(base))
    finally:
        shutil.rmtree(base, ignore_errors=True)
