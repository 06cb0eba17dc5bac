"""A first-come first-served limit on concurrent sandbox runs; waiting runs learn their position.

Position 1 is the next run to start. Tools run in worker threads, so this is a threading
condition, not asyncio.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Callable, Iterator

from ..errors import PennyError


class RunQueue:
    def __init__(self, max_concurrent: int) -> None:
        self.max_concurrent = max(1, int(max_concurrent))
        self._cond = threading.Condition()
        self._running = 0
        self._waiting: list[object] = []

    @property
    def running(self) -> int:
        return self._running

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    @contextmanager
    def slot(self, on_position: Callable[[int], None] | None = None,
             cancelled: Callable[[], bool] = lambda: False, poll: float = 0.2) -> Iterator[None]:
        ticket = object()
        with self._cond:
            if self._running < self.max_concurrent and not self._waiting:
                self._running += 1
            else:
                self._waiting.append(ticket)
                told = None
                try:
                    while True:
                        pos = self._waiting.index(ticket) + 1
                        if pos == 1 and self._running < self.max_concurrent:
                            self._waiting.pop(0)
                            self._running += 1
                            break
                        if pos != told and on_position is not None:
                            told = pos
                            try:
                                on_position(pos)
                            except Exception:  # a listener never blocks the queue
                                pass
                        if cancelled():
                            raise PennyError("the run was stopped while it waited for a free sandbox",
                                             code="cancelled")
                        self._cond.wait(poll)
                except BaseException:
                    if ticket in self._waiting:
                        self._waiting.remove(ticket)
                    self._cond.notify_all()
                    raise
                self._cond.notify_all()
        try:
            yield
        finally:
            with self._cond:
                self._running -= 1
                self._cond.notify_all()


_queues: dict[int, RunQueue] = {}
_guard = threading.Lock()


def get_queue(max_concurrent: int) -> RunQueue:
    """The process-wide queue for this concurrency (one per distinct setting)."""
    n = max(1, int(max_concurrent))
    with _guard:
        q = _queues.get(n)
        if q is None:
            q = _queues[n] = RunQueue(n)
        return q
