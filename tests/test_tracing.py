"""One trace per turn (OpenTelemetry): the frame, the turn, the model, each tool, its SQL, the artifact write;
attributes name tenant and tool, never data values or message text; nothing imported when not configured."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from penny_jupyter import tracing
from penny_jupyter.engine import Engine
from penny_jupyter.protocol import MessageFrame
from penny_jupyter.settings import PennyConfig
from penny_jupyter.tenancy import Principal

WHO = Principal(user="alice", tenant="demo", roles=frozenset({"member"}))
QUESTION = "Show me company KPIs for this month"


@pytest.fixture
def spans(penny_config_values):
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.use(provider)
    engine = Engine(PennyConfig(**penny_config_values, model="builtin"))
    try:
        yield engine, exporter
    finally:
        tracing.use(None)
        engine.close()


def _collect():
    events = []

    async def emit(e):
        events.append(e)

    return events, emit


def test_a_turn_is_one_trace_of_frame_turn_model_tool_and_artifact_write(spans):
    engine, exporter = spans
    events, emit = _collect()
    asyncio.run(engine.chat.handle_message(WHO, MessageFrame(type="message", content=QUESTION), emit))
    got = {s.name: s for s in exporter.get_finished_spans()}
    assert {"penny.frame", "penny.turn", "penny.model", "penny.tool", "penny.artifact.write"} <= set(got)
    assert len({s.context.trace_id for s in got.values()}) == 1  # one trace
    parent = {s.name: s.parent.span_id if s.parent else None for s in got.values()}
    ids = {name: s.context.span_id for name, s in got.items()}
    assert parent["penny.frame"] is None and parent["penny.turn"] == ids["penny.frame"]
    assert parent["penny.model"] == ids["penny.turn"] and parent["penny.tool"] == ids["penny.turn"]
    assert parent["penny.artifact.write"] == ids["penny.tool"]
    tool = got["penny.tool"].attributes
    assert tool["penny.tool"] == "get_company_kpis" and tool["penny.tenant"] == "demo" and tool["penny.outcome"] == "ok"
    assert got["penny.turn"].attributes["penny.model"] == "builtin"
    # Never a data value or message text: nothing the answer said, nothing the person asked.
    answer = "".join(e.get("text", "") for e in events if e["type"] == "assistant.delta")
    figures = {w.strip(",.()") for w in answer.split() if any(ch.isdigit() for ch in w) and len(w) >= 3}
    values = {str(v) for s in got.values() for v in s.attributes.values()}
    assert figures  # the answer quoted figures ($..., %...), and none of them is in a span
    assert not any(QUESTION in v or v in figures for v in values), values


def test_sql_is_a_span_of_its_tool_with_a_row_count_and_no_query(spans):
    engine, exporter = spans
    _, emit = _collect()
    query = "select region, count(*) as n from customers group by 1"
    outcome = asyncio.run(engine.chat.execute_tool(WHO, "run_sql", {"query": query}, emit))
    assert outcome.ok
    got = {s.name: s for s in exporter.get_finished_spans()}
    assert got["penny.sql"].parent.span_id == got["penny.tool"].context.span_id
    assert got["penny.sql"].attributes["penny.rows"] == outcome.result.row_count > 0
    assert all(query not in str(v) and "customers" not in str(v)
               for s in got.values() for v in s.attributes.values())


def test_without_an_endpoint_opentelemetry_is_never_imported(penny_config_values, tmp_path):
    code = f"""
import asyncio, json, sys
from penny_jupyter.engine import Engine
from penny_jupyter.protocol import MessageFrame
from penny_jupyter.settings import PennyConfig
from penny_jupyter.tenancy import Principal
engine = Engine(PennyConfig(**{json.dumps(penny_config_values)}, model="builtin"))
async def emit(e): pass
asyncio.run(engine.chat.handle_message(Principal("a", "demo"), MessageFrame(type="message", content="{QUESTION}"), emit))
print(sorted(m for m in sys.modules if m.startswith("opentelemetry")))
"""
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("OTEL_")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"


class _Collector(BaseHTTPRequestHandler):
    posts: list[tuple[str, str, int]] = []

    def do_POST(self):  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        _Collector.posts.append((self.path, self.headers.get("Content-Type", ""), len(body)))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_an_otlp_endpoint_gets_the_turns_spans(penny_config_values):
    """configure() with c.PennyConfig.otlp_endpoint: the real OTLP/HTTP exporter posts protobuf to the collector."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    code = f"""
import asyncio, json
from opentelemetry import trace
from penny_jupyter.engine import Engine
from penny_jupyter.protocol import MessageFrame
from penny_jupyter.settings import PennyConfig
from penny_jupyter.tenancy import Principal
engine = Engine(PennyConfig(**{json.dumps(penny_config_values)}, model="builtin", otlp_endpoint="{endpoint}"))
async def emit(e): pass
asyncio.run(engine.chat.handle_message(Principal("a", "demo"), MessageFrame(type="message", content="{QUESTION}"), emit))
trace.get_tracer_provider().shutdown()  # flushes the batch
"""
    _Collector.posts = []
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr[-2000:]
    finally:
        server.shutdown()
    assert _Collector.posts, "no spans were posted"
    path, ctype, size = _Collector.posts[0]
    assert path == "/v1/traces" and ctype == "application/x-protobuf" and size > 100
