"""The Penny service behind a real JupyterHub: who a hub token is, which company they see, and every refusal.

Every call goes through the hub's proxy to /services/penny/, with tokens the hub issued, as a user's kernel or
script sends them. Nothing in a request body names a user or a tenant.
"""

from __future__ import annotations

import time

from tests.hub.conftest import request


def test_each_person_is_the_company_their_hub_groups_say(hub):
    seen = {user: hub.penny("GET", "me", hub.token_for(user))[1] for user in ("alice", "carol", "bob")}
    assert seen["alice"] == {"user": "alice", "tenant": "acme", "roles": ["admin", "member"]}
    assert seen["carol"] == {"user": "carol", "tenant": "acme", "roles": ["member"]}
    assert seen["bob"] == {"user": "bob", "tenant": "globex", "roles": ["member"]}


def test_the_services_files_are_its_own_os_users_alone(hub):
    import pwd

    token = hub.token_for("carol")
    assert hub.penny("POST", "tools/get_company_kpis/execute", token, {"params": {"period": "MTD"}})[0] == 200
    penny = pwd.getpwnam("penny").pw_uid
    data = hub.root / "penny"
    assert data.stat().st_uid == penny and data.stat().st_mode & 0o777 == 0o700
    for path in [p for p in data.rglob("*") if p.is_file()]:
        assert path.stat().st_uid == penny and path.stat().st_mode & 0o077 == 0, path  # umask 077


def test_the_service_runs_penny_only(hub):
    """No kernels, contents, terminals or files at the service: nobody runs code or reads a file where the data
    is. (jupyter-server's file handler once served penny.sqlite from the service's working directory.)"""
    token = hub.token_for("alice")
    assert hub.penny("GET", "conversations", token)[0] == 200  # the engine and its files exist from here on
    for path in ("api/kernels", "api/contents", "api/terminals", "api/sessions", "api/kernelspecs", "files/penny.sqlite",
                 "files/signing.key", "files/warehouses/acme.duckdb", "view/penny.sqlite", "tree", "lab",
                 "nbconvert/html/x.ipynb"):
        status, _ = request("GET", f"{hub.url}services/penny/{path}", token=token)
        assert status == 404, path
    status, health = hub.penny("GET", "health", token)
    assert status == 200 and health["status"] == "ok"


def test_refusals_say_what_to_do_and_store_nothing(hub, fresh_id):
    alice = hub.token_for("alice")
    before = {c["id"] for c in hub.penny("GET", "conversations", alice)[1]["conversations"]}
    title = f"should not exist {fresh_id}"

    status, body = hub.penny("GET", "conversations", None)
    assert status == 401 and "sign in to JupyterHub" in body["error"]["message"]
    status, body = hub.penny("POST", "conversations", None, {"title": title})
    assert status == 401 and "sign in to JupyterHub" in body["error"]["message"]

    status, body = hub.penny("POST", "conversations", "forged" + alice[6:], {"title": title})
    assert status == 401 and "no valid hub token" in body["error"]["message"]

    status, body = hub.penny("POST", "conversations", hub.token_for("dave"), {"title": title})
    assert status == 403 and body["error"]["code"] == "no_tenant"
    assert "dave belongs to no company" in body["error"]["message"] and "tenant-" in body["error"]["message"]

    status, body = hub.penny("POST", "conversations", hub.token_for("erin"), {"title": title})
    assert status == 403 and body["error"]["code"] == "several_tenants"
    assert "acme, globex" in body["error"]["message"] and "exactly one" in body["error"]["message"]

    # A real token of alice's that the hub did not scope to the service.
    status, created = hub.api("POST", "users/alice/tokens", {"note": "no penny", "scopes": ["read:users:name!user=alice"]})
    assert status == 201, created
    status, body = hub.penny("POST", "conversations", created["token"], {"title": title})
    assert status == 403 and body["error"]["code"] == "no_service_access"

    # A kernel credential of some user server means nothing here.
    status, body = request("GET", f"{hub.url}services/penny/penny/api/me", headers={"X-Penny-Token": alice})
    assert status == 401 and "hub token" in body["error"]["message"]

    after = hub.penny("GET", "conversations", alice)[1]["conversations"]
    assert {c["id"] for c in after} == before and title not in {c["title"] for c in after}
    log = hub.log_tail(2000)  # each refusal is in the service's log, by code (never the token)
    for code in ("no_tenant", "several_tenants", "kernel_credential_invalid"):
        assert f": {code}" in log, code
    assert "hub user 'alice' has no access to the service" in log
    assert alice not in log


def test_a_revoked_token_stops_working_within_the_cache_time(hub):
    status, created = hub.api("POST", "users/carol/tokens", {"note": "to revoke", "expires_in": 600})
    assert status == 201
    assert hub.penny("GET", "me", created["token"])[0] == 200
    status, _ = hub.api("DELETE", f"users/carol/tokens/{created['id']}")
    assert status == 204
    time.sleep(2.5)  # the service's hub_cache_seconds in these tests
    status, body = hub.penny("GET", "me", created["token"])
    assert status == 401, body


def test_another_company_sees_nothing_and_ids_look_unknown(hub, fresh_id):
    alice, bob, carol = (hub.token_for(u) for u in ("alice", "bob", "carol"))
    status, conv = hub.penny("POST", "conversations", alice, {"title": f"acme plan {fresh_id}"})
    assert status == 201
    status, ran = hub.penny("POST", "tools/get_company_kpis/execute", alice,
                            {"params": {"period": "MTD"}, "conversationId": conv["id"]})
    assert status == 200, ran
    art = ran["artifacts"][0]
    assert art["tenant"] == "acme"

    # bob (globex): none of acme's in his lists, and alice's ids answer exactly as ids that never existed.
    titles = {c["title"] for c in hub.penny("GET", "conversations", bob)[1]["conversations"]}
    assert not any("acme plan" in t for t in titles)
    assert all(a["tenant"] == "globex" for a in hub.penny("GET", "artifacts", bob)[1]["artifacts"])
    for real, fake in ((f"conversations/{conv['id']}", "conversations/conv_doesnotexist0"),
                       (f"artifacts/{art['id']}", "artifacts/art_doesnotexist00"),
                       (f"artifacts/{art['id']}/download?format=csv", "artifacts/art_doesnotexist00/download?format=csv")):
        s1, b1 = hub.penny("GET", real, bob)
        s2, b2 = hub.penny("GET", fake, bob)
        assert s1 == s2 == 404
        assert b1["error"]["code"] == b2["error"]["code"]
    for method, path, body in (("GET", f"artifacts/{art['id']}/versions", None),
                               ("POST", f"artifacts/{art['id']}/refresh", {}),
                               ("POST", f"artifacts/{art['id']}/links", {"format": "csv"}),
                               ("PUT", f"artifacts/{art['id']}/sharing", {"tenant": True, "users": []}),
                               ("PUT", f"conversations/{conv['id']}/sharing", {"tenant": True, "users": ["bob"]}),
                               ("PATCH", f"conversations/{conv['id']}", {"title": "mine"}),
                               ("DELETE", f"conversations/{conv['id']}", None),
                               ("GET", f"conversations/{conv['id']}/messages", None)):
        assert hub.penny(method, path, bob, body)[0] == 404, (method, path)
    assert hub.penny("GET", f"conversations/{conv['id']}", alice)[1]["title"] == f"acme plan {fresh_id}"
    # A body that names another company changes nothing: the tenant is the token's.
    status, made = hub.penny("POST", "conversations", bob, {"title": f"globex only {fresh_id}", "tenant": "acme",
                                                           "user": "alice"})
    assert status in (201, 400), made
    assert f"globex only {fresh_id}" not in {c["title"] for c in hub.penny("GET", "conversations", alice)[1]["conversations"]}

    # carol (acme, member) sees alice's work once it is shared with the team, and only reads it.
    assert conv["id"] not in {c["id"] for c in hub.penny("GET", "conversations", carol)[1]["conversations"]}
    status, _ = hub.penny("PUT", f"conversations/{conv['id']}/sharing", alice, {"tenant": True, "users": []})
    assert status == 200
    assert conv["id"] in {c["id"] for c in hub.penny("GET", "conversations", carol)[1]["conversations"]}
    assert hub.penny("GET", f"artifacts/{art['id']}", carol)[0] == 200
    status, body = hub.penny("PATCH", f"conversations/{conv['id']}", carol, {"title": "mine now"})
    assert status == 403 and body["error"]["code"] == "read_only"
    # ...and bob still cannot tell it exists.
    assert hub.penny("GET", f"conversations/{conv['id']}", bob)[0] == 404


def test_the_admin_panel_is_the_admins_own_company_from_hub_groups(hub):
    """alice (penny-admins) sees acme's people as the hub's groups say, and acme's usage only; carol may not."""
    alice, carol, bob = (hub.token_for(u) for u in ("alice", "carol", "bob"))
    hub.penny("POST", "tools/get_company_kpis/execute", bob, {"params": {"period": "MTD"}})
    hub.penny("POST", "tools/get_company_kpis/execute", alice, {"params": {"period": "QTD"}})
    status, panel = hub.penny("GET", "admin", alice)
    assert status == 200, panel
    assert panel["tenant"] == "acme"
    roles = {u["user"]: u["roles"] for u in panel["users"]}
    assert roles["alice"] == ["admin", "member"] and roles["carol"] == ["member"]
    assert "bob" not in roles and "erin" not in roles  # erin is in two tenants' groups: refused, not listed
    assert "bob" not in {u["user"] for u in panel["usage"]["byUser"]}
    assert panel["audit"]["verified"] is True and {e["tenant"] for e in panel["audit"]["entries"]} == {"acme"}
    assert all(s["ok"] for s in panel["sources"])
    status, body = hub.penny("GET", "admin", carol)
    assert status == 403 and body["error"]["code"] == "admin_only"
    assert hub.penny("GET", "admin", bob)[0] == 403


def test_run_python_runs_in_the_services_sandbox_and_sees_only_the_callers_data(hub):
    """The service (OS user penny, not root) runs bubblewrap itself; code inside reads its caller's warehouse
    and nothing of the service's: not the app database, not the signing key, not the other company."""
    code = ("import os\n"
            "print(penny.sql('select count(*) as n from customers').iloc[0, 0] > 0)\n"
            f"for p in {[str(hub.root / 'penny' / n) for n in ('penny.sqlite', 'signing.key', 'warehouses')]!r}:\n"
            "    print(os.path.exists(p))\n"
            "print(os.getuid())")
    status, ran = hub.penny("POST", "tools/run_python/execute", hub.token_for("bob"), {"params": {"code": code}})
    assert status == 200, ran
    lines = ran["data"]["stdout"].split()
    assert lines[0] == "True" and lines[1:4] == ["False", "False", "False"], ran["data"]
    assert lines[4] != "0"


def test_a_signed_link_from_the_service_opens_without_a_login(hub):
    alice = hub.token_for("alice")
    status, ran = hub.penny("POST", "tools/run_sql/execute", alice,
                            {"params": {"query": "select region, count(*) as n from customers group by 1 order by 1"}})
    assert status == 200, ran
    status, link = hub.penny("POST", f"artifacts/{ran['artifacts'][0]['id']}/links", alice, {"format": "csv"})
    assert status == 201 and link["url"].startswith("/services/penny/penny/files/"), link
    import urllib.request

    with urllib.request.urlopen(hub.url.rstrip("/") + link["url"], timeout=30) as resp:
        assert resp.status == 200 and resp.read().decode().startswith("region,n")
