"""The model layer and the turn loop against a fake Ollama server (tests/fake_ollama.py): streaming,
tool calls, every fault with and without the fallback, recovery from bad calls, the tool-round bound,
cancel, the history budget, and which model is chosen."""

from __future__ import annotations

import asyncio

import pytest

from conftest import AS_OF, TEST_SCALE
from penny_jupyter.chat.memory import estimate_tokens, fit_history, message_tokens
from penny_jupyter.engine import Engine
from penny_jupyter.models.backends import BuiltinBackend, ModelSelector, parse_model_id
from penny_jupyter.models.base import Clarify, Done, TextDelta, ToolCallRequest, tool_schema
from penny_jupyter.protocol import MessageFrame
from penny_jupyter.settings import PennyConfig
from penny_jupyter.tenancy import Principal
from tests.fake_ollama import fake_ollama, free_port_url  # noqa: F401 (fixture)

WHO = Principal("owner", "demo")
KPIS = "Show me company KPIs for this month"


@pytest.fixture
def make_engine(penny_data_dir, fake_ollama):
    engines = []

    def _make(**over) -> Engine:
        values = {"data_dir": str(penny_data_dir), "as_of": AS_OF, "demo_scale": TEST_SCALE,
                  "model": "ollama:llama3.2", "ollama_host": fake_ollama.url, "ollama_timeout": 10.0,
                  "load_plugins": False, **over}
        engine = Engine(PennyConfig(**values))
        engines.append(engine)
        return engine

    yield _make
    for e in engines:
        e.close()


def run_turn(engine, content=KPIS, cid="conv_1", during=None, model=None, client_id=None, context=None):
    events: list[dict] = []

    async def emit(e):
        events.append(e)

    async def main():
        frame = MessageFrame(type="message", content=content, conversation_id=cid, model=model,
                             client_message_id=client_id, context=context)
        task = asyncio.ensure_future(engine.chat.handle_message(WHO, frame, emit))
        if during:
            await during(engine, events)
        await task

    asyncio.run(main())
    return events


def text_of(events) -> str:
    return "".join(e["text"] for e in events if e["type"] == "assistant.delta")


def kinds(events) -> list[str]:
    return [e["type"] for e in events]


def stored(engine, cid="conv_1"):
    return engine.conversations.messages(WHO, cid)


# ------------------------------------------------------------------ streaming and tools


def test_text_streams_as_deltas_and_the_request_carries_tools_and_num_ctx(make_engine, fake_ollama):
    engine = make_engine()
    fake_ollama.reply("Hello ", "there", ".")
    events = run_turn(engine, "hi")
    deltas = [e["text"] for e in events if e["type"] == "assistant.delta"]
    assert deltas == ["Hello ", "there", "."]
    assert events[-1]["type"] == "assistant.done" and events[-1]["status"] == "complete"
    assert "suggestions" not in events[-1]
    msgs = stored(engine)
    assert [(m.role, m.status, m.content) for m in msgs] == [("user", "complete", "hi"),
                                                             ("assistant", "complete", "Hello there.")]
    assert msgs[1].meta["model"] == "ollama:llama3.2" and msgs[1].meta["usage"]["eval_count"] == 7

    (req,) = fake_ollama.requests
    assert req["model"] == "llama3.2" and req["stream"] is True and req["options"]["num_ctx"] == 16384
    assert req["options"]["temperature"] == 0.2, "low, so the same question gets the same call"
    assert req["messages"][0]["role"] == "system" and req["messages"][-1] == {"role": "user", "content": "hi"}
    tools = {t["function"]["name"]: t for t in req["tools"]}
    assert {"get_company_kpis", "load_dashboard", "query_metric", "describe_data", "run_sql"} <= set(tools)
    period = tools["get_company_kpis"]["function"]["parameters"]["properties"]["period"]
    assert period["type"] == "string" and period["enum"] == ["MTD", "QTD", "YTD"]


def test_a_tool_call_round_trip(make_engine, fake_ollama):
    engine = make_engine()
    fake_ollama.reply("Let me look.", tool=("get_company_kpis", {"period": "MTD"}))
    fake_ollama.reply("Revenue is the headline this month.")
    events = run_turn(engine)
    k = kinds(events)
    order = [k.index(x) for x in ("tool.started", "tool.finished", "artifact", "assistant.done")]
    assert order == sorted(order)
    started = next(e for e in events if e["type"] == "tool.started")
    assert started["tool"] == "get_company_kpis" and started["params"] == {"period": "MTD", "unit": "company"}
    finished = next(e for e in events if e["type"] == "tool.finished")
    art = next(e for e in events if e["type"] == "artifact")["artifact"]
    assert finished["ok"] is True and finished["artifactId"] == art["id"] and art["type"] == "dashboard"
    assert text_of(events) == "Let me look.\n\nRevenue is the headline this month."
    seqs = [e["seq"] for e in events if "seq" in e]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)

    second = fake_ollama.requests[1]["messages"]
    assistant, tool_msg = second[-2], second[-1]
    assert assistant["role"] == "assistant" and assistant["tool_calls"][0]["function"]["name"] == "get_company_kpis"
    assert tool_msg["role"] == "tool" and tool_msg["tool_name"] == "get_company_kpis"
    assert "Revenue" in tool_msg["content"] and "data:" in tool_msg["content"]
    assert "penny" not in tool_msg, "the turn's bookkeeping stays on our side"
    assert len(tool_msg["content"]) < 4000, "a compact summary, never whole tables"
    msg = stored(engine)[-1]
    assert msg.meta["artifactIds"] == [art["id"]] and msg.status == "complete"


def test_tool_arguments_sent_as_a_json_string_are_read(make_engine, fake_ollama):
    engine = make_engine()
    fake_ollama.reply(tool=("load_dashboard", '{"slug": "sales-funnel"}'))
    fake_ollama.reply("Here is the funnel.")
    events = run_turn(engine, "funnel?")
    art = next(e for e in events if e["type"] == "artifact")["artifact"]
    assert art["source"]["params"]["slug"] == "sales-funnel"


# ------------------------------------------------------------------ recovery from bad calls


def test_an_unknown_tool_goes_back_to_the_model_which_recovers(make_engine, fake_ollama):
    engine = make_engine()
    fake_ollama.reply(tool=("drop_tables", {"all": True}))
    fake_ollama.reply("I cannot do that, but I can show KPIs.")
    events = run_turn(engine, "drop everything")
    assert "tool.started" not in kinds(events)
    assert text_of(events) == "I cannot do that, but I can show KPIs."
    assert events[-1]["status"] == "complete"
    tool_msg = fake_ollama.requests[1]["messages"][-1]
    assert tool_msg["role"] == "tool" and "unknown tool 'drop_tables'" in tool_msg["content"]
    assert "get_company_kpis" in tool_msg["content"], "the error names the tools that exist"


def test_bad_arguments_go_back_to_the_model_which_fixes_them(make_engine, fake_ollama):
    engine = make_engine()
    fake_ollama.reply(tool=("get_company_kpis", {"period": "XTD"}))
    fake_ollama.reply(tool=("get_company_kpis", {"period": "QTD"}))
    fake_ollama.reply("Done.")
    events = run_turn(engine)
    started = [e for e in events if e["type"] == "tool.started"]
    assert [s["params"]["period"] for s in started] == ["QTD"]
    err = fake_ollama.requests[1]["messages"][-1]
    assert err["role"] == "tool" and "invalid_params" in err["content"] and "period" in err["content"]
    assert events[-1]["status"] == "complete" and text_of(events).endswith("Done.")


# ------------------------------------------------------------------ faults


def _fell_back(events, engine, sentence: str) -> None:
    text = text_of(events)
    assert sentence in text and "built-in router answers instead" in text
    assert "Revenue" in text, "the built-in router answered the same turn"
    assert events[-1]["type"] == "assistant.done" and events[-1]["status"] == "complete"
    msg = stored(engine)[-1]
    assert msg.status == "complete" and msg.meta["fallback"] is True and msg.meta["model"] == "builtin"
    assert msg.content == text


def _failed(events, engine, sentence: str, code: str) -> None:
    text = text_of(events)
    assert sentence in text and "built-in" not in text
    assert events[-1]["status"] == "failed"
    msg = stored(engine)[-1]
    assert (msg.role, msg.status, msg.content) == ("assistant", "failed", text)
    assert msg.meta["modelError"] == code


def test_ollama_down_at_start_falls_back(make_engine):
    engine = make_engine(ollama_host=free_port_url())
    events = run_turn(engine)
    _fell_back(events, engine, "I could not reach Ollama at")


def test_ollama_down_at_start_without_fallback_fails_with_a_sentence(make_engine):
    engine = make_engine(ollama_host=free_port_url(), fallback_to_builtin=False)
    events = run_turn(engine)
    _failed(events, engine, "is `ollama serve` running?", "model_unreachable")


def test_ollama_going_away_mid_stream_keeps_what_streamed_then_falls_back(make_engine, fake_ollama):
    engine = make_engine()
    fake_ollama.reply("The numbers ", "are", drop=True)
    events = run_turn(engine)
    assert text_of(events).startswith("The numbers are\n\n")
    _fell_back(events, engine, "dropped in the middle of the answer")


def test_ollama_going_away_mid_stream_without_fallback(make_engine, fake_ollama):
    engine = make_engine(fallback_to_builtin=False)
    fake_ollama.reply("The numbers ", "are", drop=True)
    events = run_turn(engine)
    assert text_of(events).startswith("The numbers are")
    _failed(events, engine, "dropped in the middle of the answer", "model_stream_broken")


def test_ollama_slower_than_the_timeout_falls_back(make_engine, fake_ollama):
    engine = make_engine(ollama_timeout=0.2)
    fake_ollama.reply("late", delay=5)
    events = run_turn(engine)
    _fell_back(events, engine, "took longer than 0.2 s")


def test_ollama_slower_than_the_timeout_without_fallback(make_engine, fake_ollama):
    engine = make_engine(ollama_timeout=0.2, fallback_to_builtin=False)
    fake_ollama.reply("late", delay=5)
    events = run_turn(engine)
    _failed(events, engine, "took longer than 0.2 s", "model_timeout")


def test_a_model_that_is_not_pulled_falls_back(make_engine, fake_ollama):
    engine = make_engine(model="ollama:mistral")
    events = run_turn(engine)
    _fell_back(events, engine, "`ollama pull mistral`")


def test_a_model_that_is_not_pulled_without_fallback(make_engine, fake_ollama):
    engine = make_engine(model="ollama:mistral", fallback_to_builtin=False)
    events = run_turn(engine)
    _failed(events, engine, "is not pulled on the Ollama server", "model_not_found")


def test_an_error_line_mid_stream_falls_back(make_engine, fake_ollama):
    engine = make_engine()
    fake_ollama.reply("Partial ", error="out of memory")
    events = run_turn(engine)
    assert text_of(events).startswith("Partial \n\n")
    _fell_back(events, engine, "reported an error in the middle of the answer: out of memory")


def test_an_error_line_mid_stream_without_fallback(make_engine, fake_ollama):
    engine = make_engine(fallback_to_builtin=False)
    fake_ollama.reply("Partial ", error="out of memory")
    events = run_turn(engine)
    _failed(events, engine, "out of memory", "model_error")


def test_an_http_error_is_a_sentence_too(make_engine, fake_ollama):
    engine = make_engine(fallback_to_builtin=False)
    fake_ollama.reply(status=500, body={"error": "llama runner process has terminated"})
    events = run_turn(engine)
    _failed(events, engine, "llama runner process has terminated", "model_error")


def test_a_tool_loop_is_bounded_then_falls_back(make_engine, fake_ollama):
    engine = make_engine(max_tool_rounds=2)
    for _ in range(3):
        fake_ollama.reply(tool=("describe_data", {}))
    events = run_turn(engine)
    assert len([e for e in events if e["type"] == "tool.started" and e["tool"] == "describe_data"]) == 2
    assert len(fake_ollama.requests) == 3
    _fell_back(events, engine, "kept asking for tools (2 rounds) without answering")


def test_a_tool_loop_without_fallback(make_engine, fake_ollama):
    engine = make_engine(max_tool_rounds=1, fallback_to_builtin=False)
    for _ in range(2):
        fake_ollama.reply(tool=("describe_data", {}))
    events = run_turn(engine)
    _failed(events, engine, "kept asking for tools (1 rounds)", "tool_loop")


def test_cancel_mid_stream_stops_at_once_and_closes_the_ollama_stream(make_engine, fake_ollama):
    engine = make_engine()
    fake_ollama.reply(*(f"word{i} " for i in range(400)), every=0.02)

    async def cancel_after_some_text(engine, events):
        while len([e for e in events if e["type"] == "assistant.delta"]) < 3:
            await asyncio.sleep(0.005)
        assert engine.chat.cancel(WHO, "conv_1") is True

    events = run_turn(engine, during=cancel_after_some_text)
    assert events[-1]["type"] == "assistant.done" and events[-1]["status"] == "cancelled"
    msg = stored(engine)[-1]
    assert msg.status == "cancelled" and msg.content == text_of(events) and msg.content.startswith("word0 word1 word2")
    assert "word399" not in msg.content
    assert fake_ollama.aborted.wait(20), "the HTTP stream to Ollama was left open after cancel"


def test_the_same_client_message_id_is_stored_once(make_engine, fake_ollama):
    from penny_jupyter.errors import Conflict

    engine = make_engine()
    fake_ollama.reply("one")
    run_turn(engine, "hi", client_id="c-1")
    with pytest.raises(Conflict):
        run_turn(engine, "hi", client_id="c-1")
    assert [m.role for m in stored(engine)] == ["user", "assistant"]
    assert len(fake_ollama.requests) == 1


# ------------------------------------------------------------------ history


def test_fit_history_keeps_the_newest_turn_whole_and_summarizes_the_rest():
    history = []
    for i in range(40):
        history += [{"role": "user", "content": f"question {i} " + "x" * 400},
                    {"role": "assistant", "content": f"answer {i} " + "y" * 800}]
    newest = {"role": "user", "content": "the newest question " + "z" * 3000}
    history.append(newest)
    out = fit_history(history, 2000, system="You are Penny.", tools_tokens=300)
    assert out[0] == {"role": "system", "content": "You are Penny."}
    assert out[-1] == newest
    assert out[1]["role"] == "system" and out[1]["content"].startswith("Earlier in this conversation")
    assert sum(message_tokens(m) for m in out) + 300 <= 2000
    # kept turns are whole and the newest ones
    kept_users = [m["content"].split()[1] for m in out[2:-1] if m["role"] == "user"]
    assert kept_users == sorted(kept_users, key=int) and (not kept_users or kept_users[-1] == "39")


def test_fit_history_never_cuts_the_newest_turn_even_over_budget():
    newest = {"role": "user", "content": "q" * 20000}
    out = fit_history([{"role": "user", "content": "old"}, {"role": "assistant", "content": "a"}, newest], 100,
                      system="S")
    assert out[0]["content"] == "S" and out[-1] == newest
    assert estimate_tokens("abcd") == 1


def test_a_long_conversation_fits_the_budget_on_the_wire(make_engine, fake_ollama):
    engine = make_engine(history_token_budget=3000)
    cid = "conv_long"
    engine.conversations.create(WHO, "long", cid)
    for i in range(60):
        engine.conversations.append_message(WHO, cid, "user", f"old question {i} " + "a" * 300)
        engine.conversations.append_message(WHO, cid, "assistant", f"old answer {i} " + "b" * 600)
    fake_ollama.reply("fine")
    newest = "What about churn? " + "c" * 500
    run_turn(engine, newest, cid=cid)
    msgs = fake_ollama.requests[0]["messages"]
    tools_tokens = engine.chat.tools_tokens()
    assert sum(message_tokens(m) for m in msgs) + tools_tokens <= 3000
    assert msgs[-1] == {"role": "user", "content": newest}
    assert msgs[0]["role"] == "system" and "Penny" in msgs[0]["content"], "the system prompt is never cut"
    assert any(m["role"] == "system" and "older messages not shown" in m["content"] for m in msgs[1:])
    assert len(fake_ollama.requests[0]["tools"]) >= 5, "the tool schemas are never cut"


# ------------------------------------------------------------------ selection


def selector(url, **over):
    return ModelSelector(PennyConfig(ollama_host=url, **over), router=None)


def test_auto_picks_ollama_when_the_model_is_pulled(fake_ollama):
    s = selector(fake_ollama.url, model="auto")
    sel = asyncio.run(s.select())
    assert sel.id == "ollama:llama3.2:latest" and "found automatically" in sel.reason


def test_auto_picks_builtin_when_the_model_is_not_pulled(fake_ollama):
    fake_ollama.models = ["mistral:latest"]
    s = selector(fake_ollama.url, model="auto")
    sel = asyncio.run(s.select())
    assert sel.id == "builtin" and "'llama3.2' is not pulled" in sel.reason
    desc = asyncio.run(s.describe())
    ids = {m["id"]: m for m in desc["models"]}
    assert ids["builtin"]["available"] and ids["ollama:mistral:latest"]["available"]
    assert ids["ollama:llama3.2"]["available"] is False and "ollama pull llama3.2" in ids["ollama:llama3.2"]["reason"]


def test_auto_picks_builtin_when_ollama_is_down():
    s = selector(free_port_url(), model="auto")
    sel = asyncio.run(s.select())
    assert sel.id == "builtin" and "Ollama is not running" in sel.reason


def test_auto_probe_is_cached(fake_ollama):
    now = [1000.0]
    s = ModelSelector(PennyConfig(ollama_host=fake_ollama.url, model="auto"), clock=lambda: now[0])

    async def main():
        await s.select()
        await s.select()
        assert fake_ollama.tags_calls == 1
        now[0] += 31
        await s.select()
        assert fake_ollama.tags_calls == 2

    asyncio.run(main())


def test_builtin_and_explicit_ollama_need_no_probe(fake_ollama):
    assert asyncio.run(selector(fake_ollama.url, model="builtin").select()).id == "builtin"
    sel = asyncio.run(selector(fake_ollama.url, model="ollama:qwen2.5:7b").select())
    assert sel.id == "ollama:qwen2.5:7b" and sel.model.model == "qwen2.5:7b"
    assert fake_ollama.tags_calls == 0


def test_describe_lists_builtin_and_every_pulled_model(fake_ollama):
    fake_ollama.models = ["llama3.2:latest", "qwen2.5:7b"]
    desc = asyncio.run(selector(fake_ollama.url, model="auto").describe())
    assert desc["active"] == "ollama:llama3.2:latest" and desc["reason"]
    assert [m["id"] for m in desc["models"]] == ["builtin", "ollama:llama3.2:latest", "ollama:qwen2.5:7b"]
    assert all(m["available"] and m["label"] for m in desc["models"])


def test_a_message_can_override_the_model(make_engine, fake_ollama):
    engine = make_engine()
    events = run_turn(engine, model="builtin")
    assert fake_ollama.requests == [] and "Revenue" in text_of(events)
    assert stored(engine)[-1].meta["model"] == "builtin"
    fake_ollama.reply("from ollama")
    engine2 = make_engine(model="builtin")
    events = run_turn(engine2, "hi", cid="conv_2", model="ollama:llama3.2")
    assert text_of(events) == "from ollama"


def test_bad_model_ids_are_refused():
    from penny_jupyter.errors import BadRequest
    from penny_jupyter.protocol import parse_client_frame

    assert parse_model_id("ollama:llama3.2:latest") == "ollama:llama3.2:latest"
    with pytest.raises(BadRequest):
        parse_model_id("gpt-4")
    with pytest.raises(BadRequest) as e:
        parse_client_frame('{"type": "message", "content": "hi", "model": "ollama:../../x y"}')
    assert "model" in e.value.message


# ------------------------------------------------------------------ the built-in router as a Model


class Clarifying:
    name = "builtin"

    def route(self, text):
        from types import SimpleNamespace

        return SimpleNamespace(question="Which period do you mean?", suggestions=["This month", "This quarter"])


def test_builtin_clarification_ends_with_suggestions(make_engine):
    from penny_jupyter.models.backends import ModelSelector as Sel

    engine = make_engine(model="builtin")
    engine.chat.models = Sel(engine.config, router=Clarifying())
    events = run_turn(engine, "numbers?")
    assert text_of(events) == "Which period do you mean?"
    assert events[-1]["type"] == "assistant.done" and events[-1]["suggestions"] == ["This month", "This quarter"]
    assert "tool.started" not in kinds(events)


def test_builtin_backend_events():
    class R:
        name = "builtin"

        def route(self, text):
            from penny_jupyter.models.builtin import Route

            return Route("get_company_kpis", {"period": "QTD", "unit": "EMEA"}, 0.9)

    async def collect(msgs):
        return [e async for e in BuiltinBackend(R()).stream(msgs, [])]

    first = asyncio.run(collect([{"role": "user", "content": "kpis emea"}]))
    assert first[0] == TextDelta("Checking the KPIs for EMEA this quarter…")
    assert isinstance(first[1], ToolCallRequest) and first[1].arguments == {"period": "QTD", "unit": "EMEA"}
    assert isinstance(first[2], Done)
    after = asyncio.run(collect([{"role": "user", "content": "kpis"}, {
        "role": "tool", "content": "x", "penny": {"ok": True, "tool": "get_company_kpis", "text": "A\nB",
                                                  "artifacts": [{"id": "art_1", "type": "dashboard"}]}}]))
    assert "".join(e.text for e in after if isinstance(e, TextDelta)) == (
        "\n\nA\nB\n\nThe dashboard is below.")
    assert not any(isinstance(e, Clarify) for e in after)


def test_tool_schema_flattens_optional_fields():
    from penny_jupyter.tools.registry import default_registry

    reg = default_registry()
    dash = tool_schema(reg.get("load_dashboard"))["function"]
    period = dash["parameters"]["properties"]["period"]
    assert period["type"] == "string" and period["enum"] == ["MTD", "QTD", "YTD"]
    assert dash["parameters"]["required"] == ["slug"]
    for t in reg:
        for p in tool_schema(t)["function"]["parameters"]["properties"].values():
            assert set(p) <= {"type", "items", "description", "enum"} and p["type"], (t.name, p)


@pytest.mark.parametrize("statement", ["DROP TABLE customers", "delete from invoices where amount > 0",
                                       "update deals set amount = 0"])
def test_sql_that_writes_is_refused_in_a_sentence_that_says_why(make_engine, statement):
    """The built-in router sends a write to run_sql (so the attempt is audited); the answer says Penny only
    reads, not the generic "I can't answer that one yet"."""
    engine = make_engine(model="builtin")
    events = run_turn(engine, statement)
    started = [e for e in events if e["type"] == "tool.started"]
    assert started and started[0]["tool"] == "run_sql"
    text = text_of(events)
    assert "read-only" in text and "can't answer that one yet" not in text, text
    assert "run_sql failed" not in text and "Traceback" not in text, text


CELL = "df = penny.sql('SELECT region, sum(amount) AS revenue FROM invoices GROUP BY 1')\ndf.plot()"


def test_a_notebook_cell_attached_to_a_question_reaches_the_model_and_stays_with_it(make_engine, fake_ollama):
    engine = make_engine()
    run_turn(engine, "why does this plot look empty?", context=CELL)
    asked = fake_ollama.requests[-1]["messages"][-1]
    assert asked["role"] == "user"
    assert asked["content"] == f"why does this plot look empty?\n\nFrom my notebook:\n```\n{CELL}\n```"
    user = stored(engine)[0]
    assert user.content == "why does this plot look empty?" and user.meta == {"context": CELL}
    run_turn(engine, "and in EMEA?")  # a follow-up: the model still sees the cell in the history
    history = [m["content"] for m in fake_ollama.requests[-1]["messages"] if m["role"] == "user"]
    assert CELL in history[0] and history[-1] == "and in EMEA?"


def test_the_router_runs_an_attached_cell_when_asked_to_and_only_then(make_engine):
    engine = make_engine()
    sql = "SELECT region, count(*) AS n FROM customers GROUP BY region ORDER BY region"
    events = run_turn(engine, "run this", model="builtin", context=sql)
    started = next(e for e in events if e["type"] == "tool.started")
    assert started["tool"] == "run_sql" and started["params"]["query"] == sql
    for i, text in enumerate(["hello", "why does this run so slowly?", "don't run this"]):
        events = run_turn(engine, text, cid=f"conv_q{i}", model="builtin", context=sql)
        assert not [e for e in events if e["type"] == "tool.started"], f"{text!r} is no request to run the cell"
