"""A tenant's warehouse on Snowflake, BigQuery or Trino, queried where it lives through the engine's own
SQLAlchemy dialect: `tenant_sources = {"acme": {"warehouse": "trino://penny_ro@trino:8080/hive/sales"}}`.

The driver is the admin's to install in the server's environment (`snowflake-sqlalchemy`,
`sqlalchemy-bigquery`, `trino`); a missing one is a sentence naming the package. The catalog's SQL is rendered
for the engine with its values written in as literals (`dialects.render_with`), so no driver's placeholder
style matters. What keeps it read-only is the role: these engines have no READ ONLY transaction that every
connector honours, so the README asks for a role that can only SELECT, and sqlguard's one-SELECT check stays in
front of SQL a person writes. Each statement's time is bounded by the engine's own session setting where it
has one (Trino's query_max_run_time, Snowflake's STATEMENT_TIMEOUT_IN_SECONDS); BigQuery's are its project's.
Each tenant has its own pool of at most POOL_SIZE connections; the URL stays in this process.

PostgreSQL has its own module (pgwarehouse.py): there Penny can make every statement read-only itself.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import threading
from typing import Any

from ..errors import SourceConfigError, SourceUnavailable, SqlError, ToolTimeout
from .dialects import dialect_of, render_with

POOL_SIZE = 4
WAIT_SECONDS = 30.0
DRIVERS = {"snowflake": "snowflake-sqlalchemy", "bigquery": "sqlalchemy-bigquery", "trino": "trino"}


def _session(dialect: str, timeout: float) -> dict[str, Any]:
    """connect() arguments that bound every statement on the engine's side, in its own words."""
    seconds = max(1, math.ceil(timeout))
    if dialect == "trino":
        return {"session_properties": {"query_max_run_time": f"{seconds}s"}}
    if dialect == "snowflake":
        return {"session_parameters": {"STATEMENT_TIMEOUT_IN_SECONDS": seconds}}
    return {}


def _first(e: BaseException) -> str:
    """The engine's message, short: Snowflake puts the reason on the line after "SQL compilation error:"."""
    lines = [ln.strip() for ln in str(e).strip().splitlines() if ln.strip()] or [type(e).__name__]
    return " ".join(lines[:2] if lines[0].endswith(":") else lines[:1])[:300]


def _plain(v: Any) -> Any:
    """Cells as DuckDB gives them to the rest of Penny: a DECIMAL sum is a float."""
    return float(v) if isinstance(v, decimal.Decimal) else v


def _kind(values: list) -> str:
    """A result column's type, from its values: drivers describe types each their own way."""
    v = next((x for x in values if x is not None), None)
    if isinstance(v, bool):
        return "BOOLEAN"
    if isinstance(v, int):
        return "BIGINT"
    if isinstance(v, (float, decimal.Decimal)):
        return "DOUBLE"
    if isinstance(v, dt.datetime):
        return "TIMESTAMP"
    if isinstance(v, dt.date):
        return "DATE"
    return "VARCHAR"


class EngineWarehouse:
    """One tenant's warehouse on a SQLAlchemy engine: a bounded pool made from the configured URL."""

    def __init__(self, tenant: str, url: str, *, timeout: float, size: int = POOL_SIZE) -> None:
        import sqlalchemy
        from sqlalchemy.exc import ArgumentError, NoSuchModuleError

        self.tenant, self.dialect, self.timeout = tenant, dialect_of(url), timeout
        try:
            self._engine = sqlalchemy.create_engine(url, pool_size=size, max_overflow=0, pool_timeout=WAIT_SECONDS,
                                                    connect_args=_session(self.dialect, timeout))
        except (NoSuchModuleError, ImportError):
            raise SourceConfigError(f"tenant {tenant!r}: its warehouse is {self.dialect}, and that engine's "
                                    f"SQLAlchemy driver is not installed where Penny runs: pip install "
                                    f"{DRIVERS.get(self.dialect, 'its driver')}") from None
        except ArgumentError:
            raise SourceConfigError(f"tenant {tenant!r}: its warehouse URL cannot be read as a {self.dialect} "
                                    "SQLAlchemy URL") from None
        # Trino's URL path is catalog/schema, Snowflake's database/schema, BigQuery's the dataset
        path = str(self._engine.url.database or "").split("/")
        self.database, self.schema = path[0], (path[1] if len(path) > 1 else "")

    def cursor(self) -> "EngineCursor":
        return EngineCursor(self)

    def queries(self) -> "EngineQueries":
        return EngineQueries(self)

    def run(self, sql: str, limit: int | None, holder: "EngineCursor") -> tuple[list[str], list[tuple]]:
        """One statement on a pooled connection: (column names, rows), at most `limit` rows fetched."""
        from sqlalchemy.exc import TimeoutError as PoolTimeout

        try:
            conn = self._engine.connect()
        except PoolTimeout:
            raise SourceUnavailable(f"the warehouse of tenant {self.tenant!r} has no free connection after "
                                    f"{WAIT_SECONDS:g} s; try again in a moment", retry_after=5) from None
        except Exception as e:  # down, refused, bad credentials: never the URL
            raise SourceUnavailable(f"the warehouse of tenant {self.tenant!r} cannot be reached ({type(e).__name__}); "
                                    "an admin can check its URL and the engine", retry_after=30) from None
        with conn:
            # The driver's own cursor, held BEFORE it executes: Trino's execute waits for the first rows and
            # Snowflake's for the whole result, and a cancel (interrupt) must reach them while they wait. A timer
            # cancels too, for an engine whose own time limit is not set (BigQuery's is its project's).
            raw = conn.connection.cursor()
            holder._dbapi = raw
            timer = threading.Timer(self.timeout + 5, holder.interrupt)
            timer.daemon = True
            timer.start()
            try:
                raw.execute(sql)
                names = [d[0] for d in raw.description or []]
                rows = raw.fetchmany(limit) if limit is not None else raw.fetchall()
            finally:
                timer.cancel()
                holder._dbapi = None
                try:
                    raw.close()
                except Exception:  # a cancelled cursor may refuse to close; the connection goes back anyway
                    pass
        return names, [tuple(_plain(v) for v in r) for r in rows]

    def close(self) -> None:
        self._engine.dispose()


class EngineCursor:
    """The part of a DuckDB cursor the catalog queries use, over the tenant's engine (as pgwarehouse.PgCursor)."""

    def __init__(self, warehouse: EngineWarehouse) -> None:
        self._warehouse = warehouse
        self.dialect = warehouse.dialect
        self._rows: list[tuple] = []
        self.description: list[tuple] | None = None
        self._dbapi = None

    def execute(self, sql: str, params: dict[str, Any] | None = None, *, limit: int | None = None,
                timeout: float | None = None, native: bool = False) -> "EngineCursor":
        """The catalog's DuckDB SQL rendered for the engine, or (`native`) SQL already in its dialect. Statements
        are bounded by the engine's session setting (`timeout` is the pool's, set when it connects)."""
        text = sql if native else render_with(sql, self.dialect, params)
        try:
            names, self._rows = self._warehouse.run(text, limit, self)
        except (SourceUnavailable, SourceConfigError):
            raise
        except Exception as e:
            raise _sentence(e, self._warehouse) from None
        self.description = [(n, None) for n in names]
        return self

    def describe(self) -> list[tuple[str, str, str]]:
        """(table, column, type) of every table the role sees in the URL's schema, by information_schema."""
        from sqlglot import exp

        # upper() on both sides: Snowflake keeps unquoted names in upper case, Trino in lower
        where = f" WHERE upper(table_schema) = upper({exp.Literal.string(self._warehouse.schema).sql(self.dialect)})" \
            if self._warehouse.schema else ""
        return self.execute(f"SELECT table_name, column_name, data_type FROM information_schema.columns{where} "
                            "ORDER BY table_name, ordinal_position", native=True).fetchall()

    def fetchall(self) -> list[tuple]:
        rows, self._rows = self._rows, []
        return rows

    def fetchone(self) -> tuple | None:
        return self._rows.pop(0) if self._rows else None

    def interrupt(self) -> None:
        cancel = getattr(self._dbapi, "cancel", None)  # Trino's cursor cancels its query on the coordinator
        if cancel is not None:
            try:
                cancel()
            except Exception:  # already finished: nothing to stop
                pass

    def close(self) -> None:
        self._rows = []


# What each engine says when its own time limit stopped a statement (Trino's error name, Snowflake's 000630)
_TIMED_OUT = ("EXCEEDED_TIME_LIMIT", "REACHED ITS STATEMENT OR WAREHOUSE TIMEOUT")


def _sentence(e: BaseException, warehouse: EngineWarehouse) -> Exception:
    e = getattr(e, "orig", None) or e
    text = _first(e)
    said = f"{getattr(e, 'error_name', '')} {e}".upper()
    if any(w in said for w in _TIMED_OUT):
        return ToolTimeout(f"the company warehouse stopped the query after {warehouse.timeout:g} s; try a shorter "
                           "period or a narrower question")
    if isinstance(e, (OSError, ConnectionError)) or "connection" in type(e).__name__.lower():
        return SourceUnavailable(f"the warehouse of tenant {warehouse.tenant!r} cannot be reached now "
                                 f"({type(e).__name__}); try again in a minute", retry_after=30)
    return SqlError(f"the company warehouse could not run the query: {text}. If a metric is mapped onto your own "
                    "tables, an admin can check its table and columns in the tenant's catalog")


class EngineQueries:
    """run_sql's side of such a warehouse, with the query process's interface (`catalog`, `query`, `interrupt`):
    SQL a person wrote, in the engine's dialect, after sqlguard's one-SELECT check."""

    any_schema = True  # the engine's own grants decide what the role reads (sqlguard)

    def __init__(self, warehouse: EngineWarehouse) -> None:
        self.catalog = warehouse.database
        self._cursor = warehouse.cursor()

    def interrupt(self) -> None:
        self._cursor.interrupt()

    def query(self, sql: str, limit: int, timeout: float, params: list | None = None):
        from ..errors import PennyError
        from .sqlprocess import QueryFailed, QueryResult

        if params:
            raise QueryFailed("sql", "values for placeholders are bound on PostgreSQL only; write them into the SQL")
        _one_query(sql, self._cursor.dialect)
        try:
            cur = self._cursor.execute(sql, limit=limit + 1, native=True)
        except ToolTimeout as e:
            raise QueryFailed("timeout", e.message) from None
        except SourceUnavailable as e:
            raise QueryFailed("unavailable", e.message) from None
        except PennyError as e:
            message = e.message.split(": ", 1)[-1].split(". If a metric", 1)[0]
            denied = any(w in message.upper() for w in ("ACCESS DENIED", "PERMISSION", "NOT AUTHORIZED"))
            raise QueryFailed("permission" if denied else "sql", message) from None
        rows = cur.fetchall()
        names = [d[0] for d in cur.description or []]
        columns = [(n, _kind([r[i] for r in rows])) for i, n in enumerate(names)]
        cells = [[v.isoformat() if hasattr(v, "isoformat") else v for v in r] for r in rows[:limit]]
        return QueryResult(columns=columns, rows=cells, truncated=len(rows) > limit)


def _one_query(sql: str, dialect: str) -> None:
    """sqlguard read the text as DuckDB; BigQuery and Snowflake read `\\'` as an escaped quote, so the same text
    can hide a second statement from it. Read again as the engine reads it: exactly one query, or refused."""
    import sqlglot
    from sqlglot import exp

    from .sqlprocess import QueryFailed

    try:
        tree = [t for t in sqlglot.parse(sql, read=dialect) if t is not None]
    except sqlglot.errors.SqlglotError as e:
        raise QueryFailed("sql", f"the query could not be read as {dialect} SQL ({_first(e)})") from None
    if len(tree) != 1:
        raise QueryFailed("refused", f"Several ({len(tree)}, as {dialect} reads the text)")
    if not isinstance(tree[0], exp.Query):
        raise QueryFailed("refused", type(tree[0]).__name__.upper())
