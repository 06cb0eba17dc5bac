from __future__ import annotations

import asyncio
import json

import pytest


class Socket:
    """A thin reader over jp_ws_fetch's connection: send frames, read events until one arrives."""

    def __init__(self, conn):
        self.conn = conn
        self.seen: list[dict] = []

    async def send(self, frame) -> None:
        await self.conn.write_message(frame if isinstance(frame, str) else json.dumps(frame))

    async def next(self, timeout: float = 30) -> dict:
        raw = await asyncio.wait_for(self.conn.read_message(), timeout)
        assert raw is not None, "socket closed by the server"
        event = json.loads(raw)
        self.seen.append(event)
        return event

    async def until(self, kind: str, timeout: float = 60) -> list[dict]:
        """Events up to and including the first of `kind`."""
        out = []
        while True:
            event = await self.next(timeout)
            out.append(event)
            if event["type"] == kind:
                return out

    def close(self):
        self.conn.close()


@pytest.fixture
def open_socket(jp_ws_fetch):
    sockets = []

    async def _open(**kwargs) -> Socket:
        sock = Socket(await jp_ws_fetch("penny", "ws", **kwargs))
        ready = await sock.next()
        assert ready["type"] == "ready", ready
        sock.ready = ready
        sockets.append(sock)
        return sock

    yield _open
    for s in sockets:
        s.close()


@pytest.fixture
def api(jp_fetch):
    """jp_fetch for Penny's REST API with JSON in and out; returns (status, body)."""

    async def _call(method: str, *path: str, body=None, params=None, headers=None, raw=False):
        kwargs = {"method": method}
        if body is not None:
            kwargs["body"] = body if isinstance(body, (str, bytes)) else json.dumps(body)
        elif method in ("POST", "PATCH", "PUT"):
            kwargs["body"] = "{}"
        if params:
            kwargs["params"] = params
        if headers:
            kwargs["headers"] = headers
        resp = await jp_fetch("penny", "api", *path, **kwargs)
        if raw:
            return resp.code, resp
        text = resp.body.decode() if resp.body else ""
        return resp.code, (json.loads(text) if text else None)

    return _call


def error_of(exc) -> dict:
    """The {"code","message"} of an HTTPClientError's JSON body."""
    return json.loads(exc.response.body)["error"]


async def refused(awaitable) -> tuple[int, dict]:
    """(status, {"code","message"}) of a request that must fail; fails the test if it succeeds."""
    from tornado.httpclient import HTTPClientError

    try:
        await awaitable
    except HTTPClientError as e:
        return e.code, error_of(e)
    raise AssertionError("expected the request to be refused")
