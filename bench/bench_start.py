"""Server start: launch -> /api/status answering, and RSS after start, with Penny enabled vs disabled.

Runs alternate (off, on, off, on, ...) so machine noise hits both alike; medians are compared.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent))
from _report import report  # noqa: E402

from tests.live_server import LiveServer  # noqa: E402

RUNS = 5


def once(penny: bool) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as d:
        server = LiveServer(root=Path(d), data_dir=Path(d) / "data", penny=penny)
        seconds = server.start()
        try:
            server.get("api/status")
            rss = psutil.Process(server.proc.pid).memory_info().rss / 2**20
        finally:
            server.stop()
    return seconds * 1000, rss


def main() -> None:
    once(False)  # warm the OS file cache for both
    once(True)
    times = {False: [], True: []}
    rss = {False: [], True: []}
    for _ in range(RUNS):
        for penny in (False, True):
            t, r = once(penny)
            times[penny].append(t)
            rss[penny].append(r)
    dt = statistics.median(times[True]) - statistics.median(times[False])
    dr = statistics.median(rss[True]) - statistics.median(rss[False])
    report("server_start", f"{dt:+.0f} ms to /api/status ({statistics.median(times[True]):.0f} vs "
           f"{statistics.median(times[False]):.0f} ms), {dr:+.1f} MiB RSS ({statistics.median(rss[True]):.0f} vs "
           f"{statistics.median(rss[False]):.0f} MiB) with Penny (target <= +300 ms, <= +40 MiB)", dt <= 300 and dr <= 40)


if __name__ == "__main__":
    main()
