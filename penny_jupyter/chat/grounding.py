"""Are the figures in an answer from the data? Each figure a model writes is looked for in the turn's tool
results, as written ("$1.06M"), as a rounded form of a value (1064684 read as "$1.1M" or "1.06 million"), or as
a percentage of a fraction (0.4219 as "42.2%"). What is found nowhere is returned, so the turn can mark it.

A figure is a currency amount, a percentage, a number with a decimal point or thousands separators, or a
whole number of 100 or more; years, dates and small counts ("3 regions", "top 5") are prose, not figures.
Numbers the person wrote in their question are theirs, not claims about the data.
"""

from __future__ import annotations

import math
import re
from typing import Any, Iterable

_SCALE = {"k": 1e3, "thousand": 1e3, "m": 1e6, "mn": 1e6, "million": 1e6, "b": 1e9, "bn": 1e9, "billion": 1e9}
_FIGURE = re.compile(
    r"(?<![\w.])(?P<neg>[-−])?(?P<cur>[$€£])?(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)"
    r"(?:\s?(?P<scale>[kKmMbB]n?|thousand|million|billion)\b)?(?P<pct>\s?%| pts?\b| percent\b)?",
)
_DATE = re.compile(r"\w+://\S+|\b\d+\.\d+\.\d+\.\d+(?::\d+)?|\b\d{4}-\d{2}(?:-\d{2})?\b|\b\d{1,2}:\d{2}\b|\b\d{1,2}/\d{1,2}/\d{2,4}\b")
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")


def figures(text: str) -> list[tuple[str, float, float, bool]]:
    """(as written, value, the worth of its last digit, is a percentage) of each figure in `text`:
    "$1.06M" is (…, 1060000, 10000, False)."""
    text = _DATE.sub(" ", text)
    out = []
    for m in _FIGURE.finditer(text):
        raw, num = m.group(0).strip(), m.group("num")
        value = float(num.replace(",", ""))
        decimals = len(num.split(".")[1]) if "." in num else 0
        pct = bool(m.group("pct"))
        scale = _SCALE.get((m.group("scale") or "").lower(), 1.0)
        before = text[max(0, m.start() - 4):m.start()].lower()
        after = text[m.end():m.end() + 4].lower()
        marked = bool(m.group("cur")) or pct or m.group("scale") or "," in num or "." in num
        if not marked:
            if value < 100 or (1900 <= value <= 2100 and decimals == 0):
                continue  # a count, a rank or a year
            if any(after.strip().startswith(mo) for mo in _MONTHS) or before.strip().endswith(_MONTHS):
                continue  # "18 Nov", "Nov 18"
        if m.group("neg"):
            value = -value
        out.append((raw, value * scale, scale * 10 ** -decimals, pct))
    return out


def evidence(results: Iterable[Any]) -> tuple[str, list[float]]:
    """All the text and every number in the tool results (texts, data, nested)."""
    texts: list[str] = []
    numbers: list[float] = []

    def walk(x: Any) -> None:
        if isinstance(x, bool) or x is None:
            return
        if isinstance(x, (int, float)):
            if math.isfinite(x):
                numbers.append(float(x))
        elif isinstance(x, str):
            texts.append(x)
        elif isinstance(x, dict):
            for v in x.values():
                walk(v)
        elif isinstance(x, (list, tuple)):
            for v in x:
                walk(v)

    for r in results:
        walk(r)
    joined = "\n".join(texts)
    numbers.extend(v for _, v, _, _ in figures(joined))
    return joined, numbers


def ungrounded(answer: str, results: Iterable[Any], question: str = "") -> list[str]:
    """The figures of `answer` found in none of `results` nor in the person's `question`, as written."""
    text, numbers = evidence(results)
    said = {raw for raw, *_ in figures(question)} | {v for _, v, _, _ in figures(question)}
    missing = []
    for raw, value, step, pct in figures(answer):
        if raw in text or raw in said or value in said:
            continue
        if not any(_matches(value, step, pct, n) for n in numbers):
            missing.append(raw)
    return list(dict.fromkeys(missing))


def _matches(value: float, step: float, pct: bool, n: float) -> bool:
    """`value`, written to within `step`, is `n` rounded (or `n` as a percentage, when `n` is a fraction)."""
    candidates = [n, -n] + ([n * 100, -n * 100] if pct and abs(n) <= 1.5 else [])
    return any(abs(c - value) <= step / 2 * 1.0001 + 1e-9 for c in candidates)


def mark(missing: list[str]) -> str:
    """The note a person reads under an answer with figures that are not from the data."""
    if not missing:
        return ""
    listed = ", ".join(missing[:8]) + (" …" if len(missing) > 8 else "")
    return f"\n\n⚠️ Not from the data: {listed}. No tool result of this answer has these figures; check them."
