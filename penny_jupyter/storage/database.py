"""The app database: an SQLAlchemy engine, set up for many small transactional writes.

SQLite (a file in data_dir, the default) or PostgreSQL (`postgresql+psycopg://user:pass@host/db`), one code
path. Every service reaches the database through `begin()` and `connect()`, which turn "the database is not
answering" (PostgreSQL down or restarting, a SQLite file locked too long) into errors.StoreUnavailable, a 503
with a sentence, instead of a driver's traceback. Nothing needs rebuilding when it comes back: a connection
that died with the server is replaced (see _ping_if_idle).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from contextlib import contextmanager
from typing import Iterator

from sqlalchemy import Connection, create_engine, event
from sqlalchemy.exc import DBAPIError, InvalidatePoolError, OperationalError

from ..errors import StoreUnavailable
from .migrations import migrate

log = logging.getLogger("penny.storage")

# SQLite's OperationalError also means "no such table" or a syntax error (bugs, which stay 500s); these are the
# ones that say the file cannot be used right now.
_SQLITE_UNAVAILABLE = ("database is locked", "unable to open database", "disk i/o error", "database is full")
PING_IDLE_SECONDS = 1.0


def new_id(prefix: str) -> str:
    """A fresh id for a row: `conv_<20 hex>`, `msg_...`, `art_...`."""
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


def storable(text: str, limit: int | None = None) -> str:
    """Text as every backend stores it: PostgreSQL refuses NUL characters in text (SQLite keeps them), so they
    become U+FFFD on both; `limit` cuts to a VARCHAR's length, which PostgreSQL enforces and SQLite ignores."""
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    return text[:limit] if limit is not None else text


def utcnow() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.dialect = url.split(":", 1)[0].split("+", 1)[0]  # "sqlite" | "postgresql"
        kwargs: dict = {}
        if self.dialect == "sqlite":
            # The kernel and the server may both open the file: WAL lets readers and one writer share it.
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 10}
        elif self.dialect == "postgresql":
            # An unreachable host fails a request in seconds, not after the OS's TCP timeout.
            kwargs["connect_args"] = {"connect_timeout": 5}
        self.engine = create_engine(url, **kwargs)
        if self.dialect == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        else:
            for name in ("connect", "checkin"):
                event.listen(self.engine, name, _idle_from_now)
            event.listen(self.engine, "checkout", _ping_if_idle)
        with self._available():
            self.schema_version = migrate(self.engine)

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A transaction: committed when the block ends, rolled back if it raises."""
        with self._available(), self.engine.begin() as conn:
            yield conn

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """A connection for reads (or for a transaction the caller commits itself)."""
        with self._available(), self.engine.connect() as conn:
            yield conn

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _available(self) -> Iterator[None]:
        try:
            yield
        except DBAPIError as e:
            if not self._unavailable(e):
                raise
            log.warning("app database not answering (%s): %s", self.dialect, str(e.orig).strip()[:300])
            raise StoreUnavailable() from e

    def _unavailable(self, e: DBAPIError) -> bool:
        if e.connection_invalidated:  # SQLAlchemy saw the connection die
            return True
        if not isinstance(e, OperationalError):  # IntegrityError, ProgrammingError...: the caller's to handle
            return False
        if self.dialect == "sqlite":
            return any(m in str(e.orig).lower() for m in _SQLITE_UNAVAILABLE)
        # PostgreSQL (psycopg): OperationalError is the server gone, refusing connections, shutting down, or a
        # transaction it rolled back (deadlock, serialization): each is worth trying again in a moment.
        return True


def _idle_from_now(_dbapi_conn, record) -> None:
    record.info["penny_idle_since"] = time.monotonic()


def _ping_if_idle(dbapi_conn, record, _proxy) -> None:
    """A server that restarted leaves the pool's connections dead. A connection idle for a second or more is
    tested as it is checked out (SELECT 1) and, if dead, the pool is emptied and a new one made, so the first
    request after a restart works. One in steady use is not: pool_pre_ping's round trip on every checkout cost
    ~1/6 of a message append. (A connection that died less than a second after its last use fails its request
    with store_unavailable, and SQLAlchemy then empties the pool: the next request reconnects.)"""
    if time.monotonic() - record.info.get("penny_idle_since", 0.0) < PING_IDLE_SECONDS:
        return
    try:
        dbapi_conn.cursor().execute("SELECT 1")
        dbapi_conn.rollback()
    except Exception as e:  # the driver's error for a dead connection, whichever it is
        raise InvalidatePoolError(f"connection lost: {e}") from e


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")  # durable across app crashes; WAL keeps it consistent
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()
