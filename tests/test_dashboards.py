import json
import sys
from pathlib import Path

import pydantic
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from data_fixtures import config, ctx, data_dir, warehouses  # noqa: E402,F401

from penny_jupyter.artifacts.spec import validate_dashboard  # noqa: E402
from penny_jupyter.data.generator import DEAL_STAGES  # noqa: E402
from penny_jupyter.data.periods import resolve_period  # noqa: E402
from penny_jupyter.errors import NotFound  # noqa: E402
from penny_jupyter.tools.dashboards import LOAD_DASHBOARD, TEMPLATES, DashboardParams, build_dashboard  # noqa: E402

SLUGS = ["company-health", "sales-funnel", "ops-incidents", "finance-snapshot"]


@pytest.mark.parametrize("slug", SLUGS)
def test_every_dashboard_is_a_valid_spec(ctx, slug):
    res = LOAD_DASHBOARD.run(ctx, DashboardParams(slug=slug))
    (art,) = res.artifacts
    assert art.type == "dashboard" and art.source["params"]["slug"] == slug
    validate_dashboard(art.spec)
    assert json.loads(json.dumps(art.spec)) == art.spec  # survives storage unchanged
    assert "bdata" not in json.dumps(art.spec)
    kinds = {w["type"] for w in art.spec["widgets"]}
    assert "metric" in kinds and "chart" in kinds
    assert len(art.spec["widgets"]) == len(TEMPLATES[slug]["widgets"])
    assert res.text.splitlines()[1].startswith("- **")


def test_sales_funnel_stages_ordered_and_decreasing(ctx):
    spec = LOAD_DASHBOARD.run(ctx, DashboardParams(slug="sales-funnel", period="YTD")).artifacts[0].spec
    funnel = next(w for w in spec["widgets"] if w["type"] == "chart" and w["kind"] == "funnel")
    trace = funnel["figure"]["data"][0]
    assert trace["type"] == "funnel"
    assert trace["y"] == list(DEAL_STAGES)
    counts = trace["x"]
    assert counts[0] > 0 and all(a >= b for a, b in zip(counts, counts[1:]))


def test_ops_incidents_widgets(ctx):
    spec = LOAD_DASHBOARD.run(ctx, DashboardParams(slug="ops-incidents")).artifacts[0].spec
    by_type = {}
    for w in spec["widgets"]:
        by_type.setdefault(w["type"], []).append(w)
    names = {w["name"] for w in by_type["metric"]}
    assert {"mttr", "uptime", "incidents"} <= names
    assert any(e["severity"] == "sev1" for e in by_type["timeline"][0]["events"])  # this month's big outage
    assert len(by_type["grid"][0]["items"]) == 10
    assert by_type["gauge"][0]["min"] <= by_type["gauge"][0]["value"] <= by_type["gauge"][0]["max"]


def test_finance_snapshot_has_money_metrics(ctx):
    spec = LOAD_DASHBOARD.run(ctx, DashboardParams(slug="finance-snapshot", period="MTD")).artifacts[0].spec
    names = {w["name"] for w in spec["widgets"] if w["type"] == "metric"}
    assert {"revenue", "burn", "gross_margin"} <= names
    assert spec["period"]["kind"] == "MTD"


def test_unknown_slug(ctx):
    with pytest.raises(pydantic.ValidationError):
        DashboardParams(slug="nope")
    with pytest.raises(NotFound) as e:
        build_dashboard(ctx.warehouse(), ctx.catalog(), "nope", resolve_period("MTD", ctx.today))
    assert "company-health" in e.value.message


def test_validator_rejects_bad_widgets():
    with pytest.raises(pydantic.ValidationError):
        validate_dashboard({"layout": "grid", "widgets": [{"type": "sparkle"}]})
    with pytest.raises(ValueError):
        validate_dashboard({"layout": "grid", "widgets": [
            {"type": "chart", "title": "t", "kind": "bar", "figure": {"data": [{"y": {"bdata": "AA=="}}]}}]})
