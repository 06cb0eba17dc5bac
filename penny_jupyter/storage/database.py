"""The app database: an SQLAlchemy engine, set up for many small transactional writes."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import create_engine, event

from .migrations import migrate


def new_id(prefix: str) -> str:
    """A fresh id for a row: `conv_<20 hex>`, `msg_...`, `art_...`."""
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


def utcnow() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        kwargs: dict = {}
        if url.startswith("sqlite"):
            # The kernel and the server may both open the file: WAL lets readers and one writer share it.
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 10}
        self.engine = create_engine(url, **kwargs)
        if url.startswith("sqlite"):
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self.schema_version = migrate(self.engine)

    def begin(self):
        return self.engine.begin()

    def connect(self):
        return self.engine.connect()

    def close(self) -> None:
        self.engine.dispose()


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")  # durable across app crashes; WAL keeps it consistent
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()
