"""Display strings for catalog values: a metric's value in its unit, and its change as ▲/▼.

Pure functions of numbers and a unit; no warehouse access.
"""

from __future__ import annotations

from ..artifacts.spec import format_number


def format_value(value: float | None, unit: str, decimals: int = 1) -> str:
    return format_number(value, {"currency": "currency_compact", "percent": f"percent_{decimals}",
                                 "hours": f"hours_{decimals}"}.get(unit, "integer"))


def format_change(change_pct: float | None, change: float | None, unit: str, decimals: int = 1) -> str:
    """▲/▼ with the relative change; percentages move in points, which reads less ambiguously."""
    if unit == "percent" and change is not None:
        pts = change * 100
        if round(pts, decimals) == 0:
            return f"■ {0:.{decimals}f} pts"
        return f"{'▲' if pts > 0 else '▼'} {abs(pts):.{decimals}f} pts"
    if change_pct is None:
        return "n/a"
    if round(change_pct, 1) == 0:
        return "■ 0.0%"
    return f"{'▲' if change_pct > 0 else '▼'} {abs(change_pct):.1f}%"
