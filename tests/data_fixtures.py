"""Shared fixtures for the data, KPI, dashboard and warehouse tests.

Each warehouse is generated once per test session at a small scale and copied into every
test's own data dir, so tests are isolated and none waits long for the generator.
"""

from __future__ import annotations

import datetime as dt
import shutil
import threading
from pathlib import Path

import pytest

from penny_jupyter.data.generator import generate
from penny_jupyter.data.warehouse import Warehouses
from penny_jupyter.settings import PennyConfig
from penny_jupyter.tenancy import Principal
from penny_jupyter.tools.base import ToolContext

AS_OF = dt.date(2026, 11, 18)
SCALE = 0.05
TENANTS = ("demo", "acme")

_lock = threading.Lock()
_templates: dict[str, Path] = {}


def warehouse_template(tmp_path_factory, tenant: str) -> Path:
    with _lock:
        if tenant not in _templates:
            path = tmp_path_factory.getbasetemp() / "data-templates" / f"{tenant}.duckdb"
            if not path.exists():
                generate(path, tenant, scale=SCALE, end_date=AS_OF)
            _templates[tenant] = path
        return _templates[tenant]


@pytest.fixture
def data_dir(tmp_path, tmp_path_factory) -> Path:
    d = tmp_path / "penny-data"
    (d / "warehouses").mkdir(parents=True)
    for t in TENANTS:
        shutil.copy(warehouse_template(tmp_path_factory, t), d / "warehouses" / f"{t}.duckdb")
    return d


@pytest.fixture
def config(data_dir) -> PennyConfig:
    return PennyConfig(data_dir=str(data_dir), as_of=AS_OF.isoformat(), demo_scale=SCALE)


@pytest.fixture
def warehouses(config):
    w = Warehouses(config)
    yield w
    w.close()


@pytest.fixture
def ctx(warehouses, config) -> ToolContext:
    return ToolContext(principal=Principal("alice", "demo"), warehouses=warehouses, config=config,
                       today=config.today())
