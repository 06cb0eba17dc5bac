"""The wire contract: a pydantic model for every WebSocket frame and event, and the REST bodies.

Client frames are parsed with `parse_client_frame`, which raises BadRequest with a sentence
that says what is wrong; any JSON a client sends (frames, REST bodies) is read by `load_json`,
which also refuses nesting deeper than MAX_DEPTH.

Server events are made by `event(Model, **fields)` from the models below: the model gives the
`type` and the camelCase name of every field, exactly as DESIGN.md's contract pins, and a field the
model does not have is an error at once. It builds a plain dict (a turn sends hundreds of deltas,
and an artifact event carries a whole spec: pydantic validation of each would cost more than the
turn); `check_event` validates one against its model, which the socket does for every event it
sends when PENNY_CHECK_EVENTS=1 (the tests set it). `labextension/src/protocol.ts` is compared with
these models field by field by tests/test_protocol_ts.py.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from pydantic.alias_generators import to_camel

from .errors import BadRequest

ID = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")]


class Wire(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    def dump(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


# ---------------------------------------------------------------- client -> server frames


ModelID = Annotated[str, Field(max_length=208,
                                pattern=r"^(builtin|auto|ollama:[A-Za-z0-9_.:/-]{1,200}|openai:[A-Za-z0-9_.:/@-]{1,200})$",
                                description='"builtin", "auto", "ollama:<model>" or "openai:<model>"')]


class MessageFrame(Wire):
    type: Literal["message"]
    content: str = Field(min_length=1, max_length=100_000)
    conversation_id: ID | None = None
    client_message_id: ID | None = None
    model: ModelID | None = None  # this message only: "builtin", "ollama:<model>" or "openai:<model>"
    # What the person attached from their notebook (the active cell, or its selected text): the model reads it
    # with the question; the router runs it when asked to ("run this").
    context: str | None = Field(default=None, max_length=20_000)


class ToolExecuteFrame(Wire):
    type: Literal["tool_execute"]
    tool: str = Field(min_length=1, max_length=128)
    params: dict[str, Any] = Field(default_factory=dict)
    conversation_id: ID | None = None


class CancelFrame(Wire):
    type: Literal["cancel"]
    conversation_id: ID


class ResumeFrame(Wire):
    type: Literal["resume"]
    conversation_id: ID
    after_seq: int = Field(ge=0)


class TypingFrame(Wire):
    type: Literal["typing"]
    conversation_id: ID


class PingFrame(Wire):
    type: Literal["ping"]


ClientFrame = Annotated[
    Union[MessageFrame, ToolExecuteFrame, CancelFrame, ResumeFrame, TypingFrame, PingFrame],
    Field(discriminator="type"),
]
_client_frame = TypeAdapter(ClientFrame)
CLIENT_FRAME_TYPES = ("message", "tool_execute", "cancel", "resume", "typing", "ping")


MAX_DEPTH = 64  # levels of objects and arrays; nothing Penny reads nests past a handful


def load_json(raw: str | bytes, what: str = "frame", *, invalid: str = "malformed_frame",
              too_deep: str = "invalid_frame") -> Any:
    """A client's JSON, or BadRequest (code `invalid`, or `too_deep` for nesting past MAX_DEPTH) with a
    sentence. orjson stops at 1,024 levels by itself, where the stdlib's parser would raise RecursionError."""
    import orjson

    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        if "depth limit" in str(e).lower() or "recursion" in str(e).lower():
            raise _too_deep(what, too_deep) from None
        raise BadRequest(f"{what} is not valid JSON ({e}); send one JSON object", code=invalid) from None
    level, todo = 1, [data] if isinstance(data, (dict, list)) else []
    while todo:  # breadth first, one level at a time: no recursion here either
        if level > MAX_DEPTH:
            raise _too_deep(what, too_deep)
        todo = [v for c in todo for v in (c.values() if isinstance(c, dict) else c) if isinstance(v, (dict, list))]
        level += 1
    return data


def _too_deep(what: str, code: str) -> BadRequest:
    return BadRequest(f"{what} nests objects or arrays more than {MAX_DEPTH} levels deep; Penny reads nothing "
                      "that deep: send a flatter JSON object", code=code)


def parse_client_frame(raw: str | bytes) -> MessageFrame | ToolExecuteFrame | CancelFrame | ResumeFrame | TypingFrame | PingFrame:
    data = load_json(raw)
    if not isinstance(data, dict):
        raise BadRequest("frame must be a JSON object with a 'type' field", code="malformed_frame")
    kind = data.get("type")
    if kind not in CLIENT_FRAME_TYPES:
        raise BadRequest(f"unknown frame type {kind!r}; expected one of: {', '.join(CLIENT_FRAME_TYPES)}",
                         code="unknown_frame")
    try:
        return _client_frame.validate_python(data)
    except ValidationError as e:
        raise BadRequest(f"invalid {kind!r} frame: {describe_validation_error(e)}", code="invalid_frame") from None


def describe_validation_error(e: ValidationError) -> str:
    """One readable sentence per problem: 'period: Input should be 'MTD', 'QTD' or 'YTD' (got 'XTD')'."""
    parts = []
    for err in e.errors(include_url=False)[:5]:
        loc = ".".join(str(p) for p in err["loc"]) or "value"
        got = err.get("input")
        got_s = "" if isinstance(got, dict) or got is None else f" (got {got!r})"
        parts.append(f"{loc}: {err['msg']}{got_s}")
    return "; ".join(parts)


# ---------------------------------------------------------------- shared shapes


class MessageOut(Wire):
    id: str
    conversation_id: str
    role: Literal["user", "assistant", "tool", "system"]
    content: str
    # "interrupted": the server answering stopped mid-turn; another one ended the turn with a sentence
    status: Literal["complete", "streaming", "failed", "cancelled", "interrupted"] = "complete"
    seq: int | None = None
    client_message_id: str | None = None
    created_at: str
    meta: dict[str, Any] = Field(default_factory=dict)


class SharingOut(Wire):
    tenant: bool = False  # shared with everyone in the author's tenant
    users: list[str] = Field(default_factory=list)  # and/or these colleagues of the same tenant


class ConversationOut(Wire):
    id: str
    title: str
    created_at: str
    updated_at: str
    message_count: int = 0
    owner: str | None = None
    sharing: SharingOut | None = None
    can_share: bool | None = None


class ArtifactOut(Wire):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")
    id: str
    tenant: str
    type: Literal["dashboard", "chart", "table", "document", "code", "image"]
    title: str
    version: int
    spec: dict[str, Any]
    created_at: str
    source: dict[str, Any] = Field(default_factory=dict)
    conversation_id: str | None = None
    owner: str | None = None
    sharing: SharingOut | None = None
    can_share: bool | None = None
    can_publish: bool | None = None  # may make new versions and download links


# ---------------------------------------------------------------- server -> client events


class ReadyEvent(Wire):
    type: Literal["ready"] = "ready"
    user: str
    tenant: str
    model: str
    model_reason: str | None = None


class MessageCreatedEvent(Wire):
    type: Literal["message.created"] = "message.created"
    conversation_id: str
    seq: int
    message: MessageOut


class AssistantDeltaEvent(Wire):
    type: Literal["assistant.delta"] = "assistant.delta"
    conversation_id: str
    message_id: str
    seq: int
    text: str


class ToolStartedEvent(Wire):
    type: Literal["tool.started"] = "tool.started"
    conversation_id: str | None = None
    seq: int | None = None
    call_id: str
    tool: str
    params: dict[str, Any]
    label: str | None = None  # the call in a person's words ("KPIs · this month"), for its card


class ToolFinishedEvent(Wire):
    type: Literal["tool.finished"] = "tool.finished"
    conversation_id: str | None = None
    seq: int | None = None
    call_id: str
    tool: str
    ok: bool
    duration_ms: float
    artifact_id: str | None = None
    error: dict[str, Any] | None = None  # {code, message, retryAfter?}


class ToolProgressEvent(Wire):
    """A running tool's progress (run_python: elapsed time and the tail of its output so far, or its
    place in the queue while it waits). Sent live, not stored: a resumed conversation skips them."""

    type: Literal["tool.progress"] = "tool.progress"
    conversation_id: str | None = None
    call_id: str
    tool: str
    elapsed_ms: float | None = None
    output: str | None = None
    queue_position: int | None = None


class ArtifactEvent(Wire):
    type: Literal["artifact"] = "artifact"
    conversation_id: str | None = None
    seq: int | None = None
    artifact: ArtifactOut


class AssistantDoneEvent(Wire):
    type: Literal["assistant.done"] = "assistant.done"
    conversation_id: str
    message_id: str
    seq: int
    status: Literal["complete", "failed", "cancelled", "interrupted"] = "complete"
    suggestions: list[str] | None = None  # one-click replies when the answer is a question back


class TypingEvent(Wire):
    type: Literal["typing"] = "typing"
    conversation_id: str
    user: str


class ErrorEvent(Wire):
    type: Literal["error"] = "error"
    code: str
    message: str
    conversation_id: str | None = None
    retry_after: float | None = None


class PongEvent(Wire):
    type: Literal["pong"] = "pong"


ServerEvent = Union[ReadyEvent, MessageCreatedEvent, AssistantDeltaEvent, ToolStartedEvent, ToolFinishedEvent,
                    ToolProgressEvent,
                    ArtifactEvent, AssistantDoneEvent, TypingEvent, ErrorEvent, PongEvent]
EVENT_MODELS: dict[str, type[Wire]] = {m.model_fields["type"].default: m for m in ServerEvent.__args__}
CHECK_EVENTS = os.environ.get("PENNY_CHECK_EVENTS") == "1"


@lru_cache(maxsize=None)
def _shape(model: type[Wire]) -> tuple[str, dict[str, str]]:
    return model.model_fields["type"].default, {n: f.alias or n for n, f in model.model_fields.items()}


def event(model: type[Wire], /, **fields: Any) -> dict[str, Any]:
    """One server -> client event as it goes on the wire: `type` first, camelCase names, no None values.
    A keyword the model has no field for raises KeyError (the contract changed here, not in the model)."""
    kind, names = _shape(model)
    out: dict[str, Any] = {"type": kind}
    for name, value in fields.items():
        if value is not None:
            out[names[name]] = value
    return out


def check_event(payload: dict[str, Any]) -> None:
    """ValueError unless `payload` is a valid event of its type (for tests and PENNY_CHECK_EVENTS=1)."""
    model = EVENT_MODELS.get(payload.get("type"))
    if model is None:
        raise ValueError(f"unknown event type {payload.get('type')!r}")
    model.model_validate(payload)


# ---------------------------------------------------------------- REST bodies


class ConversationCreate(Wire):
    title: str | None = Field(default=None, max_length=200)
    id: ID | None = None


class ConversationPatch(Wire):
    title: str = Field(min_length=1, max_length=200)


class MessageCreate(Wire):
    content: str = Field(min_length=1, max_length=100_000)
    client_message_id: ID | None = None
    model: ModelID | None = None


class ModelInfo(Wire):
    id: str
    label: str
    available: bool
    reason: str | None = None


class ModelList(Wire):
    """`GET models`: the default model (with why), and every model a message may name."""

    active: str
    reason: str
    models: list[ModelInfo]


class ToolExecuteBody(Wire):
    params: dict[str, Any] = Field(default_factory=dict)
    conversation_id: ID | None = None


class SharingBody(Wire):
    """`PUT conversations/{id}/sharing` and `PUT artifacts/{id}/sharing`: who may read it besides its author."""

    tenant: bool = False
    users: list[Annotated[str, Field(min_length=1, max_length=256)]] = Field(default_factory=list, max_length=200)


class LinkCreate(Wire):
    """`POST artifacts/{id}/links`: a signed download link that expires."""

    format: Literal["html", "csv", "json"] = "html"
    version: int | None = Field(default=None, ge=1)
    expires_in: int | None = Field(default=None, ge=1, description="seconds; default PennyConfig.link_ttl")
