"""The tool registry: what a tool is, and the table of the tools a server offers.

A tool is a name, a description, a pydantic model of its parameters and a plain function
`run(ctx, params) -> ToolResult`. It never knows which transport called it.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from pydantic import BaseModel

from ..errors import NotFound, PennyError, Unavailable

if TYPE_CHECKING:
    from ..data.warehouse import Warehouses
    from ..settings import PennyConfig
    from ..tenancy import Principal

log = logging.getLogger("penny.tools")

PLUGIN_GROUP = "penny.tools"


class TransientError(Unavailable):
    """A failure worth trying again (a backend briefly away, a lock held elsewhere). A tool raises it to
    ask the executor to retry with backoff; anything else it raises is final."""

    code = "transient"


@dataclass
class ArtifactDraft:
    """An artifact before it is stored (the store gives it id, tenant, version, createdAt)."""

    type: str  # dashboard | chart | table | document | code | image
    title: str
    spec: dict[str, Any]
    source: dict[str, Any] = field(default_factory=dict)  # {"tool": name, "params": {...}}


@dataclass
class ToolResult:
    """`text` is a short factual summary quoting the numbers (markdown, one line per fact);
    `data` is the machine-readable result; `artifacts` are drafts the executor persists."""

    text: str
    data: dict[str, Any] = field(default_factory=dict)
    artifacts: list[ArtifactDraft] = field(default_factory=list)
    row_count: int | None = None


@dataclass
class ToolContext:
    principal: "Principal"
    warehouses: "Warehouses"
    config: "PennyConfig"
    today: dt.date
    cancelled: Callable[[], bool] = lambda: False
    # Long tools report how they are doing ({"elapsedMs", "output"} or {"queuePosition"}); callable
    # from any thread. The executor forwards it to the caller as tool.progress events.
    progress: Callable[[dict], None] = lambda event: None
    _stoppable: list = field(default_factory=list)  # what interrupt() stops: cursors, query processes

    def warehouse(self):
        """A read-only DuckDB cursor on the caller's tenant warehouse (never another's)."""
        cur = self.warehouses.cursor(self.principal.tenant)
        self.stoppable(cur)
        if self.cancelled():  # stopped while the warehouse was opening: run nothing on it
            raise PennyError("the call was stopped before its query started", code="cancelled")
        return cur

    def stoppable(self, thing) -> None:
        """Have interrupt() stop `thing` too (anything with an `interrupt()`)."""
        self._stoppable.append(thing)

    def interrupt(self) -> None:
        """Stop the queries this call started (the executor calls it on timeout or cancel)."""
        for cur in self._stoppable:
            try:
                cur.interrupt()
            except Exception:  # a cursor already closed has nothing left to stop
                pass


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    params: type[BaseModel]
    run: Callable[[ToolContext, Any], ToolResult]
    title: str = ""
    # True for tools that never block (no I/O, microseconds): the executor runs them on the event loop
    # instead of a worker thread. Only for tools that cannot hang; the timeout cannot stop them.
    inline: bool = False

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title or self.name,
            "description": self.description,
            "parameters": self.params.model_json_schema(),
        }


class ToolRegistry:
    def __init__(self) -> None:
        self._tools: dict[str, Tool] = {}

    def register(self, tool: Tool) -> Tool:
        if tool.name in self._tools:
            raise ValueError(f"tool {tool.name!r} is registered twice")
        self._tools[tool.name] = tool
        return tool

    def get(self, name: str) -> Tool:
        try:
            return self._tools[name]
        except KeyError:
            known = ", ".join(sorted(self._tools))
            raise NotFound(f"unknown tool {name!r}; available tools: {known}", code="unknown_tool") from None

    def __iter__(self):
        return iter(self._tools.values())

    def names(self) -> list[str]:
        return sorted(self._tools)


def default_registry(load_plugins: bool = False) -> ToolRegistry:
    """The built-in tools, then (if asked) third-party tools from the `penny.tools` entry point group.

    Imported lazily: DuckDB and plotly load on first use, not at server start. A plugin that fails to
    load, is not a Tool, or takes a name already taken is skipped with a warning: it never stops the server.
    """
    from .dashboards import LOAD_DASHBOARD
    from .kpis import GET_COMPANY_KPIS

    reg = ToolRegistry()
    reg.register(GET_COMPANY_KPIS)
    reg.register(LOAD_DASHBOARD)
    for module, names in (("metrics", ("QUERY_METRIC", "DESCRIBE_DATA")), ("sql", ("RUN_SQL",)),
                          ("python", ("RUN_PYTHON",))):
        for tool in _builtin(module, names):
            reg.register(tool)
    if load_plugins:
        load_plugin_tools(reg)
    return reg


def _builtin(module: str, names: tuple[str, ...]) -> list[Tool]:
    """Built-ins whose modules are still being written: absent is tolerated (with a warning); present
    but broken is a bug and raises."""
    import importlib

    full = f"{__package__}.{module}"
    try:
        mod = importlib.import_module(full)
    except ModuleNotFoundError as e:
        if e.name != full:
            raise
        log.warning("built-in tool module %s is not there yet; %s not offered", full, ", ".join(names))
        return []
    return [getattr(mod, n) for n in names]


def load_plugin_tools(reg: ToolRegistry, group: str = PLUGIN_GROUP) -> list[str]:
    """Register the tools of every `penny.tools` entry point; returns the names added.

    An entry point names a Tool, a list of Tools, or a callable returning either."""
    from importlib.metadata import entry_points

    added: list[str] = []
    try:
        eps = list(entry_points(group=group))
    except Exception:  # broken metadata in some installed distribution
        log.warning("could not read the %s entry points; no plugin tools loaded", group, exc_info=True)
        return added
    for ep in eps:
        origin = f"{ep.name} = {ep.value}"
        try:
            obj = ep.load()
            tools = _as_tools(obj() if callable(obj) and not isinstance(obj, Tool) else obj)
        except Exception as e:
            log.warning("plugin tool %s skipped: it failed to load (%s: %s)", origin, type(e).__name__, e)
            continue
        for tool in tools:
            if tool is None:
                log.warning("plugin tool %s skipped: it is not a penny Tool with a pydantic params model", origin)
                continue
            if tool.name in reg.names():
                log.warning("plugin tool %s skipped: the name %r is already taken", origin, tool.name)
                continue
            reg.register(tool)
            added.append(tool.name)
    return added


def _as_tools(obj: Any) -> list[Tool | None]:
    items = [obj] if isinstance(obj, Tool) else list(obj) if isinstance(obj, (list, tuple)) else [obj]
    ok = []
    for t in items:
        valid = (isinstance(t, Tool) and isinstance(t.name, str) and t.name and callable(t.run)
                 and isinstance(t.params, type) and issubclass(t.params, BaseModel))
        ok.append(t if valid else None)
    return ok
