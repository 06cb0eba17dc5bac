"""The router's evaluation set: exact tool-and-arguments accuracy over requests written as people type them.

Each line of tests/eval/requests.jsonl is {"text", "tool", "params"} (plus "clarify": true for the
ambiguous ones). A null tool means no tool call: plain null expects the help reply (route() -> None),
null with "clarify" expects a Clarification. See tests/eval/README.md for the conventions.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path

from penny_jupyter.models.builtin import BuiltinRouter, Clarification, Route

EVAL = Path(__file__).parent / "eval" / "requests.jsonl"
# Written after the router was tuned on requests.jsonl and scored once before any fix (see tests/eval/README.md).
HELDOUT = Path(__file__).parent / "eval" / "heldout.jsonl"
UNITS = ["Engineering", "Sales", "Marketing", "Support", "Finance", "Operations", "NA", "EMEA", "APAC", "LATAM"]
THRESHOLD = 0.90


def load(path: Path = EVAL) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def expected_label(item: dict) -> str:
    return item["tool"] or ("clarify" if item.get("clarify") else "help")


def outcome(result) -> tuple[str, dict]:
    if isinstance(result, Route):
        return result.tool, result.params
    if isinstance(result, Clarification):
        return "clarify", {}
    return "help", {}


def evaluate(router: BuiltinRouter, items: list[dict]) -> tuple[float, list[tuple[dict, str, dict]], Counter]:
    failures, confusion = [], Counter()
    for item in items:
        got_tool, got_params = outcome(router.route(item["text"]))
        want = expected_label(item)
        confusion[(want, got_tool)] += 1
        if (got_tool, got_params) != (want, item["params"] if item["tool"] else {}):
            failures.append((item, got_tool, got_params))
    return 1 - len(failures) / len(items), failures, confusion


def summary(items, failures, confusion) -> str:
    per_tool: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for item in items:
        per_tool[expected_label(item)][1] += 1
    for item, _, _ in failures:
        per_tool[expected_label(item)][0] += 1
    lines = ["per expected tool: exact / total   (confusion: predicted -> count)"]
    for tool, (bad, n) in sorted(per_tool.items()):
        conf = ", ".join(f"{g}: {c}" for (w, g), c in sorted(confusion.items()) if w == tool)
        lines.append(f"  {tool:18} {n - bad:3} / {n:3}   ({conf})")
    lines.append("failures:")
    lines += [f"  {i['text']!r}: want {expected_label(i)} {i['params']}, got {t} {p}" for i, t, p in failures]
    return "\n".join(lines)


def test_eval_set_shape():
    items = load()
    assert len(items) >= 200
    assert sum(1 for i in items if i["tool"] is None and not i.get("clarify")) >= 20
    assert sum(1 for i in items if i.get("clarify")) >= 10
    assert len({i["text"] for i in items}) == len(items), "duplicate requests"
    from penny_jupyter.data.catalog import METRICS
    routed = {i["params"].get("metric") for i in items if i["tool"] == "query_metric"}
    assert routed >= set(METRICS), f"metrics with no request: {set(METRICS) - routed}"
    texts = " ".join(i["text"].lower() for i in items if i["tool"] == "query_metric")
    missing = [s for m in METRICS.values() for s in m.synonyms if s not in texts]
    assert not missing, f"synonyms with no request: {missing}"


def test_expected_params_are_valid_tool_calls():
    from penny_jupyter.data.catalog import METRICS
    from penny_jupyter.tools.dashboards import DashboardParams
    from penny_jupyter.tools.kpis import KpiParams
    from penny_jupyter.tools.metrics import DescribeDataParams, QueryMetricParams
    from penny_jupyter.tools.sql import SqlParams

    models = {"get_company_kpis": KpiParams, "load_dashboard": DashboardParams, "query_metric": QueryMetricParams,
              "describe_data": DescribeDataParams, "run_sql": SqlParams}
    for item in load() + load(HELDOUT):
        if item["tool"]:
            models[item["tool"]].model_validate(item["params"])
            if item["tool"] == "query_metric":
                dims = METRICS[item["params"]["metric"]].dimensions
                cuts = set(item["params"].get("filters") or {})
                if "by" in item["params"]:
                    cuts.add(item["params"]["by"])
                assert cuts <= set(dims), item


def test_router_accuracy_on_eval_set():
    items = load()
    acc, failures, confusion = evaluate(BuiltinRouter(units=UNITS), items)
    print(f"router accuracy {acc:.1%} exact on {len(items)} requests")
    assert acc >= THRESHOLD, f"accuracy {acc:.1%} < {THRESHOLD:.0%}\n" + summary(items, failures, confusion)


def test_router_accuracy_on_heldout_set():
    items = load(HELDOUT)
    acc, failures, confusion = evaluate(BuiltinRouter(units=UNITS), items)
    assert acc >= THRESHOLD, f"held-out accuracy {acc:.1%} < {THRESHOLD:.0%}\n" + summary(items, failures, confusion)
    assert not {i["text"] for i in items} & {i["text"] for i in load()}, "held-out requests must be new"


def test_router_accuracy_on_the_later_sets():
    """heldout2 and heldout3 (tuned on after one scoring each) and heldout4 (still held out): a floor, not a target."""
    for name in ("heldout2.jsonl", "heldout3.jsonl", "heldout4.jsonl"):
        items = load(EVAL.parent / name)
        acc, failures, confusion = evaluate(BuiltinRouter(units=UNITS), items)
        assert acc >= THRESHOLD, f"{name}: {acc:.1%} < {THRESHOLD:.0%}\n" + summary(items, failures, confusion)
        assert not {i["text"] for i in items} & {i["text"] for i in load()}, "held-out requests must be new"
