"""Penny outputs in notebooks as people share them, in Chromium: a notebook run by `jupyter nbconvert --execute`
and opened later in JupyterLab with no kernel (the live view, drawn from the file alone), the same file untrusted
(the static copy), and the review served by Voilà. Each checks that every KPI value is on the screen."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import nbformat
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import AS_OF, REPO, _free_port, _jupyter_bin, _stop

NOTEBOOKS = REPO / "notebooks"
ERROR_DISPLAYING = "Error displaying widget"


def _env(data: Path) -> dict[str, str]:
    env = {**os.environ, "PENNY_DATA_DIR": str(data), "PENNY_AS_OF": AS_OF}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(REPO / "server_ext")] + [p for p in [env.get("PYTHONPATH")] if p])
    for name in ("PENNY_SERVER_URL", "PENNY_KERNEL_TOKEN", "PENNY_SERVICE_URL"):
        env.pop(name, None)
    return env


def _data_dir(base: Path, template: Path) -> Path:
    data = base / "penny-data"
    (data / "warehouses").mkdir(parents=True)
    shutil.copy(template, data / "warehouses" / "demo.duckdb")
    return data


def _kpi_values(nb) -> list[str]:
    """Every KPI value the notebook's Penny outputs hold, as formatted for people."""
    values = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            art = out.get("data", {}).get("application/vnd.penny.artifact+json")
            if art and (art.get("source") or {}).get("tool") == "get_company_kpis":
                values += [w["formatted"] for w in art["spec"]["widgets"] if w["type"] == "metric"]
    assert len(values) >= 10
    return values


@pytest.fixture(scope="module")
def shared_kpis(lab_server, demo_warehouse_template, tmp_path_factory) -> dict[str, Path]:
    """company-kpis.ipynb as a colleague hands it over: run by `jupyter nbconvert --to notebook --execute`,
    copied into the lab's folder twice: as it came (untrusted) and after `jupyter trust` (no kernel wanted)."""
    base = tmp_path_factory.mktemp("shared")
    data = _data_dir(base, demo_warehouse_template)
    subprocess.run([_jupyter_bin(), "nbconvert", "--to", "notebook", "--execute", "company-kpis.ipynb",
                    "--output-dir", str(base)], cwd=NOTEBOOKS, env=_env(data), check=True, capture_output=True,
                   timeout=300)
    nb = nbformat.read(base / "company-kpis.ipynb", as_version=4)
    untrusted = lab_server.root_dir / "kpis-untrusted.ipynb"
    nbformat.write(nb, untrusted)
    # Opened with no kernel: a file that names none makes JupyterLab ask, and the test answers "No Kernel".
    nb.metadata.pop("kernelspec", None)
    nb.metadata.pop("language_info", None)
    trusted = lab_server.root_dir / "kpis-no-kernel.ipynb"
    nbformat.write(nb, trusted)
    subprocess.run([_jupyter_bin(), "trust", str(trusted)], check=True, capture_output=True, timeout=60)
    return {"untrusted": untrusted, "trusted": trusted}


def _open(page: Page, lab_server, path: Path) -> None:
    page.goto(f"{lab_server.url}lab/tree/{path.name}?reset&token={lab_server.token}")
    expect(page.locator(".jp-NotebookPanel:visible")).to_have_count(1, timeout=90_000)


def test_a_saved_notebook_draws_live_with_no_kernel(page: Page, lab_server, shared_kpis, screenshots_dir):
    _open(page, lab_server, shared_kpis["trusted"])
    dialog = page.locator(".jp-Dialog")
    expect(dialog).to_be_visible(timeout=60_000)  # the kernel it names is not here: JupyterLab asks
    dialog.locator("button", has_text="No Kernel").click()
    expect(page.locator("#jp-main-statusbar")).to_contain_text("No Kernel", timeout=30_000)

    notebook = page.locator(".jp-NotebookPanel:visible")
    views = notebook.locator(".jp-OutputArea .penny-output .penny-artifact-view[data-painted='true']")
    expect(views).to_have_count(2, timeout=60_000)  # the KPIs and the sales funnel, from the file alone
    expect(notebook.locator(".penny-output .js-plotly-plot").first).to_be_visible(timeout=60_000)
    text = notebook.inner_text()
    for value in _kpi_values(nbformat.read(shared_kpis["trusted"], as_version=4)):
        assert value in text, value
    assert ERROR_DISPLAYING not in text
    # The dashboard's own header names it once; the output bar adds the version and actions, not the title again.
    first = notebook.locator(".penny-output").first
    expect(first.locator(".penny-output-version")).to_have_text("v1")
    title = next(o["data"]["application/vnd.penny.artifact+json"]["title"]
                 for c in nbformat.read(shared_kpis["trusted"], as_version=4).cells for o in c.get("outputs", [])
                 if "application/vnd.penny.artifact+json" in o.get("data", {}))
    assert title in first.inner_text() and title not in first.locator(".penny-output-bar").inner_text()
    notebook.locator(".penny-output").nth(1).scroll_into_view_if_needed()
    page.screenshot(path=str(screenshots_dir / "notebook-no-kernel.png"))
    assert not [e for e in page.penny_errors if "penny" in e.lower()], page.penny_errors


def test_an_untrusted_notebook_shows_the_static_copy(page: Page, lab_server, shared_kpis, screenshots_dir):
    _open(page, lab_server, shared_kpis["untrusted"])
    notebook = page.locator(".jp-NotebookPanel:visible")
    expect(notebook.locator(".jp-OutputArea-output table").first).to_be_visible(timeout=60_000)
    expect(notebook.locator(".penny-output")).to_have_count(0)  # not trusted: no live renderer
    text = notebook.inner_text()
    for value in _kpi_values(nbformat.read(shared_kpis["untrusted"], as_version=4)):
        assert value in text, value
    assert ERROR_DISPLAYING not in text
    page.screenshot(path=str(screenshots_dir / "notebook-untrusted.png"))


@contextlib.contextmanager
def _voila(notebook: Path, data: Path, log: Path):
    port = _free_port()
    cmd = [str(Path(sys.executable).with_name("voila")), notebook.name, "--no-browser", f"--port={port}", "--Voila.ip=127.0.0.1",
           "--ServerApp.allow_root=True"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=notebook.parent, env=_env(data), stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            url = f"http://127.0.0.1:{port}/"
            deadline = time.monotonic() + 90
            while True:
                assert proc.poll() is None, log.read_text()[-3000:]
                try:  # any answer will do: a single-notebook Voilà answers 403 to everything but its page
                    urllib.request.urlopen(f"{url}api/kernelspecs", timeout=2)
                    break
                except urllib.error.HTTPError:
                    break
                except OSError:
                    assert time.monotonic() < deadline, log.read_text()[-3000:]
                    time.sleep(0.5)
            yield url
        finally:
            _stop(proc)


def test_voila_serves_the_review_with_its_dashboards(page: Page, demo_warehouse_template, tmp_path,
                                                    screenshots_dir):
    data = _data_dir(tmp_path, demo_warehouse_template)
    shutil.copy(NOTEBOOKS / "company-health-review.ipynb", tmp_path / "review.ipynb")
    with _voila(tmp_path / "review.ipynb", data, tmp_path / "voila.log") as url:
        page.goto(url, timeout=60_000)
        # Voilà runs every cell before it shows the page; the review asks, queries and runs the sandbox.
        outputs = page.locator(".penny-output .penny-artifact-view[data-painted='true']")
        expect(outputs.first).to_be_visible(timeout=240_000)
        expect(page.locator(".jp-OutputArea-output").last).to_be_visible(timeout=120_000)
        page.wait_for_load_state("networkidle", timeout=120_000)
        text = page.locator("body").inner_text()
        drawn = outputs.count()
        page.screenshot(path=str(screenshots_dir / "voila-review.png"))
    kpis = [a for a in json.loads(_stored(data)) if (a.get("source") or {}).get("tool") == "get_company_kpis"]
    assert kpis
    for art in kpis:
        for w in art["spec"]["widgets"]:
            if w["type"] == "metric":
                assert w["formatted"] in text, (art["title"], w["label"])
    assert ERROR_DISPLAYING not in text
    assert drawn >= 5
    # Answers are Markdown: their dollar amounts read as text, not as maths that eats the bold labels.
    assert "∗∗" not in text and "**" not in text and "Revenue $" in text


def _stored(data: Path) -> str:
    """The artifacts Voilà's kernel made, read after it stopped, in a process of their own."""
    code = ("import json\nfrom penny_jupyter.kernel.session import LocalSession\n"
            "print(json.dumps(LocalSession().artifacts(), default=str))")
    out = subprocess.run([sys.executable, "-c", code], env=_env(data),
                         capture_output=True, text=True, check=True, timeout=120)
    return out.stdout
