"""Message persistence: p99 of ConversationService.append_message on the default SQLite store,
beside a bare sqlite3 INSERT+COMMIT into the same file measured in the same run."""

from __future__ import annotations

import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _report import pct, report  # noqa: E402

from penny_jupyter.chat.conversations import ConversationService  # noqa: E402
from penny_jupyter.storage import Database  # noqa: E402
from penny_jupyter.tenancy import Principal  # noqa: E402

N = 2000


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        db = Database(f"sqlite:///{Path(d) / 'penny.sqlite'}")
        svc = ConversationService(db)
        who = Principal("bench", "demo")
        conv = svc.create(who, "bench")
        raw = sqlite3.connect(Path(d) / "penny.sqlite")
        raw.execute("CREATE TABLE bare (id INTEGER PRIMARY KEY, content TEXT)")
        ours, bare = [], []
        for i in range(N):
            t = time.perf_counter()
            svc.append_message(who, conv.id, "user", f"message {i} " * 8)
            ours.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            raw.execute("INSERT INTO bare (content) VALUES (?)", (f"message {i} " * 8,))
            raw.commit()
            bare.append((time.perf_counter() - t) * 1000)
        raw.close()
        db.close()
    p99 = pct(ours, 99)
    report("message_persistence", f"{p99:.2f} ms p99 over {N} messages (bare sqlite insert p99 {pct(bare, 99):.2f} ms)"
           f" (target <= 5 ms)", p99 <= 5)


if __name__ == "__main__":
    main()
