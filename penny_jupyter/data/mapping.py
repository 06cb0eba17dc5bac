"""A company's own tables, described once: the metrics catalog mapped onto them.

Penny's metrics are defined over the demo company's schema (`catalog.DEMO`). A company whose tables are
named and shaped differently says, per metric, where its numbers live, in the `catalog` entry of its
source (a dict, or the path of a YAML file holding the same)::

    tenant_sources = {"acme": {
        "warehouse": "postgresql+psycopg://penny_ro@db/acme",
        "catalog": {
            "metrics": {
                "revenue": {"table": "billing.invoice_lines", "time": "invoiced_on", "amount": "net_usd",
                            "dimensions": {"region": "sales_region", "segment": "plan"},
                            "filter": "status = 'posted'"},
                "win_rate": {"table": "crm.opportunities", "time": "closed_on",
                             "numerator": "CASE WHEN outcome = 'won' THEN 1 ELSE 0 END", "denominator": "1",
                             "filter": "outcome IS NOT NULL"},
                "trials": {"label": "Trials started", "kind": "flow", "unit": "count",
                           "table": "product.trials", "time": "started_at", "amount": "1"},
            },
            "units": {"region": ["Americas", "Europe"]},
        }}}

Each metric reads one `table` (or a whole `sql` SELECT, for joins and unions) and names, as columns or
expressions in the company's own SQL dialect: `time` (its date), `amount` (what a flow sums, or the
daily change of a balance such as MRR), or `numerator` and `denominator` (a ratio), the `dimensions`
it can be cut by, and an optional `filter`. A name Penny knows (revenue, mrr, churn, win_rate, ...)
keeps its label, kind, unit and synonyms; any other name is the company's own metric and says them.
The result is an ordinary `catalog.Metric` whose SQL is written in DuckDB's dialect like every catalog
query, so the engines it runs on get it the same way (`dialects.render`). Known metrics left out are
`Catalog.unmapped`: asking for one says that it is not mapped, never an SQL error. The dashboards' own
queries are over the demo schema, so a mapped company's dashboards show the mapped metrics only.

The mapping is the admin's configuration, trusted like the URL beside it; it is still parsed with
sqlglot here, so a typo is a sentence at the first call, not a broken query later.
"""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import SourceConfigError
from .catalog import KPI_METRICS, METRICS, Catalog, Metric

# the measure column each kind of metric exposes (catalog.py): what `amount` becomes
_MEASURE = {"flow": "value", "balance": "delta"}


class MetricMap(BaseModel):
    """Where one metric's numbers live in the company's tables."""
    model_config = ConfigDict(extra="forbid")
    table: str | None = None
    sql: str | None = None
    time: str
    amount: str | None = None
    numerator: str | None = None
    denominator: str | None = None
    dimensions: dict[str, str] = Field(default_factory=dict)
    filter: str | None = None
    # for a metric Penny does not know (or to say it differently)
    label: str | None = None
    description: str | None = None
    kind: Literal["flow", "ratio", "balance"] | None = None
    unit: Literal["currency", "percent", "count", "hours"] | None = None
    up_is_good: bool | None = None
    synonyms: list[str] | None = None
    decimals: int | None = None


class CatalogMap(BaseModel):
    model_config = ConfigDict(extra="forbid")
    metrics: dict[str, MetricMap] = Field(min_length=1)
    # values a KPI view can be cut to, per dimension: {"region": ["Americas", "Europe"]}
    units: dict[str, list[str]] = Field(default_factory=dict)
    kpis: list[str] | None = None


def load(tenant: str, entry: Any, dialect: str) -> Catalog:
    """The tenant's Catalog from its `catalog` entry (dict or YAML path); SourceConfigError with a sentence."""
    where = f"tenant_sources[{tenant!r}]['catalog']"
    raw = entry
    if isinstance(entry, str):  # its path is the admin's: people asking questions never see it
        raw = _read_yaml(entry, f"{where} (its YAML file)")
    try:
        spec = CatalogMap.model_validate(raw)
    except ValidationError as e:
        first = e.errors()[0]
        at = "".join(f"[{x!r}]" for x in first["loc"])
        raise SourceConfigError(f"{where}{at}: {first['msg']}") from None
    metrics = {name: _metric(name, m, dialect, f"{where}['metrics'][{name!r}]") for name, m in spec.metrics.items()}
    kpis = tuple(spec.kpis) if spec.kpis is not None else tuple(k for k in KPI_METRICS if k in metrics)
    for k in kpis:
        if k not in metrics:
            raise SourceConfigError(f"{where}['kpis']: {k!r} is not one of the mapped metrics")
    units: dict[str, str] = {}
    for dim, values in spec.units.items():
        if not any(dim in m.dimensions for m in metrics.values()):
            raise SourceConfigError(f"{where}['units'][{dim!r}]: no mapped metric has the dimension {dim!r}")
        units.update({str(v): dim for v in values})
    values = {dim: tuple(str(v) for v in vs) for dim, vs in spec.units.items()}
    unmapped = {n: m for n, m in METRICS.items() if n not in metrics}
    return Catalog(metrics, kpis=kpis, units=units, dimension_values=values, queries={}, unmapped=unmapped,
                   where=where)


def _read_yaml(path: str, where: str) -> Any:
    import yaml

    p = Path(os.path.expanduser(path))
    try:
        return yaml.safe_load(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SourceConfigError(f"{where}: the catalog file does not exist") from None
    except (OSError, yaml.YAMLError) as e:
        raise SourceConfigError(f"{where}: cannot read it as YAML ({' '.join(str(e).split())[:200]})") from None


def _metric(name: str, m: MetricMap, dialect: str, where: str) -> Metric:
    if not (name.isidentifier() and name == name.lower() and name.isascii()):
        raise SourceConfigError(f"{where}: a metric's name must be a lower-case name such as revenue or "
                                "active_trials (give it a label to show something else)")
    known = METRICS.get(name)
    kind = m.kind or (known.kind if known else None)
    if kind is None or (known is None and not (m.label and m.unit)):
        raise SourceConfigError(f"{where}: {name!r} is not a metric Penny knows ({', '.join(METRICS)}); to add "
                                "it, give its label, kind (flow, ratio or balance) and unit too")
    if (m.table is None) == (m.sql is None):
        raise SourceConfigError(f"{where}: give either 'table' (a table name) or 'sql' (a SELECT), not both")
    if kind == "ratio":
        if not (m.numerator and m.denominator) or m.amount:
            raise SourceConfigError(f"{where}: a ratio takes 'numerator' and 'denominator' (columns or expressions)")
        measures = [("num", "numerator", m.numerator), ("den", "denominator", m.denominator)]
    else:
        if not m.amount or m.numerator or m.denominator:
            raise SourceConfigError(f"{where}: a {kind} takes 'amount' (a column or expression; 1 counts rows)")
        measures = [(_MEASURE[kind], "amount", m.amount)]
    source = _from(m, dialect, where)
    cols = [f"CAST({_expr(m.time, dialect, where, 'time')} AS DATE) AS day"]
    cols += [f'{_expr(e, dialect, where, f"dimensions {d!r}")} AS "{_dimension(d, where)}"'
             for d, e in m.dimensions.items()]
    cols += [f"{_expr(e, dialect, where, key)} AS {alias}" for alias, key, e in measures]
    sql = f"SELECT {', '.join(cols)} FROM {source}"
    if m.filter:
        sql += f" WHERE {_expr(m.filter, dialect, where, 'filter')}"
    base = known or Metric(name, m.label or name, "", "", kind, m.unit or "count")
    given = {k: v for k, v in {"label": m.label, "description": m.description, "unit": m.unit,
                                "up_is_good": m.up_is_good, "decimals": m.decimals}.items() if v is not None}
    if m.synonyms is not None:
        given["synonyms"] = tuple(s.lower() for s in m.synonyms)
    return replace(base, kind=kind, sql=sql, dimensions=tuple(m.dimensions), wide_sql="", joined=(),
                   time_column="day", **given)


def _from(m: MetricMap, dialect: str, where: str) -> str:
    import sqlglot
    from sqlglot import exp

    try:
        if m.table is not None:
            return exp.to_table(m.table, dialect=dialect).sql("duckdb")
        tree = sqlglot.parse(m.sql, read=dialect)
    except sqlglot.errors.SqlglotError as e:
        raise SourceConfigError(f"{where}: cannot read its table or SQL ({_short(e)})") from None
    if len(tree) != 1 or not isinstance(tree[0], exp.Query):
        raise SourceConfigError(f"{where}: 'sql' must be one SELECT")
    return f"({tree[0].sql('duckdb')}) AS src"


def _expr(text: str, dialect: str, where: str, what: str) -> str:
    """One SQL expression in the company's dialect, written as DuckDB's (the catalog's own dialect)."""
    import sqlglot
    from sqlglot import exp

    try:
        tree = sqlglot.parse_one(str(text), read=dialect, into=exp.Condition)
    except sqlglot.errors.SqlglotError:
        raise SourceConfigError(f"{where}['{what}']: {text!r} is not one SQL expression (a column, or a "
                                "calculation over the table's columns)") from None
    if tree.find(exp.Query) is not None:
        raise SourceConfigError(f"{where}['{what}']: a subquery is not allowed here; use 'sql' for joins")
    return tree.sql("duckdb")


def _dimension(d: str, where: str) -> str:
    if not d.isidentifier() or d != d.lower():
        raise SourceConfigError(f"{where}['dimensions']: {d!r} must be a lower-case name such as region")
    return d


def problems(cur, cat: Catalog) -> dict[str, str]:
    """Mapped metrics whose query does not run on the company's tables (a renamed column, a missing grant):
    metric name -> the engine's first line about it. What describe_data and the admin's probe show."""
    from ..errors import PennyError

    out = {}
    for name, m in cat.metrics.items():
        try:
            cur.execute(f"SELECT * FROM ({m.sql}) AS m WHERE false").fetchall()
        except PennyError as e:
            out[name] = e.message
        except Exception as e:  # the engine's own error (DuckDB): its first line names the column or table
            out[name] = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
    return out


def _short(e: Exception) -> str:
    return " ".join(str(e).split())[:200]


def fingerprint(entry: Any) -> str:
    """What a cached Catalog depends on: the mapping itself, or the YAML file's path and modification time."""
    if isinstance(entry, str):
        try:
            return f"{entry}@{os.stat(os.path.expanduser(entry)).st_mtime_ns}"
        except OSError:
            return f"{entry}@missing"
    return json.dumps(entry, sort_keys=True, default=str)
