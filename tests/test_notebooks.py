"""The demo notebooks, run and exported the way people do it: `jupyter nbconvert --execute` with its defaults
(widget state saved), `papermill` then nbconvert, offline (a network namespace with only loopback). Every Penny
output is a mime bundle (artifacts/bundle.py) whose text/html copy carries the numbers, so each export shows
every KPI value, also with every <style> and <script> stripped (as GitHub does)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from conftest import AS_OF, TEST_SCALE

NOTEBOOKS = Path(__file__).parent.parent / "notebooks"
PENNY_MIME = "application/vnd.penny.artifact+json"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def outputs(cell) -> list[dict]:
    return [o for o in cell.get("outputs", []) if o.get("output_type") in ("execute_result", "display_data")]


def stderr(cell) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("name") == "stderr")


def offline(*cmd: str, data: Path, cwd: Path) -> None:
    """Run a command as a user would, with no network but loopback (the kernel talks to nbconvert over it)."""
    env = {**os.environ, "PENNY_DATA_DIR": str(data), "PENNY_AS_OF": AS_OF}
    proc = subprocess.run(["unshare", "-rn", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", *cmd],
                          env=env, cwd=cwd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]


def tool(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def stored_artifacts(data: Path) -> list[dict]:
    from penny_jupyter.kernel.session import LocalSession
    from penny_jupyter.settings import PennyConfig

    session = LocalSession(PennyConfig(data_dir=str(data), demo_scale=TEST_SCALE, as_of=AS_OF))
    try:
        return session.artifacts()
    finally:
        session.engine.close()


@pytest.fixture(scope="module")
def review(tmp_path_factory, demo_warehouse_template):
    """company-health-review.ipynb run by `jupyter nbconvert --to notebook --execute` (defaults), then exported
    with `jupyter nbconvert --to html`, as File > Save and Export does with a saved notebook."""
    out = tmp_path_factory.mktemp("review")
    data = out / "data"
    (data / "warehouses").mkdir(parents=True)
    shutil.copy(demo_warehouse_template, data / "warehouses" / "demo.duckdb")
    offline(tool("jupyter"), "nbconvert", "--to", "notebook", "--execute", "company-health-review.ipynb",
            "--output-dir", str(out), data=data, cwd=NOTEBOOKS)
    offline(tool("jupyter"), "nbconvert", "--to", "html", str(out / "company-health-review.ipynb"),
            data=data, cwd=out)
    nb = nbformat.read(out / "company-health-review.ipynb", as_version=4)
    return nb, stored_artifacts(data), (out / "company-health-review.html").read_text()


def github_like(html: str) -> str:
    html = re.sub(r"<style\b.*?</style\s*>", "", html, flags=re.S | re.I)
    return re.sub(r"<script\b.*?</script\s*>", "", html, flags=re.S | re.I)


def every_kpi_is_visible(html: str, stored: list[dict]) -> None:
    """Each KPI dashboard's every value, in the page as a reader sees it without scripts or styles."""
    plain = github_like(html)
    dashboards = kpi_dashboards(stored)
    assert dashboards
    for dash in dashboards:
        metrics = [w for w in dash["spec"]["widgets"] if w["type"] == "metric"]
        assert len(metrics) >= 10
        for w in metrics:
            assert w["formatted"] in plain, (dash["title"], w["label"], w["formatted"])


def kpi_dashboards(stored) -> list[dict]:
    return [a for a in stored if (a.get("source") or {}).get("tool") == "get_company_kpis"]


def test_every_cell_ran_without_errors_or_complaints(review):
    nb, _, _ = review
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        assert not [o for o in cell.outputs if o["output_type"] == "error"], cell.source
        assert "penny:" not in stderr(cell), (cell.source, stderr(cell))
        assert "Traceback" not in stderr(cell)
    assert "widgets" not in nb.metadata, "no Penny output needs widget state"
    for cell in nb.cells:
        for o in outputs(cell):
            assert WIDGET_VIEW not in o["data"], "nbconvert would draw a widget view, blank offline, over the HTML"


def test_the_notebook_uses_every_magic(review):
    nb, _, _ = review
    source = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    for needle in ("%%penny\n", "%penny kpis", "%penny dashboard", "%penny metric", "%%penny sql",
                   "%penny artifacts", "%penny conversations", "{top_region}", "%%penny python", "%penny ask ",
                   "%penny show {kpis.id} --version 1", "%penny help"):
        assert needle in source, needle


def test_the_answers_stream_into_markdown_and_bring_their_dashboards(review):
    nb, stored, html = review
    asks = [c for c in nb.cells if c.cell_type == "code" and c.source.startswith("%%penny\n")]
    assert len(asks) == 2
    first = outputs(asks[0])
    assert "Revenue" in first[0]["data"]["text/markdown"]
    assert any(PENNY_MIME in o["data"] and "Revenue" in o["data"]["text/html"] for o in first[1:])
    follow = outputs(asks[1])[0]["data"]["text/markdown"]
    assert "{top_region}" not in follow and "Revenue" in follow
    assert len(kpi_dashboards(stored)) >= 2  # the answer's and %penny kpis'


def test_nbconvert_with_its_defaults_shows_every_kpi_offline(review):
    nb, stored, html = review
    every_kpi_is_visible(html, stored)
    assert "Company health" in html and "Revenue by region" in html
    dashboards = [o for c in nb.cells for o in outputs(c) if PENNY_MIME in o["data"]]
    assert len(dashboards) >= 10, "each dashboard, chart and table is a live Penny output where the extension runs"
    assert all(o["data"][PENNY_MIME]["spec"] and o["data"]["text/html"] for o in dashboards)


def test_dollar_amounts_in_answers_are_text_not_maths(review):
    """A notebook reads a pair of `$` as maths: unescaped, "**Revenue** $18.11M … **MRR** $27.73M" lost its bold
    labels and figures to one maths span. Escaped, every bold label survives the export as <strong>."""
    nb, _, html = review
    first = outputs(next(c for c in nb.cells if c.cell_type == "code" and c.source.startswith("%%penny\n")))[0]
    markdown, plain = first["data"]["text/markdown"], first["data"]["text/plain"]
    assert plain.count("$") >= 2 and markdown.count("\\$") == plain.count("$")  # one pair is enough for maths
    labels = re.findall(r"\*\*([^*]+)\*\*", plain)
    assert len(labels) >= 4
    for label in labels:
        assert f"<strong>{label}</strong>" in html, label


def test_a_github_like_copy_keeps_the_numbers_in_semantic_tags(review):
    nb, stored, html = review
    plain = github_like(html)
    assert "<style" not in plain.lower() and "<script" not in plain.lower()
    dash = kpi_dashboards(stored)[-1]
    assert re.search(r"<h3>\s*" + re.escape(dash["title"].replace("·", "&middot;")) + r"|<h3>\s*"
                     + re.escape(dash["title"]), plain), dash["title"]
    cells = re.findall(r"<td>([^<]*)</td>", plain)
    for w in dash["spec"]["widgets"]:
        if w["type"] == "metric":
            assert w["formatted"] in cells, w["formatted"]
    assert any(re.search("[▲▼]", c) for c in cells)


def test_the_kpis_notebook_exports_with_nbconvert_execute(tmp_path, penny_data_dir):
    """The command as a user types it: `jupyter nbconvert --to html --execute notebooks/company-kpis.ipynb`."""
    offline(tool("jupyter"), "nbconvert", "--to", "html", "--execute", str(NOTEBOOKS / "company-kpis.ipynb"),
            "--output-dir", str(tmp_path), data=penny_data_dir, cwd=NOTEBOOKS)
    every_kpi_is_visible((tmp_path / "company-kpis.html").read_text(), stored_artifacts(penny_data_dir))


def test_papermill_then_nbconvert_shows_every_kpi(tmp_path, penny_data_dir):
    """A scheduled report: papermill runs the notebook, nbconvert turns the result into HTML."""
    offline(tool("papermill"), str(NOTEBOOKS / "company-kpis.ipynb"), str(tmp_path / "ran.ipynb"),
            "--cwd", str(NOTEBOOKS), data=penny_data_dir, cwd=tmp_path)
    offline(tool("jupyter"), "nbconvert", "--to", "html", "ran.ipynb", data=penny_data_dir, cwd=tmp_path)
    every_kpi_is_visible((tmp_path / "ran.html").read_text(), stored_artifacts(penny_data_dir))


def test_the_sandbox_cell_prints_and_hands_back_a_table(review):
    nb, stored, html = review
    cell = next(c for c in nb.cells if c.cell_type == "code" and c.source.startswith("%%penny python"))
    outs = outputs(cell)
    assert "months of MRR movements" in outs[0]["data"]["text/plain"]
    assert any("rolling_3m" in o["data"].get("text/html", "") for o in outs[1:])
    assert any((a.get("source") or {}).get("tool") == "run_python" for a in stored)


def test_show_brings_back_a_version_and_a_line_ask_answers(review):
    nb, stored, html = review
    code = [c for c in nb.cells if c.cell_type == "code"]
    show = next(c for c in code if c.source.startswith("%penny show"))
    html = outputs(show)[0]["data"]["text/html"]
    kpis = next(a for a in kpi_dashboards(stored) if (a.get("source") or {}).get("params", {}).get("period") == "MTD")
    assert kpis["title"] in html and all(w["formatted"] in html for w in kpis["spec"]["widgets"]
                                            if w["type"] == "metric")
    ask = next(c for c in code if c.source.startswith("%penny ask"))
    assert "churn" in outputs(ask)[0]["data"]["text/markdown"].lower()
    helped = next(c for c in code if c.source == "%penny help")
    assert "%penny show <artifact_id> [--version N]" in "".join(o.get("text", "") for o in helped.outputs)
