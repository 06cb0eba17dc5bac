"""The Python objects the %penny magics return, so analysis goes on in the next cell.

One rule for every subcommand: the magic RETURNS its object and IPython shows it as the cell's result
(and keeps it in `_`, `Out[n]`, or the name it is assigned to). Nothing is displayed twice:

- tables (a table artifact, `%%penny sql`, `%penny artifacts`, `%penny conversations`) are pandas
  DataFrames; `df.attrs["penny"]` says where they came from (artifact id, truncated, ...);
- dashboards and charts are `PennyArtifact`s: shown as the artifact's mime bundle (artifacts/bundle.py: drawn
  live by the labextension, semantic text/html and text/plain for everywhere else), plus `.data` (the tool's
  machine-readable result), `.text`, `.frame()`, and `.widget()` for the anywidget when kernel code wants to
  observe or place the view (an ipywidgets layout);
- `%penny ask` returns an `Answer`. It is the one that streams: the text and the artifacts appear in
  the cell while the turn runs, so the returned object shows nothing more in that same cell; shown
  again later (`answer` in another cell) it displays the text and its artifacts;
- `%%penny python` returns a `ToolRun` (the sandbox's text, data and artifacts).
"""

from __future__ import annotations

from html import escape
from typing import Any

from ..artifacts.rows import metric_rows
from ..artifacts.bundle import mime_bundle
from .markdown import notebook_markdown


def _current_execution() -> int | None:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency
        return None
    ip = get_ipython()
    return getattr(ip, "execution_count", None) if ip is not None else None


def _pd():
    import pandas as pd

    return pd


def _typed(df, columns: list[dict[str, Any]]):
    """Date columns as datetimes, number columns as numbers; everything else as it came."""
    pd = _pd()
    for c in columns:
        key, fmt = c.get("key"), c.get("format") or "text"
        if key not in df.columns:
            continue
        try:
            if fmt == "date":
                df[key] = pd.to_datetime(df[key])
            elif fmt not in ("text",):
                df[key] = pd.to_numeric(df[key])
        except (ValueError, TypeError):  # mixed values: leave the column as it is
            pass
    return df


def table_frame(spec: dict[str, Any], meta: dict[str, Any] | None = None):
    """A table widget/artifact spec ({columns: [{key, label, format}], rows: [{key: value}]}) as a DataFrame."""
    pd = _pd()
    cols = spec.get("columns") or []
    rows = spec.get("rows") or []
    keys = [c["key"] for c in cols] or (list(rows[0]) if rows else [])
    df = pd.DataFrame([[r.get(k) for k in keys] for r in rows], columns=keys)
    df = _typed(df, cols)
    df.attrs["penny"] = dict(meta or {})
    df.attrs["penny"]["labels"] = {c["key"]: c.get("label") or c["key"] for c in cols}
    return df


def chart_frame(figure: dict[str, Any]):
    """A plotly figure's traces as a DataFrame: the first trace's x (or labels) down, one column per trace."""
    pd = _pd()
    traces = [t for t in (figure or {}).get("data", []) if isinstance(t, dict)]
    if not traces:
        return pd.DataFrame()
    t0 = traces[0]
    if t0.get("type") == "pie":
        return pd.DataFrame({"label": t0.get("labels") or [], t0.get("name") or "value": t0.get("values") or []})
    horizontal = t0.get("type") == "funnel" or t0.get("orientation") == "h"
    cat, val = ("y", "x") if horizontal else ("x", "y")
    out: dict[str, Any] = {}
    for i, t in enumerate(traces):
        cats, vals = list(t.get(cat) or []), list(t.get(val) or [])
        if not isinstance(cats, list) or not isinstance(vals, list):  # plotly's binary arrays: not decoded here
            continue
        s = pd.Series(vals[:len(cats)], index=cats[:len(vals)], name=str(t.get("name") or f"series {i + 1}"))
        out[s.name] = s[~s.index.duplicated()]
    df = pd.DataFrame(out)
    df.index.name = "x"
    return df.reset_index()


class PennyArtifact:
    """An artifact as a notebook output, plus what the tool computed (`.data`, `.text`) and `.frame()`."""

    def __init__(self, artifact: dict[str, Any], *, data: dict[str, Any] | None = None, text: str = "") -> None:
        self.artifact = artifact
        self._data = data or {}
        self._text = text

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        return mime_bundle(self.artifact)

    def widget(self):
        """The same artifact as an anywidget: a live view kernel code can hold, observe (`artifact` changes when
        the view is refreshed) or put in an ipywidgets layout. Its output needs a kernel or saved widget state."""
        from .widget import ArtifactWidget

        return ArtifactWidget(self.artifact)

    @property
    def id(self) -> str:
        return self.artifact.get("id", "")

    @property
    def metrics(self) -> dict[str, Any]:
        """Metric name -> value, so the next cell can compute with what the dashboard shows."""
        return {w.get("name") or w.get("label"): w.get("value")
                for w in self.artifact.get("spec", {}).get("widgets", []) if w.get("type") == "metric"}

    @property
    def data(self) -> dict[str, Any]:
        """The machine-readable result of the tool that made it (empty for an artifact fetched by id)."""
        return self._data

    @property
    def text(self) -> str:
        return self._text

    @property
    def title(self) -> str:
        return self.artifact.get("title", "")

    @property
    def version(self) -> int | None:
        return self.artifact.get("version")

    def frame(self):
        """The artifact's numbers as a DataFrame: a table's rows, a chart's series, a dashboard's metrics
        (name, label, value, formatted, change_pct) or, for a dashboard without metrics, its first table.
        A metric's chart gives the tool's rows (the dimension or period, value, previous, change_pct, share)."""
        pd = _pd()
        art = self.artifact
        spec = art.get("spec") or {}
        meta = {"artifact_id": self.id, "version": self.version, "title": self.title}
        kind = art.get("type")
        if kind == "table":
            return table_frame(spec, meta)
        rows = self.data.get("rows")
        if isinstance(rows, list) and rows and all(isinstance(r, dict) for r in rows):  # query_metric's result
            df = pd.DataFrame(rows)
            if "period" in df.columns:
                df["period"] = pd.to_datetime(df["period"], errors="coerce")
            df.attrs["penny"] = meta
            return df
        if kind == "chart":
            return chart_frame(spec.get("figure") or {})
        widgets = spec.get("widgets") or []
        metrics = metric_rows(art)
        if metrics:
            df = pd.DataFrame(metrics).rename(columns={"metric": "name"})
            df = df[["name", "label", "value", "formatted", "change_pct"]]
            df.attrs["penny"] = meta
            return df
        for w in widgets:
            if w.get("type") == "table":
                return table_frame(w, meta)
        for w in widgets:
            if w.get("type") == "chart":
                return chart_frame(w.get("figure") or {})
        return pd.DataFrame()


class Answer:
    """One answer of `%penny ask`: its text, the artifacts it made, the tools it ran."""

    def __init__(self, text: str, *, conversation_id: str | None, message_id: str | None, status: str,
                 artifacts: list[PennyArtifact], tools: list[dict[str, Any]], shown_in: int | None = None) -> None:
        self.text = text
        self.conversation_id = conversation_id
        self.message_id = message_id
        self.status = status
        self.artifacts = artifacts
        self.tools = tools
        self._shown_in = shown_in  # the cell (execution count) that streamed it already

    def frame(self):
        """The first artifact's numbers as a DataFrame (None when the answer made no artifact)."""
        return self.artifacts[0].frame() if self.artifacts else None

    def __repr__(self) -> str:
        return self.text

    def _repr_markdown_(self) -> str:
        return notebook_markdown(self.text)

    def _ipython_display_(self) -> None:
        if self._shown_in is not None and self._shown_in == _current_execution():
            return  # this cell streamed it already
        from IPython.display import display

        display({"text/markdown": notebook_markdown(self.text), "text/plain": self.text}, raw=True)
        for w in self.artifacts:
            display(w)


class ToolRun:
    """A tool's result that is not one artifact (the Python sandbox): text, data, artifacts."""

    def __init__(self, tool: str, text: str, data: dict[str, Any] | None = None,
                 artifacts: list[PennyArtifact] | None = None) -> None:
        self.tool, self.text, self.data, self.artifacts = tool, text, data or {}, artifacts or []

    @property
    def value(self) -> str | None:
        """The repr of the code's last expression, as a notebook cell would show it."""
        return self.data.get("value")

    @property
    def stdout(self) -> str:
        return self.data.get("stdout") or ""

    def frame(self):
        """The first artifact's numbers as a DataFrame (what `penny.show(df)` showed), or None."""
        return self.artifacts[0].frame() if self.artifacts else None

    def _console(self) -> str:
        """What the code printed, its error and its last value, like a cell's output; else the tool's summary."""
        if "stdout" not in self.data:
            return self.text
        parts = [self.stdout.rstrip("\n")] if self.stdout.strip() else []
        if self.data.get("raised") and (self.data.get("stderr") or "").strip():
            parts.append(self.data["stderr"].rstrip("\n"))
        if self.value is not None:
            parts.append(str(self.value))
        return "\n".join(parts)

    def __repr__(self) -> str:
        return self._console() or self.text

    def _ipython_display_(self) -> None:
        from IPython.display import display

        out = self._console()
        if out:
            display({"text/plain": out, "text/html": f"<pre>{escape(out)}</pre>"}, raw=True)
        for w in self.artifacts:
            display(w)
