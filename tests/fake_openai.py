"""A small fake OpenAI-compatible server: real HTTP on a free port, in a thread, scripted per test.

It speaks the parts of OpenAI's API Penny uses, as llama.cpp's server, vLLM, LM Studio and LiteLLM do:
`GET /v1/models` (`{"object": "list", "data": [{"id", "object": "model", ...}]}`) and
`POST /v1/chat/completions` with `stream: true`, answered as Server-Sent Events: one
`data: {chunk}` line per `chat.completion.chunk` (choices[0].delta with `content` or
`tool_calls[{index, id, type, function{name, arguments}}]`, then a chunk with `finish_reason`, then a
usage chunk with no choices when `stream_options.include_usage` asks for it) and `data: [DONE]`.
When `api_key` is set, a request without `Authorization: Bearer <api_key>` gets OpenAI's 401 body,
which (as OpenAI's does) quotes the key it was sent. A model not in `models` gets OpenAI's 404.

Script replies with `server.reply(...)`, one per chat request, in order:
    reply("Hello ", "world")                          text deltas, then finish_reason "stop"
    reply("Let me look.", tool=("get_company_kpis", {...}))   text, then a tool call whose JSON
                                                      arguments arrive in `pieces` fragments (default 3)
    reply("partial", drop=True)                       the connection dropped mid-stream (no end chunk)
    reply("partial", no_finish=True)                  `data: [DONE]` with no finish_reason before it
    reply("partial", error="boom")                    an error event `data: {"error": {...}}` mid-stream
    reply(delay=5)                                    nothing for 5 s before the headers
    reply(status=500, body={"error": {...}})          an HTTP error
    reply("a", "b", ..., every=0.05)                  a pause before each part (for cancel tests)
With no scripted reply left it answers "ok", or calls `always_tool` when set (a model stuck in a tool
loop). `server.requests` holds every chat request (body, and headers with lower-case names).
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
    texts: list[str] = field(default_factory=list)
    tools: list[tuple[str, Any]] = field(default_factory=list)
    pieces: int = 3
    drop: bool = False
    no_finish: bool = False
    error: str | None = None
    delay: float = 0.0
    every: float = 0.0
    status: int = 200
    body: Any = None


@dataclass
class Request:
    body: dict[str, Any]
    headers: dict[str, str]


class FakeOpenAI:
    def __init__(self, models: list[str] | None = None, api_key: str | None = None) -> None:
        self.models = list(models if models is not None else ["gpt-test"])
        self.api_key = api_key
        self.script: deque[Reply] = deque()
        self.always_tool: tuple[str, Any] | None = None
        self.requests: list[Request] = []
        self.models_calls = 0
        self.aborted = threading.Event()  # a client went away while a stream was being written
        self._stop = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def reply(self, *texts: str, tool: tuple[str, Any] | None = None, tools: list[tuple[str, Any]] | None = None,
              **kw: Any) -> "FakeOpenAI":
        self.script.append(Reply(texts=list(texts), tools=([tool] if tool else []) + list(tools or []), **kw))
        return self

    @property
    def url(self) -> str:
        """The base URL a client is given: it ends in /v1, as OpenAI's does."""
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def start(self) -> "FakeOpenAI":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def _authorized(self) -> bool:
                if fake.api_key is None or self.headers.get("Authorization") == f"Bearer {fake.api_key}":
                    return True
                sent = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
                self._json(401, {"error": {"message": f"Incorrect API key provided: {sent}. You can find your "
                                           "API key at https://platform.openai.com/account/api-keys.",
                                           "type": "invalid_request_error", "param": None,
                                           "code": "invalid_api_key"}})
                return False

            def do_GET(self):
                if self.path != "/v1/models":
                    return self._json(404, {"error": {"message": "not found", "type": "invalid_request_error"}})
                fake.models_calls += 1
                if not self._authorized():
                    return None
                return self._json(200, {"object": "list", "data": [
                    {"id": m, "object": "model", "created": 1767225600, "owned_by": "fake"} for m in fake.models]})

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                if self.path != "/v1/chat/completions":
                    return self._json(404, {"error": {"message": "not found", "type": "invalid_request_error"}})
                fake.requests.append(Request(body, {k.lower(): v for k, v in self.headers.items()}))
                if not self._authorized():
                    return None
                model = body.get("model", "")
                if model not in fake.models:
                    return self._json(404, {"error": {
                        "message": f"The model `{model}` does not exist or you do not have access to it.",
                        "type": "invalid_request_error", "param": None, "code": "model_not_found"}})
                if fake.script:
                    reply = fake.script.popleft()
                elif fake.always_tool:
                    reply = Reply(tools=[fake.always_tool])
                else:
                    reply = Reply(texts=["ok"])
                if reply.delay and fake._stop.wait(reply.delay):
                    return None
                if reply.status != 200:
                    return self._json(reply.status, reply.body if reply.body is not None else
                                      {"error": {"message": "failed", "type": "server_error"}})
                return self._stream(model, reply, bool((body.get("stream_options") or {}).get("include_usage")))

            def _json(self, status: int, data: Any) -> None:
                raw = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def _event(self, data: str) -> None:
                raw = f"data: {data}\n\n".encode()
                self.wfile.write(f"{len(raw):x}\r\n".encode() + raw + b"\r\n")
                self.wfile.flush()

            def _stream(self, model: str, reply: Reply, usage: bool) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                cid = f"chatcmpl-{len(fake.requests)}"

                def chunk(delta: dict[str, Any] | None, finish: str | None = None, **extra: Any) -> None:
                    choices = [] if delta is None else [{"index": 0, "delta": delta, "logprobs": None,
                                                         "finish_reason": finish}]
                    self._event(json.dumps({"id": cid, "object": "chat.completion.chunk", "created": 1767225600,
                                            "model": model, "system_fingerprint": "fp_fake", "choices": choices,
                                            **extra}))

                try:
                    chunk({"role": "assistant", "content": ""})
                    for text in reply.texts:
                        if reply.every and fake._stop.wait(reply.every):
                            return
                        chunk({"content": text})
                    for i, (name, args) in enumerate(reply.tools):
                        raw = args if isinstance(args, str) else json.dumps(args)
                        step = max(1, -(-len(raw) // max(1, reply.pieces)))
                        chunk({"tool_calls": [{"index": i, "id": f"call_fake{i}", "type": "function",
                                               "function": {"name": name, "arguments": ""}}]})
                        for start in range(0, len(raw), step):
                            chunk({"tool_calls": [{"index": i, "function": {"arguments": raw[start:start + step]}}]})
                    if reply.drop:
                        self.wfile.flush()
                        self.connection.shutdown(socket.SHUT_RDWR)
                        self.close_connection = True
                        return
                    if reply.error:
                        self._event(json.dumps({"error": {"message": reply.error, "type": "server_error"}}))
                    elif not reply.no_finish:
                        chunk({}, "tool_calls" if reply.tools else "stop")
                        if usage:
                            chunk(None, usage={"prompt_tokens": 42, "completion_tokens": 7, "total_tokens": 49})
                    self._event("[DONE]")
                    self.wfile.write(b"0\r\n\r\n")
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError, OSError):
                    fake.aborted.set()
                    self.close_connection = True

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                                        name="fake-openai", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)


@pytest.fixture
def fake_openai():
    server = FakeOpenAI().start()
    yield server
    server.stop()
