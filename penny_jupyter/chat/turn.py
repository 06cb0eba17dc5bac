"""ChatService: one assistant turn, from a user's message to `assistant.done`.

The turn persists the user message before anything else, picks the model (models/backends.py),
gives it the conversation fitted to the history budget (chat/memory.py), and loops: stream the
model, run the tool calls it asks for through the executor, hand the results back, until a round
asks for no tools (at most `max_tool_rounds` rounds). Events go out through `emit`; every
conversation event is stored with its seq before it is sent, so a client that reconnects can
`resume` and see nothing twice. The service does not know whether `emit` writes to a socket, a
notebook cell or a test's list.

When the model cannot answer (Ollama down, not pulled, too slow, a broken stream, a tool loop) the
person gets one sentence saying so, and with `fallback_to_builtin` the built-in router answers the
same turn; without it the turn is stored as failed with what streamed so far.

While a turn runs it holds a lease in the app database and beats it (chat/leases.py): if this process dies
mid-turn, the next reader of the conversation, on any replica, ends the turn as interrupted with a sentence.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import re
from typing import Any, Awaitable, Callable

from .. import tracing
from ..errors import InvalidParams, ModelUnavailable, PennyError
from ..models.backends import BuiltinBackend, ModelSelector, attached
from ..models.base import Clarify, Done, Model, TextDelta, ToolCallRequest
from ..models.calls import TextCalls, copied_description
from .. import protocol as wire
from ..protocol import MessageFrame
from ..tenancy import Principal
from ..tools.executor import Outcome, ToolExecutor
from ..storage.database import new_id
from . import grounding
from .conversations import ConversationService
from .leases import keep_alive
from .memory import compact_data, fit_history, schema_tokens
from .titles import conversation_title
from .prompt import system_prompt

Emit = Callable[[dict[str, Any]], Awaitable[None]]
log = logging.getLogger("penny.chat")

DEFAULTS = {"max_tool_rounds": 4, "fallback_to_builtin": True, "history_token_budget": 8000}


class ChatService:
    def __init__(self, conversations: ConversationService, executor: ToolExecutor, router: Any = None, *,
                 models: ModelSelector | None = None) -> None:
        self.conversations = conversations
        self.executor = executor
        self.router = router
        if models is None:
            # No selector given (tests, scripts): the router answers; nothing asks Ollama anything.
            models = ModelSelector(executor.config, router, model="builtin")
        self.models = models
        self._running: dict[tuple[str, str], asyncio.Task] = {}
        self._tools_tokens: int | None = None
        # for tenants with their own catalog: their router, and their tools as offered to a model
        self._builtins: dict[str, BuiltinBackend] = {}
        self._tools_for: dict[str, tuple[Any, list]] = {}

    @property
    def config(self):
        return self.models.config

    def option(self, name: str) -> Any:
        return getattr(self.config, name, DEFAULTS[name])

    @property
    def model_name(self) -> str:
        return self.models.configured_id()

    def tools(self) -> list:
        return list(self.executor.registry)

    def tools_for(self, tenant: str) -> list:
        """The tools as offered to a model for this tenant: for a company with its own catalog, the parameters name
        its metrics and units (Tool.for_catalog); for everyone else, the registry's own."""
        cat = self._own_catalog(tenant)
        if cat is None:
            return self.tools()
        known = self._tools_for.get(tenant)
        if known is None or known[0] is not cat:
            tools = [dataclasses.replace(t, params=t.for_catalog(cat)) if t.for_catalog else t for t in self.tools()]
            known = self._tools_for[tenant] = (cat, tools)
        return known[1]

    def _own_catalog(self, tenant: str) -> Any:
        """The tenant's own catalog (data/mapping.py), or None for the demo's, no company data, or a mapping with a
        mistake in it (the tools say so when called)."""
        from ..data.catalog import DEMO

        warehouses = self.executor.warehouses
        if warehouses is None:  # an executor without company data (tests of the turn itself)
            return None
        try:
            cat = warehouses.catalog(tenant)
        except PennyError:
            return None
        return None if cat is DEMO else cat

    def builtin_for(self, tenant: str) -> Any:
        """The built-in router as a Model for this tenant: the shared one, or, for a company that mapped its own
        tables (data/mapping.py), one that knows that company's metric names, synonyms and units."""
        shared = self.models.builtin
        cat = self._own_catalog(tenant)
        if cat is None:
            return shared
        known = self._builtins.get(tenant)
        if known is None or known.router.catalog is not cat:  # built again when the mapping changed
            from ..models.builtin import BuiltinRouter

            router = BuiltinRouter(units=list(cat.units), today=self.config.today, catalog=cat)
            known = self._builtins[tenant] = BuiltinBackend(router)
        return known

    def tools_tokens(self) -> int:
        if self._tools_tokens is None:
            from ..models.base import tool_schema

            self._tools_tokens = schema_tokens(tool_schema(t) for t in self.tools())
        return self._tools_tokens

    # ------------------------------------------------------------------ a chat message
    async def handle_message(self, who: Principal, frame: MessageFrame, emit: Emit) -> None:
        """A `message` frame of the chat socket."""
        with tracing.span("penny.frame", frame="message", tenant=who.tenant):
            await self.ask(who, frame.conversation_id, frame.content, emit,
                           client_message_id=frame.client_message_id, model=frame.model, context=frame.context)

    async def ask(self, who: Principal, conversation_id: str | None, content: str, emit: Emit, *,
                  client_message_id: str | None = None, model: str | None = None,
                  context: str | None = None) -> None:
        """One message from a person and the whole turn that answers it, whichever transport brought it."""
        conversations = self.conversations
        conv = conversations.get_or_create(who, conversation_id, title=conversation_title(content))
        turn = _Turn(self, who, conv.id, emit)
        # Stored before the model is asked anything: a failed turn never loses what the person wrote. The turn's
        # lease comes with it, so from here on the turn ends with an answer even if this process dies.
        user_msg = conversations.append_message(who, conv.id, "user", content, client_message_id=client_message_id,
                                                opens_turn=turn.message_id,
                                                meta={"context": context} if context else None)
        await emit(user_msg.created_event())
        key = (who.tenant, conv.id)
        task = asyncio.current_task()
        if task is not None:
            self._running[key] = task
        beats = self._heartbeat(turn, task)
        with tracing.span("penny.turn", tenant=who.tenant, conversation=conv.id) as span:
            try:
                await turn.run(content, model, context or None)
            except asyncio.CancelledError:
                await turn.finish("cancelled")
            except Exception:
                log.exception("turn failed in %s", conv.id)
                await turn.delta("\n\nSomething went wrong on my side while answering; the error was logged.")
                await turn.finish("failed")
            finally:
                beats.cancel()  # a turn that could not store its end stops beating: a reader settles it
                if self._running.get(key) is task:
                    del self._running[key]
                if span is not None:
                    span.set_attribute("penny.model", turn.model_id)
                    span.set_attribute("penny.fault", turn.fault or "")

    def _heartbeat(self, turn: "_Turn", task: asyncio.Task | None) -> asyncio.Task:
        """Beats the turn's lease until cancelled. If a reader ended the turn as interrupted meanwhile (this
        process missed its beats: a stalled loop, the database out of reach), the turn is stopped."""
        conversations = self.conversations

        def lost() -> None:
            if not turn.finished and task is not None:
                log.warning("turn %s in %s was ended as interrupted elsewhere; stopping it",
                            turn.message_id, turn.conversation_id)
                task.cancel()

        return keep_alive(lambda: conversations.beat_turn(turn.who, turn.conversation_id, turn.message_id),
                          conversations.leases.heartbeat_seconds, lost)

    def cancel(self, who: Principal, conversation_id: str) -> bool:
        self.conversations.own(who, conversation_id, "stop answers in")  # NotFound/Forbidden if not theirs
        task = self._running.get((who.tenant, conversation_id))
        if task is None or task.done():
            return False
        task.cancel()
        return True

    def resume(self, who: Principal, conversation_id: str, after_seq: int) -> list[dict[str, Any]]:
        events = self.conversations.events_after(who, conversation_id, after_seq)
        # Stored artifact events say who could share them when they were made; tell this caller how it is now.
        shown = [e["artifact"] for e in events if e.get("type") == "artifact" and isinstance(e.get("artifact"), dict)]
        if shown:
            now = self.executor.artifacts.access(who, [a["id"] for a in shown])
            for art in shown:
                art.update(now.get(art["id"], {}))
        return events

    # ------------------------------------------------------------------ a direct tool call
    async def execute_tool(self, who: Principal, tool: str, params: dict[str, Any], emit: Emit,
                           conversation_id: str | None = None) -> Outcome:
        call = self.executor.prepare(tool, params, who)  # raises before anything is stored
        self.executor.admit(who, call)  # RateLimited (with retry_after) before tool.started, too
        if conversation_id:
            self.conversations.get_or_create(who, conversation_id, title=f"{tool}")
        return await run_reported(self.executor, who, call, _Recorder(self.conversations, who, conversation_id, emit))


async def run_reported(executor: ToolExecutor, who: Principal, call, send: "_Recorder") -> Outcome:
    """Run one call and tell the client as it goes: tool.started, tool.progress (live only), tool.finished,
    then an `artifact` event per artifact it made. The same for a model's call and a direct one."""
    await send(wire.event(wire.ToolStartedEvent, call_id=call.call_id, tool=call.tool.name, params=call.params_dict,
                          label=call.tool.label_for(call.params)))
    outcome = await executor.run(who, call, conversation_id=send.conversation_id,
                                 on_progress=_progress_sender(call, send.emit, send.conversation_id))
    error = None
    if outcome.error:
        error = outcome.error.to_dict()
        if outcome.error.retry_after:
            error["retryAfter"] = outcome.error.retry_after
    await send(wire.event(wire.ToolFinishedEvent, call_id=call.call_id, tool=call.tool.name, ok=outcome.ok,
                          duration_ms=outcome.duration_ms, error=error,
                          artifact_id=outcome.artifacts[0]["id"] if outcome.artifacts else None))
    for art in outcome.artifacts:
        await send(wire.event(wire.ArtifactEvent, artifact=art))
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


# A line of the raw tool data a small model copied into its answer ({"name":"revenue",...}, "data: {...}",
# "head: ["): never what a person should read. Code blocks are left alone (a person may ask for JSON).
_DUMP_LINE = re.compile(r'^\s*(?:[-*]\s*)?(?:\*\*\w[\w ]*\*\*:?\s*)?(?:data:\s*[{\[]|[{\[]\s*"\w+"\s*:|.*\bhead:\s*\[\s*$|'
                        r'[\]}],?\s*$)')


def without_data_dumps(text: str) -> str:
    """The answer as stored (and shown once it is stored): lines that are raw JSON from a tool result dropped."""
    out, fenced = [], False
    for line in text.split("\n"):
        if line.lstrip().startswith("```"):
            fenced = not fenced
        if not fenced and _DUMP_LINE.match(line):
            continue
        out.append(line)
    return "\n".join(out)


def with_context(question: str, context: str | None) -> str:
    """A question as a model reads it: with what the person attached from their notebook, fenced."""
    if not context:
        return question
    longest = max((len(m) for m in re.findall(r"`+", context)), default=0)
    fence = "`" * max(3, longest + 1)  # longer than any run of backticks inside, so nothing closes it early
    return f"{question}\n\nFrom my notebook:\n{fence}\n{context}\n{fence}"


class _Turn:
    def __init__(self, chat: ChatService, who: Principal, conversation_id: str, emit: Emit) -> None:
        self.chat, self.who, self.conversation_id = chat, who, conversation_id
        self.send = _Recorder(chat.conversations, who, conversation_id, emit)
        self.message_id = new_id("msg")
        self.text: list[str] = []
        self.artifact_ids: list[str] = []
        self.suggestions: list[str] = []
        self.usage: dict[str, Any] = {}
        self.model_id = ""
        self.fault: str | None = None
        self.fell_back = False
        self.finished = False
        self.evidence: list[Any] = []  # what the tools returned this turn, errors too: the figures an answer may quote
        self.ungrounded: list[str] = []
        self.claims: list[str] = []  # what the model wrote (not Penny's own sentences): checked against evidence
        self._break = False  # tools ran since the last text: start the next text on a new paragraph

    async def delta(self, text: str) -> None:
        if not text:
            return
        if self._break:
            self._break = False
            if self.text:  # a paragraph break, counting the newlines either side already has
                have = len(self.text[-1]) - len(self.text[-1].rstrip("\n")) + len(text) - len(text.lstrip("\n"))
                text = "\n" * max(0, 2 - have) + text
        self.text.append(text)
        await self.send(wire.event(wire.AssistantDeltaEvent, message_id=self.message_id, text=text))

    async def run(self, content: str, override: str | None = None, context: str | None = None) -> None:
        chat = self.chat
        sel = await chat.models.select(override)
        self.model_id = sel.id
        builtin = chat.builtin_for(self.who.tenant)
        model = builtin if sel.model is chat.models.builtin else sel.model
        asked = {"role": "user", "content": content, **({"context": context} if context else {})}
        try:
            # The router reads only the message it answers: no need to load the conversation for it.
            messages = [asked] if isinstance(model, BuiltinBackend) else self.history()
            await self.answer(model, messages)
        except ModelUnavailable as e:
            self.fault = e.code
            lead = "\n\n" if self.text else ""
            self._break = False
            if model is builtin or not chat.option("fallback_to_builtin"):
                log.info("model %s failed (%s) in %s", sel.id, e.code, self.conversation_id)
                await self.delta(f"{lead}{e.message}")
                await self.finish("failed")
                return
            log.info("model %s failed (%s) in %s; the built-in router answers", sel.id, e.code, self.conversation_id)
            await self.delta(f"{lead}{e.message} The built-in router answers instead.\n\n")
            self.model_id, self.fell_back = builtin.name, True
            await self.answer(builtin, [asked])
        await self.check_figures(with_context(content, context))  # figures in the attached cell are the person's
        await self.finish("complete")

    async def check_figures(self, question: str) -> None:
        """Every figure of the answer must be in a tool result of this turn; those that are not are listed
        under the answer (and counted in its meta), never passed off as data (chat/grounding.py)."""
        self.ungrounded = grounding.ungrounded("".join(self.claims), self.evidence, question)
        if self.ungrounded:
            log.info("answer in %s has %d figures from no tool result", self.conversation_id, len(self.ungrounded))
            self._break = False
            await self.delta(grounding.mark(self.ungrounded))

    def history(self) -> list[dict[str, Any]]:
        chat = self.chat
        msgs = chat.conversations.messages(self.who, self.conversation_id)
        history = [{"role": m.role, "content": with_context(m.content, (m.meta or {}).get("context"))} for m in msgs
                   if m.role in ("user", "assistant") and m.content]
        system = system_prompt(chat.config.today(), chat._own_catalog(self.who.tenant))
        return fit_history(history, int(chat.option("history_token_budget")), system=system,
                           tools_tokens=chat.tools_tokens())

    async def answer(self, model: Model, messages: list[dict[str, Any]]) -> None:
        """Stream rounds of the model until one asks for no tools; each tool result goes back to it. A round
        that ends the turn with no text gets an answer written from the tool results (`unsaid`)."""
        tools = self.chat.tools_for(self.who.tenant)
        max_rounds = max(0, int(self.chat.option("max_tool_rounds")))
        rounds = 0
        results: list[dict[str, Any]] = []
        while True:
            calls: list[ToolCallRequest] = []
            said: list[str] = []
            # Calls a model writes as text run as calls; the router never writes any (models/calls.py).
            text_calls = None if isinstance(model, BuiltinBackend) else TextCalls(tools)
            with tracing.span("penny.model", model=model.name, round=rounds):
                async with contextlib.aclosing(model.stream(messages, tools)) as events:
                    async for ev in events:
                        if isinstance(ev, TextDelta):
                            text = text_calls.feed(ev.text) if text_calls else ev.text
                            said.append(text)
                            self.claims.append(text)
                            await self.delta(text)
                        elif isinstance(ev, ToolCallRequest):
                            calls.append(ev)
                        elif isinstance(ev, Clarify):
                            said.append(ev.question)
                            await self.delta(ev.question)
                            self.suggestions = list(ev.suggestions)
                        elif isinstance(ev, Done):
                            for k, v in ev.usage.items():
                                self.usage[k] = self.usage.get(k, 0) + v if isinstance(v, (int, float)) else v
            if text_calls:
                rest, written = text_calls.end()
                said.append(rest)
                self.claims.append(rest)
                await self.delta(rest)
                calls.extend(written)
            if not calls:
                if not "".join(said).strip():
                    await self.unsaid(model, results)
                return
            if rounds >= max_rounds:
                raise ModelUnavailable(f"{model.name} kept asking for tools ({rounds} rounds) without answering, "
                                       "so I stopped it.", code="tool_loop")
            rounds += 1
            messages.append({"role": "assistant", "content": "".join(said),
                             "tool_calls": [{"function": {"name": c.name, "arguments": c.arguments}} for c in calls]})
            for c in calls:
                results.append(await self.run_tool(c))
                messages.append(results[-1])
            self._break = True

    async def unsaid(self, model: Model, results: list[dict[str, Any]]) -> None:
        """The model ended the turn without a word: answer from what its tools returned (their own summaries,
        which come from the data), or say what failed and what to try. A turn never ends empty."""
        self.fault = self.fault or "model_empty_answer"
        log.info("model %s ended %s without text after %d tool calls", model.name, self.conversation_id,
                 len(results))
        done = [r["penny"] for r in results if r["penny"].get("ok") and r["penny"].get("text")]
        if done:
            parts = [m["text"] for m in done]
            shown = [a for m in done for a in m.get("artifacts") or []]
            if shown:
                parts.append(attached(shown))
            return await self.delta("\n\n".join(parts))
        failed = [r["penny"] for r in results if not r["penny"].get("ok")]
        if failed:
            why = "; ".join(f"{m.get('tool')}: {(m.get('error') or {}).get('message', 'unknown error')}"
                            for m in failed[-2:])
            return await self.delta(f"I could not get that from the data ({why}). Try asking for one thing at a "
                                    "time, e.g. \"revenue this month\" or \"KPIs for this quarter\".")
        await self.delta(f"{model.name} gave an empty answer. Ask again in other words, or pick the built-in "
                         "router in the model menu.")

    async def run_tool(self, req: ToolCallRequest) -> dict[str, Any]:
        """Run one requested call; the tool message that goes back to the model (errors included)."""
        executor = self.chat.executor
        try:
            call = executor.prepare(req.name, req.arguments, self.who)
            if (copied := copied_description(call.tool, req.arguments)) is not None:
                raise InvalidParams(copied)
        except PennyError as e:
            self.evidence.append(e.message)  # a refusal's figures (limits, retry times) are the tool's, too
            return {"role": "tool", "tool_name": req.name,
                    "content": f"Error ({e.code}): {e.message}. Fix the call and try again, or answer without it.",
                    "penny": {"ok": False, "stage": "prepare", "tool": req.name, "error": e.to_dict()}}
        outcome = await run_reported(executor, self.who, call, self.send)
        self.artifact_ids.extend(a["id"] for a in outcome.artifacts)
        if outcome.ok and outcome.result is not None:
            self.evidence += [outcome.result.text, outcome.result.data]
        meta: dict[str, Any] = {"ok": outcome.ok, "stage": "run", "tool": call.tool.name}
        if outcome.ok and outcome.result is not None:
            meta["text"] = outcome.result.brief or outcome.result.text
            meta["artifacts"] = [{"id": a["id"], "type": a["type"]} for a in outcome.artifacts]
            content = outcome.result.text
            if outcome.result.data:
                content += "\n\ndata: " + compact_data(outcome.result.data)
            if outcome.artifacts:
                content += "\n\nattached for the person: " + ", ".join(f"{a['type']} {a['id']}"
                                                                       for a in outcome.artifacts)
        else:
            err = outcome.error.to_dict() if outcome.error else {"code": "unknown", "message": "unknown error"}
            meta["error"] = err
            self.evidence.append(err["message"])
            if outcome.result is not None:  # what code printed before it raised: figures a model may quote
                self.evidence += [outcome.result.text, outcome.result.data]
            content = f"Error ({err['code']}): {err['message']}"
            if outcome.result is not None and outcome.result.text:  # what the code printed before it raised
                content += "\n\n" + outcome.result.text
        return {"role": "tool", "tool_name": call.tool.name, "content": content, "penny": meta}

    async def finish(self, status: str) -> None:
        if self.finished:
            return
        self.finished = True
        content = without_data_dumps("".join(self.text)) or ("(cancelled before any answer)"
                                                             if status == "cancelled" else "")
        meta: dict[str, Any] = {"artifactIds": self.artifact_ids, "model": self.model_id or self.chat.model_name}
        if self.fault:
            meta["modelError"] = self.fault
        if self.fell_back:
            meta["fallback"] = True
        if self.ungrounded:
            meta["ungrounded"] = self.ungrounded
        if self.suggestions:
            meta["suggestions"] = self.suggestions
        if self.usage:
            meta["usage"] = self.usage
        conversations = self.chat.conversations
        stored = conversations.finish_turn(self.who, self.conversation_id, self.message_id, content, status=status,
                                           meta=meta, suggestions=self.suggestions)
        if stored is None:
            return await self.send_settled_end()
        # Both are already in the event log with their seqs; they go out live too.
        msg, done = stored
        await self.send.emit(msg.created_event())
        await self.send.emit(done)

    async def send_settled_end(self) -> None:
        """This process missed its beats long enough that a reader ended the turn as interrupted: that end
        stands (a turn has one), and this client gets it instead of the answer."""
        log.warning("turn %s in %s was ended as interrupted elsewhere; its answer is dropped",
                    self.message_id, self.conversation_id)
        for e in self.chat.conversations.events_after(self.who, self.conversation_id, 0):
            if e["type"] in ("message.created", "assistant.done") and \
                    self.message_id in (e.get("messageId"), (e.get("message") or {}).get("id")):
                await self.send.emit(e)


def _progress_sender(call, emit: Emit, conversation_id: str | None) -> Callable[[dict[str, Any]], Awaitable[None]]:
    """tool.progress events for one call. Sent live and never stored: they are many, and a client that
    resumes later wants the outcome (tool.finished), not the ticks."""

    async def send(event: dict[str, Any]) -> None:
        payload = wire.event(wire.ToolProgressEvent, call_id=call.call_id, tool=call.tool.name,
                             elapsed_ms=event.get("elapsedMs", 0), output=event.get("output", ""),
                             queue_position=event.get("queuePosition"), conversation_id=conversation_id or None)
        try:
            await emit(payload)
        except Exception:  # a socket gone away: the tool keeps running, its outcome is still stored
            log.debug("tool.progress not delivered", exc_info=True)

    return send




__all__ = ["ChatService", "Emit"]
