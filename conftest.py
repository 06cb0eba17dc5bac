"""Root pytest configuration: pytest-jupyter's server fixtures, and a Penny server on a fresh data dir.

The demo warehouse is generated once per session at a small scale and copied into each test's data
dir, so every test starts from the same company and none waits for a generator.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

# `make test` run from a JupyterLab terminal inherits the credential that server hands its kernels: the tests'
# kernels must not talk to that real server.
for _var in ("PENNY_SERVER_URL", "PENNY_KERNEL_TOKEN"):
    os.environ.pop(_var, None)
# Every event the chat socket sends is validated against its pydantic model (protocol.check_event).
os.environ["PENNY_CHECK_EVENTS"] = "1"

pytest_plugins = ["pytest_jupyter.jupyter_server", "tests.db_fixtures", "tests.llm_server"]  # databases; a real LLM

AS_OF = "2026-11-18"
TEST_SCALE = 0.05


@pytest.fixture(scope="session")
def demo_warehouse_template(tmp_path_factory) -> Path:
    from penny_jupyter.data.generator import generate

    path = tmp_path_factory.mktemp("warehouse-template") / "demo.duckdb"
    import datetime as dt

    generate(path, "demo", scale=TEST_SCALE, end_date=dt.date.fromisoformat(AS_OF))
    return path


@pytest.fixture
def penny_data_dir(tmp_path, demo_warehouse_template) -> Path:
    data = tmp_path / "penny-data"
    (data / "warehouses").mkdir(parents=True)
    shutil.copy(demo_warehouse_template, data / "warehouses" / "demo.duckdb")
    return data


@pytest.fixture
def penny_config_values(penny_data_dir) -> dict:
    return {"data_dir": str(penny_data_dir), "demo_scale": TEST_SCALE, "as_of": AS_OF}


@pytest.fixture
def jp_server_config(penny_config_values):
    return {
        "ServerApp": {"jpserver_extensions": {"penny_server": True}},
        "PennyConfig": penny_config_values,
    }


def pytest_collection_modifyitems(config, items):
    """Browser tests last: Playwright's sync API keeps an event loop running on this thread until the
    session ends, and pytest-jupyter's async tests need to run their own."""
    items.sort(key=lambda item: "tests/browser/" in str(item.path).replace("\\", "/"))
