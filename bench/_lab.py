"""A real `jupyter lab` with Penny (a scale-0.2 demo warehouse) and a headless Debian Chromium on /lab, Penny's
plugin loaded: what the browser benchmarks measure in."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent))
from tests.live_server import LiveServer  # noqa: E402

CHROMIUM = os.environ.get("PENNY_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


@contextlib.contextmanager
def lab_page(root: Path):
    """(server, page, page errors) with /lab open and `window.PennyJupyter` ready; everything stopped after."""
    from playwright.sync_api import sync_playwright

    app_settings = root / "app-settings"
    app_settings.mkdir()
    # JupyterLab reads overrides.json from app_settings_dir only; without it a news toast covers the page.
    (app_settings / "overrides.json").write_text(json.dumps(
        {"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False}}))
    server = LiveServer(root=root, data_dir=root / "penny-data", app="lab", extra_args=[
        "--PennyConfig.demo_scale=0.2", "--ServerApp.password=",
        f"--LabApp.app_settings_dir={app_settings}", f"--LabApp.workspaces_dir={root / 'workspaces'}",
        f"--LabApp.user_settings_dir={root / 'user-settings'}"])
    server.start(timeout=120)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 900})
                errors: list[str] = []
                page.on("pageerror", lambda e: errors.append(str(e)))
                page.goto(f"{server.url}lab?reset&token={server.token}")
                page.wait_for_selector("#jp-main-statusbar", timeout=120_000)
                page.wait_for_function("() => !!window.jupyterapp && !!window.PennyJupyter", timeout=60_000)
                page.wait_for_timeout(500)  # let the shell finish its own first layout
                yield server, page, errors
            finally:
                browser.close()
    finally:
        server.stop()
