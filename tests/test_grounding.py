"""Numbers are always right: a figure in an answer that no tool result of the turn has is marked under the
answer and counted, never shown as fact; figures quoted from the data, rounded or as percentages, pass; and
every answer of the built-in router, over both eval sets, passes the same check."""

from __future__ import annotations

import asyncio

import pytest

from penny_jupyter.chat.grounding import figures, ungrounded
from penny_jupyter.protocol import MessageFrame
from tests.test_eval import EVAL, HELDOUT, load
from tests.test_models import WHO, fake_ollama, make_engine, run_turn, stored, text_of  # noqa: F401 (fixtures)

RESULT = {"metrics": [{"name": "revenue", "value": 1064684.0, "change_pct": 1.3510824938052777,
                       "formatted": "$1.06M"}, {"name": "win_rate", "value": 0.421958}]}


def test_figures_are_amounts_percentages_and_large_numbers_not_dates_or_counts():
    text = ("Revenue $1.06M, ▲ 1.4% since 2026-11-01 (Nov 18, 2026), 12,345 orders in 3 regions; "
            "burn -$121.95K; http://127.0.0.1:8888/lab; 1.5 million")
    assert [f[0] for f in figures(text)] == ["$1.06M", "1.4%", "12,345", "-$121.95K", "1.5 million"]


@pytest.mark.parametrize("answer", [
    "Revenue is $1.06M this month.",  # as the tool wrote it
    "Revenue is about $1.1M, or 1.06 million dollars.",  # rounded
    "Revenue came to $1,064,684, up 1.4%.",  # the raw value, and a rounded change
    "The win rate is 42.2%.",  # a fraction as a percentage
    "The top 3 regions are below.",  # a count the person asked for
])
def test_figures_from_the_data_pass(answer):
    assert ungrounded(answer, [RESULT], question="top 3 regions by revenue") == []


def test_invented_figures_are_caught():
    answer = "Top customers: Customer A: $500,000, Customer B: $410,000. Revenue grew 14% to $1.06M."
    assert ungrounded(answer, [RESULT]) == ["$500,000", "$410,000", "14%"]


# ------------------------------------------------------------------ through a turn

def test_an_answer_with_invented_figures_is_marked_and_counted(make_engine, fake_ollama):
    engine = make_engine()
    fake_ollama.reply(tool=("get_company_kpis", {"period": "MTD"}))
    fake_ollama.reply("Our top customers are Customer A ($500,000) and Customer B ($410,000).")
    events = run_turn(engine)
    text = text_of(events)
    assert text.endswith("⚠️ Not from the data: $500,000, $410,000. No tool result of this answer has these "
                         "figures; check them.")
    msg = stored(engine)[-1]
    assert msg.meta["ungrounded"] == ["$500,000", "$410,000"] and msg.content == text


def test_an_answer_quoting_the_tool_is_not_marked(make_engine, fake_ollama):
    engine = make_engine()
    fake_ollama.reply(tool=("get_company_kpis", {"period": "MTD"}))
    events = run_turn(engine)  # first round only, to read what the tool said
    kpis = next(e for e in events if e["type"] == "artifact")
    assert kpis
    quoted = fake_ollama.requests[1]["messages"][-1]["content"].splitlines()[1]  # "- **Revenue** $…, ▲ …%"
    assert "$" in quoted and "%" in quoted
    fake_ollama.reply(tool=("get_company_kpis", {"period": "MTD"}))
    fake_ollama.reply(f"Here is the headline: {quoted.lstrip('- ')}.")
    events = run_turn(engine, cid="conv_2")
    assert "Not from the data" not in text_of(events)
    assert "ungrounded" not in stored(engine, "conv_2")[-1].meta


def test_every_builtin_answer_over_both_eval_sets_is_grounded(make_engine):
    engine = make_engine(model="builtin", rate_limit_user="100000/minute")
    items = load(EVAL) + load(HELDOUT)

    async def main():
        async def emit(e):
            pass

        for i, item in enumerate(items):
            await engine.chat.handle_message(WHO, MessageFrame(type="message", content=item["text"],
                                                               conversation_id=f"conv_g{i}"), emit)

    asyncio.run(main())
    marked = [(item["text"], m.meta["ungrounded"]) for i, item in enumerate(items)
              for m in engine.conversations.messages(WHO, f"conv_g{i}") if m.meta.get("ungrounded")]
    assert marked == []
    assert len(items) > 300
