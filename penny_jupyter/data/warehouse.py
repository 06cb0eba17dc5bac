"""Per-tenant DuckDB warehouses: one file per tenant, opened read-only and locked down.

DuckDB has no users or grants, so isolation is by file: a tenant's connection is opened on its
own file only, with external access off (no ATTACH, COPY, read_csv of other paths) and the
configuration locked, so not even SQL run by a tool can widen what it may read.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from ..tenancy import check_tenant_name

if TYPE_CHECKING:
    import duckdb

    from ..settings import PennyConfig

MEMORY_LIMIT = "1GB"


class Warehouses:
    def __init__(self, config: "PennyConfig"):
        self.config = config
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._conns: dict[str, "duckdb.DuckDBPyConnection"] = {}
        self._checked: set[str] = set()

    def path(self, tenant: str) -> Path:
        check_tenant_name(tenant)
        return self.config.data_path / "warehouses" / f"{tenant}.duckdb"

    def _lock(self, tenant: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(tenant, threading.Lock())

    def ensure(self, tenant: str) -> Path:
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
        conn = self._conns.get(tenant)
        if conn is not None:
            return conn
        p = self.ensure(tenant)
        with self._lock(tenant):
            conn = self._conns.get(tenant)
            if conn is None:
                conn = _open_locked(p, threads=self.config.kpi_query_threads)
                self._conns[tenant] = conn
        return conn

    def cursor(self, tenant: str) -> "duckdb.DuckDBPyConnection":
        """A fresh cursor (usable from one thread) on the tenant's one cached read-only connection."""
        return self.connection(tenant).cursor()

    def close(self) -> None:
        with self._guard:
            conns, self._conns = self._conns, {}
        for c in conns.values():
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


def _open_locked(path: Path, *, threads: int) -> "duckdb.DuckDBPyConnection":
    import duckdb

    conn = duckdb.connect(str(path), read_only=True, config={
        "enable_external_access": False,
        "autoload_known_extensions": False,
        "autoinstall_known_extensions": False,
        "allow_community_extensions": False,
        "threads": max(1, int(threads)),
        "memory_limit": MEMORY_LIMIT,
    })
    conn.execute("SET lock_configuration = true")
    return conn
