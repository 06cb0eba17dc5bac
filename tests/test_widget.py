"""ArtifactWidget: small saved state, and static copies that read without a kernel."""

from __future__ import annotations

import json
import re

import pytest

from conftest import AS_OF, TEST_SCALE
from penny_jupyter.kernel.session import LocalSession
from penny_jupyter.artifacts.bundle import MIME
from penny_jupyter.kernel.results import PennyArtifact
from penny_jupyter.kernel.widget import ArtifactWidget
from penny_jupyter.settings import PennyConfig


@pytest.fixture
def session(penny_data_dir):
    s = LocalSession(PennyConfig(data_dir=str(penny_data_dir), demo_scale=TEST_SCALE, as_of=AS_OF))
    yield s
    s.engine.close()


def test_a_twelve_widget_dashboard_saves_under_100_kb_with_a_small_esm(session):
    art = session.run_tool("load_dashboard", {"slug": "company-health"}).artifacts[0]
    assert len(art["spec"]["widgets"]) >= 12
    w = ArtifactWidget(art)
    state = w.get_state()
    assert len(json.dumps(state, default=str)) < 100 * 1024
    assert len(w._esm.encode()) < 8 * 1024, "the view stays a few KB: the renderer lives in the labextension"


@pytest.mark.parametrize("slug", ["company-health", "sales-funnel", "ops-incidents", "finance-snapshot"])
def test_static_copies_carry_the_numbers(session, slug):
    art = session.run_tool("load_dashboard", {"slug": slug}).artifacts[0]
    data = PennyArtifact(art)._repr_mimebundle_()
    assert data[MIME]["spec"] == art["spec"] and data[MIME]["id"] == art["id"]
    assert "application/vnd.jupyter.widget-view+json" not in data, "nbconvert would pick it over the HTML"
    html = data["text/html"]
    assert re.search(r"<h3>[^<]+</h3>", html) and "<table" in html
    assert "<script" not in html and "<style" not in html
    for w in art["spec"]["widgets"]:
        if w["type"] == "metric":
            assert w["formatted"] in html and w["formatted"] in data["text/plain"]
