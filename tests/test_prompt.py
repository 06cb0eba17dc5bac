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
