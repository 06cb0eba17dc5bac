"""Team mode without a hub running: hub groups -> tenant and roles, the bounded cache, and what the service
says when the hub cannot tell it who someone is (the real hub is in tests/hub/)."""

from __future__ import annotations

import asyncio
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from penny_jupyter.errors import Forbidden, NotFound, Unavailable
from penny_jupyter.settings import PennyConfig
from penny_jupyter.tenancy import principal_from_groups, tenants_of_groups


def test_prefix_and_map_name_the_tenant():
    assert tenants_of_groups(["tenant-acme", "staff", "tenant-"], "tenant-") == {"acme"}
    assert tenants_of_groups(["acme-analysts", "staff"], {"acme-analysts": "acme", "globex-team": "globex"}) == {"acme"}


def test_roles_come_from_groups_and_admin_wins():
    kw = dict(tenant_groups="tenant-", admin_groups=["penny-admins"], viewer_groups=["penny-viewers"])
    assert principal_from_groups("a", ["tenant-acme"], **kw).roles == {"member"}
    assert principal_from_groups("a", ["tenant-acme", "penny-viewers"], **kw).roles == {"viewer"}
    admin = principal_from_groups("a", ["tenant-acme", "penny-admins", "penny-viewers"], **kw)
    assert admin.roles == {"member", "admin"} and admin.tenant == "acme"


@pytest.mark.parametrize("groups,code,words", [
    ([], "no_tenant", "exactly one tenant group"),
    (["tenant-acme", "tenant-globex"], "several_tenants", "acme, globex"),
])
def test_no_tenant_or_two_is_refused_with_what_the_admin_must_do(groups, code, words):
    with pytest.raises(Forbidden) as e:
        principal_from_groups("dana", groups, tenant_groups="tenant-")
    assert e.value.code == code and words in str(e.value) and "hub admin" in str(e.value)


def test_a_group_naming_an_unsafe_tenant_is_refused():
    with pytest.raises(Forbidden):
        principal_from_groups("dana", ["tenant-../etc"], tenant_groups="tenant-")


def test_the_cache_forgets_after_its_time_and_keeps_a_bound():
    from penny_server.hub import TTLCache

    now = [0.0]
    cache = TTLCache(ttl=30, max_entries=3, clock=lambda: now[0])
    for i in range(5):
        cache.put(f"u{i}", i)
    assert cache.get("u0") is None and cache.get("u4") == 4  # the oldest went first
    now[0] = 31
    assert cache.get("u4") is None


class _FakeHub(BaseHTTPRequestHandler):
    answers: dict[str, tuple[int, dict]] = {}

    def do_GET(self):  # noqa: N802 - http.server's name
        status, body = self.answers.get(self.path, (404, {"message": "nope"}))
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_hub():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeHub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hub/api"
    server.shutdown()


def _directory(url):
    from penny_server.hub import HubDirectory

    return HubDirectory(PennyConfig(hub_cache_seconds=30), url, "service-token")


def test_members_and_principals_from_the_hub_api(fake_hub):
    _FakeHub.answers = {
        "/hub/api/users/alice": (200, {"name": "alice", "groups": ["tenant-acme", "penny-admins"]}),
        "/hub/api/users/carol": (200, {"name": "carol", "groups": ["tenant-acme"]}),
        "/hub/api/users/erin": (200, {"name": "erin", "groups": ["tenant-acme", "tenant-globex"]}),
        "/hub/api/groups/tenant-acme": (200, {"name": "tenant-acme", "users": ["alice", "carol", "erin", "gone"]}),
    }
    d = _directory(fake_hub)
    people = asyncio.run(d.members("acme"))
    assert [(p.user, sorted(p.roles)) for p in people] == [("alice", ["admin", "member"]), ("carol", ["member"])]
    with pytest.raises(NotFound):
        asyncio.run(d.principal("gone"))


@pytest.mark.parametrize("status,words", [(403, "the role in the README"), (500, "HTTP 500")])
def test_a_hub_that_refuses_or_fails_is_a_503_sentence(fake_hub, status, words):
    _FakeHub.answers = {"/hub/api/users/alice": (status, {"message": "no"})}
    with pytest.raises(Unavailable) as e:
        asyncio.run(_directory(fake_hub).principal("alice"))
    assert words in str(e.value) and e.value.status == 503


def test_a_hub_that_is_down_is_a_503_sentence():
    with pytest.raises(Unavailable) as e:
        asyncio.run(_directory("http://127.0.0.1:9/hub/api").principal("alice"))
    assert "did not answer" in str(e.value)
