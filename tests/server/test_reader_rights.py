"""What a reader may do with what is shared with them, over the real REST API: read and download, yes;
make versions or links, only the author or an admin; and a link made by someone else stops working the
moment the artifact is no longer shared with them. alice (admin), carol and dave (viewer) are in acme;
bob is in globex."""

from __future__ import annotations

import pytest

from tests.server.conftest import refused
from tests.server.identity import as_
from tests.server.test_sharing import jp_server_config  # noqa: F401  (the same colleagues and roles)

NO_AUTH = {"Authorization": ""}


async def _dashboard(api, user, conversation):
    _, out = await api("POST", "tools", "load_dashboard", "execute",
                       body={"params": {"slug": "company-health"}, "conversationId": conversation}, headers=as_(user))
    return out["artifacts"][0]


async def _link(api, aid, user, fmt="csv"):
    return await api("POST", "artifacts", aid, "links", body={"format": fmt, "expiresIn": 604800}, headers=as_(user))


async def _open(jp_fetch, jp_base_url, link):
    return await jp_fetch(*link["url"][len(jp_base_url):].split("/"), headers=NO_AUTH)


@pytest.mark.parametrize("shared_by", ["artifact", "conversation", "name"])
async def test_readers_cannot_make_links_or_versions(api, shared_by):
    art = await _dashboard(api, "alice", "conv_a")
    if shared_by == "artifact":
        await api("PUT", "artifacts", art["id"], "sharing", body={"tenant": True}, headers=as_("alice"))
    elif shared_by == "conversation":
        await api("PUT", "conversations", "conv_a", "sharing", body={"tenant": True}, headers=as_("alice"))
    else:
        await api("PUT", "artifacts", art["id"], "sharing", body={"users": ["carol", "dave"]}, headers=as_("alice"))

    for reader in ("carol", "dave"):
        code, seen = await api("GET", "artifacts", art["id"], headers=as_(reader))
        assert code == 200 and seen["canPublish"] is False, seen  # the sidebar locks its Link button on this
        assert (await api("GET", "artifacts", art["id"], "download", params={"format": "csv"}, raw=True,
                          headers=as_(reader)))[0] == 200  # reading and downloading: yes
        code, err = await refused(_link(api, art["id"], reader))
        assert code == 403 and err["code"] == "read_only", err
        assert err["message"].startswith("alice shared this artifact with you to read; only they (or an admin of your tenant) can make download links for it")
        code, err = await refused(api("POST", "artifacts", art["id"], "refresh", headers=as_(reader)))
        assert code == 403 and err["code"] == "read_only" and "can refresh it" in err["message"], err

    _, versions = await api("GET", "artifacts", art["id"], "versions", headers=as_("alice"))
    assert [v["version"] for v in versions["versions"]] == [1]  # nobody's refresh made a version
    _, mine = await api("GET", "artifacts", art["id"], headers=as_("alice"))
    assert mine["canPublish"] is True and mine["version"] == 1
    assert (await api("POST", "artifacts", art["id"], "refresh", headers=as_("alice")))[0] == 201
    # the other tenant still gets the words of an unknown id, for links and refresh alike
    for call in (_link(api, art["id"], "bob"), api("POST", "artifacts", art["id"], "refresh", headers=as_("bob"))):
        code, err = await refused(call)
        assert code == 404 and err["code"] == "not_found"


async def test_a_viewer_makes_no_link_even_to_their_own_work(api):
    mine = await _dashboard(api, "dave", "conv_d")
    assert mine["canPublish"] is False
    code, err = await refused(_link(api, mine["id"], "dave"))
    assert code == 403 and err["code"] == "read_only" and "viewer" in err["message"]
    assert (await api("GET", "artifacts", mine["id"], "download", params={"format": "csv"}, raw=True,
                      headers=as_("dave")))[0] == 200


async def test_unsharing_revokes_others_links_and_the_authors_keep_working(api, jp_fetch, jp_base_url):
    art = await _dashboard(api, "carol", "conv_c")
    await api("PUT", "artifacts", art["id"], "sharing", body={"tenant": True}, headers=as_("carol"))
    code, admins = await _link(api, art["id"], "alice")  # an admin of the tenant may publish what she can read
    assert code == 201
    _, own = await _link(api, art["id"], "carol")
    for link in (admins, own):
        assert (await _open(jp_fetch, jp_base_url, link)).code == 200

    await api("PUT", "artifacts", art["id"], "sharing", body={"tenant": False}, headers=as_("carol"))
    code, err = await refused(_open(jp_fetch, jp_base_url, admins))
    assert code == 404 and err["code"] == "link_revoked" and "unshared or deleted" in err["message"]
    assert (await _open(jp_fetch, jp_base_url, own)).code == 200  # the author's own link: until it expires

    # revoked for good: sharing it again later does not bring the old link back; a new one works
    await api("PUT", "artifacts", art["id"], "sharing", body={"users": ["alice"]}, headers=as_("carol"))
    assert (await refused(_open(jp_fetch, jp_base_url, admins)))[0] == 404
    _, fresh = await _link(api, art["id"], "alice")
    assert (await _open(jp_fetch, jp_base_url, fresh)).code == 200
    # changing who else it is shared with leaves standing grants (and the links made under them) alone
    await api("PUT", "artifacts", art["id"], "sharing", body={"users": ["alice", "dave"]}, headers=as_("carol"))
    assert (await _open(jp_fetch, jp_base_url, fresh)).code == 200


async def test_deleting_the_conversation_revokes_links_made_through_it(api, jp_fetch, jp_base_url):
    art = await _dashboard(api, "carol", "conv_c")
    await api("PUT", "conversations", "conv_c", "sharing", body={"tenant": True}, headers=as_("carol"))
    code, admins = await _link(api, art["id"], "alice", fmt="html")
    assert code == 201 and (await _open(jp_fetch, jp_base_url, admins)).code == 200
    _, own = await _link(api, art["id"], "carol", fmt="json")

    assert (await api("DELETE", "conversations", "conv_c", headers=as_("carol")))[0] == 204
    code, err = await refused(_open(jp_fetch, jp_base_url, admins))
    assert code == 404 and err["code"] == "link_revoked"
    # the artifact itself outlives its conversation for its author (notebooks show it), and so does her link
    assert (await _open(jp_fetch, jp_base_url, own)).code == 200
