"""The built-in offline router: maps a request to a tool call with a few lexical rules.

It costs nothing to install and answers on first run with no model server. It understands the
seed's requests and their everyday paraphrases (periods, the four dashboards by name or topic,
a department or region as the unit, any catalog metric sliced by period, grain, dimension, top N,
filters, explicit dates and comparisons), tolerates typos (difflib against its own vocabulary),
number words and abbreviations. When a request names something it knows but not enough to act on
("revenue", "top 10", two dashboards at once) it returns a `Clarification` with clickable requests;
anything else gets None, and the turn replies with `help_reply()`: a sentence and requests to click.

Measured on tests/eval/requests.jsonl (bench/bench_router.py): see tests/eval/README.md.

Why it is over 400 lines: it is one idea, the router's vocabulary and the rules that read a request,
and the rules share that vocabulary at every step; split by rule, each part would import all the others.
"""

from __future__ import annotations

import calendar
import datetime as dt
import difflib
import re
from dataclasses import dataclass, field
from typing import Any, Callable

NAME = "builtin"

# Topic words -> dashboard slug. The slug with the most hits wins; a tie asks which one.
DASHBOARD_TOPICS: dict[str, tuple[str, ...]] = {
    "sales-funnel": ("funnel", "sales", "pipeline", "deals", "deal", "win rate", "conversion", "bookings",
                     "sales funnel", "sales-funnel"),
    "ops-incidents": ("ops", "operations", "incident", "incidents", "outage", "outages", "uptime", "mttr",
                      "on-call", "oncall", "reliability", "sla", "services", "status", "ops incidents",
                      "ops-incidents"),
    "finance-snapshot": ("finance", "financial", "financials", "burn", "cash", "runway", "margin", "expenses",
                         "spend", "p&l", "pnl", "cfo", "finance snapshot", "finance-snapshot"),
    "company-health": ("health", "company health", "overview", "executive", "exec", "big picture", "how is the company",
                       "company-health"),
}

KPI_WORDS = ("kpi", "kpis", "key metrics", "metrics", "numbers", "scorecard", "how are we doing", "how we're doing",
             "how are we tracking", "performance", "headline", "vital signs", "stats")
# "how is engineering doing", "how's the company performing"
# naming the tool outright: KPIs win over a metric word in the same request ("quarterly KPIs for sales")
_KPI_EXPLICIT = ("kpi", "kpis", "scorecard")
_KPI_QUESTION = re.compile(r"\bhow (?:are|is) (?:\w+ ){1,2}(?:doing|tracking|performing)\b")
_LOOKING = re.compile(r"\bhow (?:are|is) (?:\w+ ){1,2}looking\b")  # KPIs only when a unit is named: "how is latam looking"

PERIOD_PATTERNS: list[tuple[str, str]] = [
    (r"\bytd\b|year[\s-]+to[\s-]+date|this year|\byear\b|annual|so far this year", "YTD"),
    (r"\bqtd\b|quarter[\s-]+to[\s-]+date|this quarter|\bquarter\b|quarterly|\bq[1-4]\b", "QTD"),
    (r"\bmtd\b|month[\s-]+to[\s-]+date|this month|\bmonth\b|monthly", "MTD"),
]

# Below this a route is not worth running: the router asks instead (a bare metric scores 0.45).
CLARIFY_BELOW = 0.5


@dataclass
class Clarification:
    """Not enough to act on: a question for the person and 2-4 full requests they can click."""
    question: str
    suggestions: list[str]


# ---- metric questions (query_metric), data questions (describe_data), SQL (run_sql) ---------------

_FENCE = re.compile(r"```[ \t]*(sql\b)?[ \t]*\n?(.*?)```", re.I | re.S)
# Text that starts like SQL AND looks like SQL: "select the top customers from EMEA" is English.
_SQL_LIKE = (
    re.compile(r"^select\b(?=.*\bfrom\b).*([*(),;=<>]|\b(where|group by|order by|limit|join|having|distinct)\b)", re.I | re.S),
    re.compile(r"^select\s+[\w.]+(\s*,\s*[\w.]+)*\s+from\s+[\w.\"]+\s*;?\s*$", re.I),
    re.compile(r"^select\s+[\d\s+*/().,'-]+;?$", re.I),
    re.compile(r"^with\s+\w+\s+as\s*\(", re.I),
    re.compile(r"^from\s+[\w.\"]+\s*(;?\s*$|\b(select|where|limit|order by|group by)\b)", re.I),
    # Statements that write: routed to run_sql all the same, so the person hears why it will not run them
    # ("Penny only runs read-only queries") and the attempt is in the audit log.
    re.compile(r"^(?:drop|truncate|alter|create(?:\s+or\s+replace)?)\s+(?:table|view|schema|database|index)\s+"
               r"(?:if\s+(?:not\s+)?exists\s+)?[\w.\"]+", re.I),
    re.compile(r"^(?:delete\s+from|insert\s+into)\s+[\w.\"]+", re.I),
    re.compile(r"^update\s+[\w.\"]+\s+set\s+\w+\s*=", re.I),
)

_INLINE_CODE = re.compile(r"`([^`\n]+)`")
_SQL_START = re.compile(r"(?<![\w.\"'(])(?:select|with)\b", re.I)
_FENCE_ANY = re.compile(r"```.*?(?:```|$)", re.S)

DESCRIBE_PATTERNS = (
    r"what data", r"which data", r"what tables", r"which tables", r"list (?:the |all )?tables", r"show (?:me )?(?:the )?tables",
    r"describe (?:the |your |my )?data", r"\bschema\b", r"data dictionary", r"what metrics", r"which metrics",
    r"list (?:the |all |your )?metrics", r"available (?:data|metrics|tables)", r"what can i ask", r"what columns",
    r"what(?:'s| is) in the (?:data|warehouse|database)", r"data do you have",
    # questions about a table's columns: "what fields does the invoices table have", "columns of deals"
    r"\b(?:fields|columns|schema)\b.*\btables?\b", r"\btables?\b.*\b(?:fields|columns)\b",
    r"\b(?:fields|columns) (?:of|in|on|for) (?:the )?\w+", r"\bdescribe (?:the )?\w+ table\b",
    r"\bwhat is in (?:the )?\w+ table\b", r"\bwhich tables?\b", r"\bwhat tables?\b",
    r"\b(?:which|what) (?:fields|columns)\b",
)

# Penny only reads: requests to change data, and requests far outside analytics, get the help reply.
_OFF_TOPIC = re.compile(r"\b(delete|remove|drop|truncate|insert|wipe|erase|modify|overwrite|rename|"
                        r"update (?:the|our|a|all|this|that|every)|edit (?:the|our|a|this|that)|poem|joke|jokes|haiku|song|lyrics|story|"
                        r"weather|recipe|translate|email|remind|reminder)\b")

# dimension -> words that name it in a question ("by <word>", "top 10 <word>")
DIMENSION_WORDS: dict[str, tuple[str, ...]] = {
    "region": ("region", "regions", "geo", "geography"), "segment": ("segment", "segments"),
    "customer": ("customer", "customers", "account", "accounts", "client", "clients"),
    "industry": ("industry", "industries", "vertical", "verticals"),
    "department": ("department", "departments", "dept", "team", "teams"),
    "category": ("category", "categories"), "service": ("service", "services"),
    "severity": ("severity", "severities", "sev", "sevs"), "priority": ("priority", "priorities"),
}
GRAIN_WORDS = {"day": ("daily", "by day", "per day", "each day", "day by day"),
               "week": ("weekly", "by week", "per week", "each week", "week over week", "wow"),
               "month": ("monthly", "by month", "per month", "each month", "month by month", "month over month", "mom"),
               "quarter": ("quarterly", "by quarter", "per quarter", "each quarter", "quarter over quarter", "qoq")}
_NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
                 "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
                 "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40,
                 "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100}
_TENS = ("twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
# short forms people type -> the word the rules know
_ABBREVIATIONS = {"wk": "week", "wks": "weeks", "mo": "month", "mos": "months", "mth": "month", "mths": "months",
                  "qtr": "quarter", "qtrs": "quarters", "yr": "year", "yrs": "years", "rev": "revenue",
                  "depts": "departments", "pls": "please", "plz": "please", "u": "you", "ur": "your",
                  "kpi's": "kpis", "versus": "vs", "v": "vs", "y/y": "yoy", "q/q": "qoq", "m/m": "mom"}
_UNITS = r"(day|week|month|quarter|year)s?"
METRIC_PERIODS: list[tuple[str, Any]] = [
    (rf"\b(?:last|past|trailing|previous|prior) (\d+) {_UNITS}\b", "rolling"),
    (r"\b(?:previous|last|prior) (week|month|quarter|year)\b", "previous"),
    (r"\b(?:past|trailing) (week|month|quarter|year)\b", "past"),
    (r"\bytd\b|year[\s-]+to[\s-]+date|this year|so far this year", "YTD"),
    (r"\bqtd\b|quarter[\s-]+to[\s-]+date|this quarter", "QTD"),
    (r"\bmtd\b|month[\s-]+to[\s-]+date|this month", "MTD"),
    (r"\byesterday\b", "yesterday"),
    (r"\btoday\b|\bright now\b|\bcurrently\b|\bat the moment\b|\bas of now\b", "today"),
]
# A question after one figure: "how many new customers did we sign", "what is our win rate so far this year".
_ONE_NUMBER = re.compile(r"^ (?:so )?(?:how many|how much|what is|what was|what were|what are|whats|tell me|give me) ")
# "which 3 regions have the highest churn", "the 5 customers with the most revenue": top N by an entity.
_SUPERLATIVE = r"(?:the )?(?:highest|most|biggest|largest|top|best|greatest|strongest)"
# "vs last year" says how to compare, not which period: read (and removed) before the period.
_COMPARE: list[tuple[str, str]] = [
    (r"\b(?:no|without|skip the|skip|dont|do not|don't) compar\w*\b", "none"),
    (r"\b(?:vs|compared (?:to|with)|against|relative to) (?:the )?(?:same (?:period|time|dates|days) )?"
     r"(?:(?:of|as) )?(?:last|previous|prior|a) year\b|\bsame (?:period|time|dates|days) (?:as )?last year\b"
     r"|\byear[\s-]+over[\s-]+year\b|\byoy\b", "previous_year"),
    (r"\b(?:vs|compared (?:to|with)|against|relative to) (?:the )?(?:last|previous|prior) "
     r"(?:period|week|month|quarter)\b", "previous_period"),
]
_MONTHS = {m.lower(): i for i, m in enumerate(calendar.month_name) if m}
_MONTHS |= {m.lower(): i for i, m in enumerate(calendar.month_abbr) if m}
TREND_WORDS = ("trend", "trends", "trending", "over time", "history", "evolution", "growth", "how has", "chart",
               "plot", "graph")
_VOCAB_EXTRA = ("trend", "top", "last", "previous", "month", "months", "quarter", "quarters", "year", "years",
                "week", "weeks", "days", "monthly", "weekly", "quarterly", "daily", "this", "by", "per",
                "dashboard", "dashboards", "board", "today", "yesterday", "compare", "compared", "chart", "graph",
                "between", "since", "biggest", "largest", "snapshot", *KPI_WORDS)
# everyday words that resemble vocabulary ("meaning" ~ "mean", "please" ~ "pipeline"): never "corrected"
_KNOWN = frozenset("""
show give what please with from have about this that were much many does doing tell open pull make made
need want like look looking could would should their there them they then than when where which while
your yours ours good morning meaning time life world movie bread code python help fix order pizza music
play send meeting tomorrow name hello thanks thank know some more most over under into onto only also
just each every again still well lately state down check anything something nothing quick rundown so
far march april june july august september october november december january february total numbers
sum average report summary split broken same period against relative without list signs sign
table tables lists most least
""".split())


_EVERYDAY_SINGULARS = frozenset({"case", "deal", "page", "cost"})


def _catalog(cat: Any = None) -> Any:
    """The router's catalog: a tenant's own (mapping.py) or the demo's (imported on first use: the router stays
    light to load)."""
    from ..data.catalog import DEMO

    return cat if cat is not None else DEMO


def _metric_vocab(cat: Any = None) -> dict[str, str]:
    """phrase -> metric name, from the catalog."""
    cat = _catalog(cat)
    out: dict[str, str] = {}
    for m in cat.metrics.values():
        for phrase in (m.name, m.name.replace("_", " "), m.label.lower(), *m.synonyms):
            out.setdefault(phrase.lower(), m.name)
    # A plural's singular names the same metric ("expense categories", "each outage"), unless it is an
    # everyday word with another meaning ("in case", "a good deal", "this page").
    values = {v.lower() for vs in _dimension_values(cat).values() for v in vs}  # "billing" is a service
    for phrase, name in list(out.items()):
        one = re.sub(r"ies$", "y", phrase) if phrase.endswith("ies") else phrase[:-1]
        if (phrase.endswith("s") and not phrase.endswith("ss") and one not in values
                and one.split()[-1] not in _EVERYDAY_SINGULARS):
            out.setdefault(one, name)
    return out


def _metric_dims(cat: Any = None) -> dict[str, tuple[str, ...]]:
    return {m.name: m.dimensions for m in _catalog(cat).metrics.values()}


def _dimension_values(cat: Any = None) -> dict[str, tuple[str, ...]]:
    """Filter values the router recognises in a question ("in EMEA", "for api-gateway", "sev1")."""
    from ..data.catalog import DEMO
    from ..data.generator import SERVICES, SEVERITIES

    cat = _catalog(cat)
    if cat is not DEMO:  # a company's own: the values its mapping names (`units`)
        return dict(cat.dimension_values)
    return {**cat.dimension_values, "service": tuple(s[0] for s in SERVICES), "severity": SEVERITIES}


def extract_sql(text: str) -> str | None:
    """The SQL when the message IS a query (a ```sql block, or text starting with SELECT/WITH/FROM)."""
    for m in _FENCE.finditer(text):
        body = m.group(2).strip()
        if m.group(1) or any(p.search(body) for p in _SQL_LIKE):
            return body.rstrip(";").strip()
    s = text.strip()
    if any(p.search(s) for p in _SQL_LIKE):
        return s.rstrip(";").strip()
    # A query after a phrase or in backticks ("please execute: SELECT ...", "run `select ...` for me"); never
    # inside another language's fence or a string literal (pasted Python that calls penny.sql("SELECT ...")).
    s = _FENCE_ANY.sub(" ", s)
    for m in _INLINE_CODE.finditer(s):
        body = m.group(1).strip()
        if any(p.search(body) for p in _SQL_LIKE):
            return body.rstrip(";").strip()
    for m in _SQL_START.finditer(s):
        body = s[m.start():].strip().rstrip("`").strip()
        if any(p.search(body) for p in _SQL_LIKE):
            return body.rstrip(";").strip()
    return None


@dataclass
class Route:
    tool: str
    params: dict[str, Any]
    confidence: float
    reason: str = ""


def _has(t: str, words) -> int:
    """How many of `words` occur in the padded text `t` as whole words/phrases."""
    return sum(1 for w in words if f" {w} " in t)


def _normalize(text: str) -> str:
    """Lower case, contractions and short forms spelled out, number words as digits, padded with spaces."""
    t = text.lower().replace("\u2019", "'")
    t = re.sub(r"\b(what|how|that|it|who|where|there|here)'s\b", r"\1 is", t)
    t = re.sub(r"\bkpi'?s\b", "kpis", t)
    t = re.sub(r"\by/y\b|\by-o-y\b", "yoy", t)
    t = re.sub(r"(\w)'s\b", r"\1", t)  # the company's -> the company
    t = re.sub(r"[^\w&\-\s]", " ", t).replace("'", "")
    words = [_ABBREVIATIONS.get(w, w) for w in t.split()]
    out: list[str] = []
    for w in words:
        parts = w.split("-")
        if len(parts) == 2 and parts[0] in _TENS and parts[1] in _NUMBER_WORDS:  # twenty-four
            out.append(str(_NUMBER_WORDS[parts[0]] + _NUMBER_WORDS[parts[1]]))
        elif w in _NUMBER_WORDS and w != "one":
            if out and out[-1].isdigit() and int(out[-1]) % 10 == 0 and int(out[-1]) >= 20 and _NUMBER_WORDS[w] < 10:
                out[-1] = str(int(out[-1]) + _NUMBER_WORDS[w])  # twenty four
            else:
                out.append(str(_NUMBER_WORDS[w]))
        else:
            out.append(w)
    return " " + " ".join(out) + " "


def _explicit_range(t: str, today: Callable[[], dt.date] = dt.date.today) -> tuple[dict[str, str], str]:
    """Explicit dates -> start/end. One grammar for a day ("2026-03-01", "march 1 2026", "1st of march 2026",
    "mar 1"), joined by the connectors people use: "from/between A to/and/through/until B", "since A"; plus
    "Q1 2026", "March 2026", "in 2025". A day with no year is its latest such day not after today, and a
    range's yearless start takes its end's year."""
    def on(y: int, mo: int, d: int) -> dt.date:
        return dt.date(y, mo, min(d, calendar.monthrange(y, mo)[1]))

    def latest(mo: int, d: int, before: dt.date) -> dt.date:
        return on(before.year if (mo, d) <= (before.month, before.day) else before.year - 1, mo, d)

    def day(m: re.Match, i: str, before: dt.date | None = None) -> dt.date:
        g = m.groupdict()
        if g[f"iso{i}"]:
            return dt.date.fromisoformat(g[f"iso{i}"])
        mo, d = _MONTHS[g[f"mon{i}"] or g[f"mon{i}b"]], int(g[f"day{i}"] or g[f"day{i}b"])
        return on(int(g[f"year{i}"]), mo, d) if g[f"year{i}"] else latest(mo, d, before or today())

    months = "|".join(_MONTHS)
    full = "|".join(m.lower() for m in calendar.month_name if m)
    th = r"(?:st|nd|rd|th)?"

    def date(i: str) -> str:
        """One day, its parts in named groups suffixed `i`."""
        return (rf"(?:(?P<iso{i}>\d{{4}}-\d{{2}}-\d{{2}})|(?:(?P<mon{i}>{months}) (?P<day{i}>\d{{1,2}}){th}"
                rf"|(?P<day{i}b>\d{{1,2}}){th} (?:of )?(?P<mon{i}b>{months}))(?: (?P<year{i}>20\d\d))?)(?![\w-])")

    def between(m: re.Match) -> tuple[str, str]:
        end = day(m, "B")
        start = day(m, "A", before=end)
        return start.isoformat(), end.isoformat()

    def quarter(m: re.Match) -> tuple[str, str]:
        q, y = int(m.group(1) or m.group(4)), int(m.group(2) or m.group(3))
        return on(y, 3 * q - 2, 1).isoformat(), on(y, 3 * q, 31).isoformat()

    def month(m: re.Match) -> tuple[str, str]:
        mo, y = _MONTHS[m.group(1)], int(m.group(2))
        return on(y, mo, 1).isoformat(), on(y, mo, 31).isoformat()

    pats: list[tuple[str, Any]] = [
        (rf"\b(?:from |between )?{date('A')} (?:to|and|through|thru|until|till|-) {date('B')}", between),
        (rf"\b(?:since|from|after|starting(?: from| on)?) {date('A')}", lambda m: (day(m, "A").isoformat(), None)),
        (r"\bq([1-4]) (\d{4})\b|\b(\d{4}) q([1-4])\b", quarter),
        (rf"\b({months}) (\d{{4}})\b", month),
        (r"\b(?:on |for |in )?(\d{4}-\d{2}-\d{2})\b", lambda m: (m.group(1), m.group(1))),
        (rf"\b(?:since|starting) ({full})\b(?! \d)",
         lambda m: (latest(_MONTHS[m.group(1)], 1, today()).isoformat(), None)),
        (r"\b(?:in|for|during|of) (20\d\d)(?![\w-])", lambda m: (f"{m.group(1)}-01-01", f"{m.group(1)}-12-31")),
    ]
    for pat, conv in pats:
        m = re.search(pat, t)
        if m:
            start, end = conv(m)
            out = {"start": start}
            if end:
                out["end"] = end
            return out, t[:m.start()] + " " + t[m.end():]
    return {}, t


def _compare(t: str) -> tuple[str | None, str]:
    for pat, kind in _COMPARE:
        m = re.search(pat, t)
        if m:
            return kind, t[:m.start()] + " " + t[m.end():]
    return None, t


@dataclass
class _MetricAsk:
    """What a question says about one metric (before deciding whether it is enough to act on)."""
    params: dict[str, Any]
    cue: bool  # sliced, trended, filtered, compared or over a non-"to date" period: clearly a metric question
    has_period: bool
    phrase: str


_PY_FENCE = re.compile(r"```(?:python|py)[ \t]*\n(.*?)```", re.S | re.I)
# Lines that only code starts with: an import, a def, a call on penny/print, an assignment.
_PY_LINE = re.compile(r"^\s*(import \w|from [\w.]+ import |def \w+\(|print\(|penny\.\w+\(|[A-Za-z_]\w*(\[[^\]]*\])?"
                      r"\s*=\s*[^=\s])")


def extract_python(text: str) -> str | None:
    """The code when a person pastes Python (a ```python block, or lines that read as code), else None."""
    m = _PY_FENCE.search(text)
    if m:
        return m.group(1).strip() or None
    lines = [ln for ln in text.strip().splitlines() if ln.strip() and not ln.strip().startswith("#")]
    if not lines:
        return None
    code_lines = sum(bool(_PY_LINE.match(ln)) for ln in lines)
    if len(lines) >= 2 and code_lines >= max(2, (len(lines) + 1) // 2):
        return text.strip()
    if len(lines) == 1 and re.match(r"^\s*(import [\w.]+( as \w+)?(\s*,\s*[\w.]+( as \w+)?)*\s*$"
                                    r"|from [\w.]+ import \w|penny\.\w+\()", lines[0]):
        return text.strip()
    return None


@dataclass
class BuiltinRouter:
    units: list[str] = field(default_factory=list)  # departments and regions the KPIs can be cut by
    name: str = NAME
    today: Callable[[], dt.date] = dt.date.today  # for dates written without a year ("since March 1")
    _metrics: dict[str, str] | None = field(default=None, repr=False)  # phrase -> metric, loaded on first use
    _words: list[str] | None = field(default=None, repr=False)
    _wordset: frozenset[str] | None = field(default=None, repr=False)
    _values: dict[str, tuple[str, ...]] | None = field(default=None, repr=False)
    _dims: dict[str, tuple[str, ...]] | None = field(default=None, repr=False)
    catalog: Any = None  # a tenant's own metrics (data.catalog.Catalog); None: the demo company's

    def route(self, text: str) -> Route | Clarification | None:
        sql = extract_sql(text or "")
        if sql:
            return Route("run_sql", {"query": sql}, 0.95, "text is SQL")
        code = extract_python(text or "")
        if code:
            return Route("run_python", {"code": code}, 0.95, "text is Python")
        t = _normalize(text or "")
        if _OFF_TOPIC.search(t):
            return None
        dates, t = _explicit_range(t, self.today)
        compare, t = _compare(t)
        tc, fixed = self._spellfix(t)
        if any(re.search(p, tc) or re.search(p, t) for p in DESCRIBE_PATTERNS):
            return Route("describe_data", {}, 0.85 - 0.1 * fixed, "asks what data there is")
        period = next((p for pat, p in PERIOD_PATTERNS if re.search(pat, tc)), None)

        scores = {slug: _has(tc, words) for slug, words in DASHBOARD_TOPICS.items()}
        ranked = sorted(scores.items(), key=lambda kv: -kv[1])
        (slug, hits), (_, second) = ranked[0], ranked[1]
        wants_dashboard = bool(re.search(r"\b(dashboards?|board)\b", tc))
        wants_kpis = bool(_has(tc, KPI_WORDS) or _has(t, KPI_WORDS) or _KPI_QUESTION.search(tc)
                          or (_LOOKING.search(tc) and self._unit(tc)))

        ask = self._metric_ask(tc, dates, compare)
        if ask and not wants_dashboard and not _has(t, _KPI_EXPLICIT):
            # a question mark after a metric and a period asks for that one figure ("uptime so far this year?")
            if ask.cue or (ask.has_period and (text or "").rstrip().endswith("?") and not wants_kpis
                           and " any " not in tc):  # "any incidents this month?" asks to see them
                conf = (0.85 if ask.has_period else 0.75) - (0.1 if fixed else 0.0)
                return Route("query_metric", ask.params, round(conf, 2), "cue")
            if not hits and not wants_kpis:
                if ask.has_period:
                    return Route("query_metric", ask.params, 0.7 - (0.1 if fixed else 0.0), "metric and period")
                return self._clarify_metric(ask.params["metric"])  # confidence 0.45 < CLARIFY_BELOW
        if wants_dashboard and hits == 0 and not wants_kpis:
            slug, hits = "company-health", 1
        if hits and (wants_dashboard or not wants_kpis):
            if hits == second:  # two dashboards equally likely
                tied = [s for s, n in scores.items() if n == hits]
                return Clarification("Which dashboard would you like?",
                                     [f"open the {s.replace('-', ' ')} dashboard" for s in tied][:4])
            params: dict[str, Any] = {"slug": slug}
            if period:
                params["period"] = period
            return Route("load_dashboard", params, 0.9 if wants_dashboard else 0.7, f"topic {slug}")
        if wants_kpis:
            params = {"period": period or "MTD", "unit": self._unit(tc) or "company"}
            return Route("get_company_kpis", params, 0.9, "kpi words")
        return self._clarify_partial(tc, dates)

    # ---- clarifications ---------------------------------------------------------------------------

    def _clarify_metric(self, metric: str) -> Clarification:
        m = _catalog(self.catalog).metrics[metric]
        label = m.label.lower() if m.label.lower() in self._vocab() else m.name
        dim = next((d for d in m.dimensions if d != "customer"), None)
        sugg = [f"{label} by month this year", f"{label} last 30 days"]
        if dim:
            sugg.append(f"{label} by {dim} this quarter")
        if "customer" in m.dimensions:
            sugg.append(f"top 10 customers by {label}")
        return Clarification(f"What would you like to see about {m.label}: over which period, or broken down how?",
                             sugg[:4])

    def _clarify_partial(self, t: str, dates: dict[str, str]) -> Clarification | None:
        """The request names a period, a breakdown, a top N, a unit or a chart but no metric: ask which one."""
        period = self._metric_period(t)
        by = next((d for d, ws in DIMENSION_WORDS.items()
                   if re.search(rf"\bby (?:{'|'.join(ws)})\b", t)), None)
        top = re.search(r"\b(?:top|biggest|largest|best) (\d+)?", t)
        unit = self._unit(t)
        chart = _has(t, TREND_WORDS) or re.search(r"\b(compare|comparison|vs|breakdown)\b", t)
        if not (period or dates or by or top or unit or chart):
            return None
        if re.match(r" (?:who|where|why|when) ", t) and not (by or top or unit or chart):
            return None  # "who won the world cup in 2018?": a period alone does not make it a question about data
        if unit:
            dept = unit.lower() in {u.lower() for u in self._values_map()["department"]}
            metric = "spend" if dept else "revenue"
            return Clarification(f"What would you like to know about {unit}?",
                                 [f"KPIs for {unit} this month", f"{metric} in {unit} by month this year",
                                  f"headcount in {unit} last 12 months" if dept
                                  else f"new customers in {unit} this quarter"])
        if top:
            n = top.group(1) or "10"
            return Clarification(f"Top {n} of what, ranked by which metric?",
                                 [f"top {n} customers by revenue", f"top {n} customers by ARR",
                                  f"top {n} customers by churned mrr"])
        if by:
            fits = [m for m, dims in self._dims_map().items() if by in dims][:3]
            return Clarification(f"Which metric should I break down by {by}?",
                                 [f"{self._phrase(m)} by {by} this year" for m in fits])
        when = period or "this year"
        if dates:
            when = f"from {dates['start']} to {dates['end']}" if "end" in dates else f"since {dates['start']}"
        return Clarification("Which metric would you like to see?",
                             [f"revenue by month {when}", f"new customers by region {when}",
                              f"churned mrr by month {when}"])

    def _phrase(self, metric: str) -> str:
        label = _catalog(self.catalog).metrics[metric].label.lower()
        return label if self._vocab().get(label) == metric else metric

    # ---- query_metric -----------------------------------------------------------------------------

    def _vocab(self) -> dict[str, str]:
        if self._metrics is None:
            self._metrics = _metric_vocab(self.catalog)
        return self._metrics

    def _dims_map(self) -> dict[str, tuple[str, ...]]:
        if self._dims is None:
            self._dims = _metric_dims(self.catalog)
        return self._dims

    def _values_map(self) -> dict[str, tuple[str, ...]]:
        if self._values is None:
            self._values = _dimension_values(self.catalog)
        return self._values

    def _spellfix(self, t: str) -> tuple[str, bool]:
        """Replace near-miss words ("revnue", "regoin", "quater") with the vocabulary word they resemble."""
        if self._words is None:
            words = {w for p in self._vocab() for w in p.split()} | set(_VOCAB_EXTRA)
            words |= {w for ws in DIMENSION_WORDS.values() for w in ws}
            words |= {w for ws in DASHBOARD_TOPICS.values() for p in ws for w in p.split()}
            words |= {v.lower() for vs in self._values_map().values() for v in vs}
            words |= {u.lower() for u in self.units}
            self._words = sorted(w for w in words if len(w) >= 3)
            self._wordset = frozenset(self._words) | _KNOWN
        out, fixed = [], False
        for w in t.split():
            if len(w) >= 4 and w not in self._wordset and not any(c.isdigit() for c in w):
                close = difflib.get_close_matches(w, self._words, n=1, cutoff=0.75)
                # same first letter (keeps "weather" from becoming "weekly"), and either close (>= 0.8:
                # "france" is not "finance") or the same letters swapped ("kpsi", "chrun")
                if close and close[0][0] == w[0] and (
                        sorted(close[0]) == sorted(w)
                        or difflib.SequenceMatcher(None, w, close[0]).ratio() >= 0.8):
                    out.append(close[0])
                    fixed = True
                    continue
            out.append(w)
        return " " + " ".join(out) + " ", fixed

    def metric_in(self, t: str) -> tuple[str, str] | None:
        """The longest metric phrase in the normalized text `t`, and its metric: ("gross margin", "gross_margin")."""
        found = [(len(p), p, name) for p, name in self._vocab().items()
                 if re.search(rf"(?<![\w-]){re.escape(p)}(?![\w-])", t)]
        return max(found)[1:] if found else None

    def _metric_ask(self, t: str, dates: dict[str, str], compare: str | None) -> _MetricAsk | None:
        hit = self.metric_in(t)
        if hit is None:
            return None
        phrase, metric = hit
        rest = re.sub(rf"(?<![\w-]){re.escape(phrase)}(?![\w-])", " ", t, count=1)
        allowed = self._dims_map().get(metric, ())
        params: dict[str, Any] = {"metric": metric}

        period = None if dates else self._metric_period(rest)
        grain = next((g for g, ws in GRAIN_WORDS.items() if _has(rest, ws)), None)
        by = top = None
        entity = self._ranked_entity(rest)
        if entity:
            by, top = entity
        elif m := re.search(r"\b(?:top|biggest|largest|best)(?: (\d+))?(?: +(\w+))?(?: +(\w+))?", rest):
            top = int(m.group(1)) if m.group(1) else 10
            # "top 5 customers", or with a word between: "top 5 expense categories"
            by = next((d for d, ws in DIMENSION_WORDS.items() if m.group(2) in ws), None) or next(
                (d for d, ws in DIMENSION_WORDS.items() if m.group(3) in ws), None)
            if by is None and "customer" in allowed:
                by = "customer"
        for d, ws in DIMENSION_WORDS.items():
            if re.search(rf"\b(?:by|per|across|each|split by|broken down by) (?:{'|'.join(ws)})\b", rest):
                by = d
                break
        if by and by not in allowed:
            by = None
        filters = {}
        for d, values in self._values_map().items():
            if d not in allowed or d == by:
                continue
            for v in values:
                if f" {v.lower()} " in rest:
                    filters[d] = v
                    break
        if period:
            params["period"] = period
        params.update(dates)
        if grain:
            params["grain"] = grain
        if by:
            params["by"] = by
        if top:
            params["top"] = top
        if filters:
            params["filters"] = filters
        if compare:
            params["compare"] = compare
        trend = _has(rest, TREND_WORDS)
        one_number = bool(_ONE_NUMBER.match(t)) and bool(period or dates)
        cue = bool(grain or by or top or trend or filters or compare or dates or one_number
                   or (period and period not in ("MTD", "QTD", "YTD")))
        return _MetricAsk(params, cue, bool(period or dates), phrase)

    @staticmethod
    def _ranked_entity(t: str) -> tuple[str, int | None] | None:
        """(dimension, N) for "which 3 regions have the highest …", "the customers with the most …"; a
        singular entity ("which region has the highest") is the top 1, a plural with no number is all of them."""
        # The metric's own word is already cut out of `t`: "which 2 departments spend the most" reads
        # "which 2 departments   the most".
        def entity(word: str) -> str | None:
            return next((d for d, ws in DIMENSION_WORDS.items() if word in ws), None)

        def ranked(n: str | None, word: str, d: str) -> tuple[str, int | None]:
            if n is None and (top := re.search(r"\btop (\d+)\b", t)):  # "arr leaders by customer, top 10"
                n = top.group(1)
            if n:
                return d, int(n)
            return d, (1 if word == DIMENSION_WORDS[d][0] else None)

        # "which 5 customers brought in the most", "which 5 expense categories cost us the most": after
        # which/what, the entity is one of the next two words and any short verb phrase leads to the superlative.
        for m in re.finditer(rf"\b(?:which|what) +(?:(\d+) +)?(\w+)(?: +(\w+))? +(?:\w+ +){{0,3}}?{_SUPERLATIVE}\b", t):
            for word in (m.group(2), m.group(3)):
                if word and (d := entity(word)):
                    return ranked(m.group(1), word, d)
        m = re.search(rf"\b(?:(\d+) )?(\w+) +(?:(?:have|has|had|with|by|show|showing|got|get|did|do|does|made|"
                      rf"make|brought|bring|saw|see) +)?{_SUPERLATIVE}\b", t)
        if m and (d := entity(m.group(2))):
            return ranked(m.group(1), m.group(2), d)
        return None

    def _metric_period(self, t: str) -> str | None:
        for pat, kind in METRIC_PERIODS:
            m = re.search(pat, t)
            if not m:
                continue
            if kind == "rolling":
                n = int(m.group(1))
                return f"last {n} {m.group(2)}{'s' if n != 1 else ''}"
            if kind == "previous":
                return f"previous {m.group(1)}"
            if kind == "past":
                return f"last 1 {m.group(1)}"
            return kind
        return None

    def _unit(self, t: str) -> str | None:
        for unit in self.units:
            if f" {unit.lower()} " in t:
                return unit
        return None


_GREETING = re.compile(r"^\W*(?:hi|hello|hey|hiya|howdy|good (?:morning|afternoon|evening)|yo)\b(?:\W+\w+){0,5}\W*$"
                       r"|how(?: is|'s|s) it going", re.I)
_THANKS = re.compile(r"\b(?:thanks|thank you|thx|cheers|perfect|great|awesome)\b", re.I)
_WHY = re.compile(r"^\W*why\b", re.I)
EXAMPLES = ("Show me company KPIs for this month", "revenue by month this year", "open the sales funnel dashboard",
            "what data do you have?")


def help_reply(router: "BuiltinRouter", text: str) -> tuple[str, list[str]]:
    """What the built-in answers when it will not act: one short sentence for the kind of message, and requests
    the person can click (the sidebar shows them as buttons)."""
    t = _normalize(text)
    if _WHY.search(text):
        hit = router.metric_in(t)
        if hit:
            m = _catalog(router.catalog).metrics[hit[1]]
            label = m.label.lower()
            dims = [d for d in m.dimensions if d != "customer"][:2]
            return (f"The numbers cannot say why on their own, but these show where {label} moved:",
                    [f"{label} by {d} this month vs last month" for d in dims] + [f"{label} by week last 90 days"])
    if _GREETING.search(text.strip()):
        return "Hello! Ask me about the company's numbers, for example:", list(EXAMPLES[:3])
    if _THANKS.search(text) and len(t.split()) <= 6:
        return "Glad it helped. Anything else?", list(EXAMPLES[1:3])
    return "I can't answer that one yet. Try one of these, or paste a SQL query:", list(EXAMPLES)

