"""The system prompt tells the model what the company's data means (the catalog's metrics, their other names
and dimensions, the periods, which question wants which call) and stays inside its token budget."""

from __future__ import annotations

import datetime as dt

from penny_jupyter.chat.memory import estimate_tokens
from penny_jupyter.chat.prompt import PROMPT_TOKEN_BUDGET, system_prompt
from penny_jupyter.data import catalog
from tests.test_models import fake_ollama, make_engine, run_turn  # noqa: F401 (fixtures)


def test_the_prompt_names_every_metric_with_its_other_names_within_budget():
    prompt = system_prompt(dt.date(2026, 12, 1))
    for m in catalog.METRICS.values():
        assert f"- {m.name}: {m.label}; " in prompt
    assert "- spend: Spend; expenses" in prompt, "so 'expenses' finds spend"
    assert "Q2 2025" in prompt and "since 2026-03-01" in prompt and "sales-funnel" in prompt
    assert "Today is Tuesday 2026-12-01." in prompt
    assert estimate_tokens(prompt) <= PROMPT_TOKEN_BUDGET


def test_the_model_gets_it_as_the_system_message(make_engine, fake_ollama):
    engine = make_engine()
    fake_ollama.reply("Hello.")
    run_turn(engine, "hello")
    first = fake_ollama.requests[0]["messages"][0]
    assert first["role"] == "system" and first["content"] == system_prompt(engine.config.today())


def test_the_schemas_a_model_sees_are_small_and_closed():
    """One way to give a period (no start/end beside it to contradict it), and enums for what has a fixed set:
    the metric, the dimension, the KPI unit. People and the router may still send start/end and synonyms."""
    from penny_jupyter.models.base import tool_schema
    from penny_jupyter.tools.registry import default_registry

    tools = default_registry(load_plugins=False)
    metric = tool_schema(tools.get("query_metric"))["function"]["parameters"]["properties"]
    assert "start" not in metric and "end" not in metric and "period" in metric
    assert metric["metric"]["enum"] == list(catalog.METRICS)
    assert "region" in metric["by"]["enum"] and "regions" not in metric["by"]["enum"]
    kpis = tool_schema(tools.get("get_company_kpis"))["function"]["parameters"]["properties"]
    assert kpis["unit"]["enum"][0] == "company" and "Finance" in kpis["unit"]["enum"]
    params = tools.get("query_metric").params.model_validate({"metric": "sales", "start": "2026-01-01", "by": "regions"})
    assert params.start is not None, "still accepted from the router and people"


def test_every_example_in_the_prompt_is_the_routers_reading_and_a_valid_call():
    """The examples teach a small model the conventions the eval scores; they must not drift from them."""
    from penny_jupyter.chat.prompt import EXAMPLES
    from penny_jupyter.data.periods import parse_period
    from penny_jupyter.models.builtin import BuiltinRouter
    from penny_jupyter.tools.registry import default_registry
    from tests.test_router import UNITS

    today = dt.date(2026, 12, 1)
    tools = default_registry(load_plugins=False)

    def read(tool: str, args: dict) -> dict:
        out = tools.get(tool).params.model_validate(args).model_dump(mode="json")
        if tool == "query_metric":
            p = parse_period(out.pop("period"), today, out.pop("start"), out.pop("end"))
            out["dates"] = (p.start, p.end)
        return out

    router = BuiltinRouter(units=UNITS, today=lambda: today)
    for text, tool, args in EXAMPLES:
        route = router.route(text)
        assert (route.tool, read(route.tool, route.params)) == (tool, read(tool, args)), text
        assert "start" not in args and "end" not in args, "the model is offered one period argument"
