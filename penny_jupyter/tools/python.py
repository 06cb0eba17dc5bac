"""run_python: run a piece of Python in the sandbox (sandbox/runner.py) over the caller's warehouse.

The code runs like a notebook cell: stdout/stderr and the last expression's value come back;
`penny.show(df)`, `penny.chart(fig)` and `penny.metric(label, value, ...)` become table, chart and
dashboard artifacts; `penny.sql(query)` reads the caller's own warehouse (read-only): its DuckDB file,
bound in read-only, or, for a tenant whose warehouse is a database, rows the server sends over the run's
own socket after running the query as the caller, as run_sql does (sandbox/sqlchannel.py; the sandbox
never holds the URL). An exception in
the code is a normal result (ok, with the user's traceback); the sandbox stopping the code (time,
CPU, memory) is an error naming the limit. Without working isolation the tool refuses
(`sandbox_unavailable`) unless the admin chose `sandbox_mode = "unsafe-no-isolation"`.
"""

from __future__ import annotations

import re
import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..artifacts.spec import format_number, validate_dashboard
from ..errors import CodeRaised, PennyError, SandboxLimit, SandboxUnavailable, ToolTimeout
from ..sandbox import runner
from ..sandbox.queue import get_queue
from ..sandbox.sqlchannel import SqlChannel
from .base import ArtifactDraft, Tool, ToolContext, ToolResult
from .sql import run_query

MAX_CODE_CHARS = 100_000
MODES = ("bwrap", "unsafe-no-isolation")
SIGXCPU, SIGKILL = 24, 9
MEMORY_ERRORS = ("MemoryError", "OutOfMemoryException")


class PythonParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(..., min_length=1, max_length=MAX_CODE_CHARS,
                      description="Python to run like a notebook cell. pandas, numpy, duckdb and plotly are there; "
                                  "`penny.sql(query)` returns a DataFrame from the company warehouse; "
                                  "`penny.show(df)`, `penny.chart(fig)`, `penny.metric(label, value)` show results.")


def _isolation(ctx: ToolContext) -> str:
    mode = str(getattr(ctx.config, "sandbox_mode", "bwrap"))
    if mode not in MODES:
        raise SandboxUnavailable(f"sandbox_mode is {mode!r}, which is not one of {', '.join(MODES)}; an admin must "
                                 "fix c.PennyConfig.sandbox_mode before run_python can run code.")
    if mode == "unsafe-no-isolation":
        return "none"
    ok, why = runner.probe()
    if not ok:
        raise SandboxUnavailable(
            f"run_python cannot isolate code on this server: {why}. An admin can install bubblewrap "
            "(apt-get install bubblewrap) and allow user namespaces, or, for a trusted single-user install only, "
            "set c.PennyConfig.sandbox_mode = \"unsafe-no-isolation\".")
    return "bwrap"


def _limit_error(res: runner.RunResult, limits: runner.Limits) -> PennyError | None:
    if res.cancelled:
        return PennyError("the code was stopped before it finished", code="cancelled")
    if res.timed_out:
        return ToolTimeout(f"the code ran longer than the {limits.timeout:g} s time limit and was stopped; make it "
                           "do less (aggregate in SQL with penny.sql) or ask an admin to raise sandbox_timeout.")
    if res.error_type in MEMORY_ERRORS:
        return SandboxLimit(f"the code ran out of memory: the sandbox allows {limits.memory_mb:,} MB; work on less "
                            "data at once (aggregate in SQL with penny.sql) or ask an admin to raise sandbox_memory_mb.")
    if res.truncated or res.finished:
        return None
    if res.signal == SIGXCPU or (res.signal == SIGKILL and not res.cancelled):
        return SandboxLimit(f"the code used more than the {limits.cpu_seconds} s CPU time limit (or another sandbox "
                            "limit) and was killed; make it do less or ask an admin to raise sandbox_cpu_seconds.")
    detail = f"signal {res.signal}" if res.signal else f"exit status {res.exit}"
    return SandboxLimit(f"the sandbox stopped the code before it finished ({detail}); it may have hit the "
                        f"{limits.memory_mb:,} MB memory limit or the limit of {limits.nofile} open files.")


def _metric_widget(m: dict[str, Any]) -> dict[str, Any]:
    unit = m.get("unit") if m.get("unit") in ("currency", "percent", "count", "hours") else "count"
    value = m.get("value") if isinstance(m.get("value"), (int, float)) and not isinstance(m.get("value"), bool) else None
    prev = m.get("previous") if isinstance(m.get("previous"), (int, float)) else None
    fmt = m.get("format") if isinstance(m.get("format"), str) else {
        "currency": "currency_compact", "percent": "percent_1", "hours": "hours_1"}.get(unit, "integer"
        if isinstance(value, int) else "number")
    label = str(m.get("label") or "Metric")[:200]
    w: dict[str, Any] = {"type": "metric", "name": label.lower().replace(" ", "_")[:64], "label": label,
                         "value": value, "formatted": str(m.get("formatted") or format_number(value, fmt)),
                         "unit": unit, "format": fmt, "up_is_good": bool(m.get("up_is_good", True))}
    if prev is not None:
        w["previous"] = prev
        w["formatted_previous"] = format_number(prev, fmt)
        if value is not None:
            w["change"] = value - prev
            w["change_pct"] = (value - prev) / abs(prev) * 100 if prev else None
            if w["change_pct"] is not None:
                w["formatted_change"] = f"{'▲' if value >= prev else '▼'} {abs(w['change_pct']):.1f}%"
    return w


def _artifacts(res: runner.RunResult, source: dict[str, Any]) -> list[ArtifactDraft]:
    drafts: list[ArtifactDraft] = []
    metrics: list[dict[str, Any]] = []
    for item in res.results:
        kind = item.get("kind")
        title = str(item.get("title") or kind)[:200]
        if kind == "table" and isinstance(item.get("columns"), list) and isinstance(item.get("rows"), list):
            cols = [{"key": str(c.get("key")), "label": str(c.get("label")), "format": str(c.get("format") or "text")}
                    for c in item["columns"] if isinstance(c, dict)]
            rows = [r for r in item["rows"] if isinstance(r, dict)]
            drafts.append(ArtifactDraft("table", title, {"title": title, "columns": cols, "rows": rows,
                                                         "truncated": bool(item.get("truncated"))}, source))
        elif kind == "chart" and isinstance(item.get("figure"), dict):
            chart_kind = item.get("chart_kind") if item.get("chart_kind") in ("line", "bar", "pie", "funnel") else "line"
            spec = {"title": title, "kind": chart_kind, "figure": item["figure"]}
            try:
                validate_dashboard({"layout": "grid", "widgets": [{"type": "chart", **spec}]})
            except Exception:
                continue
            drafts.append(ArtifactDraft("chart", title, spec, source))
        elif kind == "metric":
            metrics.append(_metric_widget(item))
    if metrics:
        spec = {"layout": "grid", "widgets": metrics}
        validate_dashboard(spec)
        title = metrics[0]["label"] if len(metrics) == 1 else f"{len(metrics)} metrics"
        drafts.append(ArtifactDraft("dashboard", title, spec, source))
    return drafts


def _text(res: runner.RunResult, arts: list[ArtifactDraft]) -> str:
    lines = []
    if res.isolation == "none":
        lines.append("WARNING: this ran WITHOUT isolation (sandbox_mode = unsafe-no-isolation): the code could "
                     "read and change what the server can.")
    if not res.error:  # an error is the result's `failure`, said once
        lines.append("The code ran to the end." if not res.truncated else
                     "The code was stopped because its output passed the output limit; the output is truncated.")
    if res.value is not None:
        lines.append(f"Last value: {res.value[:2000]}")
    for name, text in (("stdout", res.stdout), ("stderr", res.stderr if not res.error else "")):
        if text.strip():
            tail = text[-2000:]
            lines.append(f"{name} ({len(text):,} characters{', last 2,000' if len(text) > 2000 else ''}):\n{tail}")
    if arts:
        lines.append("Shown: " + ", ".join(f"{a.type} \"{a.title}\"" for a in arts) + ".")
    if res.results_dropped:
        lines.append(f"{res.results_dropped} result(s) were too large or malformed and were dropped.")
    return "\n".join(lines)


def raised(res: runner.RunResult) -> CodeRaised:
    """'Line 4 raised ZeroDivisionError: division by zero.' The line is the deepest one in the person's code
    (the traceback holds only their frames); a syntax error names its own line."""
    tb = res.error.strip()
    last = tb.splitlines()[-1] if tb else res.error_type or "an error"
    lines = re.findall(r'File "<cell>", line (\d+)', tb)
    where = f"Line {lines[-1]}" if lines else "The code"
    # a message that is a sentence (penny.SqlError's) keeps one full stop
    return CodeRaised(f"{where} raised {last.rstrip('.')}. Fix the code and run it again.")


def run(ctx: ToolContext, params: PythonParams) -> ToolResult:
    isolation = _isolation(ctx)
    limits = runner.Limits.from_config(ctx.config)
    tenant = ctx.principal.tenant
    warehouse, channel = None, None
    if ctx.warehouses.database(tenant) is not None:
        # no file to bind in: penny.sql asks the server, which runs each query as the caller with run_sql's checks
        cap = max(1, int(ctx.config.sql_row_cap))
        channel = SqlChannel(lambda text, values: run_query(ctx, text, cap, values), interrupt=ctx.interrupt)
    else:
        warehouse = ctx.warehouses.ensure(tenant)
    started = time.monotonic()

    def told(pos: int) -> None:
        ctx.progress({"queuePosition": pos, "elapsedMs": round((time.monotonic() - started) * 1000), "output": ""})

    with get_queue(int(ctx.config.sandbox_max_concurrent)).slot(on_position=told, cancelled=ctx.cancelled):
        res = runner.run_code(params.code, warehouse=warehouse, limits=limits, isolation=isolation,
                              cancelled=ctx.cancelled, progress=ctx.progress, sql=channel)
    err = _limit_error(res, limits)
    if err is not None:
        raise err
    source = {"tool": "run_python", "params": params.model_dump(mode="json")}
    arts = _artifacts(res, source)
    data = {"stdout": res.stdout, "stderr": res.stderr, "value": res.value, "truncated": res.truncated,
            "isolation": res.isolation, "exit": res.exit, "raised": res.error_type}
    return ToolResult(text=_text(res, arts), data=data, artifacts=arts,
                      failure=raised(res) if res.error else None)


RUN_PYTHON = Tool(
    name="run_python",
    title="Run Python",
    label=lambda p: "Python code",
    description="Run Python (pandas, numpy, duckdb, plotly) in an isolated sandbox, like a notebook cell, for "
                "analysis the other tools cannot do (moving averages, cohorts, custom charts). penny.sql(query) "
                "returns a DataFrame from the company warehouse (read-only); penny.show(df), penny.chart(fig) and "
                "penny.metric(label, value) show results. No network, no files outside the run; time, memory and "
                "output are limited.",
    params=PythonParams,
    run=run,
)
