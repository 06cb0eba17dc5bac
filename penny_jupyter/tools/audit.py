"""The audit log: one append-only row per tool call, hash-chained per tenant.

`hash = sha256(prev_hash + canonical JSON of the row's fields)`, where prev_hash is the hash of the
tenant's previous row ("" for its first). Editing or deleting a row breaks the chain at that row or the
next, and `verify` names it. (Cutting rows off the end cannot be seen from inside the table; a copy of
the latest hash kept elsewhere would catch that.) There is no API to update or delete a row.

Concurrent writers (threads, the kernel and the server on one SQLite file, several servers on one
PostgreSQL) never fork a chain: the unique (tenant, prev_hash) constraint refuses a second row after the
same head, whatever the database. So appending is optimistic: an AuditLog remembers each tenant's head
it last wrote and inserts after it in a one-statement transaction (the common case: one INSERT, no
SELECT; measured ~0.2 ms against ~0.37 ms on SQLite). If another writer got there first, the insert
fails, and the slow path reads the head and inserts in one transaction that holds the write lock from
its start: `BEGIN IMMEDIATE` on SQLite (a deferred transaction would let two writers read the same
head), a per-tenant transaction advisory lock on PostgreSQL (`SELECT ... FOR UPDATE` on the head row
would not do: a second writer, once unblocked, still sees the old head).

On PostgreSQL the fast path takes that advisory lock too (one more statement, ~0.1 ms). SQLite's
write lock covers the whole file, so there a slow-path writer can never lose to a fast one; PostgreSQL
locks rows, and without it a slow-path writer lost its insert to another replica's fast path again and
again under load (seen in tests/test_audit.py's concurrent writers: IntegrityError after five tries).
"""

from __future__ import annotations

import hashlib
import json
import threading
from contextlib import contextmanager
from typing import Any, Iterator

from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from ..storage import schema
from ..storage.database import utcnow

T = schema.audit
_FIELDS = ("at", "tenant", "user", "tool", "params_digest", "outcome", "duration_ms", "row_count")


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def digest_params(params: Any) -> str:
    """sha256 of the params as canonical JSON: the audit shows what was asked without storing it."""
    return hashlib.sha256(canonical_json(params).encode()).hexdigest()


def chain_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    row = {k: fields[k] for k in _FIELDS}
    row["duration_ms"] = float(row["duration_ms"])
    row["row_count"] = None if row["row_count"] is None else int(row["row_count"])
    return hashlib.sha256((prev_hash + canonical_json(row)).encode()).hexdigest()


class AuditLog:
    def __init__(self, db) -> None:
        self.db = db
        self._heads: dict[str, str] = {}  # tenant -> hash of the last row this log wrote (a hint, checked)
        self._lock = threading.Lock()

    def record(self, *, tenant: str, user: str, tool: str, params_digest: str, outcome: str,
               duration_ms: float, row_count: int | None = None) -> int:
        """Append one row after the tenant's chain head; returns its id."""
        fields = {"at": utcnow(), "tenant": tenant, "user": user, "tool": tool[:128],
                  "params_digest": params_digest, "outcome": outcome[:64],
                  "duration_ms": round(float(duration_ms), 3), "row_count": row_count}
        with self._lock:
            prev = self._heads.get(tenant)
            if prev is not None:
                self._heads.pop(tenant, None)  # back only once a commit succeeds
                try:
                    with self._appending(tenant, immediate=False) as conn:
                        row_id, h = self._insert(conn, fields, prev)
                    self._heads[tenant] = h
                    return row_id
                except IntegrityError:  # another writer appended after our head: take the slow path
                    pass
            for attempt in range(5):
                try:
                    with self._appending(tenant, immediate=True) as conn:
                        prev = conn.execute(select(T.c.hash).where(T.c.tenant == tenant)
                                            .order_by(T.c.id.desc()).limit(1)).scalar() or ""
                        row_id, h = self._insert(conn, fields, prev)
                    self._heads[tenant] = h
                    return row_id
                except IntegrityError:  # only where the write lock is not held from the start
                    if attempt == 4:
                        raise
        raise AssertionError("unreachable")

    @staticmethod
    def _insert(conn, fields: dict[str, Any], prev: str) -> tuple[int, str]:
        h = chain_hash(prev, fields)
        res = conn.execute(T.insert().values(**fields, prev_hash=prev, hash=h))
        return int(res.inserted_primary_key[0]), h

    @contextmanager
    def _appending(self, tenant: str, immediate: bool) -> Iterator:
        """A transaction to append in. `immediate`: the SQLite write lock is held from its start (the slow
        path reads the head in it); a fast-path INSERT takes it by itself. PostgreSQL: always the tenant's lock."""
        with self.db.connect() as conn:
            dialect = conn.dialect.name
            if dialect == "sqlite" and immediate:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            elif dialect == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": f"penny.audit.{tenant}"})
            try:
                yield conn
                conn.commit()
            except BaseException:
                conn.rollback()
                raise

    def verify(self, tenant: str) -> tuple[bool, int | None]:
        """Walk the tenant's chain: (True, None), or (False, id of the first row that does not hold)."""
        prev = ""
        with self.db.connect() as conn:
            for row in conn.execute(select(T).where(T.c.tenant == tenant).order_by(T.c.id)):
                m = row._mapping
                if m["prev_hash"] != prev or chain_hash(prev, dict(m)) != m["hash"]:
                    return False, int(m["id"])
                prev = m["hash"]
        return True, None

    def list(self, tenant: str, limit: int = 100, before: int | None = None) -> list[dict[str, Any]]:
        """Newest first; `before` is an id, for paging back."""
        q = select(T).where(T.c.tenant == tenant)
        if before is not None:
            q = q.where(T.c.id < before)
        q = q.order_by(T.c.id.desc()).limit(max(1, min(int(limit), 1000)))
        with self.db.connect() as conn:
            return [_wire(r._mapping) for r in conn.execute(q)]


def _wire(m) -> dict[str, Any]:
    return {"id": m["id"], "at": m["at"], "tenant": m["tenant"], "user": m["user"], "tool": m["tool"],
            "paramsDigest": m["params_digest"], "outcome": m["outcome"], "durationMs": m["duration_ms"],
            "rowCount": m["row_count"], "prevHash": m["prev_hash"], "hash": m["hash"]}
