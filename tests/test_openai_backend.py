"""The OpenAI-compatible backend against a fake server that speaks OpenAI's chat-completions API over real
HTTP (tests/fake_openai.py): streaming, tool calls streamed in fragments, the request on the wire (messages,
tools, the key from the environment), every fault through the real turn (with and without the fallback) and
through the backend alone, cancel, the key kept out of logs and events, and selection."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from conftest import AS_OF, TEST_SCALE
from penny_jupyter.engine import Engine
from penny_jupyter.errors import BadRequest, ModelUnavailable
from penny_jupyter.models.backends import ModelSelector, parse_model_id
from penny_jupyter.models.base import Done, TextDelta, ToolCallRequest
from penny_jupyter.models.openai_compat import OpenAIBackend, to_openai
from penny_jupyter.protocol import MessageFrame, parse_client_frame
from penny_jupyter.settings import PennyConfig
from penny_jupyter.tenancy import Principal
from tests.fake_ollama import free_port_url
from tests.fake_openai import fake_openai  # noqa: F401 (fixture)

WHO = Principal("owner", "demo")
KPIS = "Show me company KPIs for this month"
KEY_ENV = "PENNY_TEST_OPENAI_KEY"
KEY = "sk-test-0123456789abcdefSECRET"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", KEY_ENV):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def make_engine(penny_data_dir, fake_openai):
    engines = []

    def _make(**over) -> Engine:
        values = {"data_dir": str(penny_data_dir), "as_of": AS_OF, "demo_scale": TEST_SCALE,
                  "model": "openai:gpt-test", "openai_base_url": fake_openai.url, "openai_timeout": 10.0,
                  "openai_api_key_env": KEY_ENV, "load_plugins": False, **over}
        engine = Engine(PennyConfig(**values))
        engines.append(engine)
        return engine

    yield _make
    for e in engines:
        e.close()


def run_turn(engine, content=KPIS, cid="conv_1", during=None, model=None):
    events: list[dict] = []

    async def emit(e):
        events.append(e)

    async def main():
        frame = MessageFrame(type="message", content=content, conversation_id=cid, model=model)
        task = asyncio.ensure_future(engine.chat.handle_message(WHO, frame, emit))
        if during:
            await during(engine, events)
        await task

    asyncio.run(main())
    return events


def text_of(events) -> str:
    return "".join(e["text"] for e in events if e["type"] == "assistant.delta")


def stored(engine, cid="conv_1"):
    return engine.conversations.messages(WHO, cid)


# ------------------------------------------------------------------ streaming, tools, the request on the wire


def test_text_streams_and_the_request_carries_messages_tools_and_the_key(make_engine, fake_openai, monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    fake_openai.api_key = KEY
    engine = make_engine()
    fake_openai.reply("Hello ", "there", ".")
    events = run_turn(engine, "hi")
    assert [e["text"] for e in events if e["type"] == "assistant.delta"] == ["Hello ", "there", "."]
    assert events[-1]["type"] == "assistant.done" and events[-1]["status"] == "complete"
    msg = stored(engine)[-1]
    assert (msg.content, msg.meta["model"]) == ("Hello there.", "openai:gpt-test")
    assert msg.meta["usage"]["prompt_tokens"] == 42 and msg.meta["usage"]["completion_tokens"] == 7

    (req,) = fake_openai.requests
    assert req.headers["authorization"] == f"Bearer {KEY}"
    body = req.body
    assert body["model"] == "gpt-test" and body["stream"] is True and body["temperature"] == 0.2
    assert body["messages"][0]["role"] == "system" and "Penny" in body["messages"][0]["content"]
    assert body["messages"][-1] == {"role": "user", "content": "hi"}
    tools = {t["function"]["name"]: t for t in body["tools"]}
    assert {"get_company_kpis", "load_dashboard", "query_metric", "describe_data", "run_sql"} <= set(tools)
    assert all(t["type"] == "function" for t in body["tools"])
    period = tools["get_company_kpis"]["function"]["parameters"]["properties"]["period"]
    assert period["type"] == "string" and period["enum"] == ["MTD", "QTD", "YTD"]


def test_without_the_key_variable_a_placeholder_is_sent(make_engine, fake_openai):
    engine = make_engine()
    fake_openai.reply("local server, no key")
    assert text_of(run_turn(engine, "hi")) == "local server, no key"
    assert fake_openai.requests[0].headers["authorization"] == "Bearer none"


def test_the_key_comes_from_OPENAI_API_KEY_by_default(make_engine, fake_openai, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    engine = make_engine(openai_api_key_env="OPENAI_API_KEY")
    run_turn(engine, "hi")
    assert fake_openai.requests[0].headers["authorization"] == f"Bearer {KEY}"


def test_a_tool_call_streamed_in_fragments_round_trips_with_consistent_ids(make_engine, fake_openai):
    engine = make_engine()
    fake_openai.reply("Let me look.", tool=("get_company_kpis", {"period": "MTD"}), pieces=6)
    fake_openai.reply("Revenue is the headline this month.")
    events = run_turn(engine)
    (started,) = [e for e in events if e["type"] == "tool.started"]
    assert started["tool"] == "get_company_kpis" and started["params"] == {"period": "MTD", "unit": "company"}
    art = next(e for e in events if e["type"] == "artifact")["artifact"]
    assert art["type"] == "dashboard"
    assert text_of(events) == "Let me look.\n\nRevenue is the headline this month."
    assert stored(engine)[-1].meta["artifactIds"] == [art["id"]]

    second = fake_openai.requests[1].body["messages"]
    assistant, tool_msg = second[-2], second[-1]
    assert assistant["role"] == "assistant" and assistant["content"] == "Let me look."
    (call,) = assistant["tool_calls"]
    assert call["type"] == "function" and call["function"]["name"] == "get_company_kpis"
    assert isinstance(call["function"]["arguments"], str)
    assert json.loads(call["function"]["arguments"]) == {"period": "MTD"}
    assert set(tool_msg) == {"role", "tool_call_id", "content"}, "only OpenAI's keys: no tool_name, no bookkeeping"
    assert tool_msg["role"] == "tool" and tool_msg["tool_call_id"] == call["id"]
    assert "Revenue" in tool_msg["content"]


def test_two_tool_calls_in_one_round_each_get_their_own_id(make_engine, fake_openai):
    engine = make_engine()
    fake_openai.reply(tools=[("describe_data", {}), ("load_dashboard", {"slug": "sales-funnel"})])
    fake_openai.reply("Both done.")
    events = run_turn(engine, "tables and the funnel")
    assert [e["tool"] for e in events if e["type"] == "tool.started"] == ["describe_data", "load_dashboard"]
    msgs = fake_openai.requests[1].body["messages"]
    calls = msgs[-3]["tool_calls"]
    ids = {c["function"]["name"]: c["id"] for c in calls}
    assert len(set(ids.values())) == 2 and msgs[-3]["content"] is None
    assert [m["tool_call_id"] for m in msgs[-2:]] == [ids["describe_data"], ids["load_dashboard"]]
    assert "sales" in msgs[-1]["content"].lower()


def test_ollama_style_history_translates_with_ids_paired_to_their_calls():
    out = to_openai([
        {"role": "system", "content": "S"},
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"function": {"name": "a", "arguments": {"x": 1}}}, {"function": {"name": "b", "arguments": "raw"}}]},
        {"role": "tool", "tool_name": "b", "content": "B", "penny": {"ok": True}},
        {"role": "tool", "tool_name": "a", "content": "A"},
        {"role": "assistant", "content": "again", "tool_calls": [{"function": {"name": "a", "arguments": {}}}]},
        {"role": "tool", "tool_name": "a", "content": "A2"},
    ])
    assert out[:2] == [{"role": "system", "content": "S"}, {"role": "user", "content": "q"}]
    first = out[2]["tool_calls"]
    assert [(c["id"], c["function"]["arguments"]) for c in first] == [("call_1", '{"x": 1}'), ("call_2", "raw")]
    assert out[3] == {"role": "tool", "tool_call_id": "call_2", "content": "B"}
    assert out[4] == {"role": "tool", "tool_call_id": "call_1", "content": "A"}
    assert out[5]["tool_calls"][0]["id"] == "call_3" and out[6]["tool_call_id"] == "call_3"


# ------------------------------------------------------------------ faults through the real turn


def _fell_back(events, engine, sentence: str, code: str) -> None:
    text = text_of(events)
    assert sentence in text and "built-in router answers instead" in text
    assert "Revenue" in text, "the built-in router answered the same turn"
    assert events[-1]["type"] == "assistant.done" and events[-1]["status"] == "complete"
    msg = stored(engine)[-1]
    assert msg.status == "complete" and msg.meta["fallback"] is True and msg.meta["model"] == "builtin"
    assert msg.meta["modelError"] == code and msg.content == text


def _failed(events, engine, sentence: str, code: str) -> None:
    text = text_of(events)
    assert sentence in text and "built-in" not in text
    assert events[-1]["status"] == "failed"
    msg = stored(engine)[-1]
    assert (msg.role, msg.status, msg.content) == ("assistant", "failed", text)
    assert msg.meta["modelError"] == code


def _down(fake, over):
    over["openai_base_url"] = free_port_url() + "/v1"


def _slow(fake, over):
    over["openai_timeout"] = 0.3
    fake.reply("late", delay=5)


def _unauthorized(fake, over):
    fake.api_key = "sk-the-right-one"


def _unknown_model(fake, over):
    over["model"] = "openai:gpt-nope"


def _broken(fake, over):
    fake.reply("The numbers ", "are", drop=True)


def _no_finish(fake, over):
    fake.reply("The numbers ", "are", no_finish=True)


def _http_500(fake, over):
    fake.reply(status=500, body={"error": {"message": "CUDA out of memory", "type": "server_error"}})


def _error_event(fake, over):
    fake.reply("The numbers ", error="context length exceeded")


def _loop(fake, over):
    over["max_tool_rounds"] = 2
    fake.always_tool = ("describe_data", {})


FAULTS = {
    "down": (_down, "I could not reach the OpenAI-compatible server at http://127.0.0.1:", "model_unreachable"),
    "slow": (_slow, "took longer than 0.3 s to answer", "model_timeout"),
    "401": (_unauthorized, f"needs an API key; set the environment variable {KEY_ENV}", "model_unauthorized"),
    "404": (_unknown_model, "has no model 'gpt-nope' (HTTP 404)", "model_not_found"),
    "broken": (_broken, "dropped in the middle of the answer", "model_stream_broken"),
    "no_finish": (_no_finish, "ended its answer early, without saying it was done", "model_stream_broken"),
    "500": (_http_500, "refused the request (HTTP 500): CUDA out of memory", "model_error"),
    "error_event": (_error_event, "error in the middle of the answer: context length exceeded", "model_error"),
    "loop": (_loop, "openai:gpt-test kept asking for tools (2 rounds) without answering", "tool_loop"),
}


@pytest.mark.parametrize("fallback", [True, False], ids=["fallback", "no_fallback"])
@pytest.mark.parametrize("fault", list(FAULTS))
def test_every_fault_is_one_sentence_then_the_builtin_router_or_a_failed_turn(make_engine, fake_openai, fault,
                                                                              fallback):
    setup, sentence, code = FAULTS[fault]
    over: dict = {"fallback_to_builtin": fallback}
    setup(fake_openai, over)
    engine = make_engine(**over)
    events = run_turn(engine)
    if fallback:
        _fell_back(events, engine, sentence, code)
    else:
        _failed(events, engine, sentence, code)
    if fault in ("broken", "no_finish", "error_event"):
        assert text_of(events).startswith("The numbers "), "what streamed before the fault is kept"
    if fault == "loop":
        assert len([e for e in events if e["type"] == "tool.started" and e["tool"] == "describe_data"]) == 2
        assert len(fake_openai.requests) == 3
    if fault == "404":
        assert fake_openai.url in text_of(events)


def test_a_wrong_key_is_named_by_its_variable_never_by_its_value(make_engine, fake_openai, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    wrong = "sk-wrong-key-9876543210SECRET"
    monkeypatch.setenv(KEY_ENV, wrong)
    fake_openai.api_key = "sk-the-right-one"
    engine = make_engine(fallback_to_builtin=False)
    events = run_turn(engine)
    _failed(events, engine, f"refused the API key in the environment variable {KEY_ENV}", "model_unauthorized")
    assert "HTTP 401" in text_of(events)
    assert fake_openai.requests[0].headers["authorization"] == f"Bearer {wrong}", "the key was really sent"
    desc = asyncio.run(engine.models.describe())
    seen = json.dumps(events) + json.dumps(desc) + caplog.text + "".join(m.content for m in stored(engine))
    assert wrong not in seen and "wrong-key" not in seen
    assert KEY_ENV in json.dumps(desc), "the models list says which variable to set"


def test_the_key_never_reaches_logs_events_or_the_models_list(make_engine, fake_openai, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv(KEY_ENV, KEY)
    fake_openai.api_key = KEY
    engine = make_engine()
    fake_openai.reply("Checking.", tool=("get_company_kpis", {"period": "MTD"}))
    fake_openai.reply("Done.")
    events = run_turn(engine)
    assert events[-1]["status"] == "complete" and text_of(events).endswith("Done.")
    desc = asyncio.run(engine.models.describe())
    assert fake_openai.models_calls == 1 and desc["models"][-1]["available"] is True
    seen = json.dumps(events) + json.dumps(desc) + caplog.text + "".join(m.content for m in stored(engine))
    assert "POST" in caplog.text or "chat/completions" in caplog.text, "debug logging was really captured"
    assert KEY not in seen and "SECRET" not in seen


def test_a_server_that_echoes_the_key_in_an_error_has_it_blanked(fake_openai, monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    fake_openai.reply(status=400, body={"error": {"message": f"key {KEY} is not allowed for this model"}})
    with pytest.raises(ModelUnavailable) as e:
        collect(backend(fake_openai))
    assert e.value.code == "model_error" and KEY not in e.value.message
    assert "key <redacted> is not allowed for this model" in e.value.message


def test_cancel_mid_stream_stops_at_once_and_closes_the_servers_stream(make_engine, fake_openai):
    engine = make_engine()
    fake_openai.reply(*(f"word{i} " for i in range(400)), every=0.02)

    async def cancel_after_some_text(engine, events):
        while len([e for e in events if e["type"] == "assistant.delta"]) < 3:
            await asyncio.sleep(0.005)
        assert engine.chat.cancel(WHO, "conv_1") is True

    events = run_turn(engine, during=cancel_after_some_text)
    assert events[-1]["type"] == "assistant.done" and events[-1]["status"] == "cancelled"
    msg = stored(engine)[-1]
    assert msg.status == "cancelled" and msg.content.startswith("word0 word1 word2") and "word399" not in msg.content
    assert fake_openai.aborted.wait(20), "the HTTP stream to the server was left open after cancel"


# ------------------------------------------------------------------ the backend alone


def backend(fake, model="gpt-test", **over) -> OpenAIBackend:
    values = {"openai_base_url": fake.url, "openai_timeout": 10.0, "openai_api_key_env": KEY_ENV, **over}
    return OpenAIBackend(model, PennyConfig(**values))


def collect(b: OpenAIBackend, tools=()):
    async def main():
        return [e async for e in b.stream([{"role": "user", "content": "hi"}], list(tools))]

    return asyncio.run(main())


def test_fragments_of_one_tool_call_arrive_as_one_request(fake_openai):
    from penny_jupyter.tools.registry import default_registry

    args = {"metric": "revenue", "by": "region", "top": 5, "period": "QTD"}
    fake_openai.reply("Looking.", tool=("query_metric", args), pieces=9)
    events = collect(backend(fake_openai), default_registry())
    assert events[0] == TextDelta("Looking.")
    calls = [e for e in events if isinstance(e, ToolCallRequest)]
    assert len(calls) == 1 and calls[0].name == "query_metric" and calls[0].arguments == args
    assert isinstance(events[-1], Done) and events[-1].usage["total_tokens"] == 49
    assert events[-1].usage["finish_reason"] == "tool_calls"
    assert "tools" in fake_openai.requests[0].body


def test_arguments_that_are_not_json_go_to_the_executor_as_they_are(fake_openai):
    fake_openai.reply(tool=("describe_data", "{not json"))
    (call,) = [e for e in collect(backend(fake_openai)) if isinstance(e, ToolCallRequest)]
    assert call.arguments == "{not json"
    assert "tools" not in fake_openai.requests[0].body, "no tools offered: no empty tools list sent"


def test_a_consumer_that_stops_reading_closes_the_servers_stream(fake_openai):
    """The turn closes the model's stream between two deltas (stopped while it stores one): the server sees it."""
    fake_openai.reply(*(f"word{i} " for i in range(400)), every=0.02)

    async def main():
        agen = backend(fake_openai).stream([{"role": "user", "content": "hi"}], [])
        assert await agen.__anext__() == TextDelta("word0 ")
        await agen.aclose()
        return await asyncio.to_thread(fake_openai.aborted.wait, 10)

    assert asyncio.run(main()), "the HTTP stream stayed open after the stream was closed"


@pytest.mark.parametrize("fault", [f for f in FAULTS if f != "loop"])
def test_the_backend_alone_raises_one_model_unavailable_per_fault(fake_openai, fault):
    setup, sentence, code = FAULTS[fault]
    over: dict = {}
    setup(fake_openai, over)
    model = over.pop("model", "openai:gpt-test").split(":", 1)[1]
    over.pop("fallback_to_builtin", None)
    with pytest.raises(ModelUnavailable) as e:
        collect(backend(fake_openai, model, **over))
    assert e.value.code == code and sentence in e.value.message


# ------------------------------------------------------------------ selection and config


def test_openai_model_ids_are_accepted_and_bad_ones_refused():
    assert parse_model_id("openai:Qwen/Qwen2.5-7B-Instruct") == "openai:Qwen/Qwen2.5-7B-Instruct"
    assert parse_model_id("openai:qwen2.5-7b-instruct@q4_k_m") == "openai:qwen2.5-7b-instruct@q4_k_m"
    frame = parse_client_frame('{"type": "message", "content": "hi", "model": "openai:gpt-4o-mini"}')
    assert frame.model == "openai:gpt-4o-mini"
    with pytest.raises(BadRequest) as e:
        parse_model_id("openai:")
    assert "openai:<model name>" in e.value.message
    with pytest.raises(BadRequest):
        parse_client_frame('{"type": "message", "content": "hi", "model": "openai:../x y"}')


def test_select_needs_no_probe_and_describe_probes_once(fake_openai):
    now = [1000.0]
    s = ModelSelector(PennyConfig(openai_base_url=fake_openai.url, model="openai:gpt-test"), clock=lambda: now[0])

    async def main():
        sel = await s.select()
        assert isinstance(sel.model, OpenAIBackend) and sel.id == "openai:gpt-test"
        assert fake_openai.url in sel.reason and fake_openai.models_calls == 0
        assert (await s.select()).model is sel.model
        desc = await s.describe()
        await s.describe()
        assert fake_openai.models_calls == 1
        now[0] += 31
        await s.describe()
        assert fake_openai.models_calls == 2
        return desc

    desc = asyncio.run(main())
    assert desc["active"] == "openai:gpt-test"
    entry = next(m for m in desc["models"] if m["id"] == "openai:gpt-test")
    assert entry["available"] is True and "reason" not in entry


def test_describe_says_why_the_server_is_down():
    url = free_port_url() + "/v1"
    desc = asyncio.run(ModelSelector(PennyConfig(openai_base_url=url, model="openai:gpt-test")).describe())
    entry = next(m for m in desc["models"] if m["id"] == "openai:gpt-test")
    assert entry["available"] is False and url in entry["reason"]
    assert desc["active"] == "openai:gpt-test" and "the built-in router answers instead" in desc["reason"]


def test_a_message_can_pick_the_openai_model(make_engine, fake_openai):
    engine = make_engine(model="builtin")
    fake_openai.reply("from the server")
    events = run_turn(engine, "hi", model="openai:gpt-test")
    assert text_of(events) == "from the server" and stored(engine)[-1].meta["model"] == "openai:gpt-test"


def test_the_base_url_defaults_from_OPENAI_BASE_URL_else_openai(monkeypatch):
    assert PennyConfig().openai_base_url == "https://api.openai.com/v1"
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:8081/v1")
    assert PennyConfig().openai_base_url == "http://127.0.0.1:8081/v1"
    assert PennyConfig().openai_api_key_env == "OPENAI_API_KEY" and PennyConfig().openai_timeout == 60.0


def test_describe_notes_a_model_the_server_does_not_list_but_keeps_it_offered(fake_openai):
    fake_openai.models = ["qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"]  # llama.cpp lists its one file, answers any name
    desc = asyncio.run(ModelSelector(PennyConfig(openai_base_url=fake_openai.url, model="openai:qwen")).describe())
    entry = next(m for m in desc["models"] if m["id"] == "openai:qwen")
    assert entry["available"] is True and "does not list 'qwen'" in entry["reason"]
    assert "q4_k_m.gguf" in entry["reason"]
