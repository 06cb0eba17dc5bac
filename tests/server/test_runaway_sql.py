"""Runaway SQL against a real `jupyter server` process, as the security pass ran it: three people each send
`lpad('x', 2000000000, 'a')` at once. Each is answered `timeout` at sql_timeout, not at the tool's 30 s, and
the server's memory stays where it was (the pass saw 9.3 GB and 200% CPU for 40 s after the replies)."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.live_server import LiveServer

ROOT = Path(__file__).resolve().parents[2]
USERS = ("alice", "carol", "dave")


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024


def _run_sql(server: LiveServer, user: str, query: str) -> tuple[int, dict]:
    req = urllib.request.Request(server.url + "penny/api/tools/run_sql/execute", method="POST",
                                 data=json.dumps({"params": {"query": query}}).encode(),
                                 headers={"Authorization": f"token tok-{user}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())["error"]


def test_three_runaway_queries_at_once_are_stopped_and_memory_comes_back(tmp_path, penny_data_dir):
    server = LiveServer(root=tmp_path, data_dir=penny_data_dir, token="tok-alice",
                        env={"PYTHONPATH": str(ROOT)},
                        extra_args=["--ServerApp.identity_provider_class=tests.server.identity.TokenPerUser",
                                    "--PennyConfig.sql_timeout=3", "--PennyConfig.as_of=2026-11-18"])
    server.start()
    try:
        for user in USERS:  # each has run a query: the engine and the query processes are up
            code, out = _run_sql(server, user, "select count(*) as n from invoices")
            assert code == 200 and out["data"]["rows"][0][0] > 0, out
        start = _rss_mb(server.proc.pid)

        results: dict[str, tuple[float, int, dict]] = {}

        def runaway(user):
            began = time.monotonic()
            code, out = _run_sql(server, user, "select lpad('x', 2000000000, 'a') as s")
            results[user] = (time.monotonic() - began, code, out)

        threads = [threading.Thread(target=runaway, args=(u,)) for u in USERS]
        for t in threads:
            t.start()
        for t in threads:
            t.join(90)
        for user, (took, code, err) in results.items():
            assert code == 504 and err["code"] == "timeout" and "longer than 3 seconds" in err["message"], err
            assert took < 3 + 6, (user, took)  # not the tool's 30 s, and not the ~50 s the lpad takes
        assert len(results) == 3

        time.sleep(1)
        assert _rss_mb(server.proc.pid) - start < 200, (start, _rss_mb(server.proc.pid))
        code, out = _run_sql(server, "alice", "select 41 + 1 as answer")
        assert code == 200 and out["data"]["rows"] == [[42]]
    finally:
        server.stop()
