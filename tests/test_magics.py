"""%penny in a real kernel (nbclient) and in plain IPython (in-process): every subcommand returns a
Python object (widget, DataFrame, Answer) that IPython displays once; the answer of `ask` streams into
an updatable display; mistakes print one line on stderr, never a traceback."""

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
            # 9..
            "%%penny\nShow me company KPIs for this month?",
            "answer = _\ntype(answer).__name__, answer.conversation_id is not None, len(answer.artifacts)",
            "metric_name = 'revenue'",
            "%%penny\nAnd what was {metric_name} last month",
            "answer.conversation_id == _.conversation_id",
            "%%penny sql --limit 3\nSELECT region, count(*) AS n FROM customers GROUP BY region ORDER BY n DESC",
            "type(_).__name__, list(_.columns), len(_)",
            "m = %penny metric revenue --period QTD --by region --top 2\nm",
            "list(m.frame().columns)[:2], len(m.frame())",
            "arts = %penny artifacts\nlist(arts.columns), len(arts) >= 5",
            "convs = %penny conversations\nlist(convs.columns), len(convs), list(convs.title)",
            "%%penny python\nprint(6 * 7)",
            "%penny metric revenue --top many",
            "%%penny kpis\nbody",
            "%%penny sql\nDROP TABLE customers",
            "answer",
            "%%penny\nSELECT nope FROM customers",
            "%%penny sql\nSELECT region, count(*) AS n FROM customers GROUP BY region",
            "table_id = _.attrs['penny']['artifact_id']",
            "%penny show {table_id}",
            "%%penny python\nprint('before')\nx = 1\nx / 0",
        ], data, mp)
    finally:
        mp.undo()


def test_kpis_display_a_penny_output_with_readable_static_copies(cells):
    data = bundle(cells[1])
    assert "application/vnd.penny.artifact+json" in data
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


def test_ask_streams_into_one_updated_display_then_shows_the_dashboard(cells):
    outs = [o for o in cells[9].outputs if o["output_type"] in ("display_data", "execute_result")]
    text = outs[0]["data"]["text/markdown"]
    assert "Revenue" in text and "Penny is thinking" not in text and "running" not in text
    assert outs[0]["output_type"] == "display_data", "streamed, not an Out[] that would show it twice"
    assert any("application/vnd.penny.artifact+json" in o["data"] for o in outs[1:])
    assert not [o for o in cells[9].outputs if o["output_type"] == "execute_result"]
    assert bundle(cells[10])["text/plain"] == "('Answer', True, 1)"


def test_a_failed_tool_shows_its_error_once_above_the_answer(cells):
    text = bundle(cells[25])["text/markdown"]
    failed = text.split("\n\n", 1)[0]
    # the error, as the sidebar's tool card shows it; its "DESCRIBE <table>" is text, not an HTML table
    assert failed.startswith('> ✗ the query failed: Referenced column "nope" not found')
    assert "DESCRIBE &lt;table&gt;" in failed and "<table>" not in text
    assert text.rstrip().endswith("The query did not work; the error is above.")
    assert text.count("nope") == 1


def test_show_draws_a_table_as_penny_does_not_as_a_bare_dataframe(cells):
    shown = [o for o in cells[28].outputs if o["output_type"] in ("display_data", "execute_result")]
    assert len(shown) == 1, "one output: the table, not the table and a DataFrame"
    data = shown[0]["data"]
    assert "application/vnd.penny.artifact+json" in data and "<table" in data["text/html"]
    assert data["application/vnd.penny.artifact+json"]["type"] == "table"


def test_python_that_raises_shows_its_output_and_traceback_like_a_cell(cells):
    shown = "".join(d["text/plain"] for d in (o["data"] for o in cells[29].outputs if "data" in o))
    assert shown.startswith("before\n") and "ZeroDivisionError: division by zero" in shown
    assert 'File "<cell>", line 3' in shown
    assert "penny:" not in stderr(cells[29]), "not reduced to one error line: what it printed is kept"


def test_follow_ups_fill_variables_and_share_the_conversation(cells):
    text = bundle(cells[12])["text/markdown"]
    assert "{metric_name}" not in text and "Revenue" in text
    assert bundle(cells[13])["text/plain"] == "True"


def test_tables_come_back_as_dataframes(cells):
    assert "<table" in bundle(cells[14])["text/html"]
    assert bundle(cells[15])["text/plain"] == "('DataFrame', ['region', 'n'], 3)"
    assert "Revenue by region" in bundle(cells[16])["text/plain"]
    assert bundle(cells[17])["text/plain"] == "(['region', 'value'], 2)"
    assert bundle(cells[18])["text/plain"] == "(['id', 'type', 'title', 'version', 'created'], True)"
    # one conversation (the follow-ups joined it), named as a notebook's for the sidebar's list
    assert ast.literal_eval(bundle(cells[19])["text/plain"]) == (
        ['id', 'title', 'messages', 'created', 'updated'], 1, ['Notebook · Show me company KPIs for this month?'])


def test_failures_are_one_line_on_stderr(cells):
    for cell, needle in ((cells[21], "invalid int value"), (cells[22], "takes no cell body"),
                         (cells[23], "not allowed")):
        err = stderr(cell)
        assert needle in err, (cell.source, err)
        assert not [o for o in cell.outputs if o["output_type"] == "error"]
        assert "Traceback" not in err


def test_python_runs_in_the_sandbox_or_says_in_one_line_that_it_cannot(cells):
    err = stderr(cells[20])
    if err:  # no sandbox on this machine (tool absent, or no isolation): one line, no traceback
        assert err.startswith("penny: ") and err.count("\\n") == 1 and "Traceback" not in err
    else:
        assert "42" in bundle(cells[20])["text/plain"]


def test_python_without_the_tool_is_one_line(capsys):
    from penny_jupyter.kernel.magics import Penny

    class NoSandbox:
        def has_tool(self, name):
            return False

    assert Penny(None, NoSandbox())("python", "print(1)") is None
    assert capsys.readouterr().err == "penny: the Python sandbox is not available on this server\n"


def test_an_answer_shown_again_later_shows_its_text_and_artifacts(cells):
    outs = [o for o in cells[24].outputs if o["output_type"] in ("display_data", "execute_result")]
    assert "Revenue" in outs[0]["data"]["text/markdown"]
    assert any("application/vnd.penny.artifact+json" in o["data"] for o in outs[1:])


# ---------------------------------------------------------------- plain IPython, in process


@pytest.fixture
def ip(penny_data_dir):
    from IPython.core.interactiveshell import InteractiveShell

    from conftest import TEST_SCALE
    from penny_jupyter.kernel.magics import PennyMagics
    from penny_jupyter.kernel.session import LocalSession
    from penny_jupyter.settings import PennyConfig

    shell = InteractiveShell.instance()
    session = LocalSession(PennyConfig(data_dir=str(penny_data_dir), demo_scale=TEST_SCALE, as_of=AS_OF))
    shell.register_magics(PennyMagics(shell, session=session))
    yield shell
    session.engine.close()
    for name in ("k", "df", "a", "w"):
        shell.user_ns.pop(name, None)


def test_plain_ipython_returns_objects(ip, capsys):
    import pandas as pd

    from penny_jupyter.kernel.results import Answer, PennyArtifact

    ip.run_cell("k = %penny kpis QTD")
    assert isinstance(ip.user_ns["k"], PennyArtifact) and ip.user_ns["k"].metrics["revenue"] > 0
    assert list(ip.user_ns["k"].frame().columns)[:2] == ["name", "label"]
    ip.run_cell("df = %penny sql SELECT 42 AS answer")
    assert isinstance(ip.user_ns["df"], pd.DataFrame) and ip.user_ns["df"]["answer"].tolist() == [42]
    ip.run_cell("w = %penny show {k.id}")
    assert ip.user_ns["w"].artifact == ip.user_ns["k"].artifact
    capsys.readouterr()
    ip.run_cell("a = %penny ask show me company KPIs for this month")
    out = capsys.readouterr().out
    a = ip.user_ns["a"]
    assert isinstance(a, Answer) and a.text and a.text.strip()[:20] in out, "streamed to stdout"
    assert "Revenue" in out and len(a.artifacts) == 1 and a.tools[0]["tool"] == "get_company_kpis"


def test_plain_ipython_mistakes_are_one_line(ip, capsys):
    for line, needle in (("%penny nope", "unknown subcommand 'nope'"), ("%penny show art_missing", "not found"),
                         ("%penny dashboard", "the following arguments are required: slug"),
                         ("%penny show 'unclosed", "could not read the arguments"),
                         ("%penny ask", "ask what?")):
        ip.run_cell(line)
        err = capsys.readouterr().err
        assert needle in err, (line, err)
        assert "Traceback" not in err and err.startswith("penny: ")


def test_no_engine_is_one_line(capsys):
    from IPython.core.interactiveshell import InteractiveShell

    from penny_jupyter.kernel.magics import Penny

    class Broken:
        def run_tool(self, *a, **k):
            raise OSError("unable to open database file")

    Penny(InteractiveShell.instance(), Broken())("kpis")
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unable to open database file" in err


def test_fill_leaves_what_does_not_evaluate():
    from penny_jupyter.kernel.magics import fill

    assert fill("revenue in {r} for {missing} at {{literal}}", {"r": "EMEA"}) == \
        "revenue in EMEA for {missing} at {literal}"
