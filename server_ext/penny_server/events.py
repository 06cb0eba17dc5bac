"""The event bus: which open chat sockets hear a person's conversation events and `typing`.

A person's events go to every socket of theirs (other tabs, a kernel, the socket that replaced one that
dropped). `LocalBus` reaches the sockets of this process: one server, today's behaviour. `RedisBus`
(`PennyConfig.redis_url`) reaches them on every replica: an event is delivered here at once and published
on the person's channel, `penny:events:<tenant>:<user>` (both quoted, so no two people share a channel and
no event crosses tenants); every replica's one pattern subscription delivers it to its own sockets of that
person, and skips what it published itself (each message names its replica), so nothing arrives twice.
One pattern subscription rather than one per person keeps reconnecting trivial; each replica then reads every
person's events and drops those of people with no socket on it (per-person subscriptions would cut that
traffic when there are many replicas).

Pub/sub only wakes sockets up: the stored event log stays the truth, and a client that missed something
(a dropped socket, Redis away) asks for it with `resume`. So when Redis is unreachable the bus delivers on
this replica only, says so once in the log, reconnects in the background with backoff, and says once when
it is back. A turn never fails because of Redis, and waits on it at most one timeout (2 s) before going on alone.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

log = logging.getLogger("penny.events")

PREFIX = "penny:events:"
BACKOFF = (0.25, 0.5, 1.0, 2.0, 4.0)  # seconds between reconnect attempts; the last repeats
READY_WAIT = 2.0  # longest a new socket waits for the first subscription (Redis slow or away: not longer)


def channel(tenant: str, user: str) -> str:
    return f"{PREFIX}{quote(tenant, safe='')}:{quote(user, safe='')}"


class LocalBus:
    """This process's sockets, by person."""

    def __init__(self) -> None:
        self._sockets: dict[str, set[Any]] = {}

    async def join(self, sock) -> None:
        self._sockets.setdefault(_channel_of(sock), set()).add(sock)

    def leave(self, sock) -> None:
        key = _channel_of(sock)
        group = self._sockets.get(key)
        if group is not None:
            group.discard(sock)
            if not group:
                del self._sockets[key]

    async def publish(self, who, event: dict[str, Any], skip=None) -> None:
        """Send `event` to every socket of `who` (Principal) but `skip` (a typing person's own socket)."""
        self._deliver(channel(who.tenant, who.user), event, skip)

    def _deliver(self, key: str, event: dict[str, Any], skip=None) -> None:
        for sock in list(self._sockets.get(key, ())):
            if sock is not skip:
                sock.send(event)

    async def close(self) -> None:
        self._sockets.clear()


class RedisBus(LocalBus):
    """Every replica's sockets, through Redis (or Valkey) pub/sub; this replica's alone while Redis is away."""

    def __init__(self, url: str, logger: logging.Logger | None = None) -> None:
        super().__init__()
        self.log = logger or log
        import redis.asyncio as redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        self.url = url
        self.replica = secrets.token_hex(8)
        # One retry, at once: a connection Redis closed (a restart) is replaced; an outage fails fast, not after
        # redis-py's default ten retries with backoff.
        self._redis = redis.Redis.from_url(url, socket_connect_timeout=1.0, socket_timeout=2.0,
                                           retry=Retry(NoBackoff(), 1), health_check_interval=15)
        self.up = False
        self._down_logged = False
        self._ready = asyncio.Event()  # set after the first attempt to subscribe, whether it worked or not
        self._task: asyncio.Task | None = None
        self._closed = False

    def _start(self, delay: float = 0.0) -> None:
        if self._task is None and not self._closed:
            self._task = asyncio.ensure_future(self._listen(delay))

    async def join(self, sock) -> None:
        """The socket hears other replicas' events from when it is told `ready` (or Redis is known away)."""
        await super().join(sock)
        self._start()
        if not self._ready.is_set():
            try:
                await asyncio.wait_for(self._ready.wait(), READY_WAIT)
            except asyncio.TimeoutError:
                pass

    async def publish(self, who, event: dict[str, Any], skip=None) -> None:
        key = channel(who.tenant, who.user)
        self._deliver(key, event, skip)
        self._start()
        if not self.up:
            return
        try:
            await self._redis.publish(key, json.dumps({"replica": self.replica, "event": event}))
        except Exception as e:  # noqa: BLE001 - whatever Redis does, the turn goes on; the log says it once
            self._went_down(e)
            if self._task is not None:  # the subscription may not have noticed yet: reconnect it too
                self._task.cancel()
                self._task = None
                self._start(BACKOFF[0])

    async def _listen(self, delay: float) -> None:
        await asyncio.sleep(delay)
        attempt = 0
        while not self._closed:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.psubscribe(f"{PREFIX}*")
                await pubsub.get_message(timeout=1.0)  # read (and drop) the confirmation: subscribed from here on
                self._came_up()
                attempt = 0
                while True:  # a timeout, not a blocking read, so the health check (a PING) goes out when idle
                    msg = await pubsub.get_message(timeout=5.0)
                    if msg is not None and msg.get("type") == "pmessage":
                        self._received(msg)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - ConnectionError, TimeoutError, OSError...: local only for now
                self._went_down(e)
            finally:
                self._ready.set()
                try:
                    await pubsub.aclose()
                except Exception:  # noqa: BLE001 - the connection is gone already
                    pass
            await asyncio.sleep(BACKOFF[min(attempt, len(BACKOFF) - 1)])
            attempt += 1

    def _received(self, msg: dict[str, Any]) -> None:
        try:
            body = json.loads(msg["data"])
            if body.get("replica") == self.replica:  # delivered here when it was published
                return
            key = msg["channel"].decode() if isinstance(msg["channel"], bytes) else msg["channel"]
            self._deliver(key, body["event"])
        except Exception:  # noqa: BLE001 - a stray message on our prefix: skip it, keep listening
            log.debug("penny: skipped a bus message", exc_info=True)

    def _came_up(self) -> None:
        self.up = True
        self._ready.set()
        if self._down_logged:
            self.log.info("Penny: Redis at %s answers again; chat events reach every replica again", _safe(self.url))
            self._down_logged = False

    def _went_down(self, err: BaseException) -> None:
        self.up = False
        if not self._down_logged:
            self.log.warning("Penny: Redis at %s is unreachable (%s); chat events reach sockets on this replica only "
                        "until it is back (clients elsewhere catch up with resume)", _safe(self.url),
                        type(err).__name__)
            self._down_logged = True

    async def close(self) -> None:
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except BaseException:  # noqa: BLE001 - cancelled, or it had failed: either way it is over
                pass
        try:
            await self._redis.aclose()
        except Exception:  # noqa: BLE001
            pass
        await super().close()


def make_bus(config, logger: logging.Logger | None = None) -> LocalBus:
    """RedisBus when `redis_url` is set, else LocalBus. `logger`: where the one line per outage goes."""
    return RedisBus(config.redis_url, logger) if config.redis_url else LocalBus()


def _channel_of(sock) -> str:
    return channel(sock.principal.tenant, sock.principal.user)


def _safe(url: str) -> str:
    """The URL without its password, for the log."""
    parts = urlsplit(url)
    if parts.password:
        host = parts.hostname or ""
        netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))
    return url
