"""The catalog's SQL in the dialect of the engine a company runs.

Every catalog query is written once, in DuckDB's dialect (portable SQL where it can be); sqlglot renders it
for PostgreSQL (pgwarehouse.py), Snowflake, BigQuery and Trino (enginewarehouse.py). A warehouse URL's
scheme names the dialect.
"""

from __future__ import annotations

import datetime as dt
import itertools
from functools import lru_cache
from typing import Any

from ..errors import SourceConfigError

# SQLAlchemy URL scheme -> sqlglot dialect
DIALECTS = {"postgresql": "postgres", "postgres": "postgres", "snowflake": "snowflake", "bigquery": "bigquery",
            "trino": "trino", "duckdb": "duckdb"}


def dialect_of(url: str) -> str:
    scheme = url.split("://", 1)[0].split("+", 1)[0].lower() if "://" in url else ""
    if scheme not in DIALECTS:
        # never echo the URL: it may hold a password, and this sentence reaches the tenant's users
        what = f"the scheme {scheme!r}" if scheme and scheme.isidentifier() else "no scheme"
        raise SourceConfigError(f"a warehouse URL must start with one of {', '.join(sorted(DIALECTS))} "
                                f"(e.g. postgresql+psycopg://penny_ro@db/acme); this one has {what}")
    return DIALECTS[scheme]


def _tree(sql: str):
    """The DuckDB SQL parsed, made portable: every derived table named (PostgreSQL before 16 requires it), and
    DuckDB's GROUP BY ALL spelled out."""
    import sqlglot
    from sqlglot import exp

    names = itertools.count(1)

    def portable(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Subquery) and not node.alias and isinstance(node.parent, (exp.From, exp.Join)):
            node.set("alias", exp.TableAlias(this=exp.to_identifier(f"q{next(names)}")))
        # the projections that read columns and are not aggregates are the keys (a constant is no key, and a bare
        # number would be read as a position)
        if isinstance(node, exp.Select) and node.args.get("group") is not None and node.args["group"].args.get("all"):
            keys = [p.unalias().copy() for p in node.expressions
                    if p.find(exp.Column) and not p.find(exp.AggFunc, exp.Window)]
            node.set("group", exp.Group(expressions=keys) if keys else None)
        return node

    return sqlglot.parse_one(sql, read="duckdb").transform(portable)


@lru_cache(maxsize=1024)
def render(sql: str, dialect: str) -> str:
    """The catalog's DuckDB SQL in `dialect`; `$name` parameters become the dialect's own (psycopg's %(name)s,
    with every other `%` doubled: psycopg reads them all once it binds values, and a mapping may hold LIKE 'A%')."""
    if dialect == "duckdb":
        return sql
    if dialect != "postgres":
        return _tree(sql).sql(dialect=dialect)
    from sqlglot import exp

    names: list[str] = []

    def mark(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Placeholder) and node.this:
            names.append(str(node.this))
            return exp.Var(this=f"__penny_{len(names) - 1}__")
        return node

    text = _tree(sql).transform(mark).sql(dialect=dialect).replace("%", "%%")
    for i, name in enumerate(names):
        text = text.replace(f"__penny_{i}__", f"%({name})s")
    return text


def render_with(sql: str, dialect: str, values: dict[str, Any] | None) -> str:
    """The same, with each `$name` replaced by its value as a literal of the dialect (sqlglot quotes it): one SQL
    text for every driver, whatever its own placeholder style (Trino's `?`, BigQuery's `@name`...)."""
    from sqlglot import exp

    values = values or {}

    def literal(node: exp.Expression) -> exp.Expression:
        if not isinstance(node, exp.Placeholder) or node.this not in values:
            return node
        v = values[node.this]
        if v is None:
            return exp.Null()
        if isinstance(v, bool):
            return exp.Boolean(this=v)
        if isinstance(v, (int, float)):
            return exp.Literal.number(v)
        if isinstance(v, dt.datetime):
            return exp.cast(exp.Literal.string(v.isoformat(sep=" ")), "TIMESTAMP")
        if isinstance(v, dt.date):
            return exp.cast(exp.Literal.string(v.isoformat()), "DATE")
        return exp.Literal.string(str(v))

    return _tree(sql).transform(literal).sql(dialect=dialect)
