"""One model interface, several brains.

A model reads the conversation (Ollama-style message dicts) and the tools on offer, and streams
events: text as it is written, tool calls it wants made, and `Done` with its token counts. The turn
loop (chat/turn.py) runs the tool calls and calls `stream` again with their results appended as
`{"role": "tool", ...}` messages, until a round asks for no tools.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, AsyncIterator, Protocol, Union, runtime_checkable


if TYPE_CHECKING:
    from ..tools.base import Tool


@dataclass
class TextDelta:
    text: str


@dataclass
class ToolCallRequest:
    id: str
    name: str
    arguments: dict[str, Any]


@dataclass
class Clarify:
    """The model needs one more detail: ask `question`, offer `suggestions` as one-click replies."""

    question: str
    suggestions: list[str] = field(default_factory=list)


@dataclass
class Done:
    usage: dict[str, Any] = field(default_factory=dict)


ModelEvent = Union[TextDelta, ToolCallRequest, Clarify, Done]


@runtime_checkable
class Model(Protocol):
    name: str

    def stream(self, messages: list[dict[str, Any]], tools: list["Tool"]) -> AsyncIterator[ModelEvent]:
        """An async generator of ModelEvents; raises ModelUnavailable with a sentence when it cannot answer."""
        ...


class ServerBackend:
    """What the backends of a model server share: one client per event loop (httpx pools connections per loop,
    and tests run many loops) made by `_new_client`, and the tool schemas by the tuple of tool names (derived from
    code, never stale; one per turn shape, a handful)."""

    def __init__(self) -> None:
        import weakref

        self._clients: "weakref.WeakKeyDictionary[Any, Any]" = weakref.WeakKeyDictionary()
        self._schemas: dict[tuple[str, ...], list[dict[str, Any]]] = {}

    def _new_client(self) -> Any:
        raise NotImplementedError

    def _client(self) -> Any:
        import asyncio

        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            client = self._clients[loop] = self._new_client()
        return client

    def schemas(self, tools: list["Tool"]) -> list[dict[str, Any]]:
        key = tuple(t.name for t in tools)
        if key not in self._schemas:
            self._schemas[key] = [tool_schema(t) for t in tools]
        return self._schemas[key]


# ------------------------------------------------------------------ tool schemas for function calling

_KEEP = ("type", "items", "description", "enum")


def tool_schema(tool: "Tool") -> dict[str, Any]:
    """`{type: function, function: {name, description, parameters}}` from the tool's pydantic params.

    The ollama client keeps only type/items/description/enum of each property, so `anyOf [X, null]`
    (an Optional field) is flattened to X, `$ref`s are inlined, and defaults and bounds move into the
    description where the model can still read them."""
    schema = tool.params.model_json_schema()
    defs = schema.get("$defs", {})
    # `json_schema_extra={"model_hidden": True}`: accepted from people and the router, never offered to a model
    # (small models fill every field they see, and contradict themselves: period AND start/end).
    props = {name: _flatten(p, defs) for name, p in (schema.get("properties") or {}).items()
             if not p.get("model_hidden")}
    params: dict[str, Any] = {"type": "object", "properties": props}
    if schema.get("required"):
        params["required"] = list(schema["required"])
    return {"type": "function", "function": {"name": tool.name, "description": tool.description,
                                             "parameters": params}}


def _flatten(p: dict[str, Any], defs: dict[str, Any], depth: int = 0) -> dict[str, Any]:
    if depth > 4:
        return {"type": "object"}
    if "$ref" in p:
        p = {**defs.get(p["$ref"].rsplit("/", 1)[-1], {}), **{k: v for k, v in p.items() if k != "$ref"}}
    for key in ("anyOf", "oneOf"):
        if key in p:
            branches = [b for b in p[key] if b.get("type") != "null"]
            if len(branches) == 1:
                p = {**_flatten(branches[0], defs, depth + 1), **{k: v for k, v in p.items() if k != key}}
            else:
                types = [b.get("type") for b in branches if b.get("type")]
                p = {**{k: v for k, v in p.items() if k != key}, "type": types or "string"}
    out: dict[str, Any] = {k: p[k] for k in _KEEP if k in p}
    if "items" in out and isinstance(out["items"], dict):
        out["items"] = _flatten(out["items"], defs, depth + 1)
    if p.get("type") == "object" and isinstance(p.get("additionalProperties"), dict):
        out.setdefault("description", "")
        out["description"] = (out["description"] + " (an object of name -> value)").strip()
    notes = []
    if p.get("default") is not None:
        notes.append(f"default {p['default']!r}")
    for bound, word in (("minimum", "at least"), ("maximum", "at most"), ("maxLength", "at most chars")):
        if bound in p:
            notes.append(f"{word} {p[bound]}")
    if notes:
        out["description"] = (out.get("description", "") + f" ({'; '.join(notes)})").strip()
    out.setdefault("type", "string")
    return out
