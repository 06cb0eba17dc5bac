"""The model picker and suggested follow-ups, against a MOCKED socket and a MOCKED models endpoint
(Playwright serves `/penny/ws` and `penny/api/models` itself), in a real JupyterLab and Chromium.

* the picker lists the server default, builtin and the Ollama models; an unavailable one is disabled;
* the choice is per conversation, goes out as `model` on each `message` frame, and comes back when
  switching conversations;
* `assistant.done` suggestions render as buttons that send their text; they survive a replay.
"""

from __future__ import annotations

import json
import re

import pytest
from tests.browser.conftest import widen_sidebar
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

WS_PATTERN = re.compile(r"/penny/ws(\?|$)")
MODELS = {
    "active": "builtin",
    "reason": "No Ollama model answered the health check, so the built-in offline router answers.",
    "models": [
        {"id": "builtin", "label": "Built-in (offline)", "available": True},
        {"id": "ollama:llama3.2", "label": "llama3.2 (Ollama)", "available": True},
        {"id": "ollama:qwen2.5", "label": "qwen2.5 (Ollama)", "available": False,
         "reason": "qwen2.5 is not pulled: run `ollama pull qwen2.5`."},
    ],
}
SUGGESTIONS = ["Show revenue by region", "Open the sales funnel dashboard"]
CLARIFY = "Do you mean revenue or margin? Pick one below, or rephrase."


class FakePenny:
    """A scripted /penny/ws: answers each message, keeps a per-conversation event log for `resume`."""

    def __init__(self) -> None:
        self.frames: list[dict] = []
        self.logs: dict[str, list[dict]] = {}
        self.conversations: list[dict] = []
        self.answer: str | None = None  # the assistant's text; by default it says which model was asked

    def __call__(self, ws) -> None:
        ws.on_message(lambda message: self._on_message(ws, message))
        ws.send(json.dumps({"type": "ready", "user": "ada", "tenant": "acme", "model": "builtin",
                            "modelReason": MODELS["reason"]}))

    def messages(self) -> list[dict]:
        return [f for f in self.frames if f["type"] == "message"]

    def _on_message(self, ws, message) -> None:
        frame = json.loads(message)
        self.frames.append(frame)
        kind = frame["type"]
        if kind == "ping":
            ws.send(json.dumps({"type": "pong"}))
        elif kind == "resume":
            for event in self.logs.get(frame["conversationId"], []):
                if event["seq"] > frame["afterSeq"]:
                    ws.send(json.dumps(event))
        elif kind == "message":
            self._answer(ws, frame)

    def _answer(self, ws, frame: dict) -> None:
        conv = frame["conversationId"]
        log = self.logs.setdefault(conv, [])
        if not any(c["id"] == conv for c in self.conversations):
            self.conversations.insert(0, {"id": conv, "title": frame["content"][:40]})
        n = len(self.messages())

        def send(event: dict) -> None:
            event["conversationId"] = conv
            event["seq"] = len(log) + 1
            log.append(event)
            ws.send(json.dumps(event))

        send({"type": "message.created", "message": {  # the clientMessageId inside, as the server sends it
            "id": f"m_user{n}", "conversationId": conv, "role": "user", "content": frame["content"],
            "clientMessageId": frame.get("clientMessageId")}})
        send({"type": "assistant.delta", "messageId": f"m_asst{n}",
              "text": self.answer or f"{CLARIFY} (model {frame.get('model', 'default')})"})
        send({"type": "assistant.done", "messageId": f"m_asst{n}", "status": "complete",
              "suggestions": SUGGESTIONS})


def mock_rest(page: Page, fake: FakePenny) -> None:
    def models(route) -> None:
        route.fulfill(status=200, content_type="application/json", body=json.dumps(MODELS))

    def conversations(route) -> None:
        if route.request.method == "GET":
            route.fulfill(status=200, content_type="application/json",
                          body=json.dumps({"conversations": fake.conversations}))
        else:
            route.fallback()

    page.route("**/penny/api/models**", models)
    page.route(re.compile(r"/penny/api/conversations(\?.*)?$"), conversations)


def open_penny(page: Page, lab_server, fake: FakePenny, reset: bool = True) -> None:
    page.route_web_socket(WS_PATTERN, fake)
    mock_rest(page, fake)
    page.goto(f"{lab_server.url}lab{'?reset&' if reset else '?'}token={lab_server.token}")
    expect(page.locator("#jp-main-statusbar")).to_be_visible(timeout=90_000)
    page.wait_for_function("() => !!window.jupyterapp && !!window.PennyJupyter", timeout=60_000)
    page.evaluate("() => window.jupyterapp.commands.execute('penny:open-chat')")
    expect(page.locator(".penny-panel")).to_be_visible()
    expect(page.locator(".penny-status")).to_have_attribute("data-state", "connected")
    expect(page.locator(".penny-conversation.penny-mod-active")).to_have_count(1)


def active_id(page: Page) -> str:
    return page.locator(".penny-conversation.penny-mod-active").get_attribute("data-conversation-id")


def send(page: Page, text: str) -> None:
    box = page.locator(".penny-input")
    expect(box).to_be_enabled()
    box.fill(text)
    box.press("Enter")


def test_picker_lists_models_and_sends_the_choice(page: Page, lab_server, screenshots_dir):
    fake = FakePenny()
    open_penny(page, lab_server, fake)
    select = page.locator(".penny-model-select")
    expect(select).to_be_visible()
    options = select.locator("option")
    expect(options).to_have_count(4)
    expect(options.nth(0)).to_have_text("Default: Built-in (offline)")
    assert options.evaluate_all("os => os.map(o => o.value)") == [
        "", "builtin", "ollama:llama3.2", "ollama:qwen2.5"]
    # Unavailable: disabled, with its reason.
    qwen = select.locator('option[value="ollama:qwen2.5"]')
    expect(qwen).to_be_disabled()
    expect(qwen).to_have_attribute("title", re.compile("ollama pull qwen2.5"))
    expect(select.locator('option[value="ollama:llama3.2"]')).to_be_enabled()
    # The default, and why it is the default in its tooltip: a diagnostic, not the first line a user reads.
    expect(select).to_have_value("")
    expect(page.locator(".penny-model-reason")).to_be_hidden()
    expect(select).to_have_attribute("title", re.compile(re.escape(MODELS["reason"])))
    status = page.locator(".penny-conn-text")
    expect(status).to_have_text("Connected as ada · tenant acme · model builtin")

    # Default: the frame carries no `model` (the server picks).
    page.locator(".penny-new").click()
    first = active_id(page)
    send(page, "revenue please")
    expect(page.locator(".penny-message-assistant")).to_have_count(1)
    assert "model" not in fake.messages()[-1]

    select.select_option("ollama:llama3.2")
    expect(status).to_have_text("Connected as ada · tenant acme · model ollama:llama3.2")
    expect(select).to_have_attribute("title", re.compile("Picked for this chat: llama3.2 \\(Ollama\\)"))
    expect(page.locator(".penny-model-reason")).to_be_hidden()
    send(page, "and margin?")
    expect(page.locator(".penny-message-assistant")).to_have_count(2)
    last = fake.messages()[-1]
    assert last["model"] == "ollama:llama3.2", last
    assert last["conversationId"] == first

    # A new conversation starts with the default; its choice is its own.
    page.locator(".penny-new").click()
    second = active_id(page)
    assert second != first
    expect(select).to_have_value("")
    expect(status).to_have_text("Connected as ada · tenant acme · model builtin")
    select.select_option("builtin")
    send(page, "hello from the second chat")
    expect(page.locator(".penny-message-assistant")).to_have_count(1)
    assert fake.messages()[-1]["model"] == "builtin"
    assert fake.messages()[-1]["conversationId"] == second

    # Back to the first: its own choice comes back, and is what gets sent.
    expect(page.locator(f'.penny-conversation[data-conversation-id="{first}"]')).to_have_count(1)
    page.locator(f'.penny-conversation[data-conversation-id="{first}"] .penny-conversation-title').click()
    expect(select).to_have_value("ollama:llama3.2")
    expect(page.locator(".penny-message-assistant")).to_have_count(2)  # replayed from the log
    send(page, "third question")
    expect(page.locator(".penny-message-assistant")).to_have_count(3)
    assert fake.messages()[-1]["model"] == "ollama:llama3.2"
    page.locator(f'.penny-conversation[data-conversation-id="{second}"] .penny-conversation-title').click()
    expect(select).to_have_value("builtin")

    widen_sidebar(page, 480)
    page.locator(".penny-panel").screenshot(path=str(screenshots_dir / "model-picker.png"))
    widen_sidebar(page, 320)
    page.locator(".penny-panel").screenshot(path=str(screenshots_dir / "model-picker-narrow.png"))
    # Narrow: the header does not overflow; New chat stays visible.
    header = page.locator(".penny-header").bounding_box()
    new_button = page.locator(".penny-new").bounding_box()
    assert new_button["x"] + new_button["width"] <= header["x"] + header["width"] + 1
    assert not page.penny_errors, page.penny_errors


def test_suggestions_send_and_survive_reload(page: Page, lab_server, screenshots_dir):
    fake = FakePenny()
    open_penny(page, lab_server, fake)
    page.locator(".penny-new").click()
    conv = active_id(page)
    send(page, "how are we doing")
    answer = page.locator(".penny-message-assistant").last
    expect(answer).to_have_attribute("data-status", "complete")
    buttons = answer.locator(".penny-suggestion")
    expect(buttons).to_have_text(SUGGESTIONS)

    buttons.nth(0).click()
    expect(page.locator(".penny-message-user")).to_have_count(2)
    expect(page.locator(".penny-message-user").last).to_contain_text(SUGGESTIONS[0])
    last = fake.messages()[-1]
    assert last["content"] == SUGGESTIONS[0]
    assert last["conversationId"] == conv
    expect(page.locator(".penny-message-assistant")).to_have_count(2)

    # Reload: the resume replay carries the same assistant.done, so the buttons come back.
    page.reload()
    expect(page.locator("#jp-main-statusbar")).to_be_visible(timeout=90_000)
    page.wait_for_function("() => !!window.jupyterapp && !!window.PennyJupyter", timeout=60_000)
    page.evaluate("() => window.jupyterapp.commands.execute('penny:open-chat')")
    expect(page.locator(".penny-status")).to_have_attribute("data-state", "connected")
    expect(page.locator(".penny-conversation.penny-mod-active")).to_have_attribute("data-conversation-id", conv)
    expect(page.locator(".penny-message-assistant")).to_have_count(2)
    expect(page.locator(".penny-message-assistant").first.locator(".penny-suggestion")).to_have_text(SUGGESTIONS)
    expect(page.locator(".penny-message-assistant").last.locator(".penny-suggestion")).to_have_text(SUGGESTIONS)
    page.locator(".penny-message-assistant").last.locator(".penny-suggestion").nth(1).click()
    expect(page.locator(".penny-message-user")).to_have_count(3)
    assert fake.messages()[-1]["content"] == SUGGESTIONS[1]
    page.locator(".penny-panel").screenshot(path=str(screenshots_dir / "suggestions.png"))
    assert not page.penny_errors, page.penny_errors


def test_unavailable_choice_is_flagged(page: Page, lab_server):
    """A conversation whose chosen model has gone unavailable says so (and still shows it)."""
    fake = FakePenny()
    open_penny(page, lab_server, fake)
    page.locator(".penny-new").click()
    conv = active_id(page)
    page.evaluate("""(conv) => localStorage.setItem('penny-jupyter:conversation-models',
        JSON.stringify({[conv]: 'ollama:qwen2.5'}))""", conv)
    # Send (the picker read the choice before it was stored), then leave and come back: it is read again.
    send(page, "first")
    expect(page.locator(".penny-message-assistant")).to_have_count(1)
    page.locator(".penny-new").click()
    page.locator(f'.penny-conversation[data-conversation-id="{conv}"] .penny-conversation-title').click()
    select = page.locator(".penny-model-select")
    expect(select).to_have_value("ollama:qwen2.5")
    expect(page.locator(".penny-model")).to_have_attribute("data-state", "unavailable")
    expect(page.locator(".penny-model-reason")).to_contain_text("ollama pull qwen2.5")


def test_an_answer_never_loads_an_image_a_model_wrote(page: Page, lab_server, screenshots_dir):
    """Seen with the real 1.5B: `![dashboard](dashboard_art_…)` in its answer made the browser GET a made-up
    address. An answer loads no image at all (a prompt injection could put data in the address); the alt stays."""
    fake = FakePenny()
    fake.answer = ('Revenue is up. ![the dashboard](dashboard_art_123) See <img src="/exfil?revenue=1.2M" alt="x"> '
                   'and `![code](stays)`.')
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url))
    open_penny(page, lab_server, fake)
    send(page, "revenue please")
    answer = page.locator(".penny-message-assistant").first
    expect(answer).to_contain_text("Revenue is up. the dashboard See")
    expect(answer.locator("code")).to_have_text("![code](stays)")
    assert answer.locator("img").count() == 0
    assert not [u for u in asked if "dashboard_art_123" in u or "exfil" in u], asked
    assert not page.penny_errors, page.penny_errors
    widen_sidebar(page, 480)
    page.locator(".penny-panel").screenshot(path=str(screenshots_dir / "answer-without-images.png"))
