"""What jupyter-ai users expect of a chat, in Penny's sidebar: a time on every message, Copy, Insert and
Regenerate on answers, a settings gear, and a search over conversations."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

HHMM = re.compile(r"^\d{1,2}:\d{2}( ?[AP]M)?$")


def test_answers_have_a_time_copy_insert_and_regenerate(page: Page, penny, lab_server, screenshots_dir):
    page.set_viewport_size({"width": 1400, "height": 900})
    penny.open()
    penny.new_chat()
    penny.ask("revenue by region this quarter")
    penny.ask("hello")
    # (penny.ask hands back `.last`, which moves on: pin each answer by its place)
    first, second = page.locator(".penny-message-assistant").nth(0), page.locator(".penny-message-assistant").nth(1)
    # Who wrote it and when, on every message.
    for message in page.locator(".penny-message").all():
        expect(message.locator(".penny-role .penny-time")).to_have_text(HHMM)
    assert page.locator(".penny-message-user .penny-role").first.inner_text().startswith("You")
    assert first.locator(".penny-role").inner_text().startswith("Penny")

    # Regenerate only under the latest answer: it asks the same question again.
    expect(page.locator(".penny-answer-regenerate")).to_have_count(1)
    expect(second.locator(".penny-answer-regenerate")).to_have_count(1)
    before = page.locator(".penny-message-assistant").count()
    second.locator(".penny-answer-regenerate").click()
    expect(second.locator(".penny-answer-regenerate")).to_have_count(0, timeout=30_000)  # moved to the new answer
    expect(page.locator(".penny-message-assistant")).to_have_count(before + 1)
    penny.wait_idle()
    expect(page.locator(".penny-message-user").last).to_have_text(re.compile("hello"))

    # Copy: the answer's Markdown on the clipboard.
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=lab_server.url.rstrip("/"))
    first.locator(".penny-answer-copy").click()
    copied = page.evaluate("() => navigator.clipboard.readText()")
    assert "Revenue" in copied and "**" in copied, copied

    penny.widen(480)
    first.scroll_into_view_if_needed()
    page.screenshot(path=str(screenshots_dir / "sidebar-answer-actions.png"))

    # Insert: the answer becomes a rendered Markdown cell in a notebook.
    first.locator(".penny-answer-insert").click()
    notebook = page.locator(".jp-NotebookPanel:visible")
    expect(notebook).to_have_count(1, timeout=60_000)
    cell = notebook.locator(".jp-MarkdownCell").first
    expect(cell.locator(".jp-RenderedMarkdown")).to_contain_text("Revenue", timeout=30_000)
    assert not page.penny_errors, page.penny_errors


IN_VIEW = """() => {
  const row = document.querySelector('.penny-conversation.penny-mod-active');
  if (!row) return false;
  const list = row.closest('.penny-conversations').getBoundingClientRect();
  const r = row.getBoundingClientRect();
  return r.top >= list.top - 1 && r.bottom <= list.bottom + 1;
}"""


def test_conversations_search_reload_into_view_and_the_gear(page: Page, penny):
    """More conversations than the list's four rows: a search box filters them; the one being read comes back
    after a reload (a new chat too) and is scrolled into view; the gear opens Penny's settings."""
    penny.open()
    oldest = penny.new_chat()
    penny.ask("```python\nprint(6 * 7)\n```")
    row = page.locator(f'.penny-conversation[data-conversation-id="{oldest}"]')
    expect(row.locator(".penny-conversation-title")).to_have_text("Python: print(6 * 7)")  # not "```python"
    for i in range(4):
        penny.new_chat()
        penny.ask(f"hello number {i}")
    newest = penny.conversation_id()
    penny.open(reset=False)  # a reload right after a new chat comes back to that chat, not the one before
    expect(page.locator(".penny-conversation.penny-mod-active")).to_have_attribute("data-conversation-id", newest)

    search = page.locator(".penny-conversation-search")
    expect(search).to_be_visible()
    search.fill("number 2")
    rows = page.locator(".penny-conversation")
    expect(rows.filter(has_text="hello number 2")).to_have_count(1)
    expect(rows.filter(has_text="hello number 1")).to_have_count(0)
    expect(rows.filter(has_text="hello number 3")).to_have_count(1)  # the open one stays listed
    search.fill("")
    expect(rows.filter(has_text="hello number 1")).to_have_count(1)

    row.locator(".penny-conversation-title").click()  # the oldest, below the four rows
    expect(row).to_have_class(re.compile("penny-mod-active"))
    penny.open(reset=False)
    expect(page.locator(".penny-conversation.penny-mod-active")).to_have_attribute("data-conversation-id", oldest)
    page.wait_for_function(IN_VIEW, timeout=10_000)

    page.locator(".penny-settings").click()
    editor = page.locator(".jp-SettingsPanel, .jp-SettingEditor").first
    expect(editor).to_be_visible(timeout=30_000)
    expect(page.locator(".jp-PluginList").get_by_text("Penny").first).to_be_visible()
    assert not page.penny_errors, page.penny_errors


def test_a_question_can_carry_the_active_notebook_cell(page: Page, penny, screenshots_dir):
    sql = "SELECT region, count(*) AS customers FROM customers GROUP BY region ORDER BY region"
    penny.open()
    penny.widen(480)
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:create-new', {kernelName: 'python3'})")
    expect(page.locator(".jp-NotebookPanel:visible .jp-Cell")).to_have_count(1, timeout=60_000)
    page.evaluate("(sql) => window.jupyterapp.shell.currentWidget.content.activeCell.model.sharedModel.setSource(sql)",
                  sql)
    penny.new_chat()
    page.locator(".penny-input").focus()
    toggle = page.locator(".penny-context")
    expect(toggle).to_be_visible()
    expect(toggle).to_contain_text(re.compile(r"Ask about Untitled\d*\.ipynb, cell 1"))
    page.locator(".penny-context-toggle").check()
    answer = penny.ask("run this")
    card = answer.locator(".penny-tool")
    expect(card).to_have_attribute("data-tool", "run_sql")
    expect(card.locator(".penny-tool-params")).to_have_text(sql)
    expect(page.locator(".penny-message-user").last.locator(".penny-attached")).to_contain_text("cell 1")
    page.screenshot(path=str(screenshots_dir / "sidebar-cell-context.png"))
    # Stored with the question: after a reload the message still says a cell went with it.
    penny.open(reset=False)
    expect(page.locator(".penny-message-user").last.locator(".penny-attached")).to_have_text("+ a notebook cell")
    assert not page.penny_errors, page.penny_errors
