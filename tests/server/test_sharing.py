"""Sharing over the real REST API and socket: private until shared, read-only for colleagues, never across
tenants. alice (admin), carol and dave (viewer) are in acme; bob is in globex."""

from __future__ import annotations

import pytest

from tests.server.conftest import refused
from tests.server.identity import TokenPerUser, as_


@pytest.fixture
def jp_server_config(penny_config_values):
    return {
        "ServerApp": {"jpserver_extensions": {"penny_server": True}, "identity_provider_class": TokenPerUser},
        "PennyConfig": {**penny_config_values,
                        "allow_multi_tenant_server": True,
                        "tenant_map": {"alice": "acme", "carol": "acme", "dave": "acme", "bob": "globex"},
                        "admins": ["alice"], "viewers": ["dave"]},
    }


async def _dashboard(api, user="alice", conversation="conv_a"):
    _, out = await api("POST", "tools", "load_dashboard", "execute",
                       body={"params": {"slug": "company-health"}, "conversationId": conversation}, headers=as_(user))
    return out["artifacts"][0]


async def test_an_artifact_is_private_until_shared_with_the_tenant(api):
    art = await _dashboard(api)
    assert art["owner"] == "alice" and art["canShare"] is True and art["sharing"] == {"tenant": False, "users": []}
    _, unknown = await refused(api("GET", "artifacts", "art_never", headers=as_("carol")))
    code, _ = await refused(api("GET", "artifacts", art["id"], "bundle", headers=as_("carol")))
    assert code == 404
    code, err = await refused(api("GET", "artifacts", art["id"], headers=as_("carol")))
    assert code == 404 and err["message"].replace(art["id"], "X") == unknown["message"].replace("art_never", "X")
    _, listed = await api("GET", "artifacts", headers=as_("carol"))
    assert listed["artifacts"] == []

    code, out = await api("PUT", "artifacts", art["id"], "sharing", body={"tenant": True}, headers=as_("alice"))
    assert code == 200 and out["sharing"] == {"tenant": True, "users": []}
    for colleague in ("carol", "dave"):
        code, seen = await api("GET", "artifacts", art["id"], headers=as_(colleague))
        assert code == 200 and seen["spec"] == art["spec"] and seen["canShare"] is False
        _, listed = await api("GET", "artifacts", headers=as_(colleague))
        assert [a["id"] for a in listed["artifacts"]] == [art["id"]]
        code, _ = await api("GET", "artifacts", art["id"], "download", params={"format": "csv"}, raw=True,
                            headers=as_(colleague))
        assert code == 200
    # the other tenant: still nothing, in every way it could ask
    for path in (("artifacts", art["id"]), ("artifacts", art["id"], "versions"),
                 ("artifacts", art["id"], "download"), ("artifacts", art["id"], "bundle")):
        code, err = await refused(api("GET", *path, headers=as_("bob")))
        assert code == 404 and err["code"] == "not_found"
    code, _ = await refused(api("POST", "artifacts", art["id"], "links", body={"format": "json"}, headers=as_("bob")))
    assert code == 404
    _, listed = await api("GET", "artifacts", headers=as_("bob"))
    assert listed["artifacts"] == []


async def test_sharing_with_named_colleagues_and_who_may_change_it(api):
    art = await _dashboard(api)
    _, out = await api("PUT", "artifacts", art["id"], "sharing", body={"users": ["carol"]}, headers=as_("alice"))
    assert out["sharing"] == {"tenant": False, "users": ["carol"]}
    assert (await api("GET", "artifacts", art["id"], headers=as_("carol")))[0] == 200
    assert (await refused(api("GET", "artifacts", art["id"], headers=as_("dave"))))[0] == 404

    code, err = await refused(api("PUT", "artifacts", art["id"], "sharing", body={"tenant": True}, headers=as_("carol")))
    assert code == 403 and "only the author (alice)" in err["message"]
    code, err = await refused(api("PUT", "artifacts", art["id"], "sharing", body={"users": ["bob"]},
                                 headers=as_("alice")))
    assert code == 400 and "'bob' is not in your tenant" in err["message"]
    assert (await refused(api("GET", "artifacts", art["id"], headers=as_("bob"))))[0] == 404
    code, _ = await refused(api("PUT", "artifacts", art["id"], "sharing", body={"tenant": True}, headers=as_("bob")))
    assert code == 404
    code, err = await refused(api("PUT", "artifacts", art["id"], "sharing", body={"tenant": "yes please"},
                                 headers=as_("alice")))
    assert code == 400 and "tenant" in err["message"]

    mine = await _dashboard(api, user="dave", conversation="conv_d")
    assert mine["canShare"] is False
    code, err = await refused(api("PUT", "artifacts", mine["id"], "sharing", body={"tenant": True}, headers=as_("dave")))
    assert code == 403 and "viewer" in err["message"]


async def test_a_shared_conversation_is_read_only_for_colleagues(api, open_socket):
    ws = await open_socket(headers=as_("alice"))
    await ws.send({"type": "message", "content": "Show me company KPIs for this month", "conversationId": "conv_s"})
    events = await ws.until("assistant.done")
    aid = next(e for e in events if e["type"] == "artifact")["artifact"]["id"]
    assert (await refused(api("GET", "conversations", "conv_s", headers=as_("carol"))))[0] == 404

    _, conv = await api("PUT", "conversations", "conv_s", "sharing", body={"tenant": True}, headers=as_("alice"))
    assert conv["sharing"] == {"tenant": True, "users": []} and conv["owner"] == "alice" and conv["canShare"]
    _, seen = await api("GET", "conversations", "conv_s", headers=as_("carol"))
    assert seen["owner"] == "alice" and seen["canShare"] is False
    _, msgs = await api("GET", "conversations", "conv_s", "messages", headers=as_("carol"))
    assert [m["role"] for m in msgs["messages"]] == ["user", "assistant"]
    _, arts = await api("GET", "artifacts", params={"conversationId": "conv_s"}, headers=as_("carol"))
    assert [a["id"] for a in arts["artifacts"]] == [aid]  # what the conversation made comes with it
    _, listed = await api("GET", "conversations", headers=as_("carol"))
    assert "conv_s" in [c["id"] for c in listed["conversations"]]

    for method, path, body in [("PATCH", ("conversations", "conv_s"), {"title": "mine now"}),
                               ("DELETE", ("conversations", "conv_s"), None),
                               ("POST", ("conversations", "conv_s", "messages"), {"content": "and churn?"}),
                               ("PUT", ("conversations", "conv_s", "sharing"), {"tenant": False})]:
        code, err = await refused(api(method, *path, body=body, headers=as_("carol")))
        assert code == 403, (method, path, err)
    carol = await open_socket(headers=as_("carol"))
    await carol.send({"type": "message", "content": "and churn?", "conversationId": "conv_s"})
    err = await carol.until("error")
    assert err[-1]["code"] == "read_only" and "only they can add messages" in err[-1]["message"]
    await api("PUT", "artifacts", aid, "sharing", body={"users": ["carol"]}, headers=as_("alice"))
    await carol.send({"type": "resume", "conversationId": "conv_s", "afterSeq": 0})  # reading is fine
    replay = await carol.until("assistant.done")
    assert replay[-1]["conversationId"] == "conv_s"
    # the replayed artifact says how it is shared now, for the reader: not as it was stored for its author
    art = next(e for e in replay if e["type"] == "artifact")["artifact"]
    assert art["owner"] == "alice" and art["canShare"] is False and art["sharing"] == {"tenant": False,
                                                                                       "users": ["carol"]}
    _, msgs = await api("GET", "conversations", "conv_s", "messages", headers=as_("alice"))
    assert len(msgs["messages"]) == 2  # nothing was added

    for path in (("conversations", "conv_s"), ("conversations", "conv_s", "messages")):
        assert (await refused(api("GET", *path, headers=as_("bob"))))[0] == 404
    _, arts = await api("GET", "artifacts", params={"conversationId": "conv_s"}, headers=as_("bob"))
    assert arts["artifacts"] == []

    await api("PUT", "conversations", "conv_s", "sharing", body={"tenant": False}, headers=as_("alice"))
    assert (await refused(api("GET", "conversations", "conv_s", headers=as_("carol"))))[0] == 404
    assert (await api("GET", "artifacts", aid, headers=as_("carol")))[0] == 200  # still shared with her by name
    await api("PUT", "artifacts", aid, "sharing", body={}, headers=as_("alice"))
    assert (await refused(api("GET", "artifacts", aid, headers=as_("carol"))))[0] == 404
