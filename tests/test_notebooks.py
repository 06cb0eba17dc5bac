"""The demo notebooks run top to bottom in a real kernel (nbclient) and, exported without widget
state (nbconvert), still show the dashboards' numbers as HTML; with every <style> and <script>
stripped (as GitHub does) the numbers and the ▲/▼ are still there in headings and table cells."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from conftest import AS_OF, TEST_SCALE

NOTEBOOKS = Path(__file__).parent.parent / "notebooks"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def outputs(cell) -> list[dict]:
    return [o for o in cell.get("outputs", []) if o.get("output_type") in ("execute_result", "display_data")]


def stderr(cell) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("name") == "stderr")


@pytest.fixture(scope="module")
def review(tmp_path_factory, demo_warehouse_template):
    data = tmp_path_factory.mktemp("review") / "data"
    (data / "warehouses").mkdir(parents=True)
    shutil.copy(demo_warehouse_template, data / "warehouses" / "demo.duckdb")
    mp = pytest.MonkeyPatch()
    mp.setenv("PENNY_DATA_DIR", str(data))
    mp.setenv("PENNY_AS_OF", AS_OF)
    try:
        nb = nbformat.read(NOTEBOOKS / "company-health-review.ipynb", as_version=4)
        # no widget state saved: what a shared copy, nbconvert or GitHub shows without a kernel
        NotebookClient(nb, timeout=300, kernel_name="python3", store_widget_state=False,
                       resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    finally:
        mp.undo()
    from penny_jupyter.kernel.session import LocalSession
    from penny_jupyter.settings import PennyConfig

    session = LocalSession(PennyConfig(data_dir=str(data), demo_scale=TEST_SCALE, as_of=AS_OF))
    try:
        stored = session.artifacts()
    finally:
        session.engine.close()
    return nb, stored


def exported_html(nb) -> str:
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nb)
    return body


def github_like(html: str) -> str:
    html = re.sub(r"<style\b.*?</style\s*>", "", html, flags=re.S | re.I)
    return re.sub(r"<script\b.*?</script\s*>", "", html, flags=re.S | re.I)


def kpi_dashboards(stored) -> list[dict]:
    return [a for a in stored if (a.get("source") or {}).get("tool") == "get_company_kpis"]


def test_every_cell_ran_without_errors_or_complaints(review):
    nb, _ = review
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        assert not [o for o in cell.outputs if o["output_type"] == "error"], cell.source
        assert "penny:" not in stderr(cell), (cell.source, stderr(cell))
        assert "Traceback" not in stderr(cell)
    assert "widgets" not in nb.metadata, "the widget state was not saved"


def test_the_notebook_uses_every_magic(review):
    nb, _ = review
    source = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    for needle in ("%%penny\n", "%penny kpis", "%penny dashboard", "%penny metric", "%%penny sql",
                   "%penny artifacts", "%penny conversations", "{top_region}", "%%penny python", "%penny ask ",
                   "%penny show {kpis.id} --version 1", "%penny help"):
        assert needle in source, needle


def test_the_answers_stream_into_markdown_and_bring_their_dashboards(review):
    nb, stored = review
    asks = [c for c in nb.cells if c.cell_type == "code" and c.source.startswith("%%penny\n")]
    assert len(asks) == 2
    first = outputs(asks[0])
    assert "Revenue" in first[0]["data"]["text/markdown"]
    assert any(WIDGET_VIEW in o["data"] and "Revenue" in o["data"]["text/html"] for o in first[1:])
    follow = outputs(asks[1])[0]["data"]["text/markdown"]
    assert "{top_region}" not in follow and "Revenue" in follow
    assert len(kpi_dashboards(stored)) >= 2  # the answer's and %penny kpis'


def test_exported_html_shows_the_kpi_numbers_without_widget_state(review):
    nb, stored = review
    html = exported_html(nb)
    dash = kpi_dashboards(stored)[-1]
    metrics = [w for w in dash["spec"]["widgets"] if w["type"] == "metric"]
    assert len(metrics) >= 10
    for w in metrics:
        assert w["formatted"] in html, w
    assert "Company health" in html and "Revenue by region" in html


def test_a_github_like_copy_keeps_the_numbers_in_semantic_tags(review):
    nb, stored = review
    plain = github_like(exported_html(nb))
    assert "<style" not in plain.lower() and "<script" not in plain.lower()
    dash = kpi_dashboards(stored)[-1]
    assert re.search(r"<h3>\s*" + re.escape(dash["title"].replace("·", "&middot;")) + r"|<h3>\s*"
                     + re.escape(dash["title"]), plain), dash["title"]
    cells = re.findall(r"<td>([^<]*)</td>", plain)
    for w in dash["spec"]["widgets"]:
        if w["type"] == "metric":
            assert w["formatted"] in cells, w["formatted"]
    assert any(re.search("[▲▼]", c) for c in cells)


def test_the_kpis_notebook_exports_too(tmp_path, penny_data_dir, monkeypatch):
    nb = nbformat.read(NOTEBOOKS / "company-kpis.ipynb", as_version=4)
    monkeypatch.setenv("PENNY_DATA_DIR", str(penny_data_dir))
    monkeypatch.setenv("PENNY_AS_OF", AS_OF)
    NotebookClient(nb, timeout=120, kernel_name="python3", store_widget_state=False).execute()
    plain = github_like(exported_html(nb))
    assert "Revenue" in plain and re.search(r"<td>[^<]*[▲▼][^<]*</td>", plain)


def test_the_sandbox_cell_prints_and_hands_back_a_table(review):
    nb, stored = review
    cell = next(c for c in nb.cells if c.cell_type == "code" and c.source.startswith("%%penny python"))
    outs = outputs(cell)
    assert "months of MRR movements" in outs[0]["data"]["text/plain"]
    assert any("rolling_3m" in o["data"].get("text/html", "") for o in outs[1:])
    assert any((a.get("source") or {}).get("tool") == "run_python" for a in stored)


def test_show_brings_back_a_version_and_a_line_ask_answers(review):
    nb, stored = review
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
