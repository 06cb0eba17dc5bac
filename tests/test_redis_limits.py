"""Rate limits shared by replicas through a real redis-server: one user's quota holds across two limiters, a Redis
that stops leaves each replica counting on its own (logged once, never an error to the caller), and the quota is
shared again when Redis is back."""

from __future__ import annotations

import logging
import secrets

import pytest

from penny_jupyter.errors import RateLimited
from penny_jupyter.tools.ratelimit import ToolRateLimiter
from tests.redis_server import RedisServer


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server


def replicas(url: str, rate: str = "3/minute", tools: dict | None = None):
    a, b = ToolRateLimiter(rate, tools, url), ToolRateLimiter(rate, tools, url)
    a.RETRY_SECONDS = b.RETRY_SECONDS = 0.0  # ask Redis again on every call while it is away
    return a, b


def user() -> str:
    return f"u{secrets.token_hex(4)}"  # a fresh user per test: the Redis is shared by the module


def test_two_replicas_share_one_users_quota(redis_server):
    a, b = replicas(redis_server.url)
    who = user()
    a.check("acme", who, "get_company_kpis")
    a.check("acme", who, "get_company_kpis")
    b.check("acme", who, "get_company_kpis")
    for limiter in (a, b):
        with pytest.raises(RateLimited) as e:
            limiter.check("acme", who, "get_company_kpis")
        assert 0 < e.value.retry_after <= 60
        assert "3 tool calls per minute" in str(e.value)
    b.check("globex", who, "get_company_kpis")  # the same name in another tenant is someone else
    b.check("acme", user(), "get_company_kpis")  # and another user has a quota of their own


def test_a_tool_limit_is_shared_too(redis_server):
    a, b = replicas(redis_server.url, "100/minute", {"run_sql": "1/minute"})
    who = user()
    a.check("acme", who, "run_sql")
    with pytest.raises(RateLimited) as e:
        b.check("acme", who, "run_sql")
    assert "calls of run_sql" in str(e.value) and e.value.retry_after > 0
    b.check("acme", who, "describe_data")  # other tools still pass


def test_redis_stopped_then_back(tmp_path, caplog):
    server = RedisServer(tmp_path / "redis").start()
    try:
        a, b = replicas(server.url, "2/minute")
        who = user()
        a.check("acme", who, "t")
        server.stop()
        with caplog.at_level(logging.WARNING, logger="penny.tools"):
            # Each replica counts on its own, from zero (what Redis counted is not there): two calls each, and no
            # call raises anything but RateLimited.
            a.check("acme", who, "t")
            a.check("acme", who, "t")
            with pytest.raises(RateLimited):
                a.check("acme", who, "t")
            b.check("acme", who, "t")
            b.check("acme", who, "t")
            with pytest.raises(RateLimited):
                b.check("acme", who, "t")
        down = [r for r in caplog.records if "unreachable" in r.getMessage()]
        assert len(down) == 2, [r.getMessage() for r in caplog.records]  # one line per replica, not per call
        assert all(r.levelno == logging.WARNING for r in down)
        caplog.clear()

        server.start()  # same port, empty (no persistence): the shared count starts again
        later = user()
        with caplog.at_level(logging.WARNING, logger="penny.tools"):
            a.check("acme", later, "t")
            b.check("acme", later, "t")
            with pytest.raises(RateLimited):
                a.check("acme", later, "t")
        assert sum("answers again" in r.getMessage() for r in caplog.records) == 2
    finally:
        server.stop()


def test_no_url_is_per_process_memory():
    a, b = ToolRateLimiter("1/minute"), ToolRateLimiter("1/minute")
    a.check("acme", "alice", "t")
    b.check("acme", "alice", "t")  # two processes, two budgets: today's behaviour without redis_url
    with pytest.raises(RateLimited):
        a.check("acme", "alice", "t")
