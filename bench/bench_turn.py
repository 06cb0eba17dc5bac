"""Turn-loop overhead excluding model time: a whole chat turn (persist the user message, pick the model,
build the history, stream, run tool calls through the executor, store every event and the answer) with
fake models that answer at once. Half the turns are text only; half call a no-op tool once, then answer.
The figure is the p50 over all turns; the two kinds are printed apart too."""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _report import p50, report  # noqa: E402

from pydantic import BaseModel  # noqa: E402

from penny_jupyter.chat.conversations import ConversationService  # noqa: E402
from penny_jupyter.chat.turn import ChatService  # noqa: E402
from penny_jupyter.models.backends import Selection  # noqa: E402
from penny_jupyter.models.base import Done, TextDelta, ToolCallRequest  # noqa: E402
from penny_jupyter.protocol import MessageFrame  # noqa: E402
from penny_jupyter.settings import PennyConfig  # noqa: E402
from penny_jupyter.storage import Database  # noqa: E402
from penny_jupyter.tenancy import Principal  # noqa: E402
from penny_jupyter.tools.audit import AuditLog  # noqa: E402
from penny_jupyter.tools.executor import ToolExecutor  # noqa: E402
from penny_jupyter.tools.base import Tool, ToolResult  # noqa: E402
from penny_jupyter.tools.registry import ToolRegistry  # noqa: E402

N = 200  # turns of each kind
WARMUP = 20
TURNS_PER_CONVERSATION = 10  # the history grows as in a real conversation, then a new one starts
TARGET_MS = 5.0


class NoParams(BaseModel):
    pass


def noop(ctx, params):
    return ToolResult(text="nothing to report", data={"rows": [1, 2, 3]}, row_count=0)


class InstantText:
    """Answers at once with one text delta."""

    name = "bench:text"

    async def stream(self, messages, tools):
        yield TextDelta("All quiet.")
        yield Done({"eval_count": 2})


class InstantTool:
    """Calls the no-op tool once, then answers at once with one text delta."""

    name = "bench:tool"

    async def stream(self, messages, tools):
        if messages[-1]["role"] == "tool":
            yield TextDelta("The tool found nothing.")
        else:
            yield ToolCallRequest(id="tc_1", name="noop", arguments={})
        yield Done({})


class FixedSelector:
    def __init__(self, config, model):
        self.config, self.model, self.builtin = config, model, model

    async def select(self, override=None):
        return Selection(self.model, self.model.name, "bench")

    def configured_id(self):
        return self.model.name


async def turns(chat: ChatService, who: Principal, kind: str, n: int) -> list[float]:
    out = []

    async def emit(event):
        pass

    for i in range(n):
        cid = f"conv_{kind}_{i // TURNS_PER_CONVERSATION}"
        frame = MessageFrame(type="message", content=f"question {i}", conversation_id=cid)
        t = time.perf_counter()
        await chat.handle_message(who, frame, emit)
        out.append((time.perf_counter() - t) * 1000)
    return out


def storage_floor(conversations: ConversationService, who: Principal) -> list[float]:
    """What a text-only turn's storage calls cost alone (user message, history read, one delta, the answer,
    assistant.done), on the same database: the part of the turn that is SQLite, not the loop."""
    out = []
    for i in range(N):
        cid = f"conv_floor_{i // TURNS_PER_CONVERSATION}"
        t = time.perf_counter()
        conversations.get_or_create(who, cid, title="floor")
        conversations.append_message(who, cid, "user", f"question {i}")
        conversations.messages(who, cid)
        conversations.record_event(who, cid, {"type": "assistant.delta", "text": "All quiet."})
        conversations.append_message(who, cid, "assistant", "All quiet.")
        conversations.record_event(who, cid, {"type": "assistant.done"})
        out.append((time.perf_counter() - t) * 1000)
    return out


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        db = Database(f"sqlite:///{Path(d) / 'penny.sqlite'}")
        reg = ToolRegistry()
        reg.register(Tool("noop", "does nothing", NoParams, noop, inline=True))
        config = PennyConfig(data_dir=d, rate_limit_user="1000000/minute", model="builtin")
        ex = ToolExecutor(reg, None, None, config, audit=AuditLog(db))
        conversations = ConversationService(db)
        text_chat = ChatService(conversations, ex, models=FixedSelector(config, InstantText()))
        tool_chat = ChatService(conversations, ex, models=FixedSelector(config, InstantTool()))
        who = Principal("bench", "demo")

        async def measure():
            await turns(text_chat, who, "warm_text", WARMUP)
            await turns(tool_chat, who, "warm_tool", WARMUP)
            return await turns(text_chat, who, "text", N), await turns(tool_chat, who, "tool", N)

        text_ms, tool_ms = asyncio.run(measure())
        floor_ms = storage_floor(conversations, who)
        msgs = conversations.messages(who, "conv_tool_0")
        assert [m.role for m in msgs][:2] == ["user", "assistant"] and msgs[1].content == "The tool found nothing."
        db.close()

    every = text_ms + tool_ms
    print(f"  parts, p50 ms: text-only turn {p50(text_ms):.2f} | turn with one no-op tool call {p50(tool_ms):.2f} "
          f"| {len(every)} turns | of which SQLite alone (a text turn's storage calls) {p50(floor_ms):.2f}",
          flush=True)
    overhead = p50(every)
    report("turn_overhead", f"{overhead:.2f} ms p50 per turn excluding model time (target <= {TARGET_MS:g} ms)",
           overhead <= TARGET_MS)


if __name__ == "__main__":
    main()
