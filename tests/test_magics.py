"""%penny in a real kernel (nbclient): the artifact displays as a widget with readable text/plain and
text/html; mistakes print one line, never a traceback."""

from __future__ import annotations

import ast
import re

import nbformat
import pytest
from nbclient import NotebookClient

from conftest import AS_OF


def run_cells(sources: list[str], data_dir, monkeypatch) -> list:
    monkeypatch.setenv("PENNY_DATA_DIR", str(data_dir))
    monkeypatch.setenv("PENNY_AS_OF", AS_OF)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True).execute()
    return nb.cells


def bundle(cell) -> dict:
    return next(o["data"] for o in cell.outputs if o.get("output_type") in ("execute_result", "display_data"))


def stderr(cell) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.get("name") == "stderr")


@pytest.fixture(scope="module")
def cells(tmp_path_factory, demo_warehouse_template):
    mp = pytest.MonkeyPatch()
    data = tmp_path_factory.mktemp("magics") / "data"
    (data / "warehouses").mkdir(parents=True)
    import shutil

    shutil.copy(demo_warehouse_template, data / "warehouses" / "demo.duckdb")
    try:
        yield run_cells([
            "%load_ext penny_jupyter",
            "k = %penny kpis MTD\nk",
            "%penny dashboard sales-funnel",
            "%penny show {k.id}",
            "%penny kpis XTD",
            "%penny frobnicate",
            "%penny show art_doesnotexist",
            "%penny help",
            "sorted(k.metrics)[:3], k.metrics['revenue'] > 0",
        ], data, mp)
    finally:
        mp.undo()


def test_kpis_display_a_widget_with_readable_static_copies(cells):
    data = bundle(cells[1])
    assert "application/vnd.jupyter.widget-view+json" in data
    html, text = data["text/html"], data["text/plain"]
    assert "<h3>" in html and "Revenue" in html and re.search("[▲▼]", html)
    assert "<script" not in html
    assert "Revenue" in text and re.search("[▲▼]", text)


def test_dashboard_and_show(cells):
    assert "Sales" in bundle(cells[2])["text/plain"]
    shown = bundle(cells[3])
    assert shown["text/plain"] == bundle(cells[1])["text/plain"], "show brings back the same artifact"


def test_mistakes_print_one_line_not_a_traceback(cells):
    for cell, needle in ((cells[4], "period"), (cells[5], "unknown subcommand 'frobnicate'"),
                         (cells[6], "not found")):
        assert needle in stderr(cell)
        assert not [o for o in cell.outputs if o["output_type"] == "error"]
        assert "Traceback" not in stderr(cell)


def test_help_and_python_objects(cells):
    assert "%penny kpis" in "".join(o.get("text", "") for o in cells[7].outputs)
    assert bundle(cells[8])["text/plain"].endswith("True)")


def test_the_demo_notebook_runs_and_shows_the_numbers(tmp_path, penny_data_dir, monkeypatch):
    from pathlib import Path

    path = Path(__file__).parent.parent / "notebooks" / "company-kpis.ipynb"
    nb = nbformat.read(path, as_version=4)
    monkeypatch.setenv("PENNY_DATA_DIR", str(penny_data_dir))
    monkeypatch.setenv("PENNY_AS_OF", AS_OF)
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    kpis_html = bundle(nb.cells[2])["text/html"]
    metrics = ast.literal_eval(bundle(nb.cells[4])["text/plain"])
    assert metrics["revenue"] > 0 and len(metrics) >= 10
    assert "Revenue" in kpis_html and "Sales funnel" in bundle(nb.cells[5])["text/plain"]
