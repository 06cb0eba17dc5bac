"""The kernel's way to Penny: `session_for_environment()` picks the server's API or an in-process engine.

Under a Jupyter server with Penny the extension hands each kernel PENNY_SERVER_URL and PENNY_KERNEL_TOKEN, and
the magics talk to that server (remote.py): `%penny show <id>` finds what the sidebar made, and every tool call is
limited and audited where the sidebar's are. Without a server (plain IPython, a script, CI) LocalSession runs the
engine in-process on PENNY_DATA_DIR (the server still hands that over when it cannot be reached by loopback
HTTP). LocalSession's calls run on a private thread with its own event loop, because a kernel's main thread
already runs one.

A session keeps one conversation for `%penny ask`: the first question starts it, follow-ups go to the
same one (so the model sees the earlier turns), `new_conversation()` starts over.
"""

from __future__ import annotations

import asyncio
import os
import queue
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Iterator

from ..chat.titles import notebook_title
from ..engine import Engine
from ..errors import NotFound, Unavailable
from ..settings import PennyConfig
from ..tenancy import owner_of_server

_DONE = object()

SHARED_SERVER = ("this Jupyter server serves several users, so a kernel cannot prove whose Penny data it may use; "
                 "the %penny magics need a per-user server (e.g. JupyterHub's); the chat sidebar works here")

NO_HUB_TOKEN = ("this kernel is told Penny runs as your team's service (PENNY_SERVICE_URL) but has no hub token "
                "(JUPYTERHUB_API_TOKEN) to reach it with: start the kernel from your JupyterHub server")

_remote_lock = threading.Lock()
_remote: dict[tuple[str, str], object] = {}  # (url, token) -> session: one per kernel environment; holds no data


def session_for_environment(environ=os.environ):
    """The session the magics use:
    - under a hub with a Penny service (PENNY_SERVICE_URL, set by the hub's spawner): the service, as the user
      whose JUPYTERHUB_API_TOKEN this kernel inherited from their server;
    - the server's API when the server handed this kernel a URL and a credential;
    - else the engine in-process. A URL without a credential is a server that serves several users: it hands out
      no credential (and no data dir) on purpose, so there is nothing to fall back to."""
    service, hub_token = environ.get("PENNY_SERVICE_URL"), environ.get("JUPYTERHUB_API_TOKEN")
    if service:
        if not hub_token:
            raise Unavailable(NO_HUB_TOKEN)
        return _remote_session(service, hub_token, hub=True)
    url, token = environ.get("PENNY_SERVER_URL"), environ.get("PENNY_KERNEL_TOKEN")
    if url and token:
        return _remote_session(url, token, hub=False)
    if url:
        raise Unavailable(SHARED_SERVER)
    return LocalSession.shared()


def _remote_session(url: str, token: str, *, hub: bool):
    from .remote import RemoteSession

    with _remote_lock:  # one per kernel, like LocalSession.shared(): follow-ups keep their conversation
        if (url, token) not in _remote:
            _remote[(url, token)] = RemoteSession(url, token, hub=hub)
        return _remote[(url, token)]


class LocalSession:
    _lock = threading.Lock()
    _instance: "LocalSession | None" = None

    def __init__(self, config: PennyConfig | None = None) -> None:
        self.engine = Engine(config or PennyConfig())
        cfg = self.engine.config
        self.principal = owner_of_server(cfg)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="penny")
        self.conversation_id: str | None = None

    @classmethod
    def shared(cls) -> "LocalSession":
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    # ------------------------------------------------------------------ tools and artifacts
    def has_tool(self, name: str) -> bool:
        return name in self.engine.tools.names()

    def run_tool(self, tool: str, params: dict[str, Any]):
        executor = self.engine.executor
        call = executor.prepare(tool, params, self.principal)
        outcome = self._pool.submit(asyncio.run, executor.run(self.principal, call)).result()
        if not outcome.ok and outcome.result is None:  # code that raised keeps its output (ToolResult.failure)
            raise outcome.error
        return outcome

    def artifact(self, artifact_id: str, version: int | None = None) -> dict[str, Any]:
        return self.engine.artifacts.get(self.principal, artifact_id, version)

    def artifacts(self, conversation_id: str | None = None) -> list[dict[str, Any]]:
        return self.engine.artifacts.list(self.principal, conversation_id)

    def versions(self, artifact_id: str) -> list[dict[str, Any]]:
        return self.engine.artifacts.versions(self.principal, artifact_id)

    def conversations(self) -> list:
        return self.engine.conversations.list(self.principal)

    # ------------------------------------------------------------------ chat
    def new_conversation(self) -> None:
        self.conversation_id = None

    def chat(self, text: str, conversation_id: str | None = None) -> Iterator[dict[str, Any]]:
        """Ask Penny; yields the turn's events (assistant.delta, tool.started, artifact, ...) on the
        caller's thread as they happen. The turn runs on the session's thread. Closing the iterator
        early (KeyboardInterrupt in the cell) cancels the turn; what streamed so far is stored."""
        conv = conversation_id or self.conversation_id
        if conv is not None:
            try:
                self.engine.conversations.get(self.principal, conv)
            except NotFound:  # deleted in the sidebar meanwhile: start a new one
                conv = None
        if conv is None:  # named as a notebook's, so the sidebar's list tells the two apart
            conv = self.engine.conversations.create(self.principal, notebook_title(text)).id
        events: queue.Queue = queue.Queue()
        running: dict[str, Any] = {}

        async def emit(event: dict[str, Any]) -> None:
            events.put(event)

        async def turn() -> None:
            running["loop"], running["task"] = asyncio.get_running_loop(), asyncio.current_task()
            await self.engine.chat.ask(self.principal, conv, text, emit)

        def work() -> None:
            try:
                asyncio.run(turn())
            except BaseException as e:  # handed to the caller's thread
                events.put(e)
            finally:
                events.put(_DONE)

        self._pool.submit(work)
        finished = False
        try:
            while True:
                ev = events.get()
                if ev is _DONE:
                    finished = True
                    return
                if isinstance(ev, BaseException):
                    if isinstance(ev, asyncio.CancelledError):
                        continue
                    raise ev
                if ev.get("conversationId") and self.conversation_id != ev["conversationId"]:
                    if conversation_id is None:
                        self.conversation_id = ev["conversationId"]
                yield ev
        finally:
            if not finished:
                loop, task = running.get("loop"), running.get("task")
                if loop is not None and task is not None:
                    try:
                        loop.call_soon_threadsafe(task.cancel)
                    except RuntimeError:  # the loop already closed: the turn is over
                        pass
                while events.get() is not _DONE:  # wait for the turn to store what it has
                    pass
