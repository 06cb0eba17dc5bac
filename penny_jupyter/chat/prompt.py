"""The system prompt: who Penny is, today's date, and what the company's data means.

A small model picks the right call only when it knows the words: that "expenses" is the metric `spend`,
which dimensions each metric can be cut by, which periods Penny understands, and which kind of question
wants one number, a breakdown, a trend, the KPIs or a dashboard. So the prompt carries a compact view of the
metrics catalog (one line per metric) and of the dashboards, within PROMPT_TOKEN_BUDGET (tests measure it).
"""

from __future__ import annotations

import datetime as dt
import json
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..data.catalog import Catalog

PROMPT_TOKEN_BUDGET = 1100  # estimated tokens (chat/memory.estimate_tokens); the tool schemas come on top

RULES = """You are Penny, the analyst of the company whose data the tools query. Today is {today}.
Answer with figures from tool results only; never invent a number, a name or a list. Call a tool whenever the
question needs data. After the tool answers, write two to four short lines of markdown quoting its figures as
it wrote them; the person also sees the tool's card, so do not repeat every row.
Periods, in the one period argument: {periods}, a year ('2025'), a quarter ('Q2 2025'), a month
('March 2026'), or a range ('2026-03-01..2026-06-30', 'since 2026-03-01').
Metrics (name: label; also called; can be cut by):
{metrics}
Dashboards: {dashboards}.
Examples, one per kind of question (request -> call; pass only what the person said, the tools default the rest;
a region or department in KPIs goes in unit; SQL the person wrote goes to run_sql as written):
{examples}
Greetings and questions about anything else get one short sentence and no call.
If a tool returns an error, fix the call as the error says, or say in one sentence what went wrong."""

# Worked examples, one per kind of question. A small model copies their shape far more reliably than it follows
# rules: each is what the built-in router reads from the same words (tests/test_prompt.py checks it), written in
# the model-facing form (one `period`).
EXAMPLES: tuple[tuple[str, str, dict], ...] = (
    ("how many new customers did we sign this month", "query_metric", {"metric": "new_customers", "period": "MTD"}),
    ("revenue by month this year", "query_metric", {"metric": "revenue", "period": "YTD", "grain": "month"}),
    ("churn by region last quarter", "query_metric", {"metric": "churn", "period": "previous quarter", "by": "region"}),
    ("which 3 segments have the highest churn", "query_metric", {"metric": "churn", "by": "segment", "top": 3}),
    ("top 10 customers by ARR", "query_metric", {"metric": "arr", "by": "customer", "top": 10}),
    ("expenses in EMEA between jan 15 and feb 15 2026", "query_metric",
     {"metric": "spend", "period": "2026-01-15..2026-02-15", "filters": {"region": "EMEA"}}),
    ("tickets in Q2 2025 vs last year", "query_metric", {"metric": "tickets", "period": "Q2 2025",
                                                         "compare": "previous_year"}),
    ("Show me company KPIs for this month", "get_company_kpis", {"period": "MTD", "unit": "company"}),
    ("how is engineering doing this quarter", "get_company_kpis", {"period": "QTD", "unit": "Engineering"}),
    ("open the sales funnel dashboard", "load_dashboard", {"slug": "sales-funnel"}),
    ("please run select region, count(*) from customers group by 1", "run_sql",
     {"query": "select region, count(*) from customers group by 1"}),
    ("what columns does the deals table have", "describe_data", {}),
)


@lru_cache(maxsize=1)
def _fixed_view() -> tuple[str, str, str]:
    from ..data.periods import PERIOD_FORMS
    from ..tools.dashboards import TEMPLATES

    dashboards = ", ".join(f"{slug} ({t['title']})" for slug, t in TEMPLATES.items())
    examples = "\n".join(f'"{text}" -> {json.dumps({"name": tool, "arguments": args})}'
                         for text, tool, args in EXAMPLES)
    return ", ".join(PERIOD_FORMS), dashboards, examples


def _metrics_view(cat: "Catalog") -> str:
    return "\n".join(f"- {m.name}: {m.label}; {', '.join(m.synonyms[:3]) or '-'}; {', '.join(m.dimensions) or '-'}"
                     for m in cat.metrics.values())


def system_prompt(today: dt.date, cat: "Catalog | None" = None) -> str:
    """The prompt for a tenant whose metrics are `cat` (its own mapping, or the demo catalog by default)."""
    from ..data.catalog import DEMO

    periods, dashboards, examples = _fixed_view()
    return RULES.format(today=f"{today:%A} {today.isoformat()}", periods=periods, metrics=_metrics_view(cat or DEMO),
                        dashboards=dashboards, examples=examples)
