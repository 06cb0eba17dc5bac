"""The chat socket: one JSON frame in, a stream of JSON events out.

Identity comes from jupyter-server (token or cookie, origin checked) through `self.current_user`, or from
a kernel's X-Penny-Token, or the hub in the Penny service (auth.Identity), never from a frame or the query
string. A bad frame gets an `error` event and the socket stays open.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from jupyter_server.auth.decorator import ws_authenticated
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from penny_jupyter.errors import PennyError, TooLarge, to_wire
from tornado.websocket import WebSocketClosedError, WebSocketHandler

from .auth import Identity, principal_for

log = logging.getLogger("penny.ws")


def _protocol():
    """pydantic loads on the first frame, not at server start."""
    from penny_jupyter import protocol

    return protocol


class ChatSocket(Identity, WebSocketMixin, WebSocketHandler, JupyterHandler):
    @ws_authenticated
    async def get(self, *args, **kwargs):
        self.principal = principal_for(self, self.settings["penny_config"])
        self.engine = await self.settings["penny"].get()
        self.models = await self.engine.models.describe()  # the Ollama probe is cached ~30 s
        # Conversation events and `typing` reach the same person's other sockets, here and on other replicas.
        self.bus = self.settings["penny_bus"]
        await super().get(*args, **kwargs)

    async def open(self, *args, **kwargs):
        # Deltas are many small writes: without TCP_NODELAY, Nagle holds each one back until the client's
        # delayed ACK (~40 ms) arrives.
        self.set_nodelay(True)
        self._tasks: set[asyncio.Task] = set()
        await self.bus.join(self)  # before `ready`: from then on this socket hears the person's events
        proto = _protocol()
        self.send(proto.event(proto.ReadyEvent, user=self.principal.user, tenant=self.principal.tenant,
                              model=self.models["active"], model_reason=self.models["reason"]))

    def on_close(self):
        # Running turns go on and are stored: the client catches up with `resume` when it is back.
        if hasattr(self, "bus"):
            self.bus.leave(self)

    def send(self, event: dict[str, Any]) -> None:
        if self.ws_connection is None or self.ws_connection.is_closing():
            return
        if _protocol().CHECK_EVENTS:  # the tests: every event that goes out is valid by its model
            _protocol().check_event(event)
        try:
            self.write_message(json.dumps(event))
        except WebSocketClosedError:
            pass

    async def emit(self, event: dict[str, Any]) -> None:
        """Conversation events go to every open socket of the same person, on any replica (other tabs, and the
        socket that replaced one that dropped mid-answer); the rest only to this one."""
        if not event.get("conversationId"):
            return self.send(event)
        await self.bus.publish(self.principal, event)

    def send_failure(self, err: BaseException, conversation_id: str | None = None) -> None:
        """The `error` event for any failure (errors.to_wire: a PennyError's own words, else "unexpected")."""
        proto, w = _protocol(), to_wire(err)
        self.send(proto.event(proto.ErrorEvent, code=w.code, message=w.message, conversation_id=conversation_id,
                              retry_after=w.retry_after))

    def on_message(self, raw):
        limit = self.settings["penny_config"].max_frame_bytes
        if len(raw) > limit:
            return self.send_failure(TooLarge(f"frame of {len(raw)} bytes is over the {limit} byte limit; "
                                            "send a shorter message"))
        proto = _protocol()
        try:
            frame = proto.parse_client_frame(raw)
        except PennyError as e:
            return self.send_failure(e)
        if isinstance(frame, (proto.MessageFrame, proto.ToolExecuteFrame)):
            self._spawn(self._run(frame))
            return None
        try:
            self._handle_small(frame)
        except Exception as e:  # a bad frame, or a bug: an error event either way, and the socket stays open
            if not isinstance(e, PennyError):
                log.exception("chat frame failed")
            self.send_failure(e, getattr(frame, "conversation_id", None))
        return None

    def _spawn(self, coro) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _handle_small(self, frame) -> None:
        who, chat, proto = self.principal, self.engine.chat, _protocol()
        if isinstance(frame, proto.PingFrame):
            self.send(proto.event(proto.PongEvent))
        elif isinstance(frame, proto.ResumeFrame):
            for event in chat.resume(who, frame.conversation_id, frame.after_seq):
                self.send(event)
        elif isinstance(frame, proto.CancelFrame):
            chat.cancel(who, frame.conversation_id)
        elif isinstance(frame, proto.TypingFrame):
            self.engine.conversations.get(who, frame.conversation_id)
            event = proto.event(proto.TypingEvent, conversation_id=frame.conversation_id, user=who.user)
            self._spawn(self.bus.publish(who, event, skip=self))

    async def _run(self, frame) -> None:
        who, chat = self.principal, self.engine.chat
        cid = frame.conversation_id
        try:
            if isinstance(frame, _protocol().MessageFrame):
                await chat.handle_message(who, frame, self.emit)
            else:
                await chat.execute_tool(who, frame.tool, frame.params, self.emit, cid)
        except PennyError as e:
            self.send_failure(e, cid)
        except Exception as e:
            log.exception("chat frame failed")
            self.send_failure(e, cid)
