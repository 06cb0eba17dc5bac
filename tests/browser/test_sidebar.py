"""The Penny chat sidebar in a real JupyterLab, driven by a real (headless Debian) Chromium.

* test_sidebar_end_to_end: the real server extension answers on /penny/ws.
* test_sidebar_renders_stream (mocked socket): the rendering contract, independent of the server.
* test_input_disabled_when_socket_unreachable: the socket is refused; the input says why.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from tests.browser.conftest import widen_sidebar
from playwright.sync_api import Page, expect


pytestmark = pytest.mark.browser

PROMPT = "Show me company KPIs for this month"
WS_PATTERN = re.compile(r"/penny/ws(\?|$)")
REPO = Path(__file__).resolve().parents[2]


def open_lab(page: Page, lab_server) -> None:
    # `reset`: start from the default layout, whatever an earlier test left in the shared workspace.
    page.goto(f"{lab_server.url}lab?reset&token={lab_server.token}")
    expect(page.locator("#jp-main-statusbar")).to_be_visible(timeout=90_000)
    # The launcher is the last thing a fresh workspace shows: wait for it so the shell is settled.
    expect(page.locator(".jp-Launcher").first).to_be_visible(timeout=60_000)


def open_penny_from_palette(page: Page) -> None:
    page.locator("#jp-main-dock-panel").click(position={"x": 5, "y": 5})
    page.keyboard.press("Control+Shift+C")
    palette = page.locator("#modal-command-palette .lm-CommandPalette-input")
    expect(palette).to_be_visible()
    palette.fill("Penny: Open Chat")
    item = page.locator("#modal-command-palette .lm-CommandPalette-item", has_text="Penny: Open Chat")
    expect(item.first).to_be_visible()
    page.keyboard.press("Enter")
    expect(page.locator(".penny-panel")).to_be_visible()


def test_sidebar_end_to_end(page: Page, lab_server, screenshots_dir):
    open_lab(page, lab_server)
    open_penny_from_palette(page)
    page.locator(".penny-new").click()

    status = page.locator(".penny-status")
    expect(status).to_have_attribute("data-state", "connected", timeout=60_000)
    expect(status).to_contain_text("Connected as")
    expect(status).to_contain_text("tenant demo")

    box = page.locator(".penny-input")
    expect(box).to_be_enabled()
    box.fill(PROMPT)
    box.press("Enter")

    expect(page.locator(".penny-message-user").last).to_contain_text(PROMPT)
    expect(box).to_have_value("")
    answer = page.locator(".penny-message-assistant").last
    # The first turn builds the demo warehouse: allow it time.
    expect(answer).to_contain_text("Revenue", timeout=120_000)
    expect(page.locator(".penny-artifact").first).to_be_visible(timeout=60_000)
    tool = page.locator(".penny-tool").first
    expect(tool).to_have_attribute("data-status", "ok")
    # the call in words; the tool's own name only in the tooltip
    expect(tool.locator(".penny-tool-name")).to_have_text("KPIs · this month")
    expect(tool.locator(".penny-tool-name")).to_have_attribute("title", "get_company_kpis")
    expect(tool.locator(".penny-tool-params")).to_be_hidden()
    expect(tool.locator(".penny-tool-duration")).to_have_text(re.compile(r"^\d+(\.\d)? m?s$"))
    expect(answer).not_to_have_attribute("data-streaming", "true", timeout=60_000)
    expect(page.locator(".penny-error")).to_have_count(0)

    widen_sidebar(page, 460)
    page.screenshot(path=str(screenshots_dir / "sidebar.png"))


class FakePenny:
    """A scripted /penny/ws served by Playwright itself (no server code involved)."""

    def __init__(self) -> None:
        self.frames: list[dict] = []

    def __call__(self, ws) -> None:
        ws.on_message(lambda message: self._on_message(ws, message))
        ws.send(json.dumps({"type": "ready", "user": "ada", "tenant": "acme", "model": "builtin"}))

    def _on_message(self, ws, message) -> None:
        frame = json.loads(message)
        self.frames.append(frame)
        if frame["type"] == "ping":
            ws.send(json.dumps({"type": "pong"}))
            return
        if frame["type"] != "message":
            return
        conv = frame["conversationId"]
        seq = iter(range(1, 100))

        def send(event: dict) -> None:
            event.setdefault("conversationId", conv)
            event["seq"] = next(seq)
            ws.send(json.dumps(event))

        # as the real server sends it (protocol.MessageCreatedEvent): the clientMessageId inside the message
        send({"type": "message.created", "message": {
            "id": "m_user", "conversationId": conv, "role": "user", "content": frame["content"],
            "clientMessageId": frame.get("clientMessageId"), "createdAt": "2026-11-25T10:00:00Z"}})
        send({"type": "tool.started", "callId": "call_1", "tool": "get_company_kpis", "params": {"period": "month"}})
        send({"type": "tool.finished", "callId": "call_1", "tool": "get_company_kpis", "ok": True,
              "durationMs": 12, "artifactId": "art_1"})
        send({"type": "artifact", "artifact": {"id": "art_1", "type": "dashboard", "title": "Company KPIs · Nov 2026",
                                               "version": 1}})
        for text in ["Here are this month's KPIs:\n\n", "- Revenue: $1.24M (+4.1%), costs $0.8M\n", "- **Mar",
                     "gin**: 61.8%\n\n", '<img src="x" onerror="window.__pennyXss=1"><script>window.__pennyXss=2</script>',
                     "End."]:
            send({"type": "assistant.delta", "messageId": "m_asst", "text": text})
        send({"type": "tool.started", "callId": "call_2", "tool": "run_sql", "params": {}})
        send({"type": "tool.finished", "callId": "call_2", "tool": "run_sql", "ok": False, "durationMs": 1500,
              "error": {"code": "timeout", "message": "query took too long"}})
        send({"type": "assistant.done", "messageId": "m_asst"})
        # An event for another conversation must not show up here.
        ws.send(json.dumps({"type": "assistant.delta", "conversationId": "conv_other", "messageId": "x",
                            "seq": 1, "text": "LEAK"}))


def test_sidebar_renders_stream(page: Page, lab_server, screenshots_dir):
    fake = FakePenny()
    page.route_web_socket(WS_PATTERN, fake)
    open_lab(page, lab_server)
    # The keyboard shortcut (from schema/plugin.json) opens the sidebar.
    page.locator("#jp-main-dock-panel").click(position={"x": 5, "y": 5})
    page.keyboard.press("Alt+Shift+P")
    expect(page.locator(".penny-panel")).to_be_visible()

    status = page.locator(".penny-status")
    expect(status).to_have_attribute("data-state", "connected")
    expect(status.locator(".penny-conn-text")).to_have_text("Connected as ada · tenant acme · model builtin")
    page.locator(".penny-new").click()

    box = page.locator(".penny-input")
    box.fill("first line")
    box.press("Shift+Enter")
    box.type("second line")
    expect(box).to_have_value("first line\nsecond line")
    box.fill(PROMPT)
    box.press("Enter")

    answer = page.locator(".penny-message-assistant")
    expect(answer).to_have_count(1)
    expect(answer).not_to_have_attribute("data-streaming", "true")
    expect(page.locator(".penny-message-user")).to_have_count(1)
    expect(page.locator(".penny-message-user")).to_contain_text(PROMPT)
    text = answer.locator(".penny-text")
    # Markdown through rendermime: a list, bold, and dollar amounts kept as money (not LaTeX).
    expect(text.locator("li")).to_have_text(["Revenue: $1.24M (+4.1%), costs $0.8M", "Margin: 61.8%"])
    expect(text.locator("strong")).to_have_text(["Margin"])
    expect(text).to_contain_text("End.")
    # rendermime sanitizes: no script, no event handler attributes, nothing ran.
    assert text.locator("script").count() == 0
    assert text.locator("[onerror]").count() == 0
    assert page.evaluate("() => window.__pennyXss") is None
    tools = page.locator(".penny-tool")
    expect(tools).to_have_count(2)
    expect(tools.locator(".penny-tool-name")).to_have_text(["get_company_kpis", "run_sql"])
    expect(tools.nth(0)).to_have_attribute("data-status", "ok")
    expect(tools.nth(0).locator(".penny-tool-duration")).to_have_text("12 ms")
    expect(tools.nth(0).locator(".penny-tool-params")).to_have_text("period=month")
    expect(tools.nth(1)).to_have_attribute("data-status", "failed")
    expect(tools.nth(1).locator(".penny-tool-duration")).to_have_text("1.5 s")
    expect(tools.nth(1).locator(".penny-tool-error")).to_have_text("query took too long")
    card = page.locator(".penny-artifact")
    expect(card).to_have_count(1)
    expect(card).to_contain_text("Company KPIs · Nov 2026")
    expect(page.locator(".penny-thread")).not_to_contain_text("LEAK")

    sent = [f for f in fake.frames if f["type"] == "message"]
    assert len(sent) == 1
    assert sent[0]["content"] == PROMPT
    assert sent[0]["conversationId"].startswith("conv_")
    assert sent[0]["clientMessageId"]
    page.screenshot(path=str(screenshots_dir / "sidebar-mocked.png"))


def test_input_disabled_when_socket_unreachable(page: Page, lab_server, screenshots_dir):
    attempts: list[int] = []

    def refuse(ws) -> None:
        attempts.append(1)
        ws.close(code=1011, reason="penny is down")

    page.route_web_socket(WS_PATTERN, refuse)
    open_lab(page, lab_server)
    open_penny_from_palette(page)

    status = page.locator(".penny-status")
    expect(status).to_have_attribute("data-state", re.compile("connecting|reconnecting|offline"))
    expect(page.locator(".penny-input")).to_be_disabled()
    expect(page.locator(".penny-send")).to_be_disabled()
    expect(page.locator(".penny-input-reason")).to_be_visible()
    # Backoff 0.5 s, 1 s, 2 s (with jitter): the third failure in a row reads "Offline".
    expect(status).to_have_attribute("data-state", "offline", timeout=15_000)
    expect(status).to_contain_text("Offline")
    expect(page.locator(".penny-input-reason")).to_contain_text("penny is down")
    assert len(attempts) >= 3, "it should keep retrying"
    page.locator(".penny-panel").screenshot(path=str(screenshots_dir / "sidebar-offline.png"))
