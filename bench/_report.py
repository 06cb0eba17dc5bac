"""One line per benchmark: `bench <name>: <value> <unit> (target <op> <value>) PASS|MISS`."""

from __future__ import annotations

import statistics


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def p50(values: list[float]) -> float:
    return statistics.median(values)


def report(name: str, text: str, ok: bool) -> None:
    print(f"bench {name}: {text} {'PASS' if ok else 'MISS'}", flush=True)


def interleaved(a, b, runs: int, warmup: int) -> tuple[list[float], list[float]]:
    """Milliseconds of `a()` and `b()` called alternately, so machine noise hits both alike."""
    import time

    for _ in range(warmup):
        a()
        b()
    ta, tb = [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        a()
        t1 = time.perf_counter()
        b()
        t2 = time.perf_counter()
        ta.append((t1 - t0) * 1000)
        tb.append((t2 - t1) * 1000)
    return ta, tb
