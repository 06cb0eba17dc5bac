"""A small fake Ollama server: real HTTP on a free port, in a thread, scripted per test.

It speaks the parts of Ollama's API Penny uses: `GET /api/version`, `GET /api/tags` (the pulled
models), and `POST /api/chat`, non-streaming JSON or NDJSON streaming (chunked) with `message.content`
deltas, `message.tool_calls[{function: {name, arguments}}]` and a final `done: true` line with eval
counts. A chat for a model that is not pulled gets 404 `{"error": "model 'x' not found"}`, as Ollama does.

Script replies with `server.reply(...)`, one per `/api/chat` request, in order:
    reply("Hello ", "world")                       text deltas, then done
    reply(tool=("get_company_kpis", {...}))        a tool call, then done
    reply("partial", error="boom")                 an error line `{"error": "boom"}` after the parts
    reply("partial", drop=True)                    the connection dropped mid-stream (no done, no end chunk)
    reply(delay=5)                                 nothing for 5 s before the headers
    reply(status=500, body={"error": "..."})       an HTTP error
    reply("a", "b", ..., every=0.05)               a pause before each part (for cancel tests)
With no scripted reply left it answers "ok". `server.requests` holds every chat request body.
"""

from __future__ import annotations

import json
import socket
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclass
class Reply:
    parts: list[dict[str, Any]] = field(default_factory=list)  # message dicts, one NDJSON line each
    error: str | None = None
    drop: bool = False
    delay: float = 0.0
    every: float = 0.0
    status: int = 200
    body: Any = None


class FakeOllama:
    def __init__(self, models: list[str] | None = None) -> None:
        self.models = list(models if models is not None else ["llama3.2:latest"])
        self.script: deque[Reply] = deque()
        self.requests: list[dict[str, Any]] = []
        self.tags_calls = 0
        self.tags_delay = 0.0
        self.aborted = threading.Event()  # a client went away while a stream was being written
        self._stop = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ scripting
    def reply(self, *texts: str, tool: tuple[str, Any] | None = None, tools: list[tuple[str, Any]] | None = None,
              **kw: Any) -> "FakeOllama":
        parts: list[dict[str, Any]] = [{"role": "assistant", "content": t} for t in texts]
        calls = ([tool] if tool else []) + list(tools or [])
        if calls:
            parts.append({"role": "assistant", "content": "", "tool_calls": [
                {"function": {"name": n, "arguments": a}} for n, a in calls]})
        self.script.append(Reply(parts=parts, **kw))
        return self

    # ------------------------------------------------------------------ lifecycle
    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> "FakeOllama":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                if self.path == "/api/version":
                    return self._json(200, {"version": "0.6.3-fake"})
                if self.path == "/api/tags":
                    fake.tags_calls += 1
                    if fake.tags_delay and fake._stop.wait(fake.tags_delay):
                        return None
                    return self._json(200, {"models": [
                        {"name": m, "model": m, "modified_at": "2026-01-01T00:00:00Z", "size": 1,
                         "digest": "0" * 12, "details": {"family": "llama"}} for m in fake.models]})
                return self._json(404, {"error": "not found"})

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                if self.path != "/api/chat":
                    return self._json(404, {"error": "not found"})
                fake.requests.append(body)
                model = body.get("model", "")
                if model not in fake.models and f"{model}:latest" not in fake.models:
                    return self._json(404, {"error": f"model '{model}' not found"})
                reply = fake.script.popleft() if fake.script else Reply(parts=[{"role": "assistant",
                                                                                 "content": "ok"}])
                if reply.delay and fake._stop.wait(reply.delay):
                    return None
                if reply.status != 200:
                    return self._json(reply.status, reply.body if reply.body is not None else {"error": "failed"})
                if body.get("stream", True):
                    return self._stream(model, reply)
                message: dict[str, Any] = {"role": "assistant",
                                           "content": "".join(p.get("content", "") for p in reply.parts)}
                calls = [c for p in reply.parts for c in p.get("tool_calls", [])]
                if calls:
                    message["tool_calls"] = calls
                return self._json(200, {"model": model, "created_at": "2026-01-01T00:00:00Z", "message": message,
                                        **_final()})

            def _json(self, status: int, data: Any) -> None:
                raw = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def _chunk(self, data: dict[str, Any]) -> None:
                line = json.dumps(data).encode() + b"\n"
                self.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
                self.wfile.flush()

            def _stream(self, model: str, reply: Reply) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/x-ndjson")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                try:
                    for part in reply.parts:
                        if reply.every and fake._stop.wait(reply.every):
                            return
                        self._chunk({"model": model, "created_at": "2026-01-01T00:00:00Z", "message": part,
                                     "done": False})
                    if reply.drop:
                        self.wfile.flush()
                        self.connection.shutdown(socket.SHUT_RDWR)
                        self.close_connection = True
                        return
                    if reply.error:
                        self._chunk({"error": reply.error})
                    else:
                        self._chunk({"model": model, "created_at": "2026-01-01T00:00:00Z",
                                     "message": {"role": "assistant", "content": ""}, **_final()})
                    self.wfile.write(b"0\r\n\r\n")
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError, OSError):
                    fake.aborted.set()
                    self.close_connection = True

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                                        name="fake-ollama", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)


def _final() -> dict[str, Any]:
    return {"done": True, "done_reason": "stop", "total_duration": 1_000_000, "load_duration": 1000,
            "prompt_eval_count": 42, "prompt_eval_duration": 1000, "eval_count": 7, "eval_duration": 1000}


def free_port_url() -> str:
    """A URL where nothing listens (a port that was free a moment ago)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def fake_ollama():
    server = FakeOllama().start()
    yield server
    server.stop()
