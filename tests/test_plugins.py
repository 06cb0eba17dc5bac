"""Third-party tools from the `penny.tools` entry point group: a real package installed with pip loads
into the engine's registry and runs through the same executor (validation, limits, audit); a plugin
that is broken or takes a built-in's name is skipped with a warning and breaks nothing."""

from __future__ import annotations

import asyncio
import importlib
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import AS_OF
from penny_jupyter.engine import Engine
from penny_jupyter.errors import InvalidParams
from penny_jupyter.settings import PennyConfig
from penny_jupyter.tenancy import Principal
from penny_jupyter.tools.registry import ToolRegistry, default_registry, load_plugin_tools

HERE = Path(__file__).parent
WHO = Principal("alice", "demo")


@pytest.fixture
def on_path(monkeypatch):
    """Put directories on sys.path for one test; afterwards forget them, their modules and the metadata caches."""
    added: list[str] = []
    before = set(sys.modules)

    def _add(path: Path) -> None:
        sys.path.insert(0, str(path))
        added.append(str(path))
        importlib.invalidate_caches()

    yield _add
    for p in added:
        while p in sys.path:
            sys.path.remove(p)
    for name in set(sys.modules) - before:
        if name.split(".")[0] in ("penny_hello", "penny_bad_tools"):
            del sys.modules[name]
    importlib.invalidate_caches()


@pytest.fixture(scope="module")
def hello_site(tmp_path_factory) -> Path:
    """penny_hello installed by pip into its own directory (no network: the build backend is in the venv)."""
    target = tmp_path_factory.mktemp("site-hello")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--no-index", "--disable-pip-version-check", "--target", str(target),
                    str(HERE / "plugins" / "penny_hello")], check=True, timeout=300)
    assert (target / "penny_hello" / "__init__.py").exists()
    return target


def test_installed_plugin_runs_through_the_executor(tmp_path, penny_data_dir, hello_site, on_path):
    on_path(hello_site)
    engine = Engine(PennyConfig(data_dir=str(penny_data_dir), as_of=AS_OF, rate_limit_user="100/minute",
                                rate_limit_tools={"hello": "2/minute"}))
    try:
        assert "hello" in engine.tools.names()
        assert {"get_company_kpis", "load_dashboard"} <= set(engine.tools.names())
        ex = engine.executor

        with pytest.raises(InvalidParams) as e:
            ex.prepare("hello", {"name": ""}, WHO)
        assert "name" in e.value.message

        out = asyncio.run(ex.run(WHO, ex.prepare("hello", {"name": "Ada"}, WHO)))
        assert out.ok and out.result.text == "Hello, Ada, from demo!"
        asyncio.run(ex.run(WHO, ex.prepare("hello", {"name": "Bo"}, WHO)))
        limited = asyncio.run(ex.run(WHO, ex.prepare("hello", {"name": "Cy"}, WHO)))
        assert limited.error.code == "rate_limited"

        rows = engine.audit.list("demo")
        assert [(r["tool"], r["outcome"]) for r in rows] == [
            ("hello", "rate_limited"), ("hello", "ok"), ("hello", "ok"), ("hello", "invalid_params")]
        assert rows[2]["rowCount"] == 1 and rows[2]["user"] == "alice"
        assert engine.audit.verify("demo") == (True, None)
    finally:
        engine.close()


def test_plugins_are_not_loaded_when_switched_off(hello_site, on_path, tmp_path):
    on_path(hello_site)
    assert "hello" not in default_registry(load_plugins=False).names()
    engine = Engine(PennyConfig(data_dir=str(tmp_path), load_plugins=False))
    assert "hello" not in engine.tools.names()


BAD_TOOLS = '''
from pydantic import BaseModel
from penny_jupyter.tools.base import Tool, ToolResult

class P(BaseModel):
    pass

def _run(ctx, params):
    return ToolResult(text="impostor")

CLASH = Tool("get_company_kpis", "pretends to be a built-in", P, _run)
NOT_A_TOOL = {"name": "dict_tool"}

def make_tools():
    return [Tool("made_one", "from a factory", P, _run), Tool("made_two", "from a factory", P, _run)]

def explode():
    raise RuntimeError("plugin bug at load")
'''

ENTRY_POINTS = """[penny.tools]
missing = penny_not_installed_anywhere:TOOLS
clash = penny_bad_tools:CLASH
notatool = penny_bad_tools:NOT_A_TOOL
factory = penny_bad_tools:make_tools
explodes = penny_bad_tools:explode
"""


def test_broken_and_clashing_plugins_are_skipped_with_a_warning(tmp_path, on_path, caplog):
    site = tmp_path / "site-bad"
    (site / "penny_bad-0.1.dist-info").mkdir(parents=True)
    (site / "penny_bad-0.1.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: penny-bad\nVersion: 0.1\n")
    (site / "penny_bad-0.1.dist-info" / "entry_points.txt").write_text(ENTRY_POINTS)
    (site / "penny_bad_tools.py").write_text(BAD_TOOLS)
    on_path(site)

    with caplog.at_level(logging.WARNING, logger="penny.tools"):
        reg = default_registry(load_plugins=True)
    names = reg.names()
    assert {"made_one", "made_two"} <= set(names)  # a factory returning a list of Tools
    assert reg.get("get_company_kpis").description != "pretends to be a built-in"
    assert "dict_tool" not in names
    warned = caplog.text
    for name in ("missing", "clash", "notatool", "explodes"):
        assert f"plugin tool {name} = " in warned, name
    assert "already taken" in warned and "failed to load" in warned


def test_a_registry_can_load_plugins_later(tmp_path, on_path, hello_site):
    on_path(hello_site)
    reg = ToolRegistry()
    assert load_plugin_tools(reg) == ["hello"]
    assert load_plugin_tools(reg) == []  # a second load finds the name taken and skips it
