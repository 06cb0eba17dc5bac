"""A fresh JupyterLab pointed at a real LLM the way the README says (`make model`, then the two settings
`model = "openai:..."` and `openai_base_url`): the seed's request in the sidebar is answered by the model,
through its get_company_kpis call, with the dashboard drawn and no raw call or bookkeeping shown."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import PennyUI, start_lab

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def real_model_lab(tmp_path_factory, llm_server):
    config = {"model": f"openai:{llm_server.model}", "openai_base_url": llm_server.base_url,
              "openai_timeout": 180.0, "fallback_to_builtin": False}
    with start_lab(tmp_path_factory.mktemp("lab-real-model"), config) as server:
        yield server


def test_the_seed_request_answered_by_a_real_model_in_the_sidebar(page: Page, real_model_lab, llm_server,
                                                                   screenshots_dir):
    penny = PennyUI(page, real_model_lab)
    penny.open()
    penny.widen(520)
    # The picker's default is the configured model, named as the server knows it.
    expect(page.locator(".penny-model-select option:checked")).to_contain_text(
        f"Default: {llm_server.model} (OpenAI-compatible)", timeout=30_000)
    answer = penny.ask("Show me company KPIs for this month", timeout=300_000)
    expect(answer).to_have_attribute("data-status", "complete")
    tool = answer.locator(".penny-tool").first
    expect(tool).to_have_attribute("data-tool", "get_company_kpis")
    expect(tool).to_have_attribute("data-status", "ok")
    expect(answer.locator(".penny-artifact").first).to_have_attribute("data-painted", "true", timeout=60_000)
    text = answer.inner_text()
    assert '"name"' not in text and "data: {" not in text and "<tool_call>" not in text
    _, messages = penny.rest(f"conversations/{penny.conversation_id()}/messages")
    last = messages["messages"][-1]
    assert last["meta"]["model"] == f"openai:{llm_server.model}"
    assert not page.penny_errors, page.penny_errors
    page.screenshot(path=str(screenshots_dir / "sidebar-real-model.png"))
