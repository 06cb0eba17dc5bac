"""The built-in offline router: maps a request to a tool call with a few lexical rules.

It costs nothing to install and answers on first run with no model server. It understands the
seed's requests and their everyday paraphrases (periods, the four dashboards by name or topic,
a department or region as the unit); anything else gets a reply that lists what it can do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

NAME = "builtin"

# Topic words -> dashboard slug. The first slug with the most hits wins.
DASHBOARD_TOPICS: dict[str, tuple[str, ...]] = {
    "sales-funnel": ("funnel", "sales", "pipeline", "deals", "deal", "win rate", "conversion", "bookings"),
    "ops-incidents": ("ops", "operations", "incident", "incidents", "outage", "outages", "uptime", "mttr",
                      "on-call", "oncall", "reliability", "sla", "services", "status"),
    "finance-snapshot": ("finance", "financial", "financials", "burn", "cash", "runway", "margin", "expenses",
                         "spend", "p&l", "pnl", "cfo"),
    "company-health": ("health", "company health", "overview", "executive", "exec", "big picture", "how is the company"),
}

KPI_WORDS = ("kpi", "kpis", "key metrics", "metrics", "numbers", "scorecard", "how are we doing", "how we're doing",
             "how are we tracking", "performance", "headline", "vital signs", "stats")

PERIOD_PATTERNS: list[tuple[str, str]] = [
    (r"\bytd\b|year[\s-]+to[\s-]+date|this year|\byear\b|annual|so far this year", "YTD"),
    (r"\bqtd\b|quarter[\s-]+to[\s-]+date|this quarter|\bquarter\b|\bq[1-4]\b", "QTD"),
    (r"\bmtd\b|month[\s-]+to[\s-]+date|this month|\bmonth\b|monthly", "MTD"),
]
PERIOD_WORDS = {"MTD": "this month", "QTD": "this quarter", "YTD": "this year"}


@dataclass
class Route:
    tool: str
    params: dict[str, Any]
    confidence: float
    reason: str = ""


@dataclass
class BuiltinRouter:
    units: list[str] = field(default_factory=list)  # departments and regions the KPIs can be cut by
    name: str = NAME

    def route(self, text: str) -> Route | None:
        t = " " + re.sub(r"[^\w&'\-\s]", " ", text.lower()) + " "
        t = re.sub(r"\s+", " ", t)
        period = next((p for pat, p in PERIOD_PATTERNS if re.search(pat, t)), None)

        scores = {slug: sum(1 for w in words if f" {w} " in t or (" " in w and w in t))
                  for slug, words in DASHBOARD_TOPICS.items()}
        slug, hits = max(scores.items(), key=lambda kv: kv[1])
        wants_dashboard = "dashboard" in t or "board" in t
        wants_kpis = any(f" {w} " in t or (" " in w and w in t) for w in KPI_WORDS)

        if wants_dashboard and hits == 0 and not wants_kpis:
            slug, hits = "company-health", 1
        if hits and (wants_dashboard or not wants_kpis):
            params: dict[str, Any] = {"slug": slug}
            if period:
                params["period"] = period
            return Route("load_dashboard", params, 0.9 if wants_dashboard else 0.7, f"topic {slug}")
        if wants_kpis:
            params = {"period": period or "MTD", "unit": self._unit(t) or "company"}
            return Route("get_company_kpis", params, 0.9, "kpi words")
        return None

    def _unit(self, t: str) -> str | None:
        for unit in self.units:
            if f" {unit.lower()} " in t:
                return unit
        return None


def help_text() -> str:
    return (
        "I can't answer that one yet. Here is what I can do today:\n\n"
        "- **Company KPIs** for this month, quarter or year (MTD/QTD/YTD), for the whole company or one "
        "department or region: *\"Show me company KPIs for this month\"*, *\"KPIs for EMEA this quarter\"*\n"
        "- **Dashboards**: *company health*, *sales funnel*, *ops incidents*, *finance snapshot*: "
        "*\"open the sales funnel dashboard\"*\n"
    )
