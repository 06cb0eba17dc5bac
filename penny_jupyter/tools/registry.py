"""The tool registry: what a tool is, and the table of the tools a server offers.

A tool is a name, a description, a pydantic model of its parameters and a plain function
`run(ctx, params) -> ToolResult`. It never knows which transport called it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from pydantic import BaseModel

from ..errors import NotFound, PennyError

if TYPE_CHECKING:
    from ..data.warehouse import Warehouses
    from ..settings import PennyConfig
    from ..tenancy import Principal


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
    _cursors: list = field(default_factory=list)

    def warehouse(self):
        """A read-only DuckDB cursor on the caller's tenant warehouse (never another's)."""
        cur = self.warehouses.cursor(self.principal.tenant)
        self._cursors.append(cur)
        if self.cancelled():  # stopped while the warehouse was opening: run nothing on it
            raise PennyError("the call was stopped before its query started", code="cancelled")
        return cur

    def interrupt(self) -> None:
        """Stop the queries this call started (the executor calls it on timeout or cancel)."""
        for cur in self._cursors:
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


def default_registry() -> ToolRegistry:
    """The built-in tools. Imported lazily: DuckDB and plotly load on first use, not at server start."""
    from .dashboards import LOAD_DASHBOARD
    from .kpis import GET_COMPANY_KPIS

    reg = ToolRegistry()
    reg.register(GET_COMPANY_KPIS)
    reg.register(LOAD_DASHBOARD)
    return reg
