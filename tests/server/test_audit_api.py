"""Audit and rate limits over the wire: the audit log is for a tenant's admins only, and a burst of
tool calls gets 429 + Retry-After on REST and a `rate_limited` error event on the socket."""

from __future__ import annotations

import pytest
from tornado.httpclient import HTTPClientError

from tests.server.conftest import error_of

from tests.server.identity import TokenPerUser, as_


@pytest.fixture
def jp_server_config(penny_config_values):
    return {
        "ServerApp": {"jpserver_extensions": {"penny_server": True}, "identity_provider_class": TokenPerUser},
        "PennyConfig": {**penny_config_values,
                        "allow_multi_tenant_server": True,
                        "tenant_map": {"alice": "acme", "carol": "acme", "bob": "globex", "dave": "globex"},
                        "admins": ["alice", "dave"], "rate_limit_user": "100/minute",
                        "rate_limit_tools": {"load_dashboard": "2/minute"}},
    }



async def _error(coro):
    with pytest.raises(HTTPClientError) as e:
        await coro
    return e.value


async def test_audit_log_is_for_admins_of_their_own_tenant(api):
    await api("POST", "tools", "load_dashboard", "execute", body={"params": {"slug": "company-health"}},
              headers=as_("carol"))
    await _error(api("POST", "tools", "get_company_kpis", "execute", body={"params": {"period": "XTD"}},
                     headers=as_("alice")))
    await api("POST", "tools", "get_company_kpis", "execute", body={"params": {}}, headers=as_("bob"))

    code, out = await api("GET", "audit", headers=as_("alice"))
    assert code == 200 and out["verified"] is True
    assert [(e["user"], e["tool"], e["outcome"]) for e in out["entries"]] == [
        ("alice", "get_company_kpis", "invalid_params"), ("carol", "load_dashboard", "ok")]
    assert all(e["tenant"] == "acme" for e in out["entries"])
    assert out["entries"][1]["rowCount"] is None or out["entries"][1]["rowCount"] >= 0

    _, page = await api("GET", "audit", params={"limit": "1", "before": str(out["entries"][0]["id"])},
                        headers=as_("alice"))
    assert [e["user"] for e in page["entries"]] == ["carol"]

    err = await _error(api("GET", "audit", headers=as_("carol")))  # a member of acme, not an admin
    assert err.code == 403 and error_of(err)["code"] == "forbidden"

    _, globex = await api("GET", "audit", headers=as_("dave"))  # globex's admin sees only globex
    assert [(e["user"], e["outcome"]) for e in globex["entries"]] == [("bob", "ok")]
    assert globex["verified"] is True

    err = await _error(api("GET", "audit", params={"limit": "lots"}, headers=as_("alice")))
    assert err.code == 400


async def test_a_burst_gets_429_with_retry_after_and_is_audited(api):
    for _ in range(2):
        code, _ = await api("POST", "tools", "load_dashboard", "execute", body={"params": {"slug": "sales-funnel"}},
                            headers=as_("alice"))
        assert code == 200
    err = await _error(api("POST", "tools", "load_dashboard", "execute", body={"params": {"slug": "sales-funnel"}},
                           headers=as_("alice")))
    assert err.code == 429 and error_of(err)["code"] == "rate_limited"
    assert 1 <= int(err.response.headers["Retry-After"]) <= 60
    # the limit is per user (and tool): a colleague and other tools still go
    code, _ = await api("POST", "tools", "load_dashboard", "execute", body={"params": {"slug": "sales-funnel"}},
                        headers=as_("carol"))
    assert code == 200
    code, _ = await api("POST", "tools", "get_company_kpis", "execute", body={"params": {}}, headers=as_("alice"))
    assert code == 200
    _, audit = await api("GET", "audit", headers=as_("alice"))
    assert [e["outcome"] for e in audit["entries"]] == ["ok", "ok", "rate_limited", "ok", "ok"]


async def test_a_burst_on_the_socket_gets_a_rate_limited_error_event(api, open_socket):
    ws = await open_socket(headers=as_("bob"))
    frame = {"type": "tool_execute", "tool": "load_dashboard", "params": {"slug": "ops-incidents"}}
    for _ in range(2):
        await ws.send(frame)
        events = await ws.until("artifact")  # tool.started, tool.finished, artifact
        assert [e for e in events if e["type"] == "tool.finished"][0]["ok"] is True
    await ws.send(frame)
    err = await ws.next()
    assert err["type"] == "error" and err["code"] == "rate_limited" and err["retryAfter"] > 0
    await ws.send({"type": "ping"})
    assert (await ws.next())["type"] == "pong", "no tool.started was sent for the refused call"

    # in a chat turn the assistant says it, and the tool card shows the refusal
    await ws.send({"type": "message", "content": "open the ops incidents dashboard", "conversationId": "conv_rl"})
    events = await ws.until("assistant.done")
    finished = next(e for e in events if e["type"] == "tool.finished")
    assert finished["ok"] is False and finished["error"]["code"] == "rate_limited"
    text = "".join(e["text"] for e in events if e["type"] == "assistant.delta")
    assert "too many tool calls" in text
