"""Turn leases: the turns being answered right now, so that one whose server died mid-answer still ends.

A turn takes its lease in the transaction that stores the person's message, refreshes the lease's `beat_at`
every heartbeat while it runs (`keep_alive`), and gives it back in the transaction that stores its answer. So a
turn is running (a lease) or ended (an answer), never neither. A lease STALE_BEATS heartbeats late belongs to a
process that is gone (killed, out of memory, its machine lost), and whoever reads the conversation next, on any
replica, ends that turn as interrupted (ConversationService.settle). Claiming a stale lease deletes its row
first, so of two replicas settling at once exactly one goes on.

These are statements on a caller's connection: the conversation service decides what shares a transaction.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Callable

from sqlalchemy import Connection, and_, delete, select, update

from ..storage import schema as s
from ..storage.database import new_id

HOLDER = new_id("proc")  # this process, named in every lease it holds
STALE_BEATS = 3
INTERRUPTED = ("This answer was cut off: the Penny server answering it stopped before it finished. "
               "Ask again to get the answer.")

log = logging.getLogger("penny.chat")
_l = s.turn_leases


class TurnLeases:
    def __init__(self, heartbeat_seconds: float) -> None:
        self.heartbeat_seconds = heartbeat_seconds

    @property
    def stale_after(self) -> float:
        """Seconds without a beat after which a lease's holder counts as gone."""
        return STALE_BEATS * self.heartbeat_seconds

    def take(self, c: Connection, tenant: str, conversation_id: str, message_id: str) -> None:
        now = time.time()
        c.execute(_l.insert().values(tenant=tenant, conversation_id=conversation_id, message_id=message_id,
                                     holder=HOLDER, started_at=now, beat_at=now))

    def beat(self, c: Connection, tenant: str, conversation_id: str, message_id: str) -> bool:
        """Refresh this process's lease; False when it holds it no more (the turn was settled elsewhere)."""
        done = c.execute(update(_l).where(_key(tenant, conversation_id, message_id), _l.c.holder == HOLDER)
                         .values(beat_at=time.time()))
        return done.rowcount == 1

    def release(self, c: Connection, tenant: str, conversation_id: str, message_id: str) -> bool:
        """Give the lease back; False when it was already gone (settled, or its conversation deleted)."""
        return c.execute(delete(_l).where(_key(tenant, conversation_id, message_id))).rowcount == 1

    def stale(self, c: Connection, tenant: str, conversation_id: str) -> list[str]:
        """The message ids of this conversation's turns whose holder stopped beating."""
        return list(c.execute(select(_l.c.message_id).where(
            _l.c.tenant == tenant, _l.c.conversation_id == conversation_id, _l.c.beat_at < self._cutoff(),
        )).scalars())

    def claim(self, c: Connection, tenant: str, conversation_id: str, message_id: str) -> bool:
        """Delete a lease that is still stale; True when this transaction did, and so alone ends the turn.
        (A concurrent claimer waits on the row, or on SQLite's write lock, then deletes nothing.)"""
        done = c.execute(delete(_l).where(_key(tenant, conversation_id, message_id), _l.c.beat_at < self._cutoff()))
        return done.rowcount == 1

    def _cutoff(self) -> float:
        return time.time() - self.stale_after


def keep_alive(beat: Callable[[], bool], every: float, on_lost: Callable[[], object]) -> asyncio.Task:
    """A background task that calls `beat` (on a worker thread, so a slow database does not stall the turn)
    every `every` seconds until cancelled; when `beat` says the lease is lost, it calls `on_lost` and stops."""

    async def loop() -> None:
        while True:
            await asyncio.sleep(every)
            try:
                held = await asyncio.to_thread(beat)
            except Exception as e:  # the database away for a moment: the next beat tries again
                log.warning("turn heartbeat not written: %s", e)
                continue
            if not held:
                on_lost()
                return

    return asyncio.ensure_future(loop())


def _key(tenant: str, conversation_id: str, message_id: str):
    return and_(_l.c.tenant == tenant, _l.c.conversation_id == conversation_id, _l.c.message_id == message_id)
