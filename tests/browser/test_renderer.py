"""The artifact renderer (labextension/src/renderer) in a real JupyterLab + headless Chromium.

Renders the four demo dashboards (fetched over REST from the real server extension) and one hand-built
artifact of every other type through `window.PennyJupyter.renderArtifact` (installed by the sidebar
plugin), at sidebar width (320 px, compact) and notebook width (900 px), and checks the stable DOM hooks,
table sorting, the metric colour rule, that SVG images never run script, that nothing logs a console
error, and takes screenshots (tests/browser/screenshots/renderer-*.png), one set in the dark theme.
"""

from __future__ import annotations

import base64
import json
import struct
import urllib.request
import zlib

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

DASHBOARDS = ("company-health", "sales-funnel", "ops-incidents", "finance-snapshot")
WIDTHS = (320, 900)

# Render into a fixed host over the lab shell; `compact` at sidebar width. Returns facts the tests check.
RENDER_JS = """async ([artifact, width, compact, hostId]) => {
  document.getElementById(hostId)?.remove();
  const host = document.createElement('div');
  host.id = hostId;
  host.className = 'penny-test-host';
  host.style.cssText = `position:fixed;top:0;left:0;width:${width}px;z-index:100000;padding:8px;` +
    'box-sizing:border-box;background:var(--jp-layout-color0)';
  document.body.appendChild(host);
  const P = window.PennyJupyter;
  // The global passes the app's rendermime itself (markdown, highlighting) unless options override it.
  const view = P.renderArtifact(host, artifact, { compact, onInsertCode: code => { window.__pennyInserted = code; } });
  window.__pennyViews = window.__pennyViews || {};
  window.__pennyViews[hostId] = view;
  await view.painted;
  const root = host.querySelector('.penny-artifact-view');
  const m = performance.getEntriesByName('penny:render:' + artifact.id, 'measure');
  return {
    type: root.dataset.type, painted: root.dataset.painted,
    overflow: root.scrollWidth - root.clientWidth,
    measured: m.length > 0,
  };
}"""


def _get_artifacts(lab_server, slug: str) -> dict:
    req = urllib.request.Request(
        f"{lab_server.url}penny/api/tools/load_dashboard/execute", method="POST",
        data=json.dumps({"params": {"slug": slug}}).encode(),
        headers={"Authorization": f"token {lab_server.token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=300) as r:
        body = json.loads(r.read())
    return next(a for a in body["artifacts"] if a["type"] == "dashboard")


def _png(width: int = 48, height: int = 24) -> str:
    """A small real PNG (a horizontal gradient), base64."""
    raw = b"".join(b"\x00" + bytes(c for x in range(width) for c in (x * 5 % 256, 120, 200)) for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    return base64.b64encode(png).decode()


def _art(id_: str, type_: str, title: str, spec) -> dict:
    return {"id": id_, "tenant": "demo", "type": type_, "title": title, "version": 1, "spec": spec,
            "createdAt": "2026-11-18T10:00:00Z", "source": {"tool": "test", "params": {}}}


HAND_BUILT = {
    "table": _art("art_test_table", "table", "Top customers", {
        "columns": [{"key": "name", "label": "Customer", "format": "text"},
                    {"key": "mrr", "label": "MRR", "format": "currency_compact"},
                    {"key": "seats", "label": "Seats", "format": "integer"}],
        "rows": [{"name": "Cedar", "mrr": 12000, "seats": 40}, {"name": "Aspen", "mrr": 56000, "seats": 9},
                 {"name": "Birch", "mrr": 3400, "seats": None}, {"name": "Dogwood", "mrr": 150000, "seats": 310},
                 {"name": "Elm", "mrr": 800, "seats": 2}, {"name": "Fir", "mrr": 22000, "seats": 75},
                 {"name": "Gum", "mrr": 9100, "seats": 18}]}),
    "document": _art("art_test_doc", "document", "Weekly summary", {
        "markdown": "## Highlights\n\n- Revenue is **up 3.8%**\n- Churn fell to *$2.6K*\n\n"
                    "<script>window.__pennyXss=3</script>\n\n| Region | Revenue |\n|---|---:|\n| NA | $588K |\n"}),
    "code": _art("art_test_code", "code", "Revenue by region (SQL)", {
        "language": "python", "code": "import pandas as pd\n\ndf = penny.sql(\"select region, sum(amount) from "
                                      "revenue group by 1\")\ndf.plot.bar()  # ``` fences are fine\n"}),
    "image": _art("art_test_image", "image", "Logo (PNG)", {"mime": "image/png", "data": _png(), "alt": "gradient"}),
    "svg": _art("art_test_svg", "image", "Badge (SVG)", {
        "mime": "image/svg+xml",
        "data": "<svg xmlns='http://www.w3.org/2000/svg' width='120' height='40'><script>window.__pennyXss=2"
                "</script><rect width='120' height='40' rx='6' fill='#1976d2'/><text x='60' y='26' fill='white' "
                "text-anchor='middle' font-family='sans-serif'>penny</text></svg>"}),
    "chart": _art("art_test_chart", "chart", "Spend by department", {
        "kind": "pie", "title": "Spend by department",
        "figure": {"data": [{"type": "pie", "labels": ["Engineering", "Sales", "Marketing", "G&A"],
                             "values": [480, 210, 160, 90], "hole": 0.45}],
                   "layout": {"title": {"text": "Spend by department"}}}}),
    "metrics": _art("art_test_metrics", "dashboard", "Metric colour rule", {"layout": "grid", "widgets": [
        {"type": "metric", "name": "revenue", "label": "Revenue", "value": 110, "formatted": "$110", "change": 10,
         "change_pct": 10, "formatted_change": "▲ 10.0%", "up_is_good": True, "unit": "currency",
         "format": "currency_compact", "sparkline": [1, 2, None, 3, 5], "comparison": "last month"},
        {"type": "metric", "name": "churn", "label": "Churn", "value": 5, "formatted": "$5", "change": -3,
         "change_pct": -37.5, "formatted_change": "▼ 37.5%", "up_is_good": False, "unit": "currency",
         "format": "currency_compact", "sparkline": [8, 7, 5], "comparison": "last month"},
        {"type": "metric", "name": "burn", "label": "Burn", "value": 9, "formatted": "$9", "change": 2,
         "change_pct": 28.6, "formatted_change": "▲ 28.6%", "up_is_good": False, "unit": "currency",
         "format": "currency_compact", "sparkline": [7, 9], "comparison": "last month"},
        {"type": "metric", "name": "headcount", "label": "Headcount", "value": 36, "formatted": "36", "change": 0,
         "change_pct": 0, "formatted_change": "■ 0.0%", "up_is_good": True, "unit": "count", "format": "integer",
         "sparkline": [36, 36], "comparison": "last month"}]}),
}


@pytest.fixture
def lab_page(page: Page, lab_server):
    errors: list[str] = []
    page.on("console", lambda m: errors.append(f"console: {m.text} {m.location.get('url', '')}") if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    page.set_viewport_size({"width": 1400, "height": 2400})
    page.goto(f"{lab_server.url}lab?reset&token={lab_server.token}")
    expect(page.locator("#jp-main-statusbar")).to_be_visible(timeout=90_000)
    page.wait_for_function("() => !!(window.PennyJupyter && window.PennyJupyter.renderArtifact)", timeout=60_000)
    yield page, errors
    assert errors == [], "\n".join(errors)


def render(page: Page, artifact: dict, width: int, host: str = "penny-test-host") -> dict:
    facts = page.evaluate(RENDER_JS, [artifact, width, width < 400, host])
    assert facts["painted"] == "true" and facts["measured"], facts
    assert facts["overflow"] <= 1, f"{artifact['title']} overflows {width} px by {facts['overflow']} px"
    return facts


def shoot(page: Page, screenshots_dir, name: str, host: str = "penny-test-host") -> None:
    page.locator(f"#{host}").screenshot(path=str(screenshots_dir / f"renderer-{name}.png"))


def count(page: Page, selector: str, host: str = "penny-test-host") -> int:
    return page.locator(f"#{host} {selector}").count()


@pytest.mark.parametrize("slug", DASHBOARDS)
def test_dashboards(lab_page, lab_server, screenshots_dir, slug):
    page, _ = lab_page
    artifact = _get_artifacts(lab_server, slug)
    for width in WIDTHS:
        render(page, artifact, width)
        assert count(page, f'.penny-artifact-view[data-type="dashboard"][data-painted="true"]') == 1
        metrics = count(page, ".penny-metric")
        assert metrics >= 4
        assert count(page, ".penny-metric .penny-sparkline") >= 1
        values = page.locator("#penny-test-host .penny-metric-value").all_text_contents()
        assert all(v.strip() for v in values)
        charts = count(page, ".penny-chart")
        assert count(page, ".penny-chart .js-plotly-plot") == charts >= 1
        if slug == "company-health":
            assert metrics >= 8 and count(page, ".penny-gauge") == 2
        if slug == "sales-funnel":
            assert count(page, ".penny-chart .js-plotly-plot .funnellayer .trace") >= 1
            assert count(page, ".penny-table th button") == 5
            rows = count(page, ".penny-table tbody tr")
            assert rows == 5 if width < 400 else rows >= 5
        if slug == "ops-incidents":
            assert count(page, ".penny-timeline") == 1 and count(page, ".penny-timeline .penny-sev") >= 1
            assert count(page, ".penny-status-grid") == 1
            assert count(page, ".penny-status-grid [data-status]") >= 3
        shoot(page, screenshots_dir, f"{slug}-{width}")


def test_table_sorting(lab_page, screenshots_dir):
    page, _ = lab_page
    render(page, HAND_BUILT["table"], 900)
    first = lambda: page.locator("#penny-test-host .penny-table tbody tr td:first-child").all_text_contents()  # noqa: E731
    original = first()
    assert original[:3] == ["Cedar", "Aspen", "Birch"]
    mrr = page.locator("#penny-test-host .penny-table th", has_text="MRR")
    mrr.locator("button").click()
    assert mrr.get_attribute("aria-sort") == "ascending"
    assert first() == ["Elm", "Birch", "Gum", "Cedar", "Fir", "Aspen", "Dogwood"]
    mrr.locator("button").click()
    assert mrr.get_attribute("aria-sort") == "descending"
    assert first()[:2] == ["Dogwood", "Aspen"]
    seats = page.locator("#penny-test-host .penny-table th", has_text="Seats")
    seats.locator("button").click()
    assert seats.get_attribute("aria-sort") == "ascending" and mrr.get_attribute("aria-sort") == "none"
    assert first()[-1] == "Birch"  # empty cells sort last
    shoot(page, screenshots_dir, "table-900")
    # compact: 5 rows and a note for the rest
    render(page, HAND_BUILT["table"], 320)
    assert count(page, ".penny-table tbody tr") == 5
    expect(page.locator("#penny-test-host .penny-table-more")).to_have_text("2 more of 7 rows")


def test_metric_colours(lab_page, screenshots_dir):
    page, _ = lab_page
    render(page, HAND_BUILT["metrics"], 900)
    change = lambda name: page.locator(f'#penny-test-host .penny-metric[data-metric="{name}"] .penny-metric-change')  # noqa: E731
    assert change("revenue").get_attribute("data-good") == "true"  # ▲ and up is good
    assert change("churn").get_attribute("data-good") == "true"  # ▼ and down is good
    assert change("burn").get_attribute("data-good") == "false"  # ▲ and down is good
    assert change("headcount").get_attribute("data-good") is None  # ■ no change
    assert change("headcount").get_attribute("data-direction") == "flat"
    assert "■" in change("headcount").inner_text() and "▼" in change("churn").inner_text()
    colour = lambda name: change(name).evaluate("e => getComputedStyle(e).color")  # noqa: E731
    assert colour("revenue") == colour("churn") != colour("burn") != colour("headcount")
    assert count(page, ".penny-sparkline") == 4
    shoot(page, screenshots_dir, "metrics-900")


@pytest.mark.parametrize("kind", ["document", "code", "image", "svg", "chart"])
def test_other_types(lab_page, screenshots_dir, kind):
    page, _ = lab_page
    artifact = HAND_BUILT[kind]
    hook = {"document": ".penny-document", "code": ".penny-code", "image": ".penny-image", "svg": ".penny-image",
            "chart": ".penny-chart .js-plotly-plot"}[kind]
    for width in WIDTHS:
        render(page, artifact, width)
        assert count(page, f'.penny-artifact-view[data-type="{artifact["type"]}"]') == 1
        assert count(page, hook) == 1
        shoot(page, screenshots_dir, f"{kind}-{width}")
    if kind == "document":
        text = page.locator("#penny-test-host .penny-document").inner_text()
        assert "Highlights" in text and "Revenue" in text
    if kind == "code":
        assert "penny.sql" in page.locator("#penny-test-host .penny-code").inner_text()
        page.locator("#penny-test-host .penny-code button", has_text="Insert as cell").click()
        assert page.evaluate("window.__pennyInserted") == artifact["spec"]["code"]
        expect(page.locator("#penny-test-host .penny-code button", has_text="Copy")).to_be_visible()
    if kind in ("image", "svg"):
        img = page.locator("#penny-test-host .penny-image img")
        assert img.get_attribute("src").startswith("data:image/")
        assert img.evaluate("i => i.complete && i.naturalWidth > 0")
        assert count(page, ".penny-image svg") == 0  # SVG only ever as an <img>
    if kind == "chart":
        assert count(page, ".penny-chart .pielayer .trace") == 1
        png = page.evaluate("window.__pennyViews['penny-test-host'].toPNG()")
        assert png.startswith("data:image/png;base64,") and len(png) > 2000
    assert page.evaluate("window.__pennyXss === undefined"), "artifact markup ran script"


def _dark_theme(page: Page) -> None:
    if page.evaluate("!!(window.jupyterapp && window.jupyterapp.commands)"):
        page.evaluate("window.jupyterapp.commands.execute('apputils:change-theme', {theme: 'JupyterLab Dark'})")
    else:  # through the menu: Settings > Theme > JupyterLab Dark
        page.locator("#jp-menu-panel .lm-MenuBar-itemLabel", has_text="Settings").click()
        page.locator(".lm-Menu-itemLabel", has_text="Theme").first.hover()
        page.locator(".lm-Menu-itemLabel", has_text="JupyterLab Dark").first.click()
    page.wait_for_function("document.body.dataset.jpThemeLight === 'false'", timeout=30_000)
    page.wait_for_timeout(300)  # theme CSS swapped in


def test_dark_theme(lab_page, lab_server, screenshots_dir):
    page, _ = lab_page
    _dark_theme(page)
    for slug in ("company-health", "ops-incidents"):
        artifact = _get_artifacts(lab_server, slug)
        for width in WIDTHS:
            render(page, artifact, width)
            shoot(page, screenshots_dir, f"dark-{slug}-{width}")
    # plotly reads its colours from the theme: the chart background is the card's, not white
    bg = page.locator("#penny-test-host .penny-chart .main-svg").first.evaluate(
        "e => getComputedStyle(e).backgroundColor")
    card = page.locator("#penny-test-host .penny-chart").first.evaluate("e => getComputedStyle(e).backgroundColor")
    assert bg == card and bg not in ("rgb(255, 255, 255)", "rgba(0, 0, 0, 0)"), (bg, card)
    for kind in ("code", "document"):
        render(page, HAND_BUILT[kind], 900)
        shoot(page, screenshots_dir, f"dark-{kind}-900")
