"""The tool contract: everything a tool, built-in or plugin, is written against (datasette's hookspecs.py
is the model: one file that is the interface).

A tool is a name, a description, a pydantic model of its parameters and a plain function
`run(ctx, params) -> ToolResult`. It gets what it may touch through the ToolContext (the caller's
Principal, their tenant's warehouse, the config) and never knows which transport called it. Errors it
raises are penny_jupyter.errors classes; TransientError asks the executor to try again.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from pydantic import BaseModel

from ..artifacts.draft import ArtifactDraft
from ..errors import PennyError, TransientError

if TYPE_CHECKING:
    from ..data.warehouse import Warehouses
    from ..settings import PennyConfig
    from ..tenancy import Principal

__all__ = ["ArtifactDraft", "Tool", "ToolContext", "ToolResult", "TransientError"]


@dataclass
class ToolResult:
    """`text` is a short factual summary quoting the numbers (markdown, one line per fact);
    `data` is the machine-readable result; `artifacts` are drafts the executor persists."""

    text: str
    data: dict[str, Any] = field(default_factory=dict)
    artifacts: list[ArtifactDraft] = field(default_factory=list)
    row_count: int | None = None
    # What a person reads when Penny writes the answer itself (the built-in router, a model that said nothing):
    # shorter than `text` where the artifact below shows the rest. `text` (every figure) is what a model reads.
    brief: str = ""
    # The tool ran but what it was asked to do failed (code that raised): the call is reported as failed
    # with this error, while its text, data and artifacts (output before the error) still reach the caller.
    failure: PennyError | None = None


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

    def catalog(self):
        """What the caller's tenant's metrics mean, over its own tables (data.catalog.Catalog)."""
        return self.warehouses.catalog(self.principal.tenant)

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
    # What a call is about, in a person's words, for its card ("KPIs · this month"); default: the title.
    label: Callable[[Any], str] | None = None
    # Its parameters as offered to a model for a company with its own catalog (data/mapping.py): that company's
    # metric names and units in the enums instead of the demo's. Calls are still validated with `params`.
    for_catalog: Callable[[Any], type[BaseModel]] | None = None

    def label_for(self, params: BaseModel) -> str:
        return (self.label(params) if self.label else "") or self.title or self.name.replace("_", " ")

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title or self.name,
            "description": self.description,
            "parameters": self.params.model_json_schema(),
        }
