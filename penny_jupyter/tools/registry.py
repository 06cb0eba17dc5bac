"""The tool registry: the table of the tools a server offers, the built-ins and the `penny.tools` plugins,
all registered one way. What a tool is lives in base.py."""

from __future__ import annotations

import importlib
import logging
from typing import Any

from pydantic import BaseModel

from ..errors import NotFound
from .base import Tool

log = logging.getLogger("penny.tools")

PLUGIN_GROUP = "penny.tools"
# (module of this package, the Tool in it), in the order a client lists them
BUILTINS = (("kpis", "GET_COMPANY_KPIS"), ("dashboards", "LOAD_DASHBOARD"), ("metrics", "QUERY_METRIC"),
            ("metrics", "DESCRIBE_DATA"), ("sql", "RUN_SQL"), ("python", "RUN_PYTHON"))


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
    reg = ToolRegistry()
    for module, name in BUILTINS:
        reg.register(getattr(importlib.import_module(f"{__package__}.{module}"), name))
    if load_plugins:
        load_plugin_tools(reg)
    return reg


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
