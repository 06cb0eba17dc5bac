"""run_sql: one read-only query on the caller's own warehouse, as rows and a table artifact.

Layers, outermost first: `sqlguard.check` (sqlglot: one query, no file/env functions, no other
databases, no system views), DuckDB's own parser (`extract_statements`: exactly one SELECT-type
statement), and the wall, the connection (`warehouse.py`: read-only, external access off,
configuration locked). The query runs in a child process (`sqlprocess.py`) that is killed after
`config.sql_timeout` seconds, or when its memory passes `config.warehouse_memory_limit`: DuckDB's
own interrupt cannot stop a single huge scalar call, and its memory_limit does not count one. Each
person runs `config.sql_max_concurrent_per_user` queries at a time. At most `limit` (<=
`config.sql_row_cap`) rows come back, plus one to know if there were more. `run_query` is that path without
the artifact: run_python's penny.sql on a company database (sandbox/sqlchannel.py) runs its queries through it.
"""

from __future__ import annotations

import logging

from pydantic import BaseModel, ConfigDict, Field

from .. import tracing
from ..data.sqlguard import MAX_QUERY_CHARS, check
from ..data.sqlprocess import QueryFailed, QueryResult
from ..errors import InvalidParams, PennyError, SqlError, SqlRefused, TooLarge, ToolTimeout, Unavailable
from .base import ArtifactDraft, Tool, ToolContext, ToolResult


class SqlParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    query: str = Field(..., min_length=1, max_length=MAX_QUERY_CHARS,
                       description="One DuckDB SELECT (or WITH ... SELECT) over the warehouse tables.")
    # Hidden from models: a small model adds `limit: 10` to SQL a person wrote and cuts their answer short; the
    # person's own SQL says LIMIT when they want one.
    limit: int | None = Field(None, ge=1, description="Most rows to return (at most the server's row cap).",
                              json_schema_extra={"model_hidden": True})


log = logging.getLogger("penny.tools")


def _format(type_code: str) -> str:
    t = str(type_code).upper()
    if t in ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
             "UBIGINT", "UHUGEINT"):
        return "integer"
    if t.startswith(("DECIMAL", "DOUBLE", "FLOAT", "REAL")):
        return "number"
    if t == "DATE" or t.startswith("TIMESTAMP"):
        return "date"
    return "text"


# What the user reads for each way the query process reports that a query gave no rows: (error class, code or
# None for the class's own, sentence with {message}, {timeout} and {memory}).
_SENTENCES = {
    "timeout": (ToolTimeout, None, "the query ran longer than {timeout:g} seconds and was stopped; filter or aggregate "
                "more (a WHERE on a date range, fewer joins), or ask an admin to raise sql_timeout."),
    "memory": (TooLarge, "sql_out_of_memory", "the query needed more memory than the warehouse allows ({memory}) "
               "and was stopped; aggregate or filter more, or select fewer or shorter columns."),
    "cancelled": (PennyError, "cancelled", "the query was stopped before it finished"),
    "parse": (SqlError, None, "DuckDB could not parse the query: {message}. Check the syntax and try again."),
    "statements": (SqlRefused, None, "DuckDB reads {message} statements in the text and only one is allowed; send "
                   "a single SELECT."),
    "refused": (SqlRefused, None, "{message} statements are not allowed; run_sql only reads the tables of your own "
                "warehouse: write a single SELECT (or WITH ... SELECT) over them."),
    "permission": (SqlRefused, None, "the warehouse refused the query: {message}; run_sql only reads the tables of "
                   "your own warehouse."),
    "sql": (SqlError, None, "the query failed: {message}. Fix the SQL and try again (SHOW TABLES and DESCRIBE "
            "<table> list the tables and columns)."),
    "unavailable": (Unavailable, "warehouse_unavailable", "the warehouse cannot be opened for queries now "
                    "({message}); try again in a minute, or ask an admin to check the tenant's data source"),
    "crashed": (PennyError, "sql_crashed", "the query process ended unexpectedly (it was logged on the server); try "
                "the query again, and if it happens again, simplify it"),
}
_SENTENCES["oom"] = _SENTENCES["memory"]  # DuckDB's own OutOfMemory, before the process passed the limit


def _sentence(e: QueryFailed, config) -> PennyError:
    cls, code, text = _SENTENCES.get(e.kind, _SENTENCES["crashed"])
    if code == "sql_crashed":
        log.warning("run_sql: the query process ended unexpectedly (%s: %s)", e.kind, e.message)
    message = text.format(message=e.message, timeout=float(config.sql_timeout), memory=config.warehouse_memory_limit)
    return cls(message, code=code) if code else cls(message)


def run_query(ctx: ToolContext, text: str, limit: int, params: list | None = None) -> QueryResult:
    """One query a person wrote, run AS THE CALLER on their own warehouse: the guard, their own query process
    (or their company database's read-only transaction), `config.sql_timeout`, at most `limit` rows. Every
    failure is a PennyError with a sentence. run_sql and run_python's penny.sql (sandbox/sqlchannel.py) both
    come through here. `params` (values for `?` or `$1`) only reach a company database (pgwarehouse.PgQueries):
    penny.sql over a warehouse file binds its own."""
    try:
        with ctx.warehouses.untrusted(ctx.principal, on_start=ctx.stoppable) as proc:
            query = check(text, catalogs=[proc.catalog], any_schema=getattr(proc, "any_schema", False))
            if ctx.cancelled():
                raise QueryFailed("cancelled")
            timeout = float(ctx.config.sql_timeout)
            with tracing.span("penny.sql", tenant=ctx.principal.tenant) as span:
                result = proc.query(query, limit, timeout, params) if params else proc.query(query, limit, timeout)
                if span is not None:
                    span.set_attribute("penny.rows", len(result.rows))
    except QueryFailed as e:
        raise _sentence(e, ctx.config) from None
    return result


def run(ctx: ToolContext, params: SqlParams) -> ToolResult:
    cap = max(1, int(ctx.config.sql_row_cap))
    if params.limit is not None and params.limit > cap:
        raise InvalidParams(f"limit {params.limit:,} is more than the {cap:,} rows run_sql returns at most; "
                            f"use a limit of {cap:,} or less, or aggregate in SQL.")
    result = run_query(ctx, params.query, params.limit or cap)
    rows, truncated = result.rows, result.truncated
    names = [n for n, _ in result.columns]
    # unique keys for the artifact even if the query repeats a column name
    keys, seen = [], {}
    for n in names:
        k = n if n not in seen else f"{n}_{seen[n] + 1}"
        seen[n] = seen.get(n, 0) + 1
        keys.append(k)
    columns = [{"key": k, "label": n, "format": _format(kind)} for k, (n, kind) in zip(keys, result.columns)]

    shown = f"{len(rows):,} row{'s' if len(rows) != 1 else ''}"
    text = [f"The query returned {shown} with {len(names)} column{'s' if len(names) != 1 else ''}: "
            + ", ".join(names) + "."]
    if truncated:
        text.append(f"The result was truncated at {len(rows):,} rows: there are more. Aggregate, filter or "
                    "add a LIMIT to see what matters.")
    title = "SQL result" + (f" (first {len(rows):,} rows)" if truncated else "")
    spec = {"title": title, "columns": columns,
            "rows": [dict(zip(keys, r)) for r in rows], "truncated": truncated}
    draft = ArtifactDraft(type="table", title=title, spec=spec,
                          source={"tool": "run_sql", "params": params.model_dump(mode="json", exclude_none=True)})
    data = {"columns": names, "rows": rows, "truncated": truncated}
    return ToolResult(text="\n".join(text), data=data, artifacts=[draft], row_count=len(rows))


RUN_SQL = Tool(
    name="run_sql",
    title="Run SQL",
    label=lambda p: "SQL query",
    description="Run one read-only DuckDB SELECT (or WITH ... SELECT) on the company warehouse and return the "
                "rows as a table. Only the warehouse's own tables can be read (SHOW TABLES, DESCRIBE <table>); "
                "no files, no writes, one statement. Results are capped and long queries time out.",
    params=SqlParams,
    run=run,
)
