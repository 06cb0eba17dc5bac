"""The turn loop without a transport: cancel mid-tool keeps what streamed, a failing tool is reported.
The turns are stored on SQLite and on PostgreSQL (db_fixtures.db_url)."""

from __future__ import annotations

import asyncio
import time

from pydantic import BaseModel

from conftest import AS_OF

from penny_jupyter.chat.conversations import ConversationService
from penny_jupyter.chat.turn import ChatService
from penny_jupyter.models.builtin import Route
from penny_jupyter.protocol import MessageFrame
from penny_jupyter.settings import PennyConfig
from penny_jupyter.storage import Database
from penny_jupyter.tenancy import Principal
from penny_jupyter.tools.executor import ToolExecutor
from penny_jupyter.tools.base import Tool, ToolResult
from penny_jupyter.tools.registry import ToolRegistry

WHO = Principal("owner", "demo")


class NoParams(BaseModel):
    pass


def slow(ctx, params):
    for _ in range(200):
        if ctx.cancelled():
            break
        time.sleep(0.01)
    return ToolResult(text="slow result")


def broken(ctx, params):
    raise RuntimeError("secret internal detail")


class FixedRouter:
    name = "test"

    def __init__(self, tool):
        self.tool = tool

    def route(self, text):
        return Route(self.tool, {}, 1.0)


def make_chat(tmp_path, db_url: str, tool: str, timeout: float = 30) -> ChatService:
    db = Database(db_url)
    reg = ToolRegistry()
    reg.register(Tool("slow", "sleeps", NoParams, slow))
    reg.register(Tool("broken", "raises", NoParams, broken))
    config = PennyConfig(data_dir=str(tmp_path), tool_timeout=timeout)
    executor = ToolExecutor(reg, warehouses=None, artifacts=None, config=config)
    return ChatService(ConversationService(db), executor, FixedRouter(tool))


def run_turn(chat, frame, during=None):
    events = []

    async def emit(e):
        events.append(e)

    async def main():
        task = asyncio.ensure_future(chat.handle_message(WHO, frame, emit))
        if during:
            await during(events)
        await task

    asyncio.run(main())
    return events


def test_cancel_mid_tool_stores_the_turn_as_cancelled_with_what_streamed(tmp_path, db_url):
    chat = make_chat(tmp_path, db_url, "slow")

    async def cancel_when_tool_runs(events):
        while not any(e["type"] == "tool.started" for e in events):
            await asyncio.sleep(0.005)
        assert chat.cancel(WHO, "conv_c") is True

    events = run_turn(chat, MessageFrame(type="message", content="go", conversation_id="conv_c"),
                      cancel_when_tool_runs)
    assert events[-1]["type"] == "assistant.done" and events[-1]["status"] == "cancelled"
    msgs = chat.conversations.messages(WHO, "conv_c")
    assert [(m.role, m.status) for m in msgs] == [("user", "complete"), ("assistant", "cancelled")]
    assert msgs[1].content == "Working on it…"  # what streamed before the cancel, kept


def test_a_tool_that_crashes_is_reported_without_its_internals(tmp_path, db_url):
    chat = make_chat(tmp_path, db_url, "broken")
    events = run_turn(chat, MessageFrame(type="message", content="go", conversation_id="conv_b"))
    finished = next(e for e in events if e["type"] == "tool.finished")
    assert finished["ok"] is False and finished["error"]["code"] == "tool_failed"
    text = "".join(e["text"] for e in events if e["type"] == "assistant.delta")
    # the answer points at the error once (the card shows it), and neither says what the bug was
    assert text.strip().endswith("did not work; the error is above.") and "secret internal detail" not in text
    assert "failed unexpectedly" in finished["error"]["message"]
    assert "secret internal detail" not in finished["error"]["message"]
    assert events[-1]["type"] == "assistant.done"


def test_a_tool_over_its_timeout_is_stopped_with_a_sentence(tmp_path, db_url):
    chat = make_chat(tmp_path, db_url, "slow", timeout=0.2)
    events = run_turn(chat, MessageFrame(type="message", content="go", conversation_id="conv_t"))
    finished = next(e for e in events if e["type"] == "tool.finished")
    assert finished["ok"] is False and finished["error"]["code"] == "timeout"
    assert "0.2 s" in finished["error"]["message"]


def test_a_timed_out_query_is_interrupted_not_left_running(tmp_path, penny_data_dir):
    import threading

    from penny_jupyter.data.warehouse import Warehouses

    finished = threading.Event()

    def runaway(ctx, params):
        try:
            ctx.warehouse().execute("SELECT count(*) FROM range(1000000000000) a").fetchall()
        finally:
            finished.set()
        return ToolResult(text="never")

    reg = ToolRegistry()
    reg.register(Tool("runaway", "a query that never ends", NoParams, runaway))
    config = PennyConfig(data_dir=str(penny_data_dir), tool_timeout=0.5, as_of=AS_OF)
    executor = ToolExecutor(reg, Warehouses(config), artifacts=None, config=config)
    outcome = asyncio.run(executor.run(WHO, executor.prepare("runaway", {})))
    assert outcome.ok is False and outcome.error.code == "timeout"
    assert finished.wait(10), "the DuckDB query kept running after the timeout"


def test_a_conversation_is_titled_by_its_first_words_not_a_code_fence():
    from penny_jupyter.chat.titles import conversation_title

    assert conversation_title("```python\nprint('before')\nx / 0\n```") == "Python: print('before')"
    assert conversation_title("```sql\nSELECT region FROM customers\n```") == "SQL: SELECT region FROM customers"
    assert conversation_title("```\nSELECT 1\n```") == "SELECT 1"
    assert conversation_title("  Show me company KPIs\nfor this month") == "Show me company KPIs"
    assert conversation_title("```\n```") == "New conversation"
    assert conversation_title("x" * 80) == "x" * 60 + "…"


def test_raw_tool_data_a_model_copies_into_its_answer_is_not_stored_or_shown():
    """Seen with the 1.5B: after the KPI bullets it pasted the tool's data head ({"name":"revenue",...})."""
    from penny_jupyter.chat.turn import without_data_dumps

    answer = ('The KPIs:\n\n- **Revenue**: $854.91K, ▲ 1.4%\n\n- **Period**: MTD\n'
              '- **Metrics**: count: 13, head: [\n  {"name":"revenue","label":"Revenue","value":854914.0},\n'
              '  {"name":"mrr","label":"MRR"\n]\ndata: {"a": 1}\n```json\n{"name": "asked for"}\n```\nEnd.')
    kept = without_data_dumps(answer)
    assert kept == ('The KPIs:\n\n- **Revenue**: $854.91K, ▲ 1.4%\n\n- **Period**: MTD\n'
                    '```json\n{"name": "asked for"}\n```\nEnd.')
    plain = "Revenue is $1.2M [up 3%] {roughly}.\n- item: value"
    assert without_data_dumps(plain) == plain
