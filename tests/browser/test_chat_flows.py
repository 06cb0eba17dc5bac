"""Chat flows against the real server extension, in a real JupyterLab and a headless Chromium.

Each test gets a fresh browser context (see conftest `page`) and starts its own conversation,
so tests do not depend on each other's order; they share one `jupyter lab` server.
"""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

KPIS = "Show me company KPIs for this month"
DASHBOARDS = {
    "company-health": "open the company health dashboard",
    "sales-funnel": "open the sales funnel dashboard",
    "ops-incidents": "open the ops incidents dashboard",
    "finance-snapshot": "open the finance snapshot dashboard",
}
WS_PATTERN = re.compile(r"/penny/ws(\?|$)")

# Records, in the page, the longest assistant text seen while its message is still streaming.
STREAM_PROBE = """() => {
  window.__pennyStream = {maxStreamingText: 0, doneSeen: false};
  const thread = document.querySelector('.penny-thread');
  new MutationObserver(() => {
    for (const m of thread.querySelectorAll('.penny-message-assistant')) {
      if (m.dataset.streaming === 'true') {
        const n = (m.querySelector('.penny-text')?.innerText || '').trim().length;
        window.__pennyStream.maxStreamingText = Math.max(window.__pennyStream.maxStreamingText, n);
      }
    }
  }).observe(thread, {subtree: true, childList: true, characterData: true, attributes: true});
}"""

# Records every connection state the status line goes through.
STATE_PROBE = """() => {
  window.__pennyStates = [];
  const status = document.querySelector('.penny-status');
  new MutationObserver(() => window.__pennyStates.push(status.dataset.state))
    .observe(status, {attributes: true, attributeFilter: ['data-state']});
}"""


def _plain(markdown: str) -> list[str]:
    """The stored answer's lines as they read once rendered (Markdown marks removed)."""
    lines = []
    for line in markdown.splitlines():
        line = re.sub(r"^\s*([-*]|\d+\.)\s+", "", line)
        line = line.replace("**", "").replace("`", "").strip()
        if line:
            lines.append(line)
    return lines


def _text(locator) -> str:
    return re.sub(r"\s+", " ", locator.inner_text())


def _errors_without_noise(errors: list[str]) -> list[str]:
    # The browser reports the socket we close on purpose in the reconnect test; nothing else is noise.
    return [e for e in errors if "WebSocket" not in e]


def test_kpis_stream_tool_and_artifact(page: Page, penny):
    penny.open()
    penny.new_chat()
    page.evaluate(STREAM_PROBE)
    answer = penny.ask(KPIS)

    streamed = page.evaluate("() => window.__pennyStream.maxStreamingText")
    assert streamed > 0, "assistant text must show while the answer is still streaming"
    tool = answer.locator(".penny-tool")
    expect(tool).to_have_count(1)
    expect(tool).to_have_attribute("data-status", "ok")
    expect(tool.locator(".penny-tool-name")).to_have_text("KPIs · this month")
    expect(tool.locator(".penny-tool-status")).to_have_text("done")
    expect(tool.locator(".penny-tool-duration")).to_have_text(re.compile(r"^\d+(\.\d)? m?s$"))
    card = answer.locator(".penny-artifact")
    expect(card).to_have_count(1)
    expect(card).to_have_attribute("data-painted", "true")
    assert card.locator(".penny-metric").count() >= 4
    expect(answer).to_have_attribute("data-status", "complete")
    expect(answer.locator(".penny-text")).to_contain_text("Revenue")

    # Downloads: CSV and JSON from the server with the page's auth, PNG drawn from the preview.
    for fmt in ("csv", "json", "png"):
        with page.expect_download() as info:
            card.locator(f'[data-action="{fmt}"]').click()
        download = info.value
        assert download.suggested_filename.endswith(f".{fmt}"), download.suggested_filename
        data = open(download.path(), "rb").read()
        if fmt == "csv":
            assert data.decode().splitlines()[0].startswith("metric,"), data[:80]
        elif fmt == "json":
            assert json.loads(data)["id"] == card.get_attribute("data-artifact-id")
        else:
            assert data[:8] == b"\x89PNG\r\n\x1a\n"
    # Fullscreen: the full-size render in a main-area tab.
    card.locator('[data-action="fullscreen"]').click()
    full = page.locator(".jp-MainAreaWidget .penny-fullscreen")
    expect(full).to_be_visible()
    assert full.locator(".penny-metric").count() >= 4
    # Copy cell: the cell that shows it, for a notebook Insert cannot reach (the answer never teaches it).
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=penny.server.url.rstrip("/"))
    card.locator('[data-action="copy-cell"]').click()
    expect(card.locator('[data-action="copy-cell"]')).to_have_text("Copied")
    assert page.evaluate("() => navigator.clipboard.readText()") == f"%penny show {card.get_attribute('data-artifact-id')}"
    assert "%penny" not in answer.locator(".penny-text").inner_text()
    assert not page.penny_errors, page.penny_errors


def test_four_dashboards_preview_cleanly(page: Page, penny, screenshots_dir):
    penny.open()
    penny.widen(480)
    penny.new_chat()
    for slug, prompt in DASHBOARDS.items():
        answer = penny.ask(prompt)
        expect(answer.locator(".penny-tool")).to_have_attribute("data-status", "ok")
        card = answer.locator(".penny-artifact")
        expect(card).to_have_count(1)
        expect(card).to_have_attribute("data-painted", "true", timeout=30_000)
        expect(card.locator(".penny-artifact-preview-error")).to_have_count(0)
        assert card.locator(".penny-artifact-view").count() == 1, slug
    assert not page.penny_errors, page.penny_errors
    # Light theme, with the company health preview in view.
    first = page.locator(".penny-message-assistant").first
    first.evaluate("(a) => { const t = a.closest('.penny-thread'); t.scrollTop = a.offsetTop - t.offsetTop - 8; }")
    page.wait_for_timeout(300)
    page.screenshot(path=str(screenshots_dir / "sidebar-light.png"))


ANALYST_QUESTIONS = {
    "revenue by month this year": ("query_metric", ".js-plotly-plot"),
    "churn by region last quarter": ("query_metric", ".js-plotly-plot"),
    "top 10 customers by ARR": ("query_metric", ".js-plotly-plot"),
    "SELECT region, count(*) AS customers FROM customers GROUP BY region": ("run_sql", ".penny-table"),
}


def test_analyst_questions_preview_their_artifacts(page: Page, penny, screenshots_dir):
    penny.open()
    penny.widen(480)
    penny.new_chat()
    for prompt, (tool, hook) in ANALYST_QUESTIONS.items():
        answer = penny.ask(prompt)
        expect(answer.locator(".penny-tool").first).to_have_attribute("data-tool", tool)
        expect(answer.locator(".penny-tool").first).to_have_attribute("data-status", "ok")
        card = answer.locator(".penny-artifact").first
        expect(card).to_have_attribute("data-painted", "true", timeout=30_000)
        expect(card.locator(hook).first).to_be_visible()
        if prompt == "revenue by month this year":  # the month so far is its own dotted segment, not a cliff
            expect(answer).to_contain_text("so far is")
            card.screenshot(path=str(screenshots_dir / "chart-partial-month.png"))
    assert not page.penny_errors, page.penny_errors
    page.screenshot(path=str(screenshots_dir / "sidebar-analyst.png"))


def test_reconnect_after_server_drop_shows_everything_once(page: Page, penny):
    connections = {"n": 0}

    def proxy(ws) -> None:
        connections["n"] += 1
        state = {"dropped": False}
        server = ws.connect_to_server()

        def to_server(message) -> None:
            server.send(message)

        def to_page(message) -> None:
            if state["dropped"]:
                return
            ws.send(message)
            if armed["on"] and not state["dropped"] and '"assistant.delta"' in message:
                # The server "drops" the socket mid-answer: the page sees an abnormal close.
                state["dropped"] = True
                armed["on"] = False
                ws.close(code=1011, reason="server went away")
                server.close()

        ws.on_message(to_server)
        server.on_message(to_page)

    armed = {"on": False}
    page.route_web_socket(WS_PATTERN, proxy)
    penny.open()
    cid = penny.new_chat()
    page.evaluate(STATE_PROBE)
    armed["on"] = True
    penny.send(KPIS)

    status = page.locator(".penny-status")
    page.wait_for_function("() => window.__pennyStates.includes('reconnecting')", timeout=15_000)
    expect(status).to_have_attribute("data-state", "connected", timeout=30_000)
    assert connections["n"] >= 2
    penny.wait_idle()

    code, body = penny.rest(f"conversations/{cid}/messages")
    assert code == 200
    stored = [m for m in body["messages"] if m["role"] == "assistant"]
    assert len(stored) == 1
    thread = page.locator(".penny-thread")
    expect(thread.locator(".penny-message-user")).to_have_count(1)
    expect(thread.locator(".penny-message-assistant")).to_have_count(1)
    expect(thread.locator(".penny-tool")).to_have_count(1)
    expect(thread.locator(".penny-artifact")).to_have_count(1)
    shown = _text(thread.locator(".penny-message-assistant .penny-text"))
    for line in _plain(stored[0]["content"]):
        assert shown.count(re.sub(r"\s+", " ", line)) == 1, f"{line!r} not once in {shown!r}"
    assert not _errors_without_noise(page.penny_errors), page.penny_errors


def test_reload_keeps_conversations_and_thread(page: Page, penny):
    penny.open()
    cid = penny.new_chat()
    penny.ask(KPIS)
    title = page.locator(".penny-conversation.penny-mod-active .penny-conversation-title")
    expect(title).to_have_text(KPIS)
    artifact_id = page.locator(".penny-artifact").get_attribute("data-artifact-id")

    penny.open(reset=False)  # a reload: same browser context, same localStorage
    expect(page.locator(".penny-conversation.penny-mod-active")).to_have_attribute("data-conversation-id", cid)
    expect(page.locator(f'.penny-conversation[data-conversation-id="{cid}"] .penny-conversation-title')).to_have_text(KPIS)
    thread = page.locator(".penny-thread")
    expect(thread.locator(".penny-message-user")).to_have_count(1)
    expect(thread.locator(".penny-message-user")).to_contain_text(KPIS)
    expect(thread.locator(".penny-message-assistant")).to_have_count(1)
    expect(thread.locator(".penny-message-assistant")).to_have_attribute("data-status", "complete")
    expect(thread.locator(".penny-tool")).to_have_count(1)
    expect(thread.locator(".penny-tool")).to_have_attribute("data-status", "ok")
    expect(thread.locator(".penny-artifact")).to_have_count(1)
    expect(thread.locator(".penny-artifact")).to_have_attribute("data-artifact-id", artifact_id)
    expect(thread.locator(".penny-artifact")).to_have_attribute("data-painted", "true")
    assert not page.penny_errors, page.penny_errors


def test_rename_and_delete_conversation(page: Page, penny):
    penny.open()
    cid = penny.new_chat()
    penny.ask("hello")
    row = page.locator(f'.penny-conversation[data-conversation-id="{cid}"]')
    expect(row).not_to_have_attribute("data-draft", "true")

    row.locator(".penny-conversation-rename").click()
    dialog = page.locator(".jp-Dialog")
    dialog.locator("input").fill("Board prep")
    dialog.locator(".jp-mod-accept").click()
    expect(row.locator(".penny-conversation-title")).to_have_text("Board prep")
    code, conv = penny.rest(f"conversations/{cid}")
    assert (code, conv["title"]) == (200, "Board prep")

    row.locator(".penny-conversation-delete").click()
    page.locator(".jp-Dialog .jp-mod-accept").click()
    expect(row).to_have_count(0)
    code, _ = penny.rest(f"conversations/{cid}")
    assert code == 404
    # Another conversation (or a fresh draft) is active, and its thread is not the deleted one.
    expect(page.locator(".penny-conversation.penny-mod-active")).to_have_count(1)
    assert penny.conversation_id() != cid
    assert not page.penny_errors, page.penny_errors


def test_stop_ends_the_turn(page: Page, penny):
    penny.open()
    cid = penny.new_chat()
    stop = page.locator(".penny-stop")
    expect(stop).to_be_hidden()
    # Send and press Stop in the same task: a warm KPI turn takes a few tens of ms, faster than a
    # Playwright round trip, so a separate click would often find the turn already over.
    page.evaluate("""(text) => {
        const box = document.querySelector('.penny-input');
        box.value = text;
        box.dispatchEvent(new KeyboardEvent('keydown', {key: 'Enter', bubbles: true, cancelable: true}));
        const stop = document.querySelector('.penny-stop');
        if (stop.hidden) throw new Error('Stop is not offered while the answer runs');
        if (!document.querySelector('.penny-send').hidden) throw new Error('Stop takes the place of Send');
        stop.click();
    }""", KPIS)
    answer = page.locator(".penny-message-assistant").last
    expect(answer).to_have_attribute("data-status", re.compile("cancelled|complete"), timeout=60_000)
    expect(stop).to_be_hidden()
    expect(page.locator(".penny-send")).to_be_visible()
    expect(page.locator(".penny-typing")).to_have_count(0)
    box = page.locator(".penny-input")
    expect(box).to_be_enabled()
    expect(box).to_have_value("")
    # Usable again: the next question gets a whole answer.
    nxt = penny.ask("hello")
    expect(nxt).to_have_attribute("data-status", "complete")
    code, body = penny.rest(f"conversations/{cid}/messages")
    assert code == 200 and body["messages"][1]["status"] in ("cancelled", "complete")
    assert not page.penny_errors, page.penny_errors


def test_dark_theme_screenshot(page: Page, penny, screenshots_dir):
    penny.open()
    page.evaluate("() => window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Dark'})")
    expect(page.locator("body")).to_have_attribute("data-jp-theme-light", "false", timeout=30_000)
    penny.new_chat()
    answer = penny.ask(KPIS)
    expect(answer.locator(".penny-artifact")).to_have_attribute("data-painted", "true")
    penny.widen(480)
    # Show the answer from its start: text, tool card and the top of the preview.
    answer.evaluate("(a) => { const t = a.closest('.penny-thread'); t.scrollTop = a.offsetTop - t.offsetTop - 8; }")
    page.wait_for_timeout(300)
    page.screenshot(path=str(screenshots_dir / "sidebar-dark.png"))
    # Back to light for whoever reuses the workspace settings.
    page.evaluate("() => window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Light'})")
    expect(page.locator("body")).to_have_attribute("data-jp-theme-light", "true", timeout=30_000)
    assert not page.penny_errors, page.penny_errors


def _wait_kernel_idle(page: Page) -> None:
    expect(page.locator("#jp-main-statusbar")).to_contain_text("Idle", timeout=120_000)


def test_insert_into_notebook_runs_the_widget(page: Page, penny, lab_server, screenshots_dir):
    penny.open()
    assert page.evaluate("() => window.jupyterapp.shell.currentWidget?.constructor?.name") != "NotebookPanel"
    penny.new_chat()
    card = penny.ask(KPIS).locator(".penny-artifact")
    artifact_id = card.get_attribute("data-artifact-id")
    card.locator('[data-action="insert"]').click()

    notebook = page.locator(".jp-NotebookPanel:visible")
    expect(notebook).to_have_count(1, timeout=60_000)
    _wait_kernel_idle(page)
    cell = notebook.locator(".jp-CodeCell").filter(has_text=f"%penny show {artifact_id}")
    expect(cell).to_have_count(1)
    expect(cell.locator(".jp-InputArea-prompt")).to_have_text(re.compile(r"\[\d+\]"), timeout=120_000)
    widget = cell.locator(".jp-OutputArea .penny-output")
    expect(widget).to_have_count(1, timeout=60_000)
    expect(widget.locator(".penny-metric").nth(3)).to_be_visible(timeout=30_000)

    # A dashboard with charts, inserted below into the same notebook.
    answer = penny.ask(DASHBOARDS["company-health"])
    health = answer.locator(".penny-artifact")
    health_id = health.get_attribute("data-artifact-id")
    health.locator('[data-action="insert"]').click()
    cell2 = notebook.locator(".jp-CodeCell").filter(has_text=f"%penny show {health_id}")
    expect(cell2).to_have_count(1)
    widget2 = cell2.locator(".jp-OutputArea .penny-output")
    expect(widget2.locator(".js-plotly-plot").first).to_be_visible(timeout=60_000)
    widget2.locator(".js-plotly-plot").first.scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    page.screenshot(path=str(screenshots_dir / "notebook-widget.png"))

    # Refresh makes version 2 of the artifact and the widget says so.
    version = widget.locator(".penny-output-version")
    expect(version).to_have_text("v1")
    widget.locator(".penny-output-refresh").click()
    expect(version).to_have_text("v2", timeout=60_000)
    code, art = penny.rest(f"artifacts/{artifact_id}")
    assert code == 200 and art["version"] == 2
    # The refreshed output is what the notebook saves: version 2 live, and its static copy with it.
    path = page.evaluate("() => window.jupyterapp.shell.currentWidget.context.path")
    # The document's own save: the menu's would first ask to rename an Untitled notebook.
    page.evaluate("async () => { await window.jupyterapp.shell.currentWidget.context.save(); }")
    saved = json.loads((lab_server.root_dir / path).read_text())
    bundle = next(o["data"] for c in saved["cells"] if f"%penny show {artifact_id}" in "".join(c["source"])
                  for o in c.get("outputs", []) if "application/vnd.penny.artifact+json" in o.get("data", {}))
    assert bundle["application/vnd.penny.artifact+json"]["version"] == 2
    assert art["title"] in "".join(bundle["text/html"])  # nbformat may store text as a list of lines
    assert not page.penny_errors, json.dumps(page.penny_errors)
