"""Tool-call rate limits: one budget per user, and per user and tool on top (both keyed by tenant).

Moving window (`limits.MovingWindowRateLimiter`) rather than a fixed window: a fixed window lets a
caller spend two windows' worth at a boundary (the end of one and the start of the next), and the
elastic fixed window restarts the window on every refused hit, so a client that keeps retrying stays
locked out and a Retry-After would be a lie. The moving window is exact, and its `reset_time` is the
moment the oldest counted call leaves the window: the honest Retry-After. It keeps one timestamp per
counted call, which for limits like 120/minute is nothing.

The store is in memory, per server process: limits protect this server's warehouses and threads.
"""

from __future__ import annotations

import threading
import time
from urllib.parse import quote

from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from ..errors import RateLimited


class ToolRateLimiter:
    def __init__(self, user_limit: str, tool_limits: dict[str, str] | None = None) -> None:
        self.user_limit = parse(user_limit) if user_limit else None
        self.tool_limits = {name: parse(rate) for name, rate in (tool_limits or {}).items() if rate}
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        # test-then-hit of two limits is one step: two threads (kernel sessions) never both pass the last slot
        self._lock = threading.Lock()

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
            for item, ids, what in checks:
                if not self._limiter.test(item, *ids):
                    wait = self.retry_after(item, ids)
                    raise RateLimited(f"you reached the limit of {what}; try again in {_seconds(wait)}",
                                      retry_after=wait)
            for item, ids, _ in checks:
                self._limiter.hit(item, *ids)

    def retry_after(self, item, ids) -> float:
        stats = self._limiter.get_window_stats(item, *ids)
        return max(round(stats.reset_time - time.time(), 3), 0.001)

    def reset(self) -> None:
        self._limiter.storage.reset()


def _rate(item, noun: str) -> str:
    unit = item.GRANULARITY.name
    per = unit if item.multiples == 1 else f"{item.multiples} {unit}s"
    return f"{item.amount} {noun} per {per}"


def _seconds(s: float) -> str:
    return "1 second" if s <= 1 else f"{int(s + 0.999)} seconds"
