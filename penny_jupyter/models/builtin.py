"""The built-in offline router: maps a request to a tool call with a few lexical rules.

It costs nothing to install and answers on first run with no model server. It understands the
seed's requests and their everyday paraphrases (periods, the four dashboards by name or topic,
a department or region as the unit); anything else gets a reply that lists what it can do.
"""

from __future__ import annotations

import difflib
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


# ---- metric questions (query_metric), data questions (describe_data), SQL (run_sql) ---------------

_SQL_FENCE = re.compile(r"```\s*sql\s*\n(.*?)```", re.I | re.S)
# Text that starts like SQL AND looks like SQL: "select the top customers from EMEA" is English.
_SQL_LIKE = (
    re.compile(r"^select\b(?=.*\bfrom\b).*([*(),;=<>]|\b(where|group by|order by|limit|join|having|distinct)\b)", re.I | re.S),
    re.compile(r"^select\s+[\w.]+(\s*,\s*[\w.]+)*\s+from\s+[\w.\"]+\s*;?\s*$", re.I),
    re.compile(r"^select\s+[\d\s+*/().,'-]+;?$", re.I),
    re.compile(r"^with\s+\w+\s+as\s*\(", re.I),
    re.compile(r"^from\s+[\w.\"]+\s*(;?\s*$|\b(select|where|limit|order by|group by)\b)", re.I),
)

DESCRIBE_PATTERNS = (
    r"what data", r"which data", r"what tables", r"which tables", r"list (?:the |all )?tables", r"show (?:me )?(?:the )?tables",
    r"describe (?:the |your |my )?data", r"\bschema\b", r"data dictionary", r"what metrics", r"which metrics",
    r"list (?:the |all |your )?metrics", r"available (?:data|metrics|tables)", r"what can i ask", r"what columns",
    r"what(?:'s| is) in the (?:data|warehouse|database)", r"data do you have",
)

# dimension -> words that name it in a question ("by <word>", "top 10 <word>")
DIMENSION_WORDS: dict[str, tuple[str, ...]] = {
    "region": ("region", "regions", "geo", "geography"), "segment": ("segment", "segments"),
    "customer": ("customer", "customers", "account", "accounts", "client", "clients"),
    "industry": ("industry", "industries", "vertical", "verticals"),
    "department": ("department", "departments", "dept", "team", "teams"),
    "category": ("category", "categories"), "service": ("service", "services"),
    "severity": ("severity", "sev"), "priority": ("priority", "priorities"),
}
GRAIN_WORDS = {"day": ("daily", "by day", "per day", "each day"), "week": ("weekly", "by week", "per week", "each week"),
               "month": ("by month", "per month", "each month", "month by month", "month over month", "mom"),
               "quarter": ("quarterly", "by quarter", "per quarter", "each quarter")}
_NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
                 "ten": 10, "twelve": 12, "twenty": 20, "thirty": 30, "ninety": 90}
_UNITS = r"(day|week|month|quarter|year)s?"
METRIC_PERIODS: list[tuple[str, Any]] = [
    (rf"\b(?:last|past|trailing|previous) (\d+|{'|'.join(_NUMBER_WORDS)}) {_UNITS}\b", "rolling"),
    (r"\b(?:previous|last|prior) (week|month|quarter|year)\b", "previous"),
    (r"\bytd\b|year[\s-]+to[\s-]+date|this year|so far this year", "YTD"),
    (r"\bqtd\b|quarter[\s-]+to[\s-]+date|this quarter", "QTD"),
    (r"\bmtd\b|month[\s-]+to[\s-]+date|this month", "MTD"),
    (r"\byesterday\b", "yesterday"), (r"\btoday\b", "today"),
]
TREND_WORDS = ("trend", "trends", "trending", "over time", "history", "evolution", "growth", "how has", "chart",
               "plot", "graph")
_VOCAB_EXTRA = ("trend", "top", "last", "previous", "month", "months", "quarter", "quarters", "year", "years",
                "week", "weeks", "days", "monthly", "weekly", "quarterly", "daily", "this", "by", "per")


def _metric_vocab() -> dict[str, str]:
    """phrase -> metric name, from the catalog (imported on first use: the router stays light to load)."""
    from ..data.catalog import METRICS

    out: dict[str, str] = {}
    for m in METRICS.values():
        for phrase in (m.name, m.name.replace("_", " "), m.label.lower(), *m.synonyms):
            out.setdefault(phrase.lower(), m.name)
    return out


def _metric_dims() -> dict[str, tuple[str, ...]]:
    from ..data.catalog import DIMENSION_VALUES, METRICS

    return {"__values__": DIMENSION_VALUES, **{m.name: m.dimensions for m in METRICS.values()}}  # type: ignore[dict-item]


def extract_sql(text: str) -> str | None:
    """The SQL when the message IS a query (a ```sql block, or text starting with SELECT/WITH/FROM)."""
    if m := _SQL_FENCE.search(text):
        return m.group(1).strip()
    s = text.strip()
    if any(p.search(s) for p in _SQL_LIKE):
        return s.rstrip(";").strip()
    return None


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
    _metrics: dict[str, str] | None = field(default=None, repr=False)  # phrase -> metric, loaded on first use
    _words: list[str] | None = field(default=None, repr=False)

    def route(self, text: str) -> Route | None:
        sql = extract_sql(text or "")
        if sql:
            return Route("run_sql", {"query": sql}, 0.95, "text is SQL")
        t = " " + re.sub(r"[^\w&'\-\s]", " ", text.lower()) + " "
        t = re.sub(r"\s+", " ", t)
        tc, fixed = self._spellfix(t)
        if any(re.search(p, tc) for p in DESCRIBE_PATTERNS):
            return Route("describe_data", {}, 0.85 - 0.1 * fixed, "asks what data there is")
        period = next((p for pat, p in PERIOD_PATTERNS if re.search(pat, t)), None)

        scores = {slug: sum(1 for w in words if f" {w} " in t or (" " in w and w in t))
                  for slug, words in DASHBOARD_TOPICS.items()}
        slug, hits = max(scores.items(), key=lambda kv: kv[1])
        wants_dashboard = "dashboard" in t or "board" in t
        wants_kpis = any(f" {w} " in t or (" " in w and w in t) for w in KPI_WORDS)

        metric_route = self._metric_route(tc, fixed)
        if metric_route and not wants_dashboard and (metric_route.reason == "cue" or (not hits and not wants_kpis)):
            return metric_route
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

    # ---- query_metric -----------------------------------------------------------------------------

    def _vocab(self) -> dict[str, str]:
        if self._metrics is None:
            self._metrics = _metric_vocab()
        return self._metrics

    def _spellfix(self, t: str) -> tuple[str, bool]:
        """Replace near-miss words ("revnue", "regoin", "quater") with the vocabulary word they resemble."""
        if self._words is None:
            words = {w for p in self._vocab() for w in p.split()} | set(_VOCAB_EXTRA)
            words |= {w for ws in DIMENSION_WORDS.values() for w in ws}
            self._words = sorted(w for w in words if len(w) >= 3)
        out, fixed = [], False
        for w in t.split():
            if len(w) >= 4 and w not in self._words and not w.isdigit():
                close = difflib.get_close_matches(w, self._words, n=1, cutoff=0.75)
                if close and close[0][0] == w[0]:  # same first letter: keeps "weather" from becoming "weekly"
                    out.append(close[0])
                    fixed = True
                    continue
            out.append(w)
        return " " + " ".join(out) + " ", fixed

    def _metric_route(self, t: str, fixed: bool) -> Route | None:
        vocab = self._vocab()
        found = [(len(p), p, name) for p, name in vocab.items() if re.search(rf"(?<![\w-]){re.escape(p)}(?![\w-])", t)]
        if not found:
            return None
        _, phrase, metric = max(found)
        rest = re.sub(rf"(?<![\w-]){re.escape(phrase)}(?![\w-])", " ", t, count=1)
        dims = _metric_dims()
        allowed = dims.get(metric, ())
        params: dict[str, Any] = {"metric": metric}
        cue = False

        period = self._metric_period(rest)
        grain = next((g for g, ws in GRAIN_WORDS.items() if any(f" {w} " in rest for w in ws)), None)
        if grain is None and re.search(r"\bmonthly\b", rest):
            grain = "month"
        if grain:
            rest = rest.replace(f" by {grain} ", " ")
        by = top = None
        if m := re.search(r"\b(?:top|biggest|largest|best) (?:(\d+|" + "|".join(_NUMBER_WORDS) + r") )?(\w+)", rest):
            n = (m.group(1) or "").strip()
            top = int(n) if n.isdigit() else _NUMBER_WORDS.get(n, 10)
            by = next((d for d, ws in DIMENSION_WORDS.items() if m.group(2) in ws), None)
            if by is None and "customer" in allowed:
                by = "customer"
        for d, ws in DIMENSION_WORDS.items():
            if re.search(rf"\b(?:by|per|across|each|split by|broken down by) (?:{'|'.join(ws)})\b", rest):
                by = d
                break
        if by and by not in allowed:
            by = None
        filters = {}
        for d, values in dims["__values__"].items():  # type: ignore[union-attr]
            if d not in allowed or d == by:
                continue
            for v in values:
                if f" {v.lower()} " in rest:
                    filters[d] = v
                    break
        if period:
            params["period"] = period
        if grain:
            params["grain"] = grain
        if by:
            params["by"] = by
        if top:
            params["top"] = top
        if filters:
            params["filters"] = filters
        trend = any(f" {w} " in rest or (" " in w and w in rest) for w in TREND_WORDS)
        cue = bool(grain or by or top or trend or (period and period not in ("MTD", "QTD", "YTD")))
        conf = (0.85 if cue and period else 0.75 if cue else 0.6) - (0.1 if fixed else 0.0)
        return Route("query_metric", params, round(conf, 2), "cue" if cue else "metric named")

    def _metric_period(self, t: str) -> str | None:
        for pat, kind in METRIC_PERIODS:
            m = re.search(pat, t)
            if not m:
                continue
            if kind == "rolling":
                n = m.group(1)
                n = int(n) if n.isdigit() else _NUMBER_WORDS[n]
                return f"last {n} {m.group(2)}{'s' if n != 1 else ''}"
            if kind == "previous":
                return f"previous {m.group(1)}"
            return kind
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
        "- **Any metric**, sliced: *\"revenue by month this year\"*, *\"churn by region last quarter\"*, "
        "*\"top 10 customers by ARR\"*, *\"MRR trend last 6 months\"*\n"
        "- **What data there is**: *\"what data do you have?\"*; and paste a SQL query to run it\n"
    )
