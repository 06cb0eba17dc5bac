"""Message persistence on PostgreSQL: p99 of ConversationService.append_message (a transaction that bumps the
conversation's seq and stores the message and its event), beside a bare psycopg INSERT+COMMIT on its own
connection to the same server, measured alternately in the same run. The server is a real PostgreSQL 15
started by tests/pg_server.py (as the tests start it: loopback TCP, fsync off for both)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(ROOT))
from _report import p50, pct, report  # noqa: E402

from penny_jupyter.chat.conversations import ConversationService  # noqa: E402
from penny_jupyter.storage import Database  # noqa: E402
from penny_jupyter.tenancy import Principal  # noqa: E402
from tests.pg_server import postgres  # noqa: E402

N = 2000
WARMUP = 100


def main() -> None:
    import psycopg

    with postgres() as pg:
        url = pg.create_database()
        db = Database(url)
        svc = ConversationService(db)
        who = Principal("bench", "demo")
        conv = svc.create(who, "bench")
        raw = psycopg.connect(pg.dsn(url.rsplit("/", 1)[1]))
        raw.execute("CREATE TABLE bare (id SERIAL PRIMARY KEY, content TEXT NOT NULL)")
        raw.commit()

        def ours(i: int) -> None:
            svc.append_message(who, conv.id, "user", f"message {i} " * 8)

        def bare(i: int) -> None:
            raw.execute("INSERT INTO bare (content) VALUES (%s)", (f"message {i} " * 8,))
            raw.commit()

        for i in range(WARMUP):
            ours(i)
            bare(i)
        t_ours, t_bare = [], []
        for i in range(N):
            t0 = time.perf_counter()
            ours(i)
            t1 = time.perf_counter()
            bare(i)
            t2 = time.perf_counter()
            t_ours.append((t1 - t0) * 1000)
            t_bare.append((t2 - t1) * 1000)
        raw.close()
        db.close()
    p99 = pct(t_ours, 99)
    report("message_persistence_pg", f"{p99:.2f} ms p99 over {N} messages, p50 {p50(t_ours):.2f} (bare psycopg insert "
           f"p99 {pct(t_bare, 99):.2f}, p50 {p50(t_bare):.2f}; PostgreSQL {pg.started_in:.1f} s to start) "
           "(target <= 5 ms)", p99 <= 5)


if __name__ == "__main__":
    main()
