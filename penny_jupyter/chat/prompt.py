"""The system prompt: who Penny is, today's date, and what the company's data means.

A small model picks the right call only when it knows the words: that "expenses" is the metric `spend`,
which dimensions each metric can be cut by, which periods Penny understands, and which kind of question
wants one number, a breakdown, a trend, the KPIs or a dashboard. So the prompt carries a compact view of the
metrics catalog (one line per metric) and of the dashboards, within PROMPT_TOKEN_BUDGET (tests measure it).
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

PROMPT_TOKEN_BUDGET = 900  # estimated tokens (chat/memory.estimate_tokens); the tool schemas come on top

RULES = """You are Penny, the analyst of the company whose data the tools query. Today is {today}.
Answer with figures from tool results only; never invent a number, a name or a list. Call a tool whenever the
question needs data. After the tool answers, write two to four short lines of markdown quoting its figures as
it wrote them; the person also sees the tool's card, so do not repeat every row.
Which call a question wants:
- one number ("how many new customers this month", "win rate so far this year"): query_metric with metric and
  period only;
- a breakdown ("revenue by region", "top 3 regions by churn"): query_metric with by (and top for top-N);
- a trend ("revenue by month this year"): query_metric with grain;
- how the company is doing, KPIs: get_company_kpis (a region or department goes in unit);
- a dashboard by name: load_dashboard; tables and columns: describe_data; SQL the person wrote: run_sql.
Periods, in the one period argument: {periods}, a year ('2025'), a quarter ('Q2 2025'), a month
('March 2026'), or a range ('2026-03-01..2026-06-30', 'since 2026-03-01').
Metrics (name: label; also called; can be cut by):
{metrics}
Dashboards: {dashboards}.
If a tool returns an error, fix the call as the error says, or say in one sentence what went wrong."""


@lru_cache(maxsize=1)
def _catalog_view() -> tuple[str, str, str]:
    from ..data import catalog
    from ..data.periods import PERIOD_FORMS
    from ..tools.dashboards import TEMPLATES

    metrics = "\n".join(
        f"- {m.name}: {m.label}; {', '.join(m.synonyms[:3]) or '-'}; {', '.join(m.dimensions) or '-'}"
        for m in catalog.METRICS.values())
    dashboards = ", ".join(f"{slug} ({t['title']})" for slug, t in TEMPLATES.items())
    return ", ".join(PERIOD_FORMS), metrics, dashboards


def system_prompt(today: dt.date) -> str:
    periods, metrics, dashboards = _catalog_view()
    return RULES.format(today=f"{today:%A} {today.isoformat()}", periods=periods, metrics=metrics,
                        dashboards=dashboards)
