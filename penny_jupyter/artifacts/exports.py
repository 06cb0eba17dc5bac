"""Downloads of an artifact: JSON (the whole artifact), CSV (its rows or metrics) and a self-contained
HTML page (it opens in a browser with no server and no network: plotly.js is inlined, the numbers are in
plain tables under each chart). PNG is drawn in the browser from the live view (see the labextension).
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from html import escape
from typing import Any

from ..errors import BadRequest
from .html import to_html
from .rows import export_rows

FORMATS = ("json", "csv", "html")


@dataclass(frozen=True)
class Export:
    body: bytes
    media_type: str
    filename: str

    @property
    def disposition(self) -> str:
        return f'attachment; filename="{self.filename}"'


def check(artifact: dict[str, Any], fmt: str) -> None:
    """BadRequest when `artifact` cannot be exported as `fmt`, without rendering it."""
    if fmt not in FORMATS:
        raise BadRequest(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)} (PNG is made in the browser)")
    if fmt == "csv" and not export_rows(artifact):
        raise BadRequest(f"artifact {artifact['id']!r} has no table or metrics to export as CSV; "
                         "use format=json or html")


def export(artifact: dict[str, Any], fmt: str) -> Export:
    check(artifact, fmt)
    name = _filename(artifact)
    if fmt == "json":
        return Export(json.dumps(artifact, indent=2).encode(), "application/json", f"{name}.json")
    if fmt == "csv":
        return Export(csv_text(export_rows(artifact)).encode(), "text/csv; charset=utf-8", f"{name}.csv")
    return Export(html_page(artifact).encode(), "text/html; charset=utf-8", f"{name}.html")


def csv_text(rows: list[dict[str, Any]]) -> str:
    """Rows as CSV, every cell a spreadsheet would evaluate made inert (see spreadsheet_safe)."""
    keys = list(rows[0])
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([spreadsheet_safe(k) for k in keys])
    writer.writerows([spreadsheet_safe(row.get(k)) for k in keys] for row in rows)
    return out.getvalue()


# OWASP's CSV injection list: a cell starting with one of these is a formula to Excel, Sheets or Calc.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def spreadsheet_safe(value: Any) -> Any:
    """A text cell that starts like a formula gets a leading apostrophe, so a spreadsheet shows it as text
    instead of running it. Numbers stay numbers, and so does text that is only a number ("-2.5")."""
    if isinstance(value, str) and value.startswith(_FORMULA_START) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def _filename(artifact: dict[str, Any]) -> str:
    base = " ".join(re.sub(r"[^A-Za-z0-9 ._-]+", " ", artifact.get("title") or "").split()) or artifact["id"]
    return f"{base[:80]} v{artifact.get('version', 1)}"


def _charts(artifact: dict[str, Any]) -> list[dict[str, Any]]:
    spec = artifact.get("spec") or {}
    if artifact.get("type") == "chart":
        return [spec.get("figure") or spec]
    return [w["figure"] for w in spec.get("widgets", []) if w.get("type") == "chart" and w.get("figure")]


@lru_cache(maxsize=1)
def _plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def _script_json(value: Any) -> str:
    """JSON safe inside <script>: no '</script>' or '<!--' can close or confuse the element."""
    return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


_STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:1100px;color:#1f2328;
padding:0 1rem}
h1{font-size:1.5rem;margin:0 0 .25rem}.meta{color:#59636e;margin:0 0 1.5rem}
table{border-collapse:collapse;margin:.5rem 0 1.25rem;min-width:50%}
th,td{border-bottom:1px solid #d1d9e0;padding:.3rem .75rem;text-align:left}td:not(:first-child){text-align:right}
h3{display:none}h4{margin:1.5rem 0 .25rem}.chart{height:380px;margin:.5rem 0}
details{margin-bottom:1rem;color:#59636e}
"""

_BOOT = """
document.querySelectorAll('script[data-penny-figure]').forEach(function (el, i) {
  var fig = JSON.parse(el.textContent), div = document.getElementById('penny-chart-' + i);
  if (window.Plotly && div) {
    window.Plotly.newPlot(div, fig.data || [], Object.assign({autosize: true}, fig.layout || {}),
                          {displaylogo: false, responsive: true});
  }
});
"""


def html_page(artifact: dict[str, Any]) -> str:
    """One file: the static copy (the same semantic HTML a notebook keeps) with live charts above it."""
    title = artifact.get("title") or "Penny artifact"
    charts = _charts(artifact)
    figures = "".join(f'<div class="chart" id="penny-chart-{i}"></div>'
                      f'<script type="application/json" data-penny-figure>{_script_json(fig)}</script>'
                      for i, fig in enumerate(charts))
    plotly = f"<script>{_plotly_js()}</script><script>{_BOOT}</script>" if charts else ""
    meta = (f'version {artifact.get("version", 1)} · made {escape(str(artifact.get("createdAt", "")))}'
            f'{" by " + escape(str(artifact["owner"])) if artifact.get("owner") else ""} · exported from Penny')
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_STYLE}</style></head>'
            f'<body><main><h1>{escape(title)}</h1><p class="meta">{meta}</p>{figures}'
            f'{to_html(artifact)}</main>{plotly}</body></html>')
