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
