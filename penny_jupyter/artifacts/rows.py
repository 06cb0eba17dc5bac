"""An artifact's numbers as plain rows: what a CSV download and a DataFrame are made from."""

from __future__ import annotations

from typing import Any


def metric_rows(artifact: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per metric card of a dashboard."""
    return [{"metric": w.get("name") or w.get("label"), "label": w.get("label"), "value": w.get("value"),
             "formatted": w.get("formatted"), "previous": w.get("previous"), "change_pct": w.get("change_pct")}
            for w in (artifact.get("spec") or {}).get("widgets", []) if w.get("type") == "metric"]


def export_rows(artifact: dict[str, Any]) -> list[dict[str, Any]]:
    """A table artifact's rows; else a dashboard's metrics; else its first table; else nothing."""
    spec = artifact.get("spec") or {}
    if artifact.get("type") == "table":
        return list(spec.get("rows", []))
    rows = metric_rows(artifact)
    if rows:
        return rows
    table = next((w for w in spec.get("widgets", []) if w.get("type") == "table"), None)
    return list(table.get("rows", [])) if table else []
