"""ChatService: one assistant turn, from a user's message to `assistant.done`.

The turn persists the user message before anything else, routes the request, runs the tool
through the executor, and streams events through `emit`. Every conversation event is stored
with its seq before it is sent, so a client that reconnects can `resume` and see nothing twice.
The service does not know whether `emit` writes to a socket, a notebook cell or a test's list.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any, Awaitable, Callable

from ..errors import PennyError
from ..models.builtin import PERIOD_WORDS, BuiltinRouter, help_text
from ..protocol import MessageFrame
from ..tenancy import Principal
from ..tools.executor import Outcome, ToolExecutor
from .conversations import ConversationService, new_id

Emit = Callable[[dict[str, Any]], Awaitable[None]]
log = logging.getLogger("penny.chat")


class ChatService:
    def __init__(self, conversations: ConversationService, executor: ToolExecutor, router: BuiltinRouter) -> None:
        self.conversations = conversations
        self.executor = executor
        self.router = router
        self._running: dict[tuple[str, str], asyncio.Task] = {}

    @property
    def model_name(self) -> str:
        return self.router.name

    # ------------------------------------------------------------------ a chat message
    async def handle_message(self, who: Principal, frame: MessageFrame, emit: Emit) -> None:
        conv = self.conversations.get_or_create(who, frame.conversation_id, title=_title(frame.content))
        # Stored before the model is asked anything: a failed turn never loses what the person wrote.
        user_msg = self.conversations.append_message(who, conv.id, "user", frame.content,
                                                     client_message_id=frame.client_message_id)
        await emit({"type": "message.created", "conversationId": conv.id, "seq": user_msg.seq,
                    "message": user_msg.to_wire()})
        turn = _Turn(self, who, conv.id, emit)
        key = (who.tenant, conv.id)
        task = asyncio.current_task()
        if task is not None:
            self._running[key] = task
        try:
            await turn.run(frame.content)
        except asyncio.CancelledError:
            await turn.finish("cancelled")
        except Exception:
            log.exception("turn failed in %s", conv.id)
            await turn.delta("\n\nSomething went wrong on my side while answering; the error was logged.")
            await turn.finish("failed")
        finally:
            if self._running.get(key) is task:
                del self._running[key]

    def cancel(self, who: Principal, conversation_id: str) -> bool:
        self.conversations.get(who, conversation_id)  # NotFound for ids that are not the caller's
        task = self._running.get((who.tenant, conversation_id))
        if task is None or task.done():
            return False
        task.cancel()
        return True

    def resume(self, who: Principal, conversation_id: str, after_seq: int) -> list[dict[str, Any]]:
        return self.conversations.events_after(who, conversation_id, after_seq)

    # ------------------------------------------------------------------ a direct tool call
    async def execute_tool(self, who: Principal, tool: str, params: dict[str, Any], emit: Emit,
                           conversation_id: str | None = None) -> Outcome:
        call = self.executor.prepare(tool, params, who)  # raises before anything is stored
        self.executor.admit(who, call)  # RateLimited (with retry_after) before tool.started, too
        if conversation_id:
            self.conversations.get_or_create(who, conversation_id, title=f"{tool}")
        send = _Recorder(self.conversations, who, conversation_id, emit)
        await send({"type": "tool.started", "callId": call.call_id, "tool": call.tool.name,
                    "params": call.params_dict})
        outcome = await self.executor.run(who, call, conversation_id=conversation_id)
        await send(_finished(outcome))
        for art in outcome.artifacts:
            await send({"type": "artifact", "artifact": art})
        return outcome


class _Recorder:
    """Stores conversation events (giving them a seq) before sending; events outside a conversation go as they are."""

    def __init__(self, conversations: ConversationService, who: Principal, conversation_id: str | None, emit: Emit):
        self.conversations, self.who, self.conversation_id, self.emit = conversations, who, conversation_id, emit

    async def __call__(self, payload: dict[str, Any]) -> None:
        if self.conversation_id:
            payload["conversationId"] = self.conversation_id
            self.conversations.record_event(self.who, self.conversation_id, payload)
        await self.emit(payload)


class _Turn:
    def __init__(self, chat: ChatService, who: Principal, conversation_id: str, emit: Emit) -> None:
        self.chat, self.who, self.conversation_id = chat, who, conversation_id
        self.send = _Recorder(chat.conversations, who, conversation_id, emit)
        self.message_id = new_id("msg")
        self.text: list[str] = []
        self.artifact_ids: list[str] = []
        self.finished = False

    async def delta(self, text: str) -> None:
        self.text.append(text)
        await self.send({"type": "assistant.delta", "messageId": self.message_id, "text": text})

    async def run(self, content: str) -> None:
        route = self.chat.router.route(content)
        if route is None:
            for chunk in _chunks(help_text()):
                await self.delta(chunk)
            await self.finish("complete")
            return

        await self.delta(_intro(route.tool, route.params))
        try:
            call = self.chat.executor.prepare(route.tool, route.params, self.who)
        except PennyError as e:
            await self.delta(f"\n\nI could not run that: {e.message}")
            await self.finish("complete")
            return
        await self.send({"type": "tool.started", "callId": call.call_id, "tool": call.tool.name,
                         "params": call.params_dict})
        outcome = await self.chat.executor.run(self.who, call, conversation_id=self.conversation_id)
        await self.send(_finished(outcome))
        for art in outcome.artifacts:
            self.artifact_ids.append(art["id"])
            await self.send({"type": "artifact", "artifact": art})
        if outcome.ok and outcome.result is not None:
            for chunk in _chunks("\n\n" + outcome.result.text):
                await self.delta(chunk)
            if outcome.artifacts:
                await self.delta("\n\n" + _attached(outcome.artifacts))
        elif outcome.error is not None and outcome.error.code == "rate_limited":
            await self.delta(f"\n\nI did not run {call.tool.name}: you have made too many tool calls for now. "
                             f"{outcome.error.message[0].upper()}{outcome.error.message[1:]}.")
        else:
            await self.delta(f"\n\n{call.tool.name} failed: {outcome.error.message if outcome.error else 'unknown error'}")
        await self.finish("complete")

    async def finish(self, status: str) -> None:
        if self.finished:
            return
        self.finished = True
        content = "".join(self.text) or ("(cancelled before any answer)" if status == "cancelled" else "")
        msg = self.chat.conversations.append_message(
            self.who, self.conversation_id, "assistant", content, status=status, message_id=self.message_id,
            meta={"artifactIds": self.artifact_ids, "model": self.chat.model_name})
        # The stored message (already in the event log with its seq) goes out live too.
        await self.send.emit({"type": "message.created", "conversationId": self.conversation_id, "seq": msg.seq,
                              "message": msg.to_wire()})
        await self.send({"type": "assistant.done", "messageId": msg.id, "status": status})


def _attached(artifacts: list[dict[str, Any]]) -> str:
    """'The chart and the table are attached below; `%penny show art_…` puts the chart in a notebook cell.'"""
    kinds = [a["type"] for a in artifacts]
    names = " and ".join(f"the {k}" for k in kinds)
    verb = "is" if len(kinds) == 1 else "are"
    return (f"{names[0].upper()}{names[1:]} {verb} attached below; `%penny show {artifacts[0]['id']}` puts "
            f"the {kinds[0]} in a notebook cell.")


def _finished(outcome: Outcome) -> dict[str, Any]:
    event: dict[str, Any] = {"type": "tool.finished", "callId": outcome.call.call_id, "tool": outcome.call.tool.name,
                             "ok": outcome.ok, "durationMs": outcome.duration_ms}
    if outcome.artifacts:
        event["artifactId"] = outcome.artifacts[0]["id"]
    if outcome.error:
        event["error"] = outcome.error.to_dict()
        if outcome.error.retry_after:
            event["error"]["retryAfter"] = outcome.error.retry_after
    return event


def _intro(tool: str, params: dict[str, Any]) -> str:
    period = PERIOD_WORDS.get(params.get("period", ""), "")
    if tool == "get_company_kpis":
        unit = params.get("unit", "company")
        who = "the company" if unit == "company" else unit
        return f"Checking the KPIs for {who} {period}…"
    if tool == "load_dashboard":
        name = params["slug"].replace("-", " ")
        return f"Opening the **{name}** dashboard{(' for ' + period) if period else ''}."
    if tool == "query_metric":
        what = str(params.get("metric", "the metric")).replace("_", " ")
        by = f" by {params['by']}" if params.get("by") else ""
        top = f" (top {params['top']})" if params.get("top") else ""
        when = PERIOD_WORDS.get(str(params.get("period", "")), params.get("period") or "")
        return f"Looking up **{what}**{by}{top}{(' for ' + when) if when else ''}…"
    if tool == "describe_data":
        return "Listing the tables and metrics I can see…"
    if tool == "run_sql":
        return "Running your query against the warehouse…"
    return f"Running {tool}."


def _chunks(text: str) -> list[str]:
    """Stream line by line: a person sees the answer build up, and each delta stays small."""
    return [c for c in re.split(r"(?<=\n)", text) if c]


def _title(content: str) -> str:
    first = content.strip().splitlines()[0] if content.strip() else "New conversation"
    return first[:60] + ("…" if len(first) > 60 else "")
