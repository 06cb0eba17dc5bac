"""Static copies of an artifact: semantic HTML and aligned plain text.

Notebooks show these when there is no kernel, the notebook is untrusted, or GitHub renders it
with CSS and JS stripped, so they use only headings, tables and lists, and every string taken
from the artifact is HTML-escaped (titles and labels can come from user input).
"""

from __future__ import annotations

from html import escape
from typing import Any

from .spec import format_number

_MAX_CHART_ROWS = 24


def _e(v: Any) -> str:
    return escape("" if v is None else str(v), quote=True)


def _change(w: dict) -> str:
    fc = w.get("formatted_change")
    if fc:
        return fc
    pct = w.get("change_pct")
    if pct is None:
        return "n/a"
    return f"{'▲' if pct > 0 else '▼' if pct < 0 else '■'} {abs(pct):.1f}%"


def _metric_value(w: dict) -> str:
    return w.get("formatted") or format_number(w.get("value"), w.get("format") or "text")


def _chart_rows(fig: dict) -> tuple[list[str], list[list[str]]]:
    """A chart's data as a small table: first trace's categories down, one column per trace."""
    traces = [t for t in (fig or {}).get("data", []) if isinstance(t, dict)]
    if not traces:
        return [], []
    t0 = traces[0]
    if t0.get("type") == "pie":
        labels, values = t0.get("labels") or [], t0.get("values") or []
        return ["", t0.get("name") or "value"], [[str(a), _num(b)] for a, b in zip(labels, values)]
    horizontal = t0.get("type") == "funnel" or t0.get("orientation") == "h"
    cat_key, val_key = ("y", "x") if horizontal else ("x", "y")
    cats = list(t0.get(cat_key) or [])
    head = [""] + [str(t.get("name") or f"series {i + 1}") for i, t in enumerate(traces)]
    rows = []
    for i, c in enumerate(cats):
        rows.append([str(c)] + [_num((t.get(val_key) or [None] * (i + 1))[i] if i < len(t.get(val_key) or []) else None)
                                for t in traces])
    if len(rows) > _MAX_CHART_ROWS:  # keep the static copy small: the last points matter most
        rows = rows[-_MAX_CHART_ROWS:]
    return head, rows


def _num(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, float) and v.is_integer():
        return f"{v:,.0f}"
    if isinstance(v, float):
        return f"{v:,.4g}" if abs(v) < 1 else f"{v:,.0f}" if abs(v) >= 1000 else f"{v:,.2f}"
    return str(v)


def _html_table(head: list[str], rows: list[list[str]], caption: str | None = None) -> str:
    out = ["<table>"]
    if caption:
        out.append(f"<caption>{_e(caption)}</caption>")
    out.append("<thead><tr>" + "".join(f"<th>{_e(h)}</th>" for h in head) + "</tr></thead><tbody>")
    for r in rows:
        out.append("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in r) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _table_cells(w: dict) -> tuple[list[str], list[list[str]]]:
    cols = w.get("columns") or []
    if not cols and w.get("rows"):
        cols = [{"key": k, "label": k} for k in w["rows"][0]]
    head = [c.get("label") or c.get("key") for c in cols]
    rows = [[format_number(r.get(c["key"]), c.get("format") or "text") for c in cols] for r in w.get("rows") or []]
    return head, rows


def _widgets(artifact: dict) -> list[dict]:
    spec = artifact.get("spec") or {}
    if isinstance(spec.get("widgets"), list):
        return spec["widgets"]
    # a bare chart or table artifact is rendered as if it were a one-widget dashboard
    kind = artifact.get("type")
    if kind in ("chart", "table"):
        return [{"type": kind, "title": spec.get("title") or artifact.get("title"), **spec}]
    return []


def to_html(artifact: dict) -> str:
    title = artifact.get("title") or "Penny artifact"
    parts = [f"<h3>{_e(title)}</h3>"]
    widgets = _widgets(artifact)
    metrics = [w for w in widgets if w.get("type") == "metric"]
    if metrics:
        rows = [[w.get("label") or w.get("name"), _metric_value(w), _change(w)] for w in metrics]
        parts.append(_html_table(["Metric", "Value", "Change"], rows))
    for w in widgets:
        t = w.get("type")
        if t == "metric":
            continue
        if t == "chart":
            head, rows = _chart_rows(w.get("figure") or {})
            parts.append(f"<h4>{_e(w.get('title'))}</h4>")
            if rows:
                parts.append(_html_table(head, rows))
        elif t == "table":
            head, rows = _table_cells(w)
            # a table artifact's own title is the <h3> already: not said twice
            sub = "" if w.get("title") in (None, title) else f"<h4>{_e(w.get('title'))}</h4>"
            parts.append(sub + _html_table(head, rows))
        elif t == "gauge":
            val = w.get("formatted") or format_number(w.get("value"))
            parts.append(f"<p><strong>{_e(w.get('title'))}</strong>: {_e(val)}</p>")
        elif t == "timeline":
            items = "".join(f"<li><strong>{_e(ev.get('time'))}</strong> {_e(ev.get('title'))}"
                            f"{(': ' + _e(ev.get('detail'))) if ev.get('detail') else ''}</li>"
                            for ev in w.get("events") or [])
            parts.append(f"<h4>{_e(w.get('title'))}</h4><ul>{items or '<li>No events</li>'}</ul>")
        elif t == "grid":
            items = "".join(f"<li><strong>{_e(i.get('name'))}</strong>: {_e(i.get('status'))}"
                            f"{(' (' + _e(i.get('detail')) + ')') if i.get('detail') else ''}</li>"
                            for i in w.get("items") or [])
            parts.append(f"<h4>{_e(w.get('title'))}</h4><ul>{items}</ul>")
    if not widgets:
        spec = artifact.get("spec") or {}
        body = spec.get("markdown") or spec.get("text") or spec.get("code") or ""
        if body:
            parts.append(f"<pre>{_e(body)}</pre>")
    return "<div>" + "".join(parts) + "</div>"


def _aligned(head: list[str], rows: list[list[str]], indent: str = "  ") -> list[str]:
    table = [head] + rows if any(head) else rows
    widths = [max(len(str(r[i])) for r in table) for i in range(len(table[0]))] if table else []
    out = []
    for r in table:
        # numbers line up on the right, words on the left
        cells = [str(c).rjust(widths[i]) if i and str(c)[:1] in "0123456789$-—▲▼■" else str(c).ljust(widths[i])
                 for i, c in enumerate(r)]
        out.append(indent + "  ".join(cells).rstrip())
    return out


def to_text(artifact: dict) -> str:
    lines = [str(artifact.get("title") or "Penny artifact")]
    widgets = _widgets(artifact)
    metrics = [w for w in widgets if w.get("type") == "metric"]
    if metrics:
        lines += _aligned(["", "", ""], [[str(w.get("label") or w.get("name")), _metric_value(w), _change(w)]
                                         for w in metrics])
    for w in widgets:
        t = w.get("type")
        if t == "chart":
            head, rows = _chart_rows(w.get("figure") or {})
            lines.append(str(w.get("title") or "Chart"))
            lines += _aligned(head, rows) if rows else []
        elif t == "table":
            head, rows = _table_cells(w)
            lines.append(str(w.get("title") or "Table"))
            lines += _aligned(head, rows) if (rows or head) else []
        elif t == "gauge":
            lines.append(f"{w.get('title')}: {w.get('formatted') or format_number(w.get('value'))}")
        elif t == "timeline":
            lines.append(str(w.get("title") or "Timeline"))
            lines += [f"  {ev.get('time')}  {ev.get('title')}" + (f": {ev.get('detail')}" if ev.get("detail") else "")
                      for ev in w.get("events") or []] or ["  No events"]
        elif t == "grid":
            lines.append(str(w.get("title") or "Status"))
            lines += _aligned([], [[str(i.get("name")), str(i.get("status")), str(i.get("detail") or "")]
                                   for i in w.get("items") or []])
    if not widgets:
        spec = artifact.get("spec") or {}
        body = spec.get("markdown") or spec.get("text") or spec.get("code") or ""
        if body:
            lines.append(str(body))
    return "\n".join(lines)
