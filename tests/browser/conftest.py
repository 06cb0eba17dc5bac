"""Browser-test fixtures: a REAL `jupyter lab` subprocess and a headless Debian Chromium.

Nothing here downloads a browser (`playwright install` fails on this machine): Playwright drives
/usr/bin/chromium. Every test is marked `browser`; they FAIL when Chromium is missing (`make test` installs it),
so a green run always means a browser ran.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("PENNY_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
AS_OF = "2026-11-20"
LABEXTENSION_BUILD = REPO / "penny_jupyter" / "labextension"


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).resolve().parent
    for item in items:
        if here in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(autouse=True)
def jp_asyncio_loop():
    """Override pytest-jupyter's autouse loop fixture (loaded by the root conftest): Playwright's sync API
    runs its own loop on this thread, and closing "the" loop after each test would close Playwright's."""
    yield None


@pytest.fixture(autouse=True)
def jp_server_cleanup():
    """No in-process ServerApp here (the server is a subprocess): nothing to clean up."""
    yield


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _jupyter_bin() -> str:
    candidate = Path(sys.executable).with_name("jupyter")
    return str(candidate) if candidate.exists() else "jupyter"


def _labextension_installed(env: dict) -> bool:
    out = subprocess.run([_jupyter_bin(), "labextension", "list"], capture_output=True, text=True, env=env,
                         timeout=60)
    return "penny-jupyter" in (out.stdout + out.stderr)


@dataclass
class LabServer:
    url: str  # base URL, ending in "/"
    token: str
    root_dir: Path
    log_path: Path
    process: subprocess.Popen

    def lab_url(self) -> str:
        return f"{self.url}lab?token={self.token}"

    def log_tail(self, n: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"


@pytest.fixture(scope="session")
def browser_ollama():
    """A fake Ollama (real HTTP, Ollama's API) the lab server knows about. The server's default model
    stays the built-in router; a test picks `ollama:llama3.2` in the sidebar to talk to this one."""
    from tests.fake_ollama import FakeOllama

    server = FakeOllama().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def lab_server(tmp_path_factory, browser_ollama) -> LabServer:
    """Start `jupyter lab` on a free port with a random token and throwaway dirs; stop it at the end."""
    with start_lab(tmp_path_factory.mktemp("lab"), {"model": "builtin", "ollama_host": browser_ollama.url}) as server:
        yield server


@contextlib.contextmanager
def start_lab(base: Path, penny: dict):
    """A `jupyter lab` with Penny configured by `penny` (PennyConfig options) on top of the tests' fixed
    demo data and date."""
    root = base / "root"
    data_dir = base / "penny-data"
    config_dir = base / "config"
    workspaces = base / "workspaces"
    user_settings = base / "user-settings"
    app_settings = base / "app-settings"
    runtime = base / "runtime"
    for d in (root, data_dir, config_dir, workspaces, user_settings, app_settings, runtime):
        d.mkdir(parents=True, exist_ok=True)
    # JupyterLab reads overrides.json from app_settings_dir only; without this a news toast covers the page.
    (app_settings / "overrides.json").write_text(json.dumps(
        {"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False}}))
    # A private config dir: no ~/.jupyter leaks in. Penny's options go here, so the server also starts
    # before the PennyConfig class exists (an unknown class in a config file is ignored, not fatal).
    (config_dir / "jupyter_server_config.json").write_text(json.dumps({
        "ServerApp": {"jpserver_extensions": {"penny_server": True}},
        # A fixed "today": the demo warehouse and every KPI are the same on every run.
        "PennyConfig": {"demo_scale": 0.05, "as_of": AS_OF, **penny},
    }))

    token = secrets.token_hex(24)
    port = _free_port()
    env = dict(os.environ)
    env.update({
        "PENNY_DATA_DIR": str(data_dir),
        "JUPYTER_CONFIG_DIR": str(config_dir),
        "JUPYTER_RUNTIME_DIR": str(runtime),
        "PYTHONUNBUFFERED": "1",
    })
    env.pop("JUPYTER_TOKEN", None)
    # Importable even before `pip install -e .` (harmless duplicates on sys.path once installed).
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO), str(REPO / "server_ext")] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    if not _labextension_installed(env) and (LABEXTENSION_BUILD / "package.json").exists():
        # Not installed in the venv: serve the tree's build (`jlpm build` in labextension/).
        extra = base / "jupyter-path"
        (extra / "labextensions").mkdir(parents=True)
        os.symlink(LABEXTENSION_BUILD, extra / "labextensions" / "penny-jupyter")
        env["JUPYTER_PATH"] = os.pathsep.join([str(extra)] + ([env["JUPYTER_PATH"]] if env.get("JUPYTER_PATH") else []))

    log_path = base / "jupyter-lab.log"
    log = open(log_path, "wb")  # noqa: SIM115 - closed in the finalizer
    cmd = [
        _jupyter_bin(), "lab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.token={token}",
        "--ServerApp.password=",
        "--ServerApp.allow_root=True",
        "--ServerApp.open_browser=False",
        f"--ServerApp.root_dir={root}",
        f"--LabApp.workspaces_dir={workspaces}",
        f"--LabApp.user_settings_dir={user_settings}",
        f"--LabApp.app_settings_dir={app_settings}",
    ]
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    server = LabServer(url=f"http://127.0.0.1:{port}/", token=token, root_dir=root, log_path=log_path, process=proc)
    try:
        _wait_for_status(server, timeout=90)
        yield server
    finally:
        _stop(proc)
        log.close()


def _wait_for_status(server: LabServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    req = urllib.request.Request(f"{server.url}api/status", headers={"Authorization": f"token {server.token}"})
    last = None
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"jupyter lab exited with {server.process.returncode}:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(req, timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError) as e:
            last = e
        time.sleep(0.25)
    raise RuntimeError(f"jupyter lab did not answer /api/status in {timeout}s ({last}):\n{server.log_tail()}")


def _stop(proc: subprocess.Popen) -> None:
    """Stop the server we started (and the kernels it started: they share its process group)."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=5)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser):
    """A fresh browser context per test (no localStorage, no cookies), collecting console errors
    and uncaught page errors in `page.penny_errors`."""
    context = browser.new_context(viewport={"width": 1400, "height": 900}, accept_downloads=True)
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    errors: list[str] = []
    pg.on("console", lambda msg: errors.append(f"console: {msg.text}") if msg.type == "error" else None)
    pg.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    pg.penny_errors = errors
    try:
        yield pg
    finally:
        context.close()


def widen_sidebar(page, width: int) -> None:
    """Drag the split handle so screenshots show the sidebar at a comfortable width."""
    handle = page.locator("#jp-main-split-panel > .lm-SplitPanel-handle").first
    box = handle.bounding_box()
    if box is None:
        return
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] / 2, y)
    page.mouse.down()
    page.mouse.move(width, y, steps=5)
    page.mouse.up()


class PennyUI:
    """The Penny sidebar in a page: open, start a chat, ask, and read the server over REST."""

    def __init__(self, page, lab_server: LabServer) -> None:
        self.page = page
        self.server = lab_server

    def open(self, reset: bool = True) -> None:
        from playwright.sync_api import expect

        # `reset`: the default layout, whatever an earlier test left in the shared workspace.
        self.page.goto(f"{self.server.url}lab{'?reset&' if reset else '?'}token={self.server.token}")
        expect(self.page.locator("#jp-main-statusbar")).to_be_visible(timeout=90_000)
        self.page.wait_for_function("() => !!window.jupyterapp && !!window.PennyJupyter", timeout=60_000)
        self.page.evaluate("() => window.jupyterapp.commands.execute('penny:open-chat')")
        expect(self.page.locator(".penny-panel")).to_be_visible()
        expect(self.page.locator(".penny-status")).to_have_attribute("data-state", "connected", timeout=60_000)
        expect(self.page.locator(".penny-conversation.penny-mod-active")).to_have_count(1, timeout=30_000)

    def widen(self, width: int = 480) -> None:
        widen_sidebar(self.page, width)

    def new_chat(self) -> str:
        from playwright.sync_api import expect

        self.page.locator(".penny-new").click()
        active = self.page.locator(".penny-conversation.penny-mod-active")
        expect(active).to_have_attribute("data-draft", "true")
        return self.conversation_id()

    def conversation_id(self) -> str:
        return self.page.locator(".penny-conversation.penny-mod-active").get_attribute("data-conversation-id")

    def send(self, text: str) -> None:
        from playwright.sync_api import expect

        box = self.page.locator(".penny-input")
        expect(box).to_be_enabled()
        box.fill(text)
        box.press("Enter")

    def wait_idle(self, timeout: float = 120_000) -> None:
        """Until the last answer is done (no streaming turn, no typing indicator)."""
        from playwright.sync_api import expect

        expect(self.page.locator(".penny-message-assistant").last).to_have_attribute(
            "data-status", re.compile("complete|failed|cancelled"), timeout=timeout)
        expect(self.page.locator(".penny-typing")).to_have_count(0, timeout=timeout)

    def ask(self, text: str, timeout: float = 120_000):
        before = self.page.locator(".penny-message-assistant").count()
        self.send(text)
        from playwright.sync_api import expect

        expect(self.page.locator(".penny-message-assistant")).to_have_count(before + 1, timeout=timeout)
        self.wait_idle(timeout)
        return self.page.locator(".penny-message-assistant").last

    def rest(self, path: str, method: str = "GET", body=None):
        """Call Penny's REST API as this page's user would (same token), from the test process, so a
        deliberate 404 does not show up as a console error. Returns (status, json|None)."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"{self.server.url}penny/api/{path}", data=data, method=method, headers={
            "Authorization": f"token {self.server.token}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as e:
            status, raw = e.code, e.read()
        return status, (json.loads(raw) if raw else None)


@pytest.fixture
def penny(page, lab_server) -> PennyUI:
    return PennyUI(page, lab_server)


@pytest.fixture(scope="session")
def screenshots_dir() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


