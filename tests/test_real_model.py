"""The seed's request through a real LLM: Qwen2.5-Coder-1.5B-Instruct behind llama.cpp's OpenAI-compatible
server (tests/llm_server.py), through Penny's `openai:` backend and the whole turn, with no fallback to the
built-in router (a model failure must fail here, not be covered up).

What a person relies on: the answer streams; the model calls get_company_kpis for this month and the
dashboard arrives; no raw tool-call JSON reaches them; every figure in the answer is from the tool's result
(else it would be marked, chat/grounding.py); the turn never ends empty. These run in `make test`; a turn
takes 10-40 s on these 2 cores.
"""

from __future__ import annotations

import pytest

from tests.test_models import WHO, run_turn, stored, text_of

pytestmark = pytest.mark.slow


@pytest.fixture
def real_engine(penny_data_dir, llm_server):
    from conftest import AS_OF, TEST_SCALE
    from penny_jupyter.engine import Engine
    from penny_jupyter.settings import PennyConfig

    engine = Engine(PennyConfig(data_dir=str(penny_data_dir), as_of=AS_OF, demo_scale=TEST_SCALE,
                                model=f"openai:{llm_server.model}", openai_base_url=llm_server.base_url,
                                openai_timeout=120.0, fallback_to_builtin=False, load_plugins=False))
    yield engine
    engine.close()


def test_the_seed_request_through_a_real_model(real_engine):
    events = run_turn(real_engine, "Show me company KPIs for this month")
    kinds = [e["type"] for e in events]
    started = [e for e in events if e["type"] == "tool.started"]
    assert started and started[0]["tool"] == "get_company_kpis", kinds
    assert started[0]["params"]["period"] == "MTD"
    art = next(e["artifact"] for e in events if e["type"] == "artifact")
    assert art["type"] == "dashboard"
    deltas = [e for e in events if e["type"] == "assistant.delta"]
    text = text_of(events)
    assert len(deltas) >= 2 and text.strip(), "the answer streams, and there is one"
    assert '"name"' not in text and "<tool_call>" not in text, "no raw call shown"
    msg = stored(real_engine)[-1]
    assert msg.status == "complete" and msg.meta["model"].startswith("openai:")
    assert msg.meta.get("ungrounded", []) == [], f"figures from no tool result: {msg.meta.get('ungrounded')}"
    assert events[-1]["type"] == "assistant.done" and events[-1]["status"] == "complete"


def test_a_question_for_one_number_never_shows_an_invented_figure_as_fact(real_engine):
    """A small model may answer from its head; then every figure it wrote must be marked as not from the data."""
    from penny_jupyter.chat.grounding import figures

    events = run_turn(real_engine, "How much revenue did we make this month?", cid="conv_2")
    text = text_of(events)
    assert text.strip() and '"name"' not in text and "data: {" not in text
    msg = real_engine.conversations.messages(WHO, "conv_2")[-1]
    assert msg.status == "complete"
    if not any(e["type"] == "tool.started" for e in events):
        answer = text.split("⚠️ Not from the data")[0]
        assert not figures(answer) or msg.meta.get("ungrounded"), "figures with no tool behind them, unmarked"
    if msg.meta.get("ungrounded"):
        assert "Not from the data" in msg.content
