"""The kernel's way to Penny under a Jupyter server: the server's own REST API and chat socket.

The server extension hands every kernel it starts PENNY_SERVER_URL (its loopback URL, with base_url) and
PENNY_KERNEL_TOKEN (a credential the server signed, naming its owner); every call carries the credential as
`X-Penny-Token`. So the magics see exactly what the sidebar sees, and each tool call runs once, in the server,
through its executor (limits, audit) — not in a second engine inside the kernel.

Same interface as LocalSession (session.py). Calls are plain blocking HTTP (httpx) and a blocking WebSocket
(websocket-client): a kernel's main thread already runs an event loop, so nothing here needs one.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any, Iterator

from ..chat.titles import notebook_title
from ..errors import NotFound, PennyError, Unavailable, rebuild
from ..signing import KERNEL_HEADER

CALL_TIMEOUT = 60.0   # a plain read; the first call of a server may also build its engine
TOOL_TIMEOUT = 300.0  # a tool call, or the quiet between two events of a turn: above the server's own tool timeouts
CONNECT_TIMEOUT = 5.0  # loopback: it answers at once or not at all
CANCEL_WAIT = 10.0    # after Stop, how long to wait for the turn to store what it has

@dataclass(frozen=True)
class RemoteConversation:
    id: str
    title: str
    message_count: int
    created_at: str
    updated_at: str


@dataclass
class ToolResult:
    text: str = ""
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class ToolOutcome:
    """What `POST tools/{name}/execute` answered, shaped like the executor's Outcome as the magics read it."""

    artifacts: list[dict[str, Any]]
    result: ToolResult
    call_id: str | None = None
    duration_ms: float | None = None
    ok: bool = True


class RemoteSession:
    def __init__(self, url: str, token: str, *, hub: bool = False) -> None:
        """`token`: the server's kernel credential, or with `hub`, a hub token for the team's Penny service."""
        import httpx

        self.url = url if url.endswith("/") else url + "/"
        self._auth = ("Authorization", f"token {token}") if hub else (KERNEL_HEADER, token)
        # trust_env=False: a loopback call never goes through an HTTP(S)_PROXY from the environment.
        self._http = httpx.Client(base_url=self.url + "penny/api/", headers=dict([self._auth]), trust_env=False,
                                  timeout=httpx.Timeout(CALL_TIMEOUT, connect=CONNECT_TIMEOUT))
        self._tools: set[str] | None = None
        self.conversation_id: str | None = None

    def close(self) -> None:
        self._http.close()

    # ------------------------------------------------------------------ REST
    def _call(self, method: str, path: str, *, timeout: float | None = None, **kwargs) -> Any:
        import httpx

        limit = httpx.Timeout(timeout, connect=CONNECT_TIMEOUT) if timeout else httpx.USE_CLIENT_DEFAULT
        try:
            resp = self._http.request(method, path, timeout=limit, **kwargs)
        except httpx.TimeoutException as e:
            if isinstance(e, httpx.ConnectTimeout):
                raise self._unreachable(e) from None
            raise Unavailable(f"the Penny server at {self.url} did not answer in time ({type(e).__name__}); "
                              "it may still be working on it") from None
        except httpx.TransportError as e:
            raise self._unreachable(e) from None
        if resp.status_code >= 400:
            raise _error(resp.status_code, resp.content, resp.headers.get("Retry-After"))
        return resp.json() if resp.content else None

    def _unreachable(self, e: BaseException) -> Unavailable:
        reason = str(e) or type(e).__name__
        return Unavailable(f"cannot reach the Penny server at {self.url}: {reason}; is JupyterLab still running?")

    def has_tool(self, name: str) -> bool:
        if self._tools is None:
            self._tools = {t["name"] for t in self._call("GET", "tools")["tools"]}
        return name in self._tools

    def run_tool(self, tool: str, params: dict[str, Any]) -> ToolOutcome:
        body = self._call("POST", f"tools/{tool}/execute", json={"params": params}, timeout=TOOL_TIMEOUT)
        return ToolOutcome(artifacts=body.get("artifacts") or [],
                           result=ToolResult(text=body.get("text") or "", data=body.get("data") or {}),
                           call_id=body.get("callId"), duration_ms=body.get("durationMs"), ok=body.get("ok", True))

    def artifact(self, artifact_id: str, version: int | None = None) -> dict[str, Any]:
        params = {"version": version} if version is not None else None
        return self._call("GET", f"artifacts/{artifact_id}", params=params)

    def artifacts(self, conversation_id: str | None = None) -> list[dict[str, Any]]:
        params = {"conversationId": conversation_id} if conversation_id else None
        return self._call("GET", "artifacts", params=params)["artifacts"]

    def versions(self, artifact_id: str) -> list[dict[str, Any]]:
        return self._call("GET", f"artifacts/{artifact_id}/versions")["versions"]

    def conversations(self) -> list[RemoteConversation]:
        return [RemoteConversation(id=c["id"], title=c["title"], message_count=c.get("messageCount", 0),
                                   created_at=c["createdAt"], updated_at=c["updatedAt"])
                for c in self._call("GET", "conversations")["conversations"]]

    # ------------------------------------------------------------------ chat
    def new_conversation(self) -> None:
        self.conversation_id = None

    def chat(self, text: str, conversation_id: str | None = None) -> Iterator[dict[str, Any]]:
        """Ask Penny over the chat socket; yields this turn's events as they arrive. Closing the iterator early
        (KeyboardInterrupt in the cell) sends `cancel`, and waits briefly for the turn to store what it has."""
        conv = conversation_id or self.conversation_id
        if conv is not None:
            try:
                self._call("GET", f"conversations/{conv}")
            except NotFound:  # deleted in the sidebar meanwhile: start a new one
                conv = None
        # The id is ours from the start, so a Stop before the first event can still name the turn to cancel
        # (the server creates a conversation it does not know, titled after the question).
        if conv is None:  # named as a notebook's, so the sidebar's list tells the two apart
            conv = f"conv_{uuid.uuid4().hex[:20]}"
            self._call("POST", "conversations", json={"id": conv, "title": notebook_title(text)})
            if conversation_id is None:  # a failed connect must not leave it behind and start another next time
                self.conversation_id = conv
        ws = self._connect()
        sent = finished = False
        try:
            self._recv(ws)  # `ready`
            ws.send(json.dumps({"type": "message", "content": text, "conversationId": conv}))
            sent = True
            while True:
                ev = self._recv(ws)
                cid = ev.get("conversationId")
                if ev.get("type") == "error" and cid in (None, conv):
                    raise _error_event(ev)
                # The socket also carries the same person's other conversations (the sidebar's): not ours.
                if cid != conv or ev.get("type") == "typing":
                    continue
                if conversation_id is None:
                    self.conversation_id = conv
                yield ev
                if ev.get("type") == "assistant.done":
                    finished = True
                    return
        finally:
            if sent and not finished:
                self._cancel(ws, conv)
            ws.close()

    def _connect(self):
        import websocket

        ws_url = "ws" + self.url[len("http"):] + "penny/ws"
        try:
            return websocket.create_connection(ws_url, header=["%s: %s" % self._auth],
                                               timeout=TOOL_TIMEOUT, suppress_origin=True, http_no_proxy=["*"])
        except websocket.WebSocketBadStatusException as e:
            raise _error(e.status_code, e.resp_body or b"") from None
        except (OSError, websocket.WebSocketException) as e:
            raise self._unreachable(e) from None

    def _recv(self, ws) -> dict[str, Any]:
        import websocket

        try:
            raw = ws.recv()
        except websocket.WebSocketTimeoutException:
            raise Unavailable(f"the Penny server at {self.url} sent nothing for {TOOL_TIMEOUT:.0f} s; "
                              "the answer may still arrive in the sidebar") from None
        except (OSError, websocket.WebSocketException) as e:
            raise Unavailable(f"lost the connection to the Penny server at {self.url} mid-answer ({e or type(e).__name__}); "
                              "is JupyterLab still running?") from None
        if not raw:
            raise Unavailable(f"the Penny server at {self.url} closed the chat connection; is JupyterLab still running?")
        return json.loads(raw)

    def _cancel(self, ws, conv: str) -> None:
        try:
            ws.send(json.dumps({"type": "cancel", "conversationId": conv}))
            ws.settimeout(CANCEL_WAIT)
            while True:
                ev = json.loads(ws.recv() or "{}")
                if not ev or (ev.get("type") == "assistant.done" and ev.get("conversationId") == conv):
                    return
        except Exception:  # noqa: BLE001 - best effort: the server stores the turn either way
            return


def _error(status: int, body: bytes, retry_after: str | None = None) -> PennyError:
    """Penny's `{"error": {"code", "message"}}` as the PennyError subclass of its HTTP status."""
    try:
        err = json.loads(body)["error"]
        message, code = str(err["message"]), err.get("code")
    except (ValueError, KeyError, TypeError):
        message, code = f"the Penny server answered HTTP {status} without a Penny error; is penny_server enabled?", None
    try:
        wait = float(retry_after) if retry_after else None
    except ValueError:
        wait = None
    return rebuild(message, status=status, code=code, retry_after=wait)


def _error_event(ev: dict[str, Any]) -> PennyError:
    code = ev.get("code") or "internal"
    return rebuild(ev.get("message") or code, code=code, retry_after=ev.get("retryAfter"))
