"""A tenant's warehouse on PostgreSQL, queried where it lives: `tenant_sources = {"acme": {"warehouse":
"postgresql+psycopg://penny_ro@db/acme"}}`. Nothing is copied.

The catalog's SQL is written once, in DuckDB's dialect; `render` turns it into the warehouse's dialect with
sqlglot (and names each derived table, which PostgreSQL before 16 requires). Every query runs in its own
READ ONLY transaction with a `statement_timeout`, as the role in the URL (the README's two GRANTs give it
SELECT only), and at most `sql_row_cap` rows come back. The connections, and the credentials in the URL, stay
in this process: a kernel or a sandbox never sees them. Each tenant has its own small pool, so one tenant's
URL is never used for another's call.
"""

from __future__ import annotations

import decimal
import queue
import threading
from contextlib import contextmanager
from typing import Any, Iterator

from ..errors import SourceConfigError, SourceUnavailable, SqlError, ToolTimeout
from .dialects import dialect_of, render

POOL_SIZE = 4  # connections per tenant at most
WAIT_SECONDS = 30.0  # for a free connection, before the call is refused as busy


def _plain(value: Any) -> Any:
    """Values as DuckDB gives them to the rest of Penny: a NUMERIC sum is a float, not a Decimal."""
    return float(value) if isinstance(value, decimal.Decimal) else value


class PgCursor:
    """The part of a DuckDB cursor the catalog queries use (`execute(sql, params)`, `fetchall`, `fetchone`,
    `description`, `interrupt`), over one pooled PostgreSQL connection per statement."""

    dialect = "postgres"

    def __init__(self, warehouse: "PgWarehouse") -> None:
        self._warehouse = warehouse
        self._rows: list[tuple] = []
        self.description: list[tuple] | None = None
        self._conn = None
        self._fresh = False  # the last statement ran on a connection made for it (no retry on a new one)

    def execute(self, sql: str, params: dict[str, Any] | None = None, *, limit: int | None = None,
                timeout: float | None = None, native: bool = False) -> "PgCursor":
        """Run the catalog's DuckDB SQL, or (`native`) SQL a person wrote in PostgreSQL's dialect. The catalog's
        failures become sentences (a timeout, the database away); a person's are the caller's to word."""
        import psycopg

        if native:
            return self._run(sql, params, limit, timeout, streamed=True)
        try:
            # always a mapping (even empty): psycopg then reads the rendered %% as one %
            try:
                return self._run(render(sql, "postgres"), params or {}, limit, timeout)
            except psycopg.OperationalError:
                if self._fresh:
                    raise
                # a pooled connection the server dropped meanwhile (a restart, an idle timeout): once more, new
                return self._run(render(sql, "postgres"), params or {}, limit, timeout)
        except psycopg.errors.QueryCanceled:
            raise ToolTimeout(f"the company database did not answer within {timeout or self._warehouse.timeout:g} s "
                              "(statement_timeout); try a shorter period or a narrower question") from None
        except psycopg.OperationalError as e:
            raise SourceUnavailable(f"the warehouse of tenant {self._warehouse.tenant!r} cannot be reached now "
                                    f"({type(e).__name__}); try again in a minute", retry_after=30) from None
        except psycopg.Error as e:  # a metric mapped onto a column that is not there (mapping.py), a missing grant
            first = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
            raise SqlError(f"the company database could not run Penny's query: {first}. If the metric is mapped "
                           "onto your own tables, an admin can check its table and columns in the tenant's "
                           "catalog; describe_data lists the mapped metrics that fail") from None

    def _run(self, text: str, params: dict[str, Any] | None, limit: int | None, timeout: float | None,
             streamed: bool = False) -> "PgCursor":
        with self._warehouse.connection() as conn:
            self._conn, self._fresh = conn, getattr(conn, "_penny_new", False)
            try:
                with conn.transaction():
                    # What an earlier call on this pooled connection set (a time zone, a search_path) is undone
                    # first, then the transaction is made read-only and bounded.
                    conn.execute("RESET ALL")
                    conn.execute("SET TRANSACTION READ ONLY")
                    ms = int(1000 * (timeout or self._warehouse.timeout))
                    conn.execute(f"SET LOCAL statement_timeout = {max(1, ms)}")
                    if streamed:
                        # A person's SQL: a server-side cursor takes ONE statement (extended protocol) and streams,
                        # so a huge result never lands in this process beyond `limit` rows.
                        with conn.cursor(name="penny_query") as cur:
                            cur.execute(text, params or None)
                            rows = cur.fetchmany(limit) if limit is not None else cur.fetchall()
                            self.description = [(c.name, c.type_code) for c in cur.description or []]
                    else:
                        cur = conn.execute(text, params, prepare=False)
                        self.description = [(c.name, c.type_code) for c in cur.description or []]
                        rows = cur.fetchmany(limit) if limit is not None else cur.fetchall()
                    self._rows = [tuple(_plain(v) for v in r) for r in rows]
            finally:
                self._conn = None
        return self

    def fetchall(self) -> list[tuple]:
        rows, self._rows = self._rows, []
        return rows

    def fetchone(self) -> tuple | None:
        return self._rows.pop(0) if self._rows else None

    def interrupt(self) -> None:
        # (a cancel sent just as the statement ends reaches an idle connection: PostgreSQL ignores it there)
        conn = self._conn
        if conn is not None:
            try:
                conn.cancel()
            except Exception:  # already finished: nothing to stop
                pass

    def close(self) -> None:
        self._rows = []


class PgWarehouse:
    """One tenant's PostgreSQL: a bounded pool of connections made from the configured URL."""

    def __init__(self, tenant: str, url: str, *, timeout: float, size: int = POOL_SIZE) -> None:
        self.tenant = tenant
        self.dialect = dialect_of(url)
        # psycopg takes a libpq URI: the SQLAlchemy driver suffix goes
        from psycopg.conninfo import conninfo_to_dict

        self._dsn = "postgresql://" + url.split("://", 1)[1]
        try:
            self.database = str(conninfo_to_dict(self._dsn).get("dbname") or "")
        except Exception:
            raise SourceConfigError(f"tenant {tenant!r}: its warehouse URL cannot be read as a PostgreSQL URL "
                                    "(postgresql+psycopg://user:password@host:port/database)") from None
        self.timeout = timeout
        self._idle: queue.LifoQueue = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(size)

    @contextmanager
    def connection(self) -> Iterator[Any]:
        import psycopg

        if not self._slots.acquire(timeout=WAIT_SECONDS):
            raise SourceUnavailable(f"the warehouse of tenant {self.tenant!r} has no free connection "
                                    f"after {WAIT_SECONDS:g} s; try again in a moment", retry_after=5)
        conn = None
        try:
            try:
                conn = self._idle.get_nowait()
            except queue.Empty:
                try:
                    conn = psycopg.connect(self._dsn, connect_timeout=10, application_name="penny")
                    conn._penny_new = True  # type: ignore[attr-defined]
                except psycopg.Error as e:
                    raise SourceUnavailable(f"the warehouse of tenant {self.tenant!r} cannot be reached "
                                            f"({type(e).__name__}); an admin can check its URL and the server",
                                            retry_after=30) from None
            yield conn
            conn._penny_new = False  # type: ignore[attr-defined]
            if conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE and not conn.closed:
                self._idle.put(conn)
                conn = None
        finally:
            if conn is not None:  # broken or mid-transaction: never handed out again
                try:
                    conn.close()
                except Exception:
                    pass
            self._slots.release()

    def cursor(self) -> PgCursor:
        return PgCursor(self)

    def queries(self) -> "PgQueries":
        return PgQueries(self)

    def close(self) -> None:
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return


# Tables in the role's own schema go by their bare name; others (a company's billing.invoice_lines) by schema.table.
_TABLE_NAME = ("CASE WHEN {schema} = current_schema() THEN {table} ELSE {schema} || '.' || {table} END")
_SYSTEM = "('pg_catalog', 'information_schema', 'pg_toast')"


def describe_sql() -> str:
    """The tables and columns the role may read, in every schema (what describe_data lists), PostgreSQL's way:
    information_schema shows only what the role has a privilege on."""
    name = _TABLE_NAME.format(schema="table_schema", table="table_name")
    return (f"SELECT {name}, column_name, data_type FROM information_schema.columns "
            f"WHERE table_schema NOT IN {_SYSTEM} ORDER BY table_schema <> current_schema(), 1, ordinal_position")


def row_estimates_sql() -> str:
    """Rows per table as PostgreSQL's statistics estimate them: counting a company's tables exactly could take
    longer than the statement_timeout (-1 before the first ANALYZE)."""
    name = _TABLE_NAME.format(schema="n.nspname", table="c.relname")
    return (f"SELECT {name}, greatest(c.reltuples, 0)::bigint FROM pg_class c JOIN pg_namespace n "
            f"ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN {_SYSTEM}")


_KINDS = {"int2": "SMALLINT", "int4": "INTEGER", "int8": "BIGINT", "float4": "REAL", "float8": "DOUBLE",
          "numeric": "DECIMAL", "date": "DATE", "timestamp": "TIMESTAMP", "timestamptz": "TIMESTAMP"}


def _cell(value: Any) -> Any:
    """JSON-ready, as the DuckDB query process hands back its cells."""
    value = _plain(value)
    return value.isoformat() if hasattr(value, "isoformat") else value


class PgQueries:
    """run_sql's side of a PostgreSQL warehouse, with the query process's interface (`catalog`, `query`,
    `interrupt`): SQL a person wrote, in PostgreSQL's dialect, after sqlguard's one-SELECT check."""

    # every schema of the company's database is its own (the role's grants decide what it reads); sqlguard
    any_schema = True

    def __init__(self, warehouse: PgWarehouse) -> None:
        self.catalog = warehouse.database
        self._cursor = warehouse.cursor()
        self._types: dict[int, str] = {}

    def interrupt(self) -> None:
        self._cursor.interrupt()

    def query(self, sql: str, limit: int, timeout: float, params: list | None = None):
        import psycopg

        from .sqlprocess import QueryFailed, QueryResult

        try:
            if params:
                sql, params = _bind(sql, params)
            cur = self._cursor.execute(sql, params or None, limit=limit + 1, timeout=timeout, native=True)
        except psycopg.errors.QueryCanceled as e:
            raise QueryFailed("timeout" if "statement timeout" in str(e) else "cancelled", _first(e)) from None
        except psycopg.errors.ReadOnlySqlTransaction as e:
            raise QueryFailed("refused", "Writing") from None
        except psycopg.errors.InsufficientPrivilege as e:
            raise QueryFailed("permission", _first(e)) from None
        except psycopg.OperationalError as e:  # the database away: not the person's SQL
            raise QueryFailed("unavailable", type(e).__name__) from None
        except psycopg.Error as e:
            raise QueryFailed("sql", _first(e)) from None
        rows = cur.fetchall()
        registry = psycopg.adapters.types
        columns = []
        for name, oid in cur.description or []:
            info = registry.get(oid)
            columns.append((name, _KINDS.get(info.name if info else "", "VARCHAR")))
        return QueryResult(columns=columns, rows=[[_cell(v) for v in r] for r in rows[:limit]],
                           truncated=len(rows) > limit)


def _bind(sql: str, params: list) -> tuple[str, list]:
    """A person's placeholders written DuckDB's way (`?` in order, or `$1`), as psycopg's `%s` with the values in
    the order they appear; every other `%` doubled, since psycopg reads `%` once it has values to bind. The
    placeholders are found by sqlglot's tokenizer, so a `?` or `$1` inside a string or a comment stays text."""
    import sqlglot

    from .sqlprocess import QueryFailed

    tokens = sqlglot.Dialect.get_or_raise("postgres").tokenize(sql)
    parts, values, used, at, auto = [], [], set(), 0, 0
    for i, tok in enumerate(tokens):
        after = tokens[i + 1] if i + 1 < len(tokens) else None
        if tok.token_type.name == "PLACEHOLDER" and tok.text == "?":
            index, end, auto = auto, tok.end, auto + 1
        elif tok.token_type.name == "PARAMETER" and after is not None and after.token_type.name == "NUMBER" \
                and after.start == tok.end + 1 and after.text.isdigit():
            index, end = int(after.text) - 1, after.end
        else:
            continue
        if not 0 <= index < len(params):
            raise QueryFailed("sql", f"the query has a placeholder for value {index + 1} and {len(params)} "
                              f"value{'s were' if len(params) != 1 else ' was'} given")
        parts += [sql[at:tok.start].replace("%", "%%"), "%s"]
        values.append(params[index])
        used.add(index)
        at = end + 1
    if len(used) != len(params):
        raise QueryFailed("sql", f"{len(params)} value{'s were' if len(params) != 1 else ' was'} given and the query "
                          f"uses {len(used)} (as ? or $1)")
    parts.append(sql[at:].replace("%", "%%"))
    return "".join(parts), values


def _first(e: Exception) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0][:300]


__all__ = ["PgCursor", "PgQueries", "PgWarehouse", "describe_sql"]
