"""Versioned schema migrations.

Each migration is (version, name, function(connection)). `migrate()` applies those newer than the
database's version, each in its own transaction, and records it. A new migration goes at the end
and never edits an old one. (Alembic would do this too; a dozen lines keep the kernel's import light.)
"""

from __future__ import annotations

import time
from typing import Callable

from sqlalchemy import Connection, Engine, inspect, select, text

from . import schema


def _v1_initial(conn: Connection) -> None:
    for table in (schema.conversations, schema.messages, schema.events, schema.artifacts):
        table.create(conn, checkfirst=True)


def _v2_audit(conn: Connection) -> None:
    schema.audit.create(conn, checkfirst=True)


def _v3_payloads_and_shares(conn: Connection) -> None:
    have = {c["name"] for c in inspect(conn).get_columns("artifacts")}
    for name, kind in (("payload_key", "VARCHAR(512)"), ("payload_bytes", "INTEGER"), ("payload_sha256", "VARCHAR(64)")):
        if name not in have:
            conn.execute(text(f"ALTER TABLE artifacts ADD COLUMN {name} {kind}"))
    schema.shares.create(conn, checkfirst=True)


def _v4_turn_leases(conn: Connection) -> None:
    schema.turn_leases.create(conn, checkfirst=True)


MIGRATIONS: list[tuple[int, str, Callable[[Connection], None]]] = [
    (1, "initial: conversations, messages, events, artifacts", _v1_initial),
    (2, "audit: append-only, hash-chained per tenant", _v2_audit),
    (3, "artifact payloads in the artifact store; shares", _v3_payloads_and_shares),
    (4, "turn leases: running turns, so a turn whose process died is ended", _v4_turn_leases),
]


def current_version(conn: Connection) -> int:
    if not inspect(conn).has_table(schema.migrations_table.name):
        return 0
    versions = conn.execute(select(schema.migrations_table.c.version)).scalars().all()
    return max(versions, default=0)


# Any constant: the key of the PostgreSQL advisory lock that makes replicas starting at once migrate one by one.
_MIGRATION_LOCK = 0x70656E6E79  # "penny"


def migrate(engine: Engine) -> int:
    with engine.connect() as conn:
        # Several replicas starting together on one PostgreSQL would each see version 0 and create the same
        # tables (DDL there is transactional, so one fails on a duplicate). A session advisory lock lets one
        # migrate while the others wait, then find nothing to do. SQLite has no such lock and needs none here:
        # a transaction that writes takes the file's write lock.
        locked = conn.dialect.name == "postgresql"
        if locked:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _MIGRATION_LOCK})
            conn.commit()
        try:
            with conn.begin():
                schema.migrations_table.create(conn, checkfirst=True)
            for version, name, apply in MIGRATIONS:
                with conn.begin():
                    if current_version(conn) >= version:
                        continue
                    apply(conn)
                    conn.execute(schema.migrations_table.insert().values(version=version, name=name,
                                                                         applied_at=time.time()))
            version = current_version(conn)
            conn.rollback()  # the read's implicit transaction
        finally:
            if locked:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _MIGRATION_LOCK})
                conn.commit()
        return version
