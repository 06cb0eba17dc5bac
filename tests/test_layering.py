"""The layering DESIGN.md draws, as a test over every import in penny_jupyter (module level and inside
functions alike, read with ast): the engine imports no transport, each layer imports only itself and the
layers below it, and no two modules import each other, however indirectly."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "penny_jupyter"
TRANSPORTS = ("tornado", "jupyter_server", "penny_server")

# Lowest first. A module may import its own layer and the ones before it, never one after.
LAYERS = [
    ("errors", "settings", "tenancy", "signing", "protocol", "tracing"),  # the floor: no other Penny module
    ("storage",),  # app state
    ("sharing",),  # who may read and do what
    ("artifacts", "data", "sandbox"),  # artifacts, the warehouse and its SQL, the sandbox
    ("tools",),  # the tool contract, the tools and their executor
    ("models",),  # the brains that choose tools
    ("chat",),  # conversations and the turn loop
    ("engine", "admin"),  # builds every service; the admin panel's view over them
    ("kernel",),  # magics and the widget, over a server or the engine
]


def _modules(package: Path) -> dict[str, Path]:
    def name(path: Path) -> str:
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)

    return {name(p): p for p in package.rglob("*.py") if "labextension" not in p.parts}


MODULES = _modules(PACKAGE)


def _imports(name: str, path: Path, modules: dict[str, Path] = MODULES) -> set[str]:
    """Every module `name` imports: absolute names, relative ones resolved."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            mod = ".".join(base + ([node.module] if node.module else []))
            subs = [f"{mod}.{a.name}" for a in node.names if f"{mod}.{a.name}" in modules]
            found.update(subs)  # `from . import schema` imports the module schema, not the package's __init__
            if len(subs) < len(node.names):
                found.add(mod)
    return found


def _graph(modules: dict[str, Path] = MODULES) -> dict[str, set[str]]:
    root = min(modules, key=len)
    graph = {}
    for name, path in modules.items():
        deps = set()
        for imp in _imports(name, path, modules):
            parts = imp.split(".")
            while parts and ".".join(parts) not in modules:
                parts.pop()
            if parts and ".".join(parts) not in (name, root):
                deps.add(".".join(parts))
        graph[name] = deps
    return graph


def _layer(module: str) -> int:
    first = module.split(".")[1]
    return next(i for i, names in enumerate(LAYERS) if first in names)


def _upward(graph: dict[str, set[str]]) -> list[str]:
    return sorted(f"{a} -> {b}" for a, deps in graph.items() if "." in a for b in deps if _layer(b) > _layer(a))


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components of more than one module."""
    index, low, stack, on, cycles, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return cycles


def test_every_module_has_a_layer():
    assert [m for m in MODULES if m != "penny_jupyter" and not any(
        m.split(".")[1] in names for names in LAYERS)] == []


@pytest.mark.parametrize("name", sorted(MODULES))
def test_the_engine_imports_no_transport(name):
    bad = [i for i in _imports(name, MODULES[name]) if i.split(".")[0] in TRANSPORTS]
    assert not bad, f"{name} imports {bad}: penny_jupyter must not know about the server it runs in"


def test_no_import_runs_up_the_layers():
    up = _upward(_graph())
    assert up == [], "imports from a lower layer to a higher one:\n" + "\n".join(up)


def test_no_import_cycle():
    assert _cycles(_graph()) == []


def test_the_checks_find_a_planted_cycle_and_an_upward_import(tmp_path):
    pkg = tmp_path / "penny_jupyter"
    for rel, text in {"__init__.py": "", "storage/__init__.py": "", "chat/__init__.py": "",
                      "storage/rows.py": "def f():\n    from ..chat.turn import g\n",  # inside a function, too
                      "chat/turn.py": "from ..storage import rows\n"}.items():
        (pkg / rel).parent.mkdir(parents=True, exist_ok=True)
        (pkg / rel).write_text(text)
    graph = _graph(_modules(pkg))
    assert _upward(graph) == ["penny_jupyter.storage.rows -> penny_jupyter.chat.turn"]
    assert _cycles(graph) == [["penny_jupyter.chat.turn", "penny_jupyter.storage.rows"]]
