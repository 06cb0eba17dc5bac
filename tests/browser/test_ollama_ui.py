"""The sidebar pointed at an Ollama server (the fake one, speaking Ollama's HTTP API): pick the model
for a conversation, and the model's streamed answer and its tool call show up like the router's."""

from __future__ import annotations

from playwright.sync_api import Page, expect


def test_the_sidebar_streams_an_ollama_answer_and_its_tool_call(page: Page, penny, browser_ollama, screenshots_dir):
    penny.open()
    penny.widen(480)
    penny.new_chat()
    picker = page.locator(".penny-model-select")
    option = picker.locator("option[value^='ollama:llama3.2']")  # Ollama lists it as llama3.2:latest
    expect(option).to_have_count(1, timeout=30_000)
    picker.select_option(option.get_attribute("value"))

    browser_ollama.script.clear()
    browser_ollama.reply(tool=("get_company_kpis", {"period": "MTD", "unit": "company"}))
    browser_ollama.reply("Revenue is up ", "this month, ", "and churn is down.", every=0.05)
    answer = penny.ask("How is the business doing?")

    expect(answer).to_contain_text("Revenue is up this month, and churn is down.")
    tool = answer.locator(".penny-tool").first
    expect(tool).to_have_attribute("data-tool", "get_company_kpis")
    expect(tool.locator(".penny-tool-name")).to_have_text("KPIs · this month")
    expect(tool).to_have_attribute("data-status", "ok")
    expect(answer.locator(".penny-artifact").first).to_have_attribute("data-painted", "true", timeout=30_000)

    sent = [r for r in browser_ollama.requests if r.get("messages")]
    assert sent and sent[0]["model"].startswith("llama3.2")
    assert any(t["function"]["name"] == "get_company_kpis" for t in sent[0].get("tools", []))
    # the tool's result went back to the model before it answered
    assert any(m.get("role") == "tool" for m in sent[-1]["messages"])
    assert not page.penny_errors, page.penny_errors
    page.screenshot(path=str(screenshots_dir / "sidebar-ollama.png"))
