"""Two companies on one server: each sees only its own conversations, artifacts and data.

A test identity provider stands in for JupyterHub/JWT: it trusts the user named by a token, as a real
provider would, and Penny's tenant_map places alice and carol in acme and bob in globex.
"""

from __future__ import annotations

import pytest
from tornado.httpclient import HTTPClientError

from tests.server.conftest import refused

from tests.server.identity import TokenPerUser, as_


@pytest.fixture
def jp_server_config(penny_config_values):
    return {
        "ServerApp": {"jpserver_extensions": {"penny_server": True}, "identity_provider_class": TokenPerUser},
        "PennyConfig": {**penny_config_values, "allow_multi_tenant_server": True,
                        "tenant_map": {"alice": "acme", "carol": "acme", "bob": "globex"},
                        "admins": ["alice"]},
    }


async def test_me_reflects_the_authenticated_identity(api):
    _, alice = await api("GET", "me", headers=as_("alice"))
    _, bob = await api("GET", "me", headers=as_("bob"))
    assert alice == {"user": "alice", "tenant": "acme", "roles": ["admin", "member"]}
    assert bob == {"user": "bob", "tenant": "globex", "roles": ["member"]}


async def test_the_other_tenant_cannot_see_or_touch_a_conversation(api, open_socket):
    ws = await open_socket(headers=as_("alice"))
    assert ws.ready["tenant"] == "acme"
    await ws.send({"type": "message", "content": "Show me company KPIs for this month", "conversationId": "conv_123"})
    events = await ws.until("assistant.done")
    aid = next(e for e in events if e["type"] == "artifact")["artifact"]["id"]

    _, unknown = await refused(api("GET", "conversations", "conv_never", headers=as_("bob")))
    for method, path, body in [("GET", ("conversations", "conv_123"), None),
                               ("PATCH", ("conversations", "conv_123"), {"title": "mine now"}),
                               ("DELETE", ("conversations", "conv_123"), None),
                               ("GET", ("conversations", "conv_123", "messages"), None),
                               ("POST", ("conversations", "conv_123", "messages"), {"content": "hi"})]:
        code, err = await refused(api(method, *path, body=body, headers=as_("bob")))
        assert code == 404, (method, path)
        # indistinguishable from an id that does not exist
        assert err["code"] == unknown["code"] and err["message"].replace("conv_123", "X") == \
            unknown["message"].replace("conv_never", "X")

    for path in (("artifacts", aid), ("artifacts", aid, "versions"), ("artifacts", aid, "download")):
        code, err = await refused(api("GET", *path, headers=as_("bob")))
        assert code == 404 and err["code"] == "not_found"
    code, _ = await refused(api("POST", "artifacts", aid, "refresh", headers=as_("bob")))
    assert code == 404
    _, bob_arts = await api("GET", "artifacts", headers=as_("bob"))
    _, bob_convs = await api("GET", "conversations", headers=as_("bob"))
    assert bob_arts["artifacts"] == [] and bob_convs["conversations"] == []

    # bob's own conv_123 is a different conversation: same id, no collision, nothing revealed
    ws_bob = await open_socket(headers=as_("bob"))
    await ws_bob.send({"type": "resume", "conversationId": "conv_123", "afterSeq": 0})
    assert (await ws_bob.next())["code"] == "not_found"
    await ws_bob.send({"type": "message", "content": "open the ops incidents dashboard", "conversationId": "conv_123"})
    bob_events = await ws_bob.until("assistant.done")
    assert bob_events[0]["message"]["seq"] == 1
    bob_art = next(e for e in bob_events if e["type"] == "artifact")["artifact"]
    assert bob_art["tenant"] == "globex"
    _, alice_msgs = await api("GET", "conversations", "conv_123", "messages", headers=as_("alice"))
    assert [m["content"] for m in alice_msgs["messages"] if m["role"] == "user"] == \
        ["Show me company KPIs for this month"]


async def test_another_tenants_socket_hears_nothing_of_a_conversation(open_socket):
    alice = await open_socket(headers=as_("alice"))
    carol = await open_socket(headers=as_("carol"))
    bob = await open_socket(headers=as_("bob"))
    await alice.send({"type": "message", "content": "open the finance snapshot dashboard", "conversationId": "c9"})
    await alice.until("assistant.done")
    for other in (carol, bob):  # a colleague's private conversation, and another company
        await other.send({"type": "ping"})
        assert (await other.next())["type"] == "pong", "nothing else was queued on this socket"


async def test_each_tenant_computes_on_its_own_warehouse(api):
    _, a = await api("POST", "tools", "get_company_kpis", "execute", body={"params": {}}, headers=as_("alice"))
    _, b = await api("POST", "tools", "get_company_kpis", "execute", body={"params": {}}, headers=as_("bob"))
    rev = {name: next(m["value"] for m in out["data"]["metrics"] if m["name"] == "revenue")
           for name, out in (("acme", a), ("globex", b))}
    assert rev["acme"] != rev["globex"]
    assert a["artifacts"][0]["tenant"] == "acme" and b["artifacts"][0]["tenant"] == "globex"


async def test_colleague_in_the_same_tenant_sees_nothing_unshared(api):
    """Private until shared (tests/server/test_sharing.py shares them)."""
    _, out = await api("POST", "tools", "load_dashboard", "execute",
                       body={"params": {"slug": "company-health"}, "conversationId": "conv_a"}, headers=as_("alice"))
    aid = out["artifacts"][0]["id"]
    code, _ = await refused(api("GET", "artifacts", aid, headers=as_("carol")))
    assert code == 404
    code, _ = await refused(api("GET", "conversations", "conv_a", headers=as_("carol")))
    assert code == 404


async def test_a_tenant_named_in_the_body_is_ignored(api):
    _, conv = await api("POST", "conversations", body={"title": "t"}, headers=as_("bob"))
    with pytest.raises(HTTPClientError):
        await api("POST", "conversations", body={"title": "t", "tenant": "acme"}, headers=as_("bob"))
    _, alice_convs = await api("GET", "conversations", headers=as_("alice"))
    assert conv["id"] not in [c["id"] for c in alice_convs["conversations"]]


