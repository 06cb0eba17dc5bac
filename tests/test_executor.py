"""The executor's guards without a transport: rate limits, retries of transient failures only."""

from __future__ import annotations

import asyncio
import time

import pytest
from pydantic import BaseModel

from penny_jupyter.chat.conversations import ConversationService
from penny_jupyter.chat.turn import ChatService
from penny_jupyter.errors import InvalidParams, NotFound, RateLimited
from penny_jupyter.models.builtin import Route
from penny_jupyter.protocol import MessageFrame
from penny_jupyter.settings import PennyConfig
from penny_jupyter.storage import Database
from penny_jupyter.tenancy import Principal
from penny_jupyter.tools import executor as executor_mod
from penny_jupyter.tools.audit import AuditLog
from penny_jupyter.tools.executor import ToolExecutor, TransientError
from penny_jupyter.tools.base import Tool, ToolResult
from penny_jupyter.tools.registry import ToolRegistry

ALICE = Principal("alice", "acme")
BOB = Principal("bob", "acme")
ALICE_GLOBEX = Principal("alice", "globex")


class NoParams(BaseModel):
    pass


class EchoParams(BaseModel):
    n: int


class Flaky:
    """Fails transiently `failures` times, then answers."""

    def __init__(self, failures: int, error=TransientError):
        self.failures, self.error, self.calls = failures, error, 0

    def __call__(self, ctx, params):
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error("the warehouse is briefly busy")
        return ToolResult(text="ok", row_count=1)


def make(tmp_path, *tools: Tool, **config) -> ToolExecutor:
    reg = ToolRegistry()
    reg.register(Tool("noop", "does nothing", NoParams, lambda ctx, p: ToolResult(text="done", row_count=0)))
    reg.register(Tool("echo", "echoes n", EchoParams, lambda ctx, p: ToolResult(text=str(p.n), row_count=p.n)))
    for t in tools:
        reg.register(t)
    cfg = PennyConfig(data_dir=str(tmp_path), **config)
    audit = AuditLog(Database(f"sqlite:///{tmp_path / 'p.sqlite'}"))
    return ToolExecutor(reg, warehouses=None, artifacts=None, config=cfg, audit=audit)


def run(ex: ToolExecutor, who: Principal, name: str, params: dict | None = None):
    return asyncio.run(ex.run(who, ex.prepare(name, params or {}, who), persist=False))


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch):
    monkeypatch.setattr(executor_mod, "BACKOFF_BASE", 0.001)


# ---------------------------------------------------------------- rate limits
def test_burst_is_limited_then_recovers_after_the_window(tmp_path):
    ex = make(tmp_path, rate_limit_user="3/second", rate_limit_tools={})
    assert [run(ex, ALICE, "noop").ok for _ in range(3)] == [True, True, True]
    limited = run(ex, ALICE, "noop")
    assert not limited.ok and limited.error.code == "rate_limited" and limited.attempts == 0
    assert 0 < limited.error.retry_after <= 1
    assert "try again in" in limited.error.message
    # other users, and the same name in another tenant, have budgets of their own
    assert run(ex, BOB, "noop").ok and run(ex, ALICE_GLOBEX, "noop").ok
    time.sleep(limited.error.retry_after + 0.05)  # wait the window out (not a timing assertion)
    assert run(ex, ALICE, "noop").ok


def test_per_tool_limit_is_on_top_of_the_user_limit(tmp_path):
    ex = make(tmp_path, rate_limit_user="100/minute", rate_limit_tools={"echo": "2/minute"})
    assert run(ex, ALICE, "echo", {"n": 1}).ok and run(ex, ALICE, "echo", {"n": 2}).ok
    out = run(ex, ALICE, "echo", {"n": 3})
    assert out.error.code == "rate_limited" and "echo" in out.error.message
    assert 50 < out.error.retry_after <= 60  # from the window, not a constant
    assert run(ex, ALICE, "noop").ok  # other tools still go
    assert run(ex, BOB, "echo", {"n": 1}).ok


def test_admit_raises_before_anything_runs(tmp_path):
    ex = make(tmp_path, rate_limit_user="1/minute")
    ex.admit(ALICE, ex.prepare("noop", {}))
    with pytest.raises(RateLimited) as e:
        ex.admit(ALICE, ex.prepare("noop", {}))
    assert e.value.status == 429 and e.value.retry_after > 0


# ---------------------------------------------------------------- retries
def test_transient_failures_are_retried_with_backoff(tmp_path):
    flaky = Flaky(2)
    ex = make(tmp_path, Tool("flaky", "fails twice", NoParams, flaky), tool_retries=2)
    out = run(ex, ALICE, "flaky")
    assert out.ok and out.attempts == 3 and flaky.calls == 3


def test_retries_stop_at_the_configured_count(tmp_path):
    flaky = Flaky(5)
    ex = make(tmp_path, Tool("flaky", "fails a lot", NoParams, flaky), tool_retries=2)
    out = run(ex, ALICE, "flaky")
    assert not out.ok and out.error.code == "transient" and out.error.status == 503
    assert flaky.calls == 3


@pytest.mark.parametrize("error", [RuntimeError, InvalidParams, NotFound])
def test_other_failures_are_not_retried(tmp_path, error):
    flaky = Flaky(1, error)
    ex = make(tmp_path, Tool("flaky", "fails once", NoParams, flaky), tool_retries=3)
    out = run(ex, ALICE, "flaky")
    assert not out.ok and flaky.calls == 1 and out.attempts == 1
    assert out.error.code == ("tool_failed" if error is RuntimeError else error.code)


def test_a_timeout_is_not_retried(tmp_path):
    calls = []

    def slow(ctx, params):
        calls.append(1)
        while not ctx.cancelled():
            time.sleep(0.005)
        raise TransientError("stopped")

    ex = make(tmp_path, Tool("slow", "slow", NoParams, slow), tool_retries=3, tool_timeout=0.1)
    out = run(ex, ALICE, "slow")
    assert out.error.code == "timeout" and len(calls) == 1


# ---------------------------------------------------------------- through the chat service
class FixedRouter:
    name = "test"

    def route(self, text):
        return Route("noop", {}, 1.0)


def chat_for(tmp_path, **config):
    ex = make(tmp_path, **config)
    return ChatService(ConversationService(ex.audit.db), ex, FixedRouter())


def test_direct_tool_call_over_the_limit_raises_before_tool_started(tmp_path):
    chat = chat_for(tmp_path, rate_limit_user="1/minute")
    events = []

    async def emit(e):
        events.append(e)

    async def main():
        await chat.execute_tool(ALICE, "noop", {}, emit)
        n = len(events)
        with pytest.raises(RateLimited) as e:
            await chat.execute_tool(ALICE, "noop", {}, emit, conversation_id="conv_1")
        assert e.value.retry_after > 0
        assert len(events) == n  # no tool.started, nothing stored

    asyncio.run(main())
    assert [e["type"] for e in events] == ["tool.started", "tool.finished"]


def test_a_chat_turn_over_the_limit_says_so_in_words(tmp_path):
    chat = chat_for(tmp_path, rate_limit_user="1/minute")
    turns = []
    for i in range(2):
        events = []

        async def emit(e, events=events):
            events.append(e)

        asyncio.run(chat.handle_message(ALICE, MessageFrame(type="message", content="go", conversation_id="c1",
                                                            client_message_id=f"m{i}"), emit))
        turns.append(events)
    finished = next(e for e in turns[1] if e["type"] == "tool.finished")
    assert finished["ok"] is False and finished["error"]["code"] == "rate_limited"
    assert finished["error"]["retryAfter"] > 0
    text = "".join(e["text"] for e in turns[1] if e["type"] == "assistant.delta")
    assert "too many tool calls" in text and "try again in" in text
    assert turns[1][-1]["type"] == "assistant.done" and turns[1][-1]["status"] == "complete"


def test_each_call_is_labelled_in_words_for_its_card():
    from penny_jupyter.tools.registry import default_registry

    tools = default_registry()

    def label(name, **params):
        tool = tools.get(name)
        return tool.label_for(tool.params.model_validate(params))

    assert label("get_company_kpis", period="MTD") == "KPIs · this month"
    assert label("get_company_kpis", period="QTD", unit="EMEA") == "KPIs for EMEA · this quarter"
    assert label("load_dashboard", slug="sales-funnel") == "Sales funnel dashboard"
    assert label("load_dashboard", slug="ops-incidents", period="YTD") == "Ops incidents dashboard · this year"
    assert label("query_metric", metric="revenue", by="region", period="YTD") == "Revenue by region · this year"
    assert label("query_metric", metric="revenue", by="customer", top=5, period="last quarter") == \
        "Revenue by customer, top 5 · last quarter"
    assert label("run_sql", query="SELECT 1") == "SQL query"
    assert label("describe_data") == "Tables and metrics"
