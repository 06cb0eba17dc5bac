"""Benchmark: the built-in router over the whole evaluation set (tests/eval/requests.jsonl).

    python bench/bench_router.py

Warms up (one pass, so the catalog vocabulary is loaded), then times every request over several passes
and reports the median latency per request and the exact tool-and-arguments accuracy. Prints one line:

    bench router: <p50 ms> ms p50 per request, <acc>% exact on <n> requests (target p50 <= 20 ms, accuracy >= 90%) PASS|MISS
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from test_eval import UNITS, evaluate, load  # noqa: E402

from penny_jupyter.models.builtin import BuiltinRouter  # noqa: E402

PASSES = 5


def main() -> None:
    items = load()
    router = BuiltinRouter(units=UNITS)
    for item in items:  # warm-up
        router.route(item["text"])
    times = []
    for _ in range(PASSES):
        for item in items:
            t0 = time.perf_counter()
            router.route(item["text"])
            times.append((time.perf_counter() - t0) * 1000)
    p50 = statistics.median(times)
    acc, _, _ = evaluate(router, items)
    ok = p50 <= 20 and acc >= 0.90
    print(f"bench router: {p50:.2f} ms p50 per request, {acc * 100:.1f}% exact on {len(items)} requests "
          f"(target p50 <= 20 ms, accuracy >= 90%) {'PASS' if ok else 'MISS'}", flush=True)


if __name__ == "__main__":
    main()
