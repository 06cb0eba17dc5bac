"""run_sql: one read-only query on the caller's own warehouse, as rows and a table artifact.

Layers, outermost first: `sqlguard.check` (sqlglot: one query, no file/env functions, no other
databases), DuckDB's own parser (`extract_statements`: exactly one SELECT-type statement), and
the wall, the connection (`warehouse.py`: read-only, external access off, configuration
locked). A timer interrupts the query after `config.sql_timeout` seconds; DuckDB's
`memory_limit` (`config.warehouse_memory_limit`) stops memory explosions. At most
`limit` (<= `config.sql_row_cap`) rows are fetched, plus one to know if there were more.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import threading
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..data.sqlguard import MAX_QUERY_CHARS, SqlRefused, check
from ..errors import InvalidParams, PennyError, TooLarge, ToolTimeout
from .registry import ArtifactDraft, Tool, ToolContext, ToolResult


class SqlParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    query: str = Field(..., min_length=1, max_length=MAX_QUERY_CHARS,
                       description="One DuckDB SELECT (or WITH ... SELECT) over the warehouse tables.")
    limit: int | None = Field(None, ge=1, description="Most rows to return (at most the server's row cap).")


class SqlError(PennyError):
    code, status = "sql_error", 400


def _cell(v: Any) -> Any:
    if v is None or isinstance(v, (bool, str, int)):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, decimal.Decimal):
        f = float(v)
        return f if math.isfinite(f) else None
    if isinstance(v, (dt.datetime, dt.date, dt.time)):
        return v.isoformat()
    if isinstance(v, dt.timedelta):
        return v.total_seconds()
    if isinstance(v, uuid.UUID):
        return str(v)
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v).hex()
    if isinstance(v, dict):
        return {str(k): _cell(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_cell(x) for x in v]
    return str(v)


def _format(type_code: Any) -> str:
    t = str(type_code).upper()
    if t in ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
             "UBIGINT", "UHUGEINT"):
        return "integer"
    if t.startswith(("DECIMAL", "DOUBLE", "FLOAT", "REAL")):
        return "number"
    if t == "DATE" or t.startswith("TIMESTAMP"):
        return "date"
    return "text"


def _clean(e: Exception) -> str:
    """DuckDB's message without the type prefix, the LINE/caret context or anything traceback-like."""
    lines = [ln.strip() for ln in str(e).strip().splitlines() if ln.strip()]
    msg = lines[0] if lines else type(e).__name__
    for prefix in ("Binder Error:", "Catalog Error:", "Parser Error:", "Conversion Error:", "Invalid Input Error:",
                   "Out of Range Error:", "Constraint Error:", "Not implemented Error:", "Type Error:"):
        if msg.startswith(prefix):
            msg = msg[len(prefix):].strip()
    return msg[:300]


def _duckdb_check(cur, query: str) -> None:
    """DuckDB's own parser must also see exactly one SELECT-type statement."""
    import duckdb

    try:
        stmts = cur.extract_statements(query)
    except duckdb.Error as e:
        raise SqlError(f"DuckDB could not parse the query: {_clean(e)}. Check the syntax and try again.") from None
    if len(stmts) != 1:
        raise SqlRefused(f"DuckDB reads {len(stmts)} statements in the text and only one is allowed; "
                         "send a single SELECT.")
    if stmts[0].type != duckdb.StatementType.SELECT:
        kind = str(stmts[0].type).rsplit(".", 1)[-1]
        raise SqlRefused(f"{kind} statements are not allowed; run_sql only reads the tables of your own "
                         "warehouse: write a single SELECT (or WITH ... SELECT) over them.")


def run(ctx: ToolContext, params: SqlParams) -> ToolResult:
    import duckdb

    cap = max(1, int(ctx.config.sql_row_cap))
    if params.limit is not None and params.limit > cap:
        raise InvalidParams(f"limit {params.limit:,} is more than the {cap:,} rows run_sql returns at most; "
                            f"use a limit of {cap:,} or less, or aggregate in SQL.")
    limit = params.limit or cap
    cur = ctx.warehouse()
    catalog = cur.execute("SELECT current_database()").fetchone()[0]
    query = check(params.query, catalogs=[catalog])
    _duckdb_check(cur, query)

    timeout = float(ctx.config.sql_timeout)
    timed_out = threading.Event()

    def stop() -> None:
        timed_out.set()
        try:
            cur.interrupt()
        except Exception:  # the query finished and the cursor closed as the timer fired
            pass

    timer = threading.Timer(timeout, stop)
    timer.daemon = True
    timer.start()
    try:
        cur.execute(query)
        desc = cur.description or []
        rows = cur.fetchmany(limit + 1)
    except duckdb.InterruptException:
        if timed_out.is_set():
            raise ToolTimeout(f"the query ran longer than {timeout:g} seconds and was stopped; filter or aggregate "
                              "more (a WHERE on a date range, fewer joins), or ask an admin to raise sql_timeout."
                              ) from None
        raise PennyError("the query was stopped before it finished", code="cancelled") from None
    except duckdb.OutOfMemoryException:
        raise TooLarge(f"the query needed more memory than the warehouse allows "
                       f"({ctx.config.warehouse_memory_limit}); aggregate or filter more, or select fewer "
                       "columns.", code="sql_out_of_memory") from None
    except duckdb.PermissionException as e:
        raise SqlRefused(f"the warehouse refused the query: {_clean(e)}; run_sql only reads the tables of your "
                         "own warehouse.") from None
    except duckdb.Error as e:
        raise SqlError(f"the query failed: {_clean(e)}. Fix the SQL and try again "
                       "(SHOW TABLES and DESCRIBE <table> list the tables and columns).") from None
    finally:
        timer.cancel()
        try:
            cur.close()
        except Exception:  # closing a finished cursor is best effort
            pass

    truncated = len(rows) > limit
    rows = rows[:limit]
    names = [d[0] for d in desc]
    # unique keys for the artifact even if the query repeats a column name
    keys, seen = [], {}
    for n in names:
        k = n if n not in seen else f"{n}_{seen[n] + 1}"
        seen[n] = seen.get(n, 0) + 1
        keys.append(k)
    columns = [{"key": k, "label": n, "format": _format(d[1])} for k, n, d in zip(keys, names, desc)]
    json_rows = [[_cell(v) for v in r] for r in rows]

    shown = f"{len(json_rows):,} row{'s' if len(json_rows) != 1 else ''}"
    text = [f"The query returned {shown} with {len(names)} column{'s' if len(names) != 1 else ''}: "
            + ", ".join(names) + "."]
    if truncated:
        text.append(f"The result was truncated at {limit:,} rows: there are more. Aggregate, filter or add a "
                    "LIMIT to see what matters.")
    title = "SQL result" + (f" (first {limit:,} rows)" if truncated else "")
    spec = {"title": title, "columns": columns,
            "rows": [dict(zip(keys, r)) for r in json_rows], "truncated": truncated}
    draft = ArtifactDraft(type="table", title=title, spec=spec,
                          source={"tool": "run_sql", "params": params.model_dump(mode="json", exclude_none=True)})
    data = {"columns": names, "rows": json_rows, "truncated": truncated}
    return ToolResult(text="\n".join(text), data=data, artifacts=[draft], row_count=len(json_rows))


RUN_SQL = Tool(
    name="run_sql",
    title="Run SQL",
    description="Run one read-only DuckDB SELECT (or WITH ... SELECT) on the company warehouse and return the "
                "rows as a table. Only the warehouse's own tables can be read (SHOW TABLES, DESCRIBE <table>); "
                "no files, no writes, one statement. Results are capped and long queries time out.",
    params=SqlParams,
    run=run,
)
