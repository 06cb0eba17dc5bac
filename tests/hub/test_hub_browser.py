"""Penny for teams in Chromium: log in to the real hub as alice, carol and bob (each server spawned as that OS
user), and use the sidebar in /user/<name>/lab, which talks to the one Penny service at /services/penny/."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS
from tests.hub.conftest import PASSWORD

pytestmark = pytest.mark.browser

KPIS = "Show me company KPIs for this month"


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


class Person:
    """One browser context logged in to the hub as `user`, with the Penny sidebar open in their JupyterLab."""

    def __init__(self, browser, hub, user: str) -> None:
        self.user, self.hub = user, hub
        self.context = browser.new_context(viewport={"width": 1440, "height": 900})
        self.page: Page = self.context.new_page()
        self.page.set_default_timeout(60_000)
        self.errors: list[str] = []
        self.penny_urls: list[str] = []
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        self.page.on("request", lambda r: self.penny_urls.append(r.url) if "/penny/" in r.url else None)

    def log_in(self) -> "Person":
        page = self.page
        page.goto(f"{self.hub.url}hub/login")
        page.fill("#username_input", self.user)
        page.fill("#password_input", PASSWORD)
        page.click("#login_submit")
        page.wait_for_url(re.compile(rf"/user/{self.user}/"), timeout=180_000)  # spawned as their OS user
        page.goto(f"{self.hub.url}user/{self.user}/lab?reset")
        expect(page.locator("#jp-main-statusbar")).to_be_visible(timeout=120_000)
        page.wait_for_function("() => !!window.jupyterapp && !!window.PennyJupyter", timeout=60_000)
        page.evaluate("() => window.jupyterapp.commands.execute('penny:open-chat')")
        expect(page.locator(".penny-status")).to_have_attribute("data-state", "connected", timeout=60_000)
        return self

    def ask(self, text: str):
        page = self.page
        before = page.locator(".penny-message-assistant").count()
        box = page.locator(".penny-input")
        expect(box).to_be_enabled()
        box.fill(text)
        box.press("Enter")
        expect(page.locator(".penny-message-assistant")).to_have_count(before + 1, timeout=120_000)
        answer = page.locator(".penny-message-assistant").last
        expect(answer).to_have_attribute("data-status", re.compile("complete|failed"), timeout=120_000)
        return answer

    def fetch(self, path: str) -> dict:
        """A Penny REST call from this person's page, the way the sidebar makes it (the page's hub token)."""
        return self.page.evaluate("""async (path) => {
            const token = JSON.parse(document.getElementById('jupyter-config-data').textContent).token;
            const r = await fetch('/services/penny/penny/api/' + path, {headers: {Authorization: 'token ' + token}});
            return {status: r.status, body: await r.json()};
        }""", path)


def test_a_team_shares_one_penny_and_another_company_sees_nothing(browser, hub):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    alice = Person(browser, hub, "alice").log_in()
    page = alice.page
    page.locator(".penny-new").click()
    answer = alice.ask(KPIS)
    expect(answer.locator(".penny-tool")).to_have_attribute("data-status", "ok")
    card = answer.locator(".penny-artifact")
    expect(card).to_have_attribute("data-painted", "true", timeout=30_000)
    values = [v.strip() for v in card.locator(".penny-metric-value").all_inner_texts()]
    assert len(values) >= 4 and all(values), values
    aid = card.get_attribute("data-artifact-id")
    cid = page.locator(".penny-conversation.penny-mod-active").get_attribute("data-conversation-id")
    # Every Penny call of alice's page went to the service, none to her own server.
    assert alice.penny_urls and all("/services/penny/" in u for u in alice.penny_urls
                                    if "/penny/api/location" not in u), alice.penny_urls
    # Insert into notebook: alice's own kernel shows it through the service; the output's Refresh makes v2 there.
    card.locator('[data-action="insert"]').click()
    notebook = page.locator(".jp-NotebookPanel:visible")
    expect(notebook).to_have_count(1, timeout=60_000)
    cell = notebook.locator(".jp-CodeCell").filter(has_text=f"%penny show {aid}")
    expect(cell.locator(".jp-InputArea-prompt")).to_have_text(re.compile(r"\[\d+\]"), timeout=120_000)
    output = cell.locator(".jp-OutputArea .penny-output")
    expect(output.locator(".penny-metric").nth(3)).to_be_visible(timeout=60_000)
    expect(output.locator(".penny-output-version")).to_have_text("v1")
    output.locator(".penny-output-refresh").click()
    expect(output.locator(".penny-output-version")).to_have_text("v2", timeout=60_000)
    assert alice.fetch(f"artifacts/{aid}")["body"]["version"] == 2
    page.screenshot(path=str(SCREENSHOTS / "hub-alice-notebook.png"))

    # Share the conversation with the team, from the list.
    row = page.locator(f'.penny-conversation[data-conversation-id="{cid}"]')
    expect(row).not_to_have_attribute("data-draft", "true", timeout=10_000)
    row.locator(".penny-conversation-share").click()
    with page.expect_response(lambda r: f"conversations/{cid}/sharing" in r.url) as put:
        page.locator(".penny-conversation-share-row .penny-share .penny-share-tenant").check()
    assert put.value.status == 200, put.value.text()
    page.screenshot(path=str(SCREENSHOTS / "hub-alice.png"))

    # carol, same company: sees it, read-only, with its dashboard.
    carol = Person(browser, hub, "carol").log_in()
    shared = carol.page.locator(f'.penny-conversation[data-conversation-id="{cid}"]')
    expect(shared).to_have_count(1, timeout=30_000)
    shared.click()
    their_card = carol.page.locator(f'.penny-artifact[data-artifact-id="{aid}"]')
    expect(their_card).to_have_attribute("data-painted", "true", timeout=30_000)
    assert [v.strip() for v in their_card.locator(".penny-metric-value").all_inner_texts()] == values
    seen = carol.fetch(f"conversations/{cid}")
    assert seen["status"] == 200 and seen["body"]["canShare"] is False and seen["body"]["owner"] == "alice"
    carol.page.screenshot(path=str(SCREENSHOTS / "hub-carol.png"))

    # bob, another company: nothing of acme in his list; alice's ids answer as ids that never existed.
    bob = Person(browser, hub, "bob").log_in()
    expect(bob.page.locator(f'.penny-conversation[data-conversation-id="{cid}"]')).to_have_count(0)
    mine = bob.fetch("conversations")
    assert cid not in {c["id"] for c in mine["body"]["conversations"]}
    for real, fake in ((f"conversations/{cid}", "conversations/conv_doesnotexist0"),
                       (f"artifacts/{aid}", "artifacts/art_doesnotexist00")):
        a, b = bob.fetch(real), bob.fetch(fake)
        assert a["status"] == b["status"] == 404 and a["body"]["error"]["code"] == b["body"]["error"]["code"]
    assert bob.fetch("me")["body"]["tenant"] == "globex"
    bob.page.screenshot(path=str(SCREENSHOTS / "hub-bob.png"))
    for person in (alice, carol, bob):
        assert not person.errors, (person.user, person.errors)
        person.context.close()


def test_opening_the_service_in_a_browser_goes_through_the_hubs_oauth(browser, hub):
    """A person who opens /services/penny/ is sent through the hub's OAuth flow and comes back with the service's
    own cookie. With it, the service's pages work; a write needs the XSRF token (as Jupyter's do), and a page of
    another origin gets no chat socket even though the browser sends the cookie."""
    import http.server
    import threading

    from tests.hub.conftest import free_port

    alice = Person(browser, hub, "alice")
    page = alice.page
    page.goto(f"{hub.url}hub/login")
    page.fill("#username_input", "alice")
    page.fill("#password_input", PASSWORD)
    page.click("#login_submit")
    page.wait_for_url(re.compile(r"/user/alice/"), timeout=180_000)
    page.goto(f"{hub.url}services/penny/")
    expect(page.locator("#penny-who")).to_have_text("You are alice in acme (admin, member).")
    assert "/services/penny/penny/" in page.url
    assert any(c["name"] == "service-penny" and c["path"].startswith("/services/penny")
               for c in alice.context.cookies()), alice.context.cookies()
    calls = page.evaluate("""async () => {
        const xsrf = document.querySelector('meta[name=penny-xsrf]').content;
        const post = (headers) => fetch('/services/penny/penny/api/conversations', {method: 'POST',
            headers: {'Content-Type': 'application/json', ...headers}, body: JSON.stringify({title: 'from the cookie'})});
        const me = await fetch('/services/penny/penny/api/me', {headers: {'X-XSRFToken': xsrf}});
        return {me: [me.status, await me.json()], bare: (await post({})).status,
                withXsrf: (await post({'X-XSRFToken': xsrf})).status};
    }""")
    assert calls["me"] == [200, {"user": "alice", "tenant": "acme", "roles": ["admin", "member"]}]
    assert calls["bare"] in (401, 403) and calls["withXsrf"] == 201, calls

    def socket_from(p: Page) -> str:
        return p.evaluate("""(url) => new Promise(done => {
            const ws = new WebSocket(url);
            ws.onmessage = e => { done(JSON.parse(e.data).type); ws.close(); };
            ws.onclose = () => done('closed');
            setTimeout(() => done('timeout'), 15000);
        })""", f"ws{hub.url[4:]}services/penny/penny/ws")

    assert socket_from(page) == "ready"  # same origin, the cookie alone
    port = free_port()
    other = http.server.ThreadingHTTPServer(("127.0.0.1", port), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=other.serve_forever, daemon=True).start()
    try:
        evil = alice.context.new_page()
        evil.goto(f"http://127.0.0.1:{port}/")
        assert socket_from(evil) == "closed"  # another origin: refused, the cookie notwithstanding
    finally:
        other.shutdown()
    alice.context.close()
