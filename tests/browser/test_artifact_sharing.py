"""Artifact cards: an HTML download that works with no server and no network, signed links that need no
Jupyter login, and sharing (artifact cards and conversations), in a real JupyterLab and Chromium against
the real server extension.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser

KPIS = "Show me company KPIs for this month"
HEALTH = "open the company health dashboard"
REPO = Path(__file__).resolve().parents[2]


def _api(path: str):
    """Matches a Penny REST URL whatever query it carries (ServerConnection adds a cache-buster)."""
    pattern = re.compile(rf"/penny/api/{path}(\?|$)")
    return lambda r: bool(pattern.search(r.url))


def _card(penny, prompt: str):
    answer = penny.ask(prompt)
    expect(answer.locator(".penny-tool")).to_have_attribute("data-status", "ok")
    card = answer.locator(".penny-artifact")
    expect(card).to_have_count(1)
    expect(card).to_have_attribute("data-painted", "true", timeout=30_000)
    return card


def _reload(page: Page, penny, cid: str, aid: str):
    """Reload the page once the sidebar has stored `cid` as the active conversation (it does so when the
    list refresh after the answer turns the draft into a listed conversation); returns the replayed card."""
    row = page.locator(f'.penny-conversation[data-conversation-id="{cid}"]')
    expect(row).not_to_have_attribute("data-draft", "true", timeout=10_000)
    page.wait_for_function("(cid) => localStorage.getItem('penny-jupyter:active-conversation') === cid", arg=cid)
    penny.open(reset=False)
    assert penny.conversation_id() == cid
    card = page.locator(f'.penny-artifact[data-artifact-id="{aid}"]')
    expect(card).to_have_attribute("data-painted", "true", timeout=30_000)
    return card


def _metric_values(card) -> list[str]:
    values = [v.strip() for v in card.locator(".penny-metric-value").all_inner_texts()]
    assert len(values) >= 4 and all(values), values
    return values


def _download(page: Page, card, action: str, into: Path) -> Path:
    with page.expect_download() as info:
        card.locator(f'[data-action="{action}"]').click()
    download = info.value
    assert download.failure() is None, download.failure()
    path = into / download.suggested_filename
    download.save_as(path)
    return path


def _open_offline(browser, path: Path, shot: Path | None = None, chart: bool = False):
    """Open a saved file in a new context where every request but the file itself is aborted and the
    network is off. Returns (page text, blocked URLs, page errors)."""
    context = browser.new_context(viewport={"width": 1200, "height": 900}, offline=True)
    url = path.resolve().as_uri()
    blocked: list[str] = []
    errors: list[str] = []

    def gate(route) -> None:
        if route.request.url == url:
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    context.route("**/*", gate)
    try:
        pg = context.new_page()
        pg.on("pageerror", lambda exc: errors.append(str(exc)))
        pg.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        pg.goto(url)
        if chart:
            expect(pg.locator(".js-plotly-plot .main-svg").first).to_be_visible(timeout=30_000)
            # Plotly drew real marks (bars, lines, gauge arcs), not an empty frame.
            assert pg.locator(".js-plotly-plot .main-svg path").count() > 0
        if shot is not None:
            pg.screenshot(path=str(shot), full_page=False)
        text = re.sub(r"\s+", " ", pg.locator("body").inner_text())
        charts = pg.locator(".js-plotly-plot").count()
        return text, blocked, errors, charts
    finally:
        context.close()


def test_html_download_opens_offline(page: Page, penny, browser, tmp_path, screenshots_dir):
    penny.open()
    penny.widen(480)
    penny.new_chat()
    card = _card(penny, KPIS)
    values = _metric_values(card)
    labels = [t.strip() for t in card.locator(".penny-metric-label").all_text_contents()]

    path = _download(page, card, "html", tmp_path)
    assert path.suffix == ".html", path
    raw = path.read_text()
    assert raw.lstrip().lower().startswith("<!doctype html"), raw[:80]
    text, blocked, errors, _ = _open_offline(browser, path, screenshots_dir / "artifact-html-kpis.png")
    assert not blocked, f"the HTML file asked the network for {blocked}"
    assert not errors, errors
    missing = [v for v in values if v not in text]
    assert not missing, f"KPI values from the sidebar missing in the HTML page: {missing}"
    assert [lab for lab in labels if lab and lab not in text] == []

    # The KPI dashboard has no chart; a dashboard with charts must draw them offline (plotly inlined).
    health = _card(penny, HEALTH)
    assert health.locator(".js-plotly-plot").count() > 0
    path = _download(page, health, "html", tmp_path)
    text, blocked, errors, charts = _open_offline(browser, path, screenshots_dir / "artifact-html-health.png",
                                                  chart=True)
    assert not blocked, f"the HTML file asked the network for {blocked}"
    assert not errors, errors
    assert charts == health.locator(".js-plotly-plot").count(), charts
    assert not page.penny_errors, page.penny_errors


def test_signed_link_works_without_login(page: Page, penny, browser, lab_server, screenshots_dir):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=lab_server.url.rstrip("/"))
    penny.open()
    penny.widen(480)
    penny.new_chat()
    card = _card(penny, KPIS)
    values = _metric_values(card)
    aid = card.get_attribute("data-artifact-id")

    with page.expect_response(_api(f"artifacts/{aid}/links")) as created:
        card.locator('[data-action="link"]').click()
    assert created.value.status == 201, created.value.text()
    sent = json.loads(created.value.request.post_data)
    assert sent == {"format": "html"}, sent  # a dashboard's link is a page by default
    box = card.locator(".penny-link")
    expect(box).to_be_visible()
    url_input = box.locator(".penny-link-url")
    expect(url_input).to_have_value(re.compile(r"^https?://"))
    expect(url_input).to_have_attribute("readonly", "")
    url = url_input.input_value()
    assert url.startswith(f"{lab_server.url}penny/files/"), url
    assert lab_server.token not in url
    expect(box.locator(".penny-link-expires")).to_have_text(re.compile(r"^expires \S"))
    expires = box.locator(".penny-link-expires").get_attribute("datetime")
    assert expires == created.value.json()["expiresAt"]
    # Copied to the clipboard when the page may (the test granted it).
    expect(box.locator(".penny-link-copied")).to_have_text(re.compile("Copied"))
    assert page.evaluate("() => navigator.clipboard.readText()") == url
    expect(card.locator(".penny-artifact-note")).to_be_hidden()
    card.screenshot(path=str(screenshots_dir / "sharing-link.png"))

    # A fresh context: no token, no cookie, no XSRF. The link alone downloads the file.
    fresh = browser.new_context()
    try:
        api = fresh.request
        assert api.get(f"{lab_server.url}penny/api/artifacts/{aid}").status in (401, 403)
        resp = api.get(url)
        assert resp.status == 200, resp.text()[:300]
        assert "attachment" in resp.headers.get("content-disposition", ""), resp.headers
        body = resp.text()
        assert body.lstrip().lower().startswith("<!doctype html")
        assert [v for v in values if v not in re.sub(r"<[^>]+>", " ", body)] == []
        # A changed link is refused (the signature is the permission).
        token = url.rsplit("/", 1)[1]
        forged = url[: -len(token)] + token[:-2] + ("AA" if not token.endswith("AA") else "BB")
        assert api.get(forged).status == 403

        # Another format: a new link, CSV this time.
        with page.expect_response(_api(f"artifacts/{aid}/links")) as again:
            box.locator(".penny-link-format").select_option("csv")
        assert json.loads(again.value.request.post_data) == {"format": "csv"}
        expect(url_input).not_to_have_value(url)
        csv_resp = api.get(url_input.input_value())
        assert csv_resp.status == 200
        assert csv_resp.text().splitlines()[0].startswith("metric,"), csv_resp.text()[:80]
    finally:
        fresh.close()
    assert not page.penny_errors, page.penny_errors


def test_link_error_shows_on_the_card(page: Page, penny):
    penny.open()
    penny.new_chat()
    card = _card(penny, KPIS)
    page.route(re.compile(r"/penny/api/artifacts/[^/]+/links(\?|$)"), lambda route: route.fulfill(
        status=503, content_type="application/json",
        body=json.dumps({"error": {"code": "storage_unavailable", "message": "The artifact store is down."}})))
    card.locator('[data-action="link"]').click()
    note = card.locator(".penny-artifact-note")
    expect(note).to_have_text("The artifact store is down.")
    expect(card.locator(".penny-link")).to_be_hidden()
    expect(card.locator('[data-action="link"]')).to_be_enabled()


def test_share_artifact_with_team_persists(page: Page, penny, screenshots_dir):
    penny.open()
    penny.widen(480)
    cid = penny.new_chat()
    card = _card(penny, KPIS)
    aid = card.get_attribute("data-artifact-id")
    status, art = penny.rest(f"artifacts/{aid}")
    assert status == 200 and art["canShare"] is True and art["sharing"] == {"tenant": False, "users": []}, art

    share = card.locator('[data-action="share"]')
    expect(share).to_be_visible()
    expect(share).to_have_attribute("aria-expanded", "false")
    expect(card).to_have_attribute("data-shared", "false")
    expect(card.locator(".penny-artifact-shared")).to_be_hidden()
    share.click()
    panel = card.locator(".penny-share")
    expect(panel).to_be_visible()
    expect(share).to_have_attribute("aria-expanded", "true")
    expect(panel.locator(".penny-share-status")).to_have_text(re.compile("^Private"))
    toggle = panel.locator(".penny-share-tenant")
    expect(toggle).not_to_be_checked()

    with page.expect_response(_api(f"artifacts/{aid}/sharing")) as put:
        toggle.check()
    assert put.value.request.method == "PUT"
    assert json.loads(put.value.request.post_data) == {"tenant": True, "users": []}
    assert put.value.status == 200, put.value.text()
    expect(panel.locator(".penny-share-status")).to_have_text("Shared with everyone in your team.")
    expect(card).to_have_attribute("data-shared", "true")
    expect(card.locator(".penny-artifact-shared")).to_be_visible()

    # Colleagues by name (comma-separated; Enter saves). The server stores them sorted.
    users = panel.locator(".penny-share-users")
    users.fill("grace, ada")
    with page.expect_response(_api(f"artifacts/{aid}/sharing")) as put2:
        users.press("Enter")
    assert json.loads(put2.value.request.post_data) == {"tenant": True, "users": ["grace", "ada"]}
    assert put2.value.status == 200, put2.value.text()
    stored = put2.value.json()["sharing"]
    expect(panel.locator(".penny-share-status")).to_contain_text("your team")
    expect(users).to_have_value(", ".join(stored["users"]))
    status, art = penny.rest(f"artifacts/{aid}")
    assert art["sharing"]["tenant"] is True and sorted(art["sharing"]["users"]) == ["ada", "grace"], art

    page.wait_for_timeout(200)
    card.screenshot(path=str(screenshots_dir / "sharing-card.png"))
    page.locator(".penny-panel").screenshot(path=str(screenshots_dir / "sharing.png"))

    # Escape closes the panel and gives focus back to Share.
    panel.locator(".penny-share-users").press("Escape")
    expect(panel).to_be_hidden()
    expect(card.locator('[data-action="share"]')).to_be_focused()

    # After a reload the replayed card still says it is shared (its event was sent while private).
    card = _reload(page, penny, cid, aid)
    expect(card).to_have_attribute("data-shared", "true")
    expect(card.locator(".penny-artifact-shared")).to_be_visible()
    card.locator('[data-action="share"]').click()
    panel = card.locator(".penny-share")
    expect(panel.locator(".penny-share-tenant")).to_be_checked()
    expect(panel.locator(".penny-share-users")).to_have_value(", ".join(stored["users"]))

    # And off again.
    with page.expect_response(_api(f"artifacts/{aid}/sharing")) as put3:
        panel.locator(".penny-share-tenant").uncheck()
    assert put3.value.status == 200
    status, art = penny.rest(f"artifacts/{aid}")
    assert art["sharing"]["tenant"] is False
    assert not page.penny_errors, page.penny_errors


def test_share_and_link_locked_when_the_server_says_no(page: Page, penny, screenshots_dir):
    """canShare and canPublish false (someone else's artifact, or a role that may not share): Share and Link
    are disabled and say who can; the downloads stay. The real server's socket, with the replayed artifact made grace's for this page
    (the browser tests run a single-user server, where every artifact is the owner's)."""
    penny.open()
    cid = penny.new_chat()
    card = _card(penny, KPIS)
    aid = card.get_attribute("data-artifact-id")

    def locked(route) -> None:
        server = route.connect_to_server()

        def from_server(message) -> None:
            event = json.loads(message)
            if event.get("type") == "artifact":
                event["artifact"].update(canShare=False, canPublish=False, owner="grace",
                                         sharing={"tenant": True, "users": []})
            route.send(json.dumps(event))

        server.on_message(from_server)
        route.on_message(server.send)

    page.route_web_socket(re.compile(r"/penny/ws"), locked)
    card = _reload(page, penny, cid, aid)
    expect(card).to_have_attribute("data-shared", "true")
    share = card.locator('[data-action="share"]')
    expect(share).to_be_disabled()
    expect(share).to_have_attribute("title", re.compile("Only grace can change"))
    expect(card.locator(".penny-artifact-shared")).to_have_attribute("title", re.compile("^grace shared this"))
    link = card.locator('[data-action="link"]')
    expect(link).to_be_disabled()
    expect(link).to_have_attribute("data-locked", "true")
    expect(link).to_have_attribute("title", re.compile(r"^Only grace \(or an admin of your team\) can make a link"))
    for fmt in ("html", "csv", "json", "png"):
        expect(card.locator(f'[data-action="{fmt}"]')).to_be_enabled()
    card.screenshot(path=str(screenshots_dir / "reader-card.png"))


def test_share_conversation_from_the_list(page: Page, penny, screenshots_dir):
    penny.open()
    penny.widen(480)
    cid = penny.new_chat()
    card = _card(penny, KPIS)
    row = page.locator(f'.penny-conversation[data-conversation-id="{cid}"]')
    expect(row).not_to_have_attribute("data-draft", "true", timeout=10_000)
    button = row.locator(".penny-conversation-share")
    expect(button).to_have_count(1, timeout=10_000)
    button.click()
    panel = page.locator(".penny-conversation-share-row .penny-share")
    expect(panel).to_be_visible()
    with page.expect_response(_api(f"conversations/{cid}/sharing")) as put:
        panel.locator(".penny-share-tenant").check()
    assert put.value.status == 200, put.value.text()
    status, conv = penny.rest(f"conversations/{cid}")
    assert status == 200 and conv["sharing"]["tenant"] is True, conv
    expect(row).to_have_attribute("data-shared", "true")
    expect(row.locator(".penny-conversation-shared")).to_be_visible()
    expect(panel.locator(".penny-share-status")).to_have_text("Shared with everyone in your team.")
    # Its artifacts are readable through it: the card says so, though the artifact itself is not shared.
    expect(card).to_have_attribute("data-shared", "false")
    expect(card).to_have_attribute("data-shared-via", "true")
    expect(card.locator(".penny-artifact-shared")).to_have_attribute("title", re.compile("its conversation is shared"))
    page.locator(".penny-conversations").screenshot(path=str(screenshots_dir / "sharing-conversation.png"))
    # Closing the panel: the share button toggles it.
    row.locator(".penny-conversation-share").click()
    expect(page.locator(".penny-conversation-share-row")).to_have_count(0)
    assert not page.penny_errors, page.penny_errors
