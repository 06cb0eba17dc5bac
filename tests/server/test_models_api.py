"""Penny served with `c.PennyConfig.model = "ollama:..."` pointed at the fake Ollama server: the events
the sidebar shows stream over the socket; `ready`, `health` and `models` say which model answers and why."""

from __future__ import annotations

import pytest

from conftest import AS_OF, TEST_SCALE
from tests.fake_ollama import fake_ollama, free_port_url  # noqa: F401 (fixture)


@pytest.fixture
def penny_model():
    return "ollama:llama3.2"


@pytest.fixture
def ollama_url(fake_ollama):
    return fake_ollama.url


@pytest.fixture
def penny_config_values(penny_data_dir, penny_model, ollama_url):
    return {"data_dir": str(penny_data_dir), "demo_scale": TEST_SCALE, "as_of": AS_OF, "model": penny_model,
            "ollama_host": ollama_url, "ollama_timeout": 10.0}


def text_of(events) -> str:
    return "".join(e["text"] for e in events if e["type"] == "assistant.delta")


async def test_the_sidebar_events_stream_from_an_ollama_model(open_socket, api, fake_ollama):
    fake_ollama.reply("Checking. ", tool=("get_company_kpis", {"period": "MTD"}))
    fake_ollama.reply("Revenue ", "leads ", "this month.")
    ws = await open_socket()
    assert ws.ready["model"] == "ollama:llama3.2" and "llama3.2" in ws.ready["modelReason"]
    await ws.send({"type": "message", "content": "How are we doing?", "conversationId": "conv_o",
                   "clientMessageId": "c1"})
    events = await ws.until("assistant.done")
    kinds = [e["type"] for e in events]
    assert kinds[0] == "message.created"
    order = [kinds.index(k) for k in ("assistant.delta", "tool.started", "tool.finished", "artifact",
                                      "assistant.done")]
    assert order == sorted(order)
    finished = next(e for e in events if e["type"] == "tool.finished")
    artifact = next(e for e in events if e["type"] == "artifact")["artifact"]
    assert finished["ok"] is True and finished["artifactId"] == artifact["id"]
    assert text_of(events) == "Checking. \n\nRevenue leads this month."
    assert events[-1]["status"] == "complete"
    _, msgs = await api("GET", "conversations", "conv_o", "messages")
    assert [(m["role"], m["status"]) for m in msgs["messages"]] == [("user", "complete"), ("assistant", "complete")]
    assert msgs["messages"][1]["meta"]["model"] == "ollama:llama3.2"


async def test_a_message_may_pick_the_builtin_router(open_socket, fake_ollama):
    ws = await open_socket()
    await ws.send({"type": "message", "content": "Show me company KPIs for this month", "model": "builtin"})
    events = await ws.until("assistant.done")
    assert "Revenue" in text_of(events) and fake_ollama.requests == []


async def test_a_model_that_is_not_pulled_is_answered_by_the_builtin_router(open_socket):
    ws = await open_socket()
    await ws.send({"type": "message", "content": "Show me company KPIs for this month", "model": "ollama:phi4"})
    events = await ws.until("assistant.done")
    text = text_of(events)
    assert "`ollama pull phi4`" in text and "built-in router answers instead" in text and "Revenue" in text
    assert events[-1]["status"] == "complete"


async def test_models_and_health_describe_the_choice(api, fake_ollama):
    fake_ollama.models = ["llama3.2:latest", "qwen2.5:7b"]
    code, models = await api("GET", "models")
    assert code == 200 and models["active"] == "ollama:llama3.2" and models["reason"]
    assert [m["id"] for m in models["models"]] == ["builtin", "ollama:llama3.2:latest", "ollama:qwen2.5:7b"]
    assert all(m["available"] for m in models["models"])
    _, health = await api("GET", "health")
    assert health["model"] == "ollama:llama3.2" and health["modelReason"] == models["reason"]


@pytest.mark.parametrize("penny_model", ["auto"])
async def test_auto_uses_ollama_when_the_model_is_pulled(api, open_socket, penny_model):
    _, models = await api("GET", "models")
    assert models["active"] == "ollama:llama3.2:latest" and "found automatically" in models["reason"]
    ws = await open_socket()
    assert ws.ready["model"] == "ollama:llama3.2:latest"


@pytest.mark.parametrize("penny_model", ["auto"])
@pytest.mark.parametrize("ollama_url", [free_port_url()])
async def test_auto_without_ollama_is_the_builtin_router_and_says_why(api, open_socket, penny_model, ollama_url):
    _, health = await api("GET", "health")
    assert health["model"] == "builtin" and "Ollama is not running" in health["modelReason"]
    _, models = await api("GET", "models")
    assert models["models"][0] == {"id": "builtin", "label": "Built-in router (offline)", "available": True}
    unavailable = [m for m in models["models"] if not m["available"]]
    assert [m["id"] for m in unavailable] == ["ollama:llama3.2"] and unavailable[0]["reason"]
    ws = await open_socket()
    assert ws.ready["model"] == "builtin" and "Ollama is not running" in ws.ready["modelReason"]


async def test_rest_message_with_a_model_override(api, fake_ollama):
    fake_ollama.reply("Hi from Ollama.")
    _, conv = await api("POST", "conversations", body={})
    code, out = await api("POST", "conversations", conv["id"], "messages",
                          body={"content": "hello", "model": "ollama:llama3.2"})
    assert code == 201 and text_of(out["events"]) == "Hi from Ollama."
