"""The one way Penny opens a tenant's DuckDB file for queries: read-only, external access off (no ATTACH,
COPY, or read_csv of other paths), no extension loading, its threads and memory capped, and the
configuration locked so not even the SQL run on it can widen what it may read. The server's own
connection (warehouse.py) and run_sql's query process (sqlprocess.py) both open it here."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import SourceUnavailable

if TYPE_CHECKING:
    import duckdb


def open_locked(path: Path, *, threads: int, memory_limit: str = "1GB") -> "duckdb.DuckDBPyConnection":
    import duckdb

    try:
        conn = duckdb.connect(str(path), read_only=True, config={
            "enable_external_access": False,
            "autoload_known_extensions": False,
            "autoinstall_known_extensions": False,
            "allow_community_extensions": False,
            "threads": max(1, int(threads)),
            "memory_limit": memory_limit,
        })
    except duckdb.Error as e:  # not a DuckDB file, a newer format, locked by a writer elsewhere...
        msg = " ".join(str(e).split())[:300]
        raise SourceUnavailable(f"the warehouse file {path} cannot be opened: {msg}", retry_after=30) from None
    conn.execute("SET lock_configuration = true")
    return conn
