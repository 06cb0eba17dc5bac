"""Tool-call rate limits: one budget per user, and per user and tool on top (both keyed by tenant).

Moving window (`limits.MovingWindowRateLimiter`) rather than a fixed window: a fixed window lets a
caller spend two windows' worth at a boundary (the end of one and the start of the next), and the
elastic fixed window restarts the window on every refused hit, so a client that keeps retrying stays
locked out and a Retry-After would be a lie. The moving window is exact, and its `reset_time` is the
moment the oldest counted call leaves the window: the honest Retry-After. It keeps one timestamp per
counted call, which for limits like 120/minute is nothing.

The store is in memory, per server process, unless `redis_url` names a Redis (or Valkey) that every replica
shares: then a user's quota holds across replicas. On Redis each limit's hit is one atomic script, so two
replicas never both pass the last slot; of two limits (the user's, the tool's) checked together, a call the
second refuses may have spent a slot of the first, in a race between replicas only. While Redis is away each
call is counted in this process instead (fail open to per-process limits, logged once), and Redis is tried
again every RETRY_SECONDS.
"""

from __future__ import annotations

import logging
import threading
import time
from urllib.parse import quote

from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from ..errors import RateLimited

log = logging.getLogger("penny.tools")


class ToolRateLimiter:
    RETRY_SECONDS = 10.0  # while Redis is away, how often a call asks it again (the others count locally at once)

    def __init__(self, user_limit: str, tool_limits: dict[str, str] | None = None, storage_url: str = "") -> None:
        self.user_limit = parse(user_limit) if user_limit else None
        self.tool_limits = {name: parse(rate) for name, rate in (tool_limits or {}).items() if rate}
        self._local = MovingWindowRateLimiter(MemoryStorage())
        self._shared = None
        if storage_url:
            from limits.storage import storage_from_string
            from redis.backoff import NoBackoff
            from redis.retry import Retry

            # Errors as limits.errors.StorageError; one quick retry (a connection Redis closed), not redis-py's ten
            # with backoff: a call never waits long on a Redis that is away.
            self._shared = MovingWindowRateLimiter(storage_from_string(
                storage_url, wrap_exceptions=True, socket_connect_timeout=0.5, socket_timeout=1.0,
                retry=Retry(NoBackoff(), 1)))
        self._down_since: float | None = None  # when Redis last failed us; None while it answers
        # test-then-hit of two limits is one step: two threads (kernel sessions) never both pass the last slot
        self._lock = threading.Lock()

    @property
    def _limiter(self) -> MovingWindowRateLimiter:
        """Redis when it is set and answering (or due for another try), else this process's memory."""
        if self._shared is None:
            return self._local
        if self._down_since is not None and time.monotonic() - self._down_since < self.RETRY_SECONDS:
            return self._local
        return self._shared

    def check(self, tenant: str, user: str, tool: str) -> None:
        """Count one call, or raise RateLimited (counting nothing) with the seconds until one is allowed."""
        ident = ("penny", tenant, quote(user, safe=""))
        checks = []
        if self.user_limit is not None:
            checks.append((self.user_limit, ident, _rate(self.user_limit, "tool calls")))
        if tool in self.tool_limits:
            item = self.tool_limits[tool]
            checks.append((item, (*ident, tool), _rate(item, f"calls of {tool}")))
        with self._lock:
            limiter = self._limiter
            if limiter is self._local:
                return self._count(limiter, checks)
            from limits.errors import StorageError

            try:
                self._count(limiter, checks)
            except StorageError as e:
                if self._down_since is None:
                    log.warning("Penny: the rate-limit store (Redis) is unreachable (%s); each replica counts tool "
                                "calls on its own until it answers", type(e.__cause__ or e).__name__)
                self._down_since = time.monotonic()
                return self._count(self._local, checks)
            if self._down_since is not None:
                log.warning("Penny: the rate-limit store (Redis) answers again; limits are shared again")
                self._down_since = None
            return None

    def _count(self, limiter: MovingWindowRateLimiter, checks) -> None:
        for item, ids, what in checks:
            if not limiter.test(item, *ids):
                self._refuse(limiter, item, ids, what)
        for item, ids, what in checks:
            if not limiter.hit(item, *ids):  # another replica took the last slot since the test
                self._refuse(limiter, item, ids, what)

    def _refuse(self, limiter, item, ids, what: str):
        wait = self.retry_after(item, ids, limiter)
        raise RateLimited(f"you reached the limit of {what}; try again in {_seconds(wait)}", retry_after=wait)

    def retry_after(self, item, ids, limiter: MovingWindowRateLimiter | None = None) -> float:
        stats = (limiter or self._limiter).get_window_stats(item, *ids)
        return max(round(stats.reset_time - time.time(), 3), 0.001)

    def reset(self) -> None:
        self._local.storage.reset()
        if self._shared is not None:
            self._shared.storage.reset()


def _rate(item, noun: str) -> str:
    unit = item.GRANULARITY.name
    per = unit if item.multiples == 1 else f"{item.multiples} {unit}s"
    return f"{item.amount} {noun} per {per}"


def _seconds(s: float) -> str:
    return "1 second" if s <= 1 else f"{int(s + 0.999)} seconds"
