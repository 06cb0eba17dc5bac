"""The %penny line magic: parse, delegate to the session, display the artifact.

A mistake in the arguments prints one line of usage; an error from Penny prints its sentence.
Neither prints a traceback.
"""

from __future__ import annotations

import argparse
import shlex
import sys

from ..errors import PennyError

USAGE = """\
%penny kpis [MTD|QTD|YTD] [--unit company|<department>|<region>]   company KPIs as a dashboard
%penny dashboard <company-health|sales-funnel|ops-incidents|finance-snapshot> [--period MTD|QTD|YTD]
%penny show <artifact_id> [--version N]                             display a stored artifact
%penny help                                                          this text"""


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse would print and exit the kernel's process
        raise UsageError(message)


def _parsers() -> dict[str, _Parser]:
    kpis = _Parser(prog="%penny kpis", add_help=False)
    kpis.add_argument("period", nargs="?", default="MTD", type=str.upper)
    kpis.add_argument("--unit", default="company")
    dash = _Parser(prog="%penny dashboard", add_help=False)
    dash.add_argument("slug")
    dash.add_argument("--period", type=str.upper)
    show = _Parser(prog="%penny show", add_help=False)
    show.add_argument("artifact_id")
    show.add_argument("--version", type=int)
    return {"kpis": kpis, "dashboard": dash, "show": show}


def penny(line: str, session=None):
    """Run one %penny command; returns an ArtifactWidget (displayed as the cell's result) or None."""
    from .session import LocalSession
    from .widget import ArtifactWidget

    try:
        words = shlex.split(line)
    except ValueError as e:
        return _fail(f"could not read the arguments: {e}")
    if not words or words[0] in ("help", "--help", "-h"):
        print(USAGE)
        return None
    cmd, rest = words[0], words[1:]
    parsers = _parsers()
    if cmd not in parsers:
        return _fail(f"unknown subcommand {cmd!r}", usage=True)
    try:
        args = parsers[cmd].parse_args(rest)
        session = session or LocalSession.shared()
        if cmd == "kpis":
            outcome = session.run_tool("get_company_kpis", {"period": args.period, "unit": args.unit})
            return ArtifactWidget(outcome.artifacts[0])
        if cmd == "dashboard":
            params = {"slug": args.slug}
            if args.period:
                params["period"] = args.period
            outcome = session.run_tool("load_dashboard", params)
            return ArtifactWidget(outcome.artifacts[0])
        return ArtifactWidget(session.artifact(args.artifact_id, args.version))
    except UsageError as e:
        return _fail(f"{cmd}: {e}", usage=True)
    except PennyError as e:
        return _fail(e.message)


def _fail(message: str, usage: bool = False) -> None:
    print(f"penny: {message}" + ("\nusage:\n" + USAGE if usage else ""), file=sys.stderr)
    return None


def register(ipython) -> None:
    ipython.register_magic_function(lambda line: penny(line), magic_kind="line", magic_name="penny")
