"""The tenant admin panel in a real JupyterLab and Chromium, as the single-user server's owner (an admin): it
opens from the sidebar's Admin button and from the command palette's command, and shows the users, the
usage of the tool just called, the audit chain badge, the data source answering and the model. Screenshots
in light and dark (tests/browser/screenshots/admin-panel*.png)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

PANEL = ".penny-admin"


def _calls(penny) -> None:
    """A few tool calls as the owner: two that work and one refused for its params (an error)."""
    for params in ({}, {"period": "QTD"}, {"period": "XTD"}):
        penny.rest("tools/get_company_kpis/execute", "POST", {"params": params})


def _tool_row(page: Page, tool: str):
    by_tool = page.locator(f"{PANEL} .penny-admin-section", has=page.locator("h3", has_text="By tool"))
    return by_tool.locator("tr", has=page.locator("td", has_text=re.compile(f"^{tool}$")))


def test_the_admin_panel_shows_the_tenant(page: Page, penny, screenshots_dir):
    _calls(penny)
    page.set_viewport_size({"width": 1440, "height": 900})
    penny.open()

    button = page.locator(".penny-panel .penny-header .penny-admin-open")  # the owner is an admin
    expect(button).to_be_visible()
    button.click()
    panel = page.locator(PANEL)
    expect(panel).to_have_attribute("data-state", "ready", timeout=30_000)
    expect(page.locator(".lm-TabBar-tab.jp-mod-current")).to_contain_text("Penny admin")
    expect(panel.locator(".penny-admin-title")).to_have_text("Penny admin · tenant demo")

    users = panel.locator(".penny-admin-users tbody tr")
    expect(users.first).to_contain_text("owner")
    expect(users.first.locator(".penny-admin-badge")).to_have_text(["admin", "member"])

    row = _tool_row(page, "get_company_kpis")
    expect(row).to_have_count(1)
    calls, errors = (int(row.locator("td").nth(i).inner_text()) for i in (1, 2))
    assert calls >= 3 and errors >= 1

    expect(panel.locator(".penny-admin-chain .penny-admin-chain-badge")).to_have_text("✓ chain verified")
    expect(panel.locator(".penny-admin-audit .penny-admin-chain-badge")).to_have_text("✓ chain verified")
    expect(panel.locator(".penny-admin-audit tbody tr").first).to_contain_text("get_company_kpis")
    source = panel.locator(".penny-admin-source")
    expect(source).to_have_attribute("data-ok", "true")
    expect(source).to_contain_text("warehouse")
    expect(source.locator(".penny-admin-detail")).to_contain_text("Answered a test query")
    expect(panel.locator(".penny-admin-model .penny-admin-big")).to_have_text("builtin")

    # 30 days of bars (today's has calls in it), drawn at the section's width
    chart = panel.locator(".penny-admin-chart svg")
    expect(chart.locator("g.penny-admin-day")).to_have_count(30)
    assert chart.locator("g.penny-admin-day").last.locator("rect.penny-admin-ok").count() == 1
    svg_width = float(chart.get_attribute("width"))
    assert abs(svg_width - panel.locator(".penny-admin-chart").bounding_box()["width"]) < 2

    page.wait_for_timeout(300)
    page.screenshot(path=str(screenshots_dir / "admin-panel.png"))

    # the command (in the palette) reopens the same tab, refreshed: the new call is counted
    assert page.evaluate("() => window.jupyterapp.commands.label('penny:open-admin')") == "Penny: Open admin panel"
    penny.rest("tools/get_company_kpis/execute", "POST", {"params": {}})
    page.evaluate("() => window.jupyterapp.commands.execute('penny:open-admin')")
    expect(row.locator("td").nth(1)).to_have_text(str(calls + 1))
    expect(page.locator(PANEL)).to_have_count(1)
    assert not page.penny_errors, page.penny_errors


def test_the_admin_panel_in_the_dark_theme(page: Page, penny, screenshots_dir):
    _calls(penny)
    page.set_viewport_size({"width": 1440, "height": 900})
    penny.open()
    page.evaluate("() => window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Dark'})")
    try:
        expect(page.locator("body")).to_have_attribute("data-jp-theme-light", "false", timeout=30_000)
        page.evaluate("() => window.jupyterapp.commands.execute('penny:open-admin')")
        panel = page.locator(PANEL)
        expect(panel).to_have_attribute("data-state", "ready", timeout=30_000)
        expect(panel.locator(".penny-admin-chain .penny-admin-chain-badge")).to_have_text("✓ chain verified")
        # the theme's colours, not light ones: the panel is dark and its text light
        background, color = panel.evaluate(
            "(n) => [getComputedStyle(n).backgroundColor, getComputedStyle(n).color]")
        assert _luma(background) < 0.3 < 0.6 < _luma(color), (background, color)
        page.wait_for_timeout(300)
        page.screenshot(path=str(screenshots_dir / "admin-panel-dark.png"))
    finally:
        page.evaluate("() => window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Light'})")
        expect(page.locator("body")).to_have_attribute("data-jp-theme-light", "true", timeout=30_000)
    assert not page.penny_errors, page.penny_errors


def _luma(css: str) -> float:
    r, g, b = (int(v) for v in re.findall(r"\d+", css)[:3])
    return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255
