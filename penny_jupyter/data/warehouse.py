"""Per-tenant DuckDB warehouses: one file per tenant, opened read-only and locked down.

DuckDB has no users or grants, so isolation is by file: a tenant's connection is opened on its
own file only, with external access off (no ATTACH, COPY, read_csv of other paths) and the
configuration locked, so not even SQL run by a tool can widen what it may read.

SQL that a person wrote (`run_sql`) does not run on the server's connection but in a child process
on the same file (`sqlprocess.py`), which is killed when it overstays; `untrusted()` hands one out,
at most `sql_max_concurrent_per_user` at a time to each person.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

from ..errors import RateLimited, SourceConfigError, SourceUnavailable
from ..tenancy import Principal, check_tenant_name
from .lockdown import open_locked

if TYPE_CHECKING:
    import duckdb

    from ..settings import PennyConfig
    from .catalog import Catalog
    from .enginewarehouse import EngineWarehouse
    from .pgwarehouse import PgWarehouse
    from .sqlprocess import SqlProcess



class Warehouses:
    def __init__(self, config: "PennyConfig"):
        self.config = config
        self._guard = threading.Lock()
        # Per tenant, so bounded by the tenants this process serves. Staleness: a connection follows its file (a
        # rebuilt source opens a new one); a source is re-checked every sources.CHECK_SECONDS (300 s); a demo
        # warehouse is checked against today once per process (`_checked`), so a server that runs past the end of
        # its demo data regenerates it on its next start.
        self._locks: dict[str, threading.Lock] = {}
        self._conns: dict[str, "duckdb.DuckDBPyConnection"] = {}
        self._conn_paths: dict[str, Path] = {}
        self._retired: list["duckdb.DuckDBPyConnection"] = []
        self._checked: set[str] = set()
        self._sources: dict[str, tuple[Path, float]] = {}  # tenant -> (built file, when last checked)
        self._processes = None  # SqlProcessPool, made on the first run_sql
        self._catalogs: dict[str, tuple[str, "Catalog"]] = {}  # tenant -> (its mapping's fingerprint, catalog)
        self._pg: dict[str, "PgWarehouse | EngineWarehouse"] = {}  # tenant -> its own database's pool
        self._running: dict[tuple[str, str], list[float]] = {}  # (tenant, user) -> when their queries began

    def path(self, tenant: str) -> Path:
        check_tenant_name(tenant)
        return self.config.data_path / "warehouses" / f"{tenant}.duckdb"

    def _lock(self, tenant: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(tenant, threading.Lock())

    def ensure(self, tenant: str) -> Path:
        """The file the tenant's queries read: its own data when `tenant_sources` names it (see
        `sources.py`), else its generated demo warehouse."""
        check_tenant_name(tenant)
        source = (self.config.tenant_sources or {}).get(tenant)
        if source is not None:
            return self._ensure_source(tenant, source)
        return self._ensure_demo(tenant)

    def _ensure_source(self, tenant: str, source: dict) -> Path:
        from . import sources

        source = sources.validate(tenant, source)
        if "warehouse" in source:
            # No file to hand anyone: the sandbox asks the server instead (sandbox/sqlchannel.py), by design.
            raise SourceUnavailable(f"tenant {tenant!r} queries its own database where it lives and has no "
                                    "warehouse file; its data is read through the server (run_sql, query_metric, "
                                    "the dashboards, penny.sql in run_python)")
        if "duckdb" in source:
            p = Path(source["duckdb"]).expanduser()
            if not p.is_file():
                raise SourceUnavailable(
                    f"the warehouse file for tenant {tenant!r} ({p}) does not exist; check tenant_sources "
                    "in the Penny config", retry_after=30)
            return p
        known = self._sources.get(tenant)
        if known and known[0].exists() and time.monotonic() - known[1] < sources.CHECK_SECONDS:
            return known[0]
        with self._lock(tenant):
            known = self._sources.get(tenant)
            if known and known[0].exists() and time.monotonic() - known[1] < sources.CHECK_SECONDS:
                return known[0]
            digest = sources.fingerprint(tenant, source)
            p = sources.source_path(self.config.data_path, tenant, digest)
            if not p.exists():
                sources.build(tenant, source, p)
                sources.remove_stale(self.config.data_path, tenant, keep=p)
            self._sources[tenant] = (p, time.monotonic())
            return p

    def refresh(self, tenant: str) -> Path:
        """Re-check a tenant's own data now (rebuild if its files changed), instead of within CHECK_SECONDS."""
        self._sources.pop(tenant, None)
        return self.ensure(tenant)

    def _ensure_demo(self, tenant: str) -> Path:
        """Generate the tenant's demo warehouse the first time it is needed, and again when a generated
        demo has fallen behind today (its "this month" would be empty). A file we did not generate
        (no `warehouse_info` table) is never touched."""
        p = self.path(tenant)
        if p.exists() and tenant in self._checked:
            return p
        with self._lock(tenant):
            if tenant in self._checked and p.exists():  # another thread finished while we waited
                return p
            today = self.config.today()
            end = _demo_end_date(p) if p.exists() and self.config.refresh_demo_data else None
            if not p.exists() or (end is not None and end < today):
                from .generator import generate

                generate(p, tenant, scale=self.config.demo_scale, end_date=today)
            self._checked.add(tenant)
        return p

    def connection(self, tenant: str) -> "duckdb.DuckDBPyConnection":
        p = self.ensure(tenant)
        conn = self._conns.get(tenant)
        if conn is not None and self._conn_paths.get(tenant) == p:
            return conn
        with self._lock(tenant):
            conn = self._conns.get(tenant)
            if conn is None or self._conn_paths.get(tenant) != p:
                if conn is not None:  # its own data was rebuilt: new cursors read the new file
                    self._retired.append(conn)  # in-flight queries finish on the old one
                conn = open_locked(p, threads=self.config.kpi_query_threads,
                                   memory_limit=self.config.warehouse_memory_limit)
                self._conns[tenant] = conn
                self._conn_paths[tenant] = p
        return conn

    def cursor(self, tenant: str) -> "duckdb.DuckDBPyConnection":
        """A fresh cursor (usable from one thread) on the tenant's one cached read-only connection, or, for a
        tenant whose data lives in its own database, a cursor over that tenant's pool (`database`)."""
        pg = self.database(tenant)
        if pg is not None:
            return pg.cursor()
        return self.connection(tenant).cursor()

    def database(self, tenant: str) -> "PgWarehouse | EngineWarehouse | None":
        """The tenant's own database (its `warehouse` source): PostgreSQL (pgwarehouse.py) or another engine through
        its SQLAlchemy dialect (enginewarehouse.py); None when its data is a DuckDB file. Pools are per tenant: one
        tenant's URL is never used for another's call."""
        check_tenant_name(tenant)
        source = (self.config.tenant_sources or {}).get(tenant)
        if not isinstance(source, dict) or "warehouse" not in source:
            return None
        db = self._pg.get(tenant)
        if db is None:
            from . import sources
            from .dialects import dialect_of

            sources.validate(tenant, source)
            url, timeout = source["warehouse"], float(self.config.sql_timeout)
            dialect = dialect_of(url)
            if dialect == "duckdb":
                raise SourceConfigError(f"tenant_sources[{tenant!r}]: a DuckDB file is given as "
                                        "{'duckdb': '/path/file.duckdb'}, not as a warehouse URL")
            with self._guard:
                db = self._pg.get(tenant)
                if db is None:
                    if dialect == "postgres":
                        from .pgwarehouse import PgWarehouse

                        db = PgWarehouse(tenant, url, timeout=timeout)
                    else:
                        from .enginewarehouse import EngineWarehouse

                        db = EngineWarehouse(tenant, url, timeout=timeout)
                    self._pg[tenant] = db
        return db

    def catalog(self, tenant: str) -> "Catalog":
        """What the tenant's metrics mean: the demo catalog, or the tenant's own mapping of it onto its tables
        (`mapping.py`), built when first asked for and again when the mapping (or its YAML file) changes."""
        from .catalog import DEMO

        check_tenant_name(tenant)
        source = (self.config.tenant_sources or {}).get(tenant)
        if not isinstance(source, dict) or "catalog" not in source:
            return DEMO
        from . import mapping

        from . import sources
        from .dialects import dialect_of

        where = sources.validate(tenant, source)
        dialect = dialect_of(where["warehouse"]) if "warehouse" in where else "duckdb"
        key = f"{dialect}:{mapping.fingerprint(source['catalog'])}"  # its expressions are read in that dialect
        known = self._catalogs.get(tenant)
        if known is None or known[0] != key:
            known = self._catalogs[tenant] = (key, mapping.load(tenant, source["catalog"], dialect))
        return known[1]

    @contextmanager
    def untrusted(self, who: Principal, on_start: Callable[["SqlProcess"], None] = lambda proc: None
                  ) -> Iterator["SqlProcess"]:
        """A query process on the caller's own warehouse, for SQL a person wrote. RateLimited, with the
        seconds until their running query must have stopped, when they already have as many as allowed.
        `on_start(proc)` lets the caller register it to be interrupted (a cancel, the tool's timeout)."""
        from .sqlprocess import SqlProcessPool

        key, most = (who.tenant, who.user), max(1, int(self.config.sql_max_concurrent_per_user))
        with self._guard:
            started = self._running.setdefault(key, [])
            if len(started) >= most:
                wait = max(1.0, min(started) + float(self.config.sql_timeout) - time.monotonic())
                n = "a query" if most == 1 else f"{most} queries"
                raise RateLimited(f"you already have {n} running, and each person runs {most} at a time; it "
                                  f"stops within {self.config.sql_timeout:g} s: try again when it has finished",
                                  retry_after=wait)
            mine = time.monotonic()
            started.append(mine)
            if self._processes is None:
                self._processes = SqlProcessPool(threads=self.config.kpi_query_threads,
                                                 memory_limit=self.config.warehouse_memory_limit)
            pool = self._processes
        proc = None
        try:
            db = self.database(who.tenant)
            if db is not None:  # its own database: the engine stops the query (statement_timeout), no child
                runner = db.queries()
                on_start(runner)
                yield runner
                return
            proc = pool.checkout(self.ensure(who.tenant))
            on_start(proc)
            yield proc
        finally:
            if proc is not None:
                pool.checkin(proc)
            with self._guard:
                started.remove(mine)
                if not started:
                    self._running.pop(key, None)

    def close(self) -> None:
        if self._processes is not None:
            self._processes.close()
        for pg in list(self._pg.values()):
            pg.close()
        with self._guard:
            conns, self._conns = self._conns, {}
            retired, self._retired = self._retired, []
            self._conn_paths.clear()
        for c in [*conns.values(), *retired]:
            try:
                c.close()
            except Exception:  # closing is best effort at shutdown
                pass


def _demo_end_date(path: Path):
    """The last day of a generated demo warehouse, or None for a file that is not one."""
    import duckdb

    with duckdb.connect(str(path), read_only=True) as conn:
        try:
            return conn.execute("SELECT max(end_date) FROM warehouse_info").fetchone()[0]
        except duckdb.Error:
            return None
