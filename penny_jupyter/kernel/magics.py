"""The %penny magics: `%penny <subcommand> ...` on a line, `%%penny [ask|sql|python]` on a cell.

Every subcommand returns a Python object and lets IPython display it (see kernel/results.py): a
DataFrame for tables, a PennyArtifact (a live output, with `.data`, `.frame()` and `.widget()`) for
dashboards and charts, an Answer for questions. `x = %penny ...` keeps it; so do `_` and `Out[n]`.
`%penny ask` streams its answer into the cell as it arrives, then shows the artifacts it made.

A mistake (unknown subcommand, bad arguments, an unknown id) or a failure (the engine cannot start,
a tool fails) prints ONE line on stderr, with the usage where it helps, and never a traceback.
"""

from __future__ import annotations

import argparse
import html
import re
import shlex
import sys
from typing import Any

from IPython.core.magic import Magics, line_cell_magic, magics_class

from ..errors import PennyError
from .markdown import notebook_markdown

USAGE = """\
%penny ask <question>                      ask Penny; the answer streams in (follow-ups share the conversation)
                                           (IPython reads a LINE ending in "?" as a help request: leave it off, or use %%penny)
%%penny                                    the cell is the question ({var} fills from your variables)
%penny ask --new <question>                start a new conversation
%penny kpis [MTD|QTD|YTD] [--unit company|<department>|<region>]   company KPIs as a dashboard
%penny dashboard <company-health|sales-funnel|ops-incidents|finance-snapshot> [--period MTD|QTD|YTD]
%penny metric <name> [--period P] [--grain day|week|month|quarter] [--by DIM] [--top N]
              [--start YYYY-MM-DD] [--end YYYY-MM-DD] [--filter DIM=VALUE] [--compare previous_period|previous_year|none]
%%penny sql [--limit N]                    the cell is one read-only SELECT; returns a DataFrame
%%penny python                             the cell runs in Penny's Python sandbox
%penny artifacts [--type T]                this workspace's artifacts as a DataFrame
%penny show <artifact_id> [--version N]    display a stored artifact
%penny conversations                       your conversations as a DataFrame
%penny help                                this text"""

NO_SANDBOX = "the Python sandbox is not available on this server"


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def __init__(self, prog: str) -> None:
        super().__init__(prog=prog, add_help=False)

    def error(self, message):  # argparse would print and exit the kernel's process
        raise UsageError(message)


def _parsers() -> dict[str, _Parser]:
    p: dict[str, _Parser] = {}
    kpis = p["kpis"] = _Parser("%penny kpis")
    kpis.add_argument("period", nargs="?", default="MTD", type=str.upper)
    kpis.add_argument("--unit", default="company")
    dash = p["dashboard"] = _Parser("%penny dashboard")
    dash.add_argument("slug")
    dash.add_argument("--period", type=str.upper)
    metric = p["metric"] = _Parser("%penny metric")
    metric.add_argument("metric")
    metric.add_argument("--period")
    metric.add_argument("--start")
    metric.add_argument("--end")
    metric.add_argument("--grain")
    metric.add_argument("--by")
    metric.add_argument("--top", type=int)
    metric.add_argument("--filter", action="append", default=[], metavar="DIM=VALUE")
    metric.add_argument("--compare")
    show = p["show"] = _Parser("%penny show")
    show.add_argument("artifact_id")
    show.add_argument("--version", type=int)
    arts = p["artifacts"] = _Parser("%penny artifacts")
    arts.add_argument("--type")
    p["conversations"] = _Parser("%penny conversations")
    sql = p["sql"] = _Parser("%%penny sql")
    sql.add_argument("--limit", type=int)
    p["python"] = _Parser("%%penny python")
    return p


def _fail(message: str, usage: bool = False) -> None:
    print(f"penny: {message}" + ("\nusage:\n" + USAGE if usage else ""), file=sys.stderr)
    return None


_FIELD = re.compile(r"\{\{|\}\}|\{([^{}\n]+)\}")


def fill(text: str, namespace: dict[str, Any]) -> str:
    """`{expr}` -> its value in the user's namespace; `{{`/`}}` -> braces; what does not evaluate stays."""
    def sub(m: re.Match) -> str:
        if m.group(0) in ("{{", "}}"):
            return m.group(0)[0]
        try:
            return str(eval(m.group(1), dict(namespace)))  # the user's own expression in the user's kernel
        except Exception:
            return m.group(0)

    return _FIELD.sub(sub, text)


class Penny:
    """The commands, apart from IPython's machinery (tests call it with a session of their own)."""

    def __init__(self, shell=None, session=None) -> None:
        self.shell = shell
        self._session = session

    @property
    def session(self):
        if self._session is None:
            from .session import session_for_environment

            self._session = session_for_environment()
        return self._session

    # ------------------------------------------------------------------ dispatch
    def __call__(self, line: str, cell: str | None = None):
        line = (line or "").strip()
        cmd, _, rest = line.partition(" ")
        rest = rest.strip()
        if cell is not None and (not cmd or cmd == "ask"):
            cmd, question = "ask", (rest + "\n" + self._fill(cell)).strip()
        elif cmd == "ask":
            question = rest
        if cmd in ("", "help", "--help", "-h"):
            print(USAGE)
            return None
        parsers = _parsers()
        if cmd != "ask" and cmd not in parsers:
            return _fail(f"unknown subcommand {cmd!r}", usage=True)
        if cell is not None and cmd not in ("ask", "sql", "python"):
            return _fail(f"%%penny {cmd} takes no cell body; use %penny {cmd} on a line "
                         "(the cell forms are %%penny, %%penny sql and %%penny python)")
        try:
            if cmd == "ask":
                return self.ask(question)
            if cmd in ("sql", "python"):
                # on a cell the line holds the options and the body the code; on a line the rest is the code
                body, opts = (cell, rest) if cell is not None else (rest, "")
                try:
                    args = parsers[cmd].parse_args(shlex.split(opts))
                except ValueError as e:
                    raise UsageError(f"could not read the arguments: {e}") from None
                if not body.strip():
                    raise UsageError("the cell body is empty" if cell is not None else "nothing to run")
                return self.sql(body, args.limit) if cmd == "sql" else self.python(body)
            try:
                words = shlex.split(rest)
            except ValueError as e:
                raise UsageError(f"could not read the arguments: {e}") from None
            args = parsers[cmd].parse_args(words)
            return getattr(self, cmd)(args)
        except UsageError as e:
            return _fail(f"{cmd}: {e}", usage=True)
        except PennyError as e:
            return _fail(e.message)
        except KeyboardInterrupt:
            return _fail("stopped")
        except Exception as e:  # a bug or the engine unreachable: one line, never a traceback
            return _fail(f"{cmd} failed: {type(e).__name__}: {e}".splitlines()[0])

    def _fill(self, text: str) -> str:
        ns = getattr(self.shell, "user_ns", None)
        return fill(text, ns) if ns is not None else text

    # ------------------------------------------------------------------ subcommands
    def _artifact(self, outcome, index: int = 0):
        from .results import PennyArtifact

        res = outcome.result
        return PennyArtifact(outcome.artifacts[index], data=res.data if res else {}, text=res.text if res else "")

    def kpis(self, args):
        return self._artifact(self.session.run_tool("get_company_kpis", {"period": args.period, "unit": args.unit}))

    def dashboard(self, args):
        params = {"slug": args.slug}
        if args.period:
            params["period"] = args.period
        return self._artifact(self.session.run_tool("load_dashboard", params))

    def metric(self, args):
        params: dict[str, Any] = {"metric": args.metric}
        for key in ("period", "start", "end", "grain", "by", "top", "compare"):
            if getattr(args, key) is not None:
                params[key] = getattr(args, key)
        if args.filter:
            filters = {}
            for f in args.filter:
                dim, eq, value = f.partition("=")
                if not eq or not dim.strip() or not value.strip():
                    raise UsageError(f"--filter takes DIM=VALUE, not {f!r}")
                filters[dim.strip()] = value.strip()
            params["filters"] = filters
        outcome = self.session.run_tool("query_metric", params)
        # a chart (or a dashboard with the trend and the breakdown) first; its table is the same numbers
        idx = next((i for i, a in enumerate(outcome.artifacts) if a["type"] in ("dashboard", "chart")), 0)
        return self._artifact(outcome, idx)

    def show(self, args):
        """The artifact drawn as the sidebar draws it, a table included (formatted, not a bare DataFrame of
        205137.0 and 0.421958); `.frame()` gives its numbers."""
        from .results import PennyArtifact

        return PennyArtifact(self.session.artifact(args.artifact_id, args.version))

    def artifacts(self, args):
        pd = _pandas()
        rows = [{"id": a["id"], "type": a["type"], "title": a["title"], "version": a["version"],
                 "created": a["createdAt"]} for a in self.session.artifacts()
                if not args.type or a["type"] == args.type]
        df = pd.DataFrame(rows, columns=["id", "type", "title", "version", "created"])
        df["created"] = pd.to_datetime(df["created"], utc=True, errors="coerce")
        return df

    def conversations(self, args):
        pd = _pandas()
        rows = [{"id": c.id, "title": c.title, "messages": c.message_count, "created": c.created_at,
                 "updated": c.updated_at} for c in self.session.conversations()]
        df = pd.DataFrame(rows, columns=["id", "title", "messages", "created", "updated"])
        for col in ("created", "updated"):
            df[col] = pd.to_datetime(df[col], utc=True, errors="coerce")
        return df

    def sql(self, query: str, limit: int | None = None):
        from .results import table_frame

        params: dict[str, Any] = {"query": query}
        if limit is not None:
            params["limit"] = limit
        outcome = self.session.run_tool("run_sql", params)
        art = outcome.artifacts[0]
        spec = art.get("spec") or {}
        df = table_frame(spec, {"artifact_id": art["id"], "truncated": bool(spec.get("truncated"))})
        if spec.get("truncated"):
            print(f"penny: only the first {len(df):,} rows came back; aggregate or filter to see the rest",
                  file=sys.stderr)
        return df

    def python(self, code: str):
        from .results import PennyArtifact, ToolRun

        if not self.session.has_tool("run_python"):
            return _fail(NO_SANDBOX)
        outcome = self.session.run_tool("run_python", {"code": code})
        res = outcome.result
        return ToolRun("run_python", res.text if res else "", res.data if res else {},
                       [PennyArtifact(a) for a in outcome.artifacts])

    def ask(self, question: str):
        from .results import Answer, PennyArtifact, _current_execution

        if not question.strip():
            raise UsageError("ask what? e.g. %penny ask how is revenue this quarter")
        if question.startswith("--new"):
            question = question[len("--new"):].strip()
            self.session.new_conversation()
            if not question:
                print("penny: the next question starts a new conversation")
                return None
        live = _Live(in_kernel=getattr(self.shell, "kernel", None) is not None)
        text: list[str] = []
        tools: list[dict[str, Any]] = []
        artifacts: list[dict[str, Any]] = []
        conv = message_id = None
        status = "complete"
        try:
            for ev in self.session.chat(question):
                kind = ev.get("type")
                conv = ev.get("conversationId") or conv
                if kind == "assistant.delta":
                    text.append(ev.get("text", ""))
                    live.text("".join(text), ev.get("text", ""))
                elif kind == "tool.started":
                    tools.append({"callId": ev.get("callId"), "tool": ev.get("tool"), "params": ev.get("params")})
                    live.status(f"{ev.get('label') or ev.get('tool')} …")
                elif kind == "tool.finished":
                    for t in tools:
                        if t["callId"] == ev.get("callId"):
                            t["ok"] = ev.get("ok")
                            if ev.get("error"):
                                t["error"] = ev["error"].get("message")
                                live.failed(t["error"] or "")
                    live.status("")
                elif kind == "artifact":
                    artifacts.append(ev["artifact"])
                elif kind == "assistant.done":
                    message_id, status = ev.get("messageId"), ev.get("status", status)
        finally:
            live.close("".join(text))
        widgets = [PennyArtifact(a) for a in artifacts]
        if live.in_kernel or widgets:
            from IPython.display import display

            for w in widgets:
                display(w)
        return Answer("".join(text), conversation_id=conv, message_id=message_id, status=status,
                      artifacts=widgets, tools=tools, shown_in=_current_execution())


def _pandas():
    import pandas as pd

    return pd


class _Live:
    """The answer as it streams: an updatable markdown display in a kernel, plain writes in a terminal."""

    def __init__(self, in_kernel: bool) -> None:
        self.in_kernel = in_kernel
        self.handle = None
        self._text = ""
        self._status = ""
        self._failures: list[str] = []  # a failed tool's error, shown above the answer (the sidebar's tool card)

    def _bundle(self) -> dict[str, str]:
        # escaped: an SQL error quoting `<table>` must read as text, not become one
        failed = "".join(f"> ✗ {html.escape(m, quote=False)}\n\n" for m in self._failures)
        body = failed + self._text + (f"\n\n*{self._status}*" if self._status else "")
        return {"text/markdown": notebook_markdown(body) or "*Penny is thinking …*",
                "text/plain": body or "Penny is thinking …"}

    def _show(self) -> None:
        from IPython.display import display

        if self.handle is None:
            self.handle = display(self._bundle(), raw=True, display_id=True)
        else:
            self.handle.update(self._bundle(), raw=True)

    def text(self, full: str, delta: str) -> None:
        self._text = full
        if self.in_kernel:
            self._show()
        else:
            sys.stdout.write(delta)
            sys.stdout.flush()

    def failed(self, message: str) -> None:
        self._failures.append(" ".join(message.split()))
        if self.in_kernel:
            self._show()
        else:
            sys.stdout.write(f"✗ {message}\n")
            sys.stdout.flush()

    def status(self, status: str) -> None:
        if self._status == status:
            return
        self._status = status
        if self.in_kernel:
            self._show()

    def close(self, full: str) -> None:
        self._text, self._status = full, ""
        if self.in_kernel:
            self._show()
        elif full:
            sys.stdout.write("\n")
            sys.stdout.flush()


@magics_class
class PennyMagics(Magics):
    def __init__(self, shell=None, session=None) -> None:
        super().__init__(shell)
        self.commands = Penny(shell, session)

    @line_cell_magic
    def penny(self, line: str, cell: str | None = None):
        """Penny, the AI analyst: `%penny help` lists the subcommands."""
        return self.commands(line, cell)


def penny(line: str, session=None, cell: str | None = None):
    """Run one %penny command outside IPython's magic machinery; returns what the magic returns."""
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:  # pragma: no cover
        shell = None
    return Penny(shell, session)(line, cell)


def register(ipython) -> None:
    ipython.register_magics(PennyMagics(ipython))
