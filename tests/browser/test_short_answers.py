"""What the sidebar says when Penny will not act, against the real server and built-in router: a greeting is
greeted, a "why" question gets breakdowns to click, nonsense gets a short line and example buttons, and SQL that
writes is refused in words ("read-only"), never with the generic help or a tool's name."""

from __future__ import annotations

from playwright.sync_api import Page, expect


def test_greeting_why_and_nonsense_get_short_replies_with_buttons(page: Page, penny, screenshots_dir):
    penny.open()
    penny.widen(480)
    penny.new_chat()
    hello = penny.ask("hello")
    expect(hello).to_contain_text("Hello!")
    expect(hello.locator(".penny-suggestion")).to_have_count(3)
    assert len(hello.inner_text()) < 300, "a greeting is greeted, not answered with the manual"

    why = penny.ask("why did revenue drop?")
    expect(why).to_contain_text("cannot say why")
    buttons = why.locator(".penny-suggestion")
    expect(buttons).to_have_count(3)
    expect(buttons.first).to_contain_text("revenue by region")
    page.screenshot(path=str(screenshots_dir / "sidebar-why.png"))
    buttons.first.click()  # a button is a request: it runs
    answer = page.locator(".penny-message-assistant").last
    expect(answer.locator(".penny-artifact").first).to_be_visible(timeout=60_000)

    nonsense = penny.ask("asdfgh")
    expect(nonsense).to_contain_text("can't answer that one yet")
    expect(nonsense.locator(".penny-suggestion")).to_have_count(4)
    assert len(nonsense.inner_text()) < 400, "no wall of text"
    assert not page.penny_errors, page.penny_errors


def test_sql_that_writes_is_refused_in_words(page: Page, penny, screenshots_dir):
    penny.open()
    penny.widen(480)
    penny.new_chat()
    answer = penny.ask("DROP TABLE customers")
    expect(answer).to_contain_text("Penny only runs read-only queries")
    text = answer.inner_text()
    assert "can't answer that one yet" not in text and "run_sql failed" not in text
    page.screenshot(path=str(screenshots_dir / "sidebar-drop-table.png"))


def test_errors_are_said_once_on_the_card_at_the_right_line(page: Page, penny, screenshots_dir):
    penny.open()
    penny.widen(480)
    penny.new_chat()
    sql = penny.ask("SELECT nope FROM customers")
    card = sql.locator(".penny-tool")
    expect(card).to_have_attribute("data-status", "failed")
    expect(card.locator(".penny-tool-name")).to_have_text("SQL query")
    expect(card.locator(".penny-tool-params")).to_have_text("SELECT nope FROM customers")
    # the whole error on the card, its "<table>" as text; the answer only points at it
    expect(card.locator(".penny-tool-error")).to_contain_text("DESCRIBE <table> list the tables")
    expect(sql.locator(".penny-text")).to_contain_text("The query did not work; the error is above.")
    assert "nope" not in sql.locator(".penny-text").inner_text()

    code = penny.ask("```python\nprint('before')\nx = 1\nx / 0\n```")
    card = code.locator(".penny-tool")
    expect(card).to_have_attribute("data-status", "failed")
    expect(card.locator(".penny-tool-status")).to_have_text("failed")
    expect(card.locator(".penny-tool-error")).to_have_text(
        "Line 3 raised ZeroDivisionError: division by zero. Fix the code and run it again.")
    expect(code.locator(".penny-text")).to_contain_text("The code did not work; the error is above.")
    assert "ZeroDivisionError" not in code.locator(".penny-text").inner_text()
    sql.scroll_into_view_if_needed()
    page.screenshot(path=str(screenshots_dir / "sidebar-errors.png"))
    assert not page.penny_errors, page.penny_errors
