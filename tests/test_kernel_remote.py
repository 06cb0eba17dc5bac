"""The %penny magics under a Jupyter server talk to that server, with the credential it hands its kernels.

(a) In-process (pytest-jupyter): X-Penny-Token authenticates REST and the chat socket as the token's principal,
    with no Jupyter token or XSRF cookie; a changed, expired, wrong-purpose or stale one is a 401 JSON error.
(b) A real `jupyter server`: a kernel it starts (through its own /api/kernels) gets PENNY_SERVER_URL and
    PENNY_KERNEL_TOKEN and no data dir, and every magic's work shows up in the server's API and audit log.
(c) That server stopped: each magic prints one line, `penny: cannot reach ...`, never a traceback.
"""

from __future__ import annotations

import base64
import json
import shutil
from types import SimpleNamespace

import nbformat
import pytest
from nbclient import NotebookClient
from tornado.httpclient import HTTPClientError

from conftest import AS_OF, TEST_SCALE
from tests.server.conftest import api, error_of, open_socket  # noqa: F401 - the server tests' fixtures
from tests.server.identity import TokenPerUser, as_

NO_JUPYTER = {"Authorization": ""}


# ---------------------------------------------------------------------- (a) the server accepts the credential


@pytest.fixture
def jp_server_config(penny_config_values):
    return {
        "ServerApp": {"jpserver_extensions": {"penny_server": True}, "identity_provider_class": TokenPerUser},
        "PennyConfig": {**penny_config_values, "allow_multi_tenant_server": True,
                        "tenant_map": {"alice": "acme", "bob": "globex"},
                        "admins": ["alice"], "model": "builtin"},
    }


@pytest.fixture
def mint(jp_serverapp):
    """Credentials as this server makes them (its key, its run id), with claims of the test's choosing."""
    from penny_jupyter.signing import KERNEL, Signer

    settings = jp_serverapp.web_app.settings
    signer = Signer.for_config(settings["penny_config"])

    def _mint(user="alice", tenant="acme", roles=("member", "admin"), audience=KERNEL, ttl=None, **extra):
        roles = roles if isinstance(roles, str) else list(roles)
        claims = {"sub": user, "tenant": tenant, "roles": roles, "sid": settings["penny_instance"], **extra}
        return signer.issue(claims, audience, ttl=ttl)

    return _mint


def kernel(token: str) -> dict:
    return {**NO_JUPYTER, "X-Penny-Token": token}


def tamper(token: str, **claims) -> str:
    """The same signature over a payload with other claims: what a forger without the key can do."""
    head, body, sig = token.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload.update(claims)
    body = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    return f"{head}.{body}.{sig}"


async def _error(coro):
    with pytest.raises(HTTPClientError) as e:
        await coro
    return e.value.code, error_of(e.value)


async def test_the_header_alone_authenticates_rest_as_the_tokens_principal(api, mint):
    token = mint()
    _, me = await api("GET", "me", headers=kernel(token))
    assert me == {"user": "alice", "tenant": "acme", "roles": ["admin", "member"]}
    # a POST with no Jupyter token and no XSRF cookie: the credential is the header, which no browser sends by itself
    code, out = await api("POST", "tools", "get_company_kpis", "execute", body={"params": {"period": "MTD"}},
                          headers=kernel(token))
    assert code == 200 and out["artifacts"][0]["tenant"] == "acme"
    _, mine = await api("GET", "artifacts", headers=as_("alice"))
    assert out["artifacts"][0]["id"] in [a["id"] for a in mine["artifacts"]], "the same principal as alice herself"
    # without the header, the same request is a stranger's
    code, _ = await _error(api("POST", "tools", "get_company_kpis", "execute", body={"params": {}},
                               headers=NO_JUPYTER))
    assert code in (401, 403)


async def test_the_header_authenticates_the_chat_socket(open_socket, api, mint):
    ws = await open_socket(headers=kernel(mint()))
    assert (ws.ready["user"], ws.ready["tenant"]) == ("alice", "acme")
    await ws.send({"type": "message", "content": "Show me company KPIs for this month", "conversationId": "conv_k1"})
    events = await ws.until("assistant.done")
    art = next(e for e in events if e["type"] == "artifact")["artifact"]
    assert art["tenant"] == "acme"
    _, convs = await api("GET", "conversations", headers=as_("alice"))
    assert "conv_k1" in [c["id"] for c in convs["conversations"]]


@pytest.mark.parametrize("case", ["tampered", "expired", "link", "stale", "garbage", "no_roles"])
async def test_a_bad_credential_is_refused_with_a_json_error(api, jp_ws_fetch, mint, case):
    from penny_jupyter.signing import LINK

    token = {"tampered": lambda: tamper(mint(), tenant="globex", sub="bob"),
             "expired": lambda: mint(ttl=-60),
             "link": lambda: mint(audience=LINK),  # a download link's token is not a kernel credential
             "stale": lambda: mint(sid="an-earlier-run"),
             "garbage": lambda: "not.a.token",
             "no_roles": lambda: mint(roles="admin")}[case]()
    # a valid Jupyter identity alongside does not rescue it: the header decides
    code, err = await _error(api("GET", "me", headers={**as_("alice"), "X-Penny-Token": token}))
    assert code == 401 and err["code"].startswith("kernel_credential_"), err
    assert "Traceback" not in err["message"]
    with pytest.raises(HTTPClientError) as e:
        await jp_ws_fetch("penny", "ws", headers=kernel(token))
    assert e.value.code == 401


async def test_a_credential_cannot_pick_another_tenant(api, mint):
    _, made = await api("POST", "tools", "get_company_kpis", "execute", body={"params": {}}, headers=as_("alice"))
    aid = made["artifacts"][0]["id"]
    bob = mint(user="bob", tenant="globex", roles=("member",))
    # a genuine credential for bob in globex sees nothing of acme, whatever the request names
    code, _ = await _error(api("GET", "artifacts", aid, headers=kernel(bob)))
    assert code == 404
    _, listed = await api("GET", "artifacts", params={"tenant": "acme"}, headers=kernel(bob))
    assert listed["artifacts"] == []
    code, _ = await _error(api("POST", "tools", "get_company_kpis", "execute",
                               body={"params": {}, "tenant": "acme"}, headers=kernel(bob)))
    assert code == 400
    # and bob cannot rewrite his own credential into acme's
    code, _ = await _error(api("GET", "artifacts", aid, headers=kernel(tamper(bob, tenant="acme"))))
    assert code == 401


# ---------------------------------------------------------------------- what the server hands its kernels


def _serverapp(provider, **kw):
    from jupyter_server.auth.identity import IdentityProvider

    values = {"sock": "", "certfile": "", "ip": "localhost", "port": 8899, "base_url": "/lab/",
              "connection_url": "http://host:8899/lab/", "identity_provider": provider or IdentityProvider()}
    return SimpleNamespace(**{**values, **kw})


def test_a_single_user_server_hands_its_url_and_the_owners_credential(tmp_path, monkeypatch):
    from penny_jupyter.settings import PennyConfig
    from penny_jupyter.signing import KERNEL, Signer
    from penny_server.app import kernel_environment

    monkeypatch.delenv("JUPYTERHUB_USER", raising=False)
    config = PennyConfig(data_dir=str(tmp_path), single_user_name="me", default_tenant="demo")
    env = kernel_environment(_serverapp(None), config, "run-1")
    assert env["PENNY_SERVER_URL"] == "http://127.0.0.1:8899/lab/"
    assert "PENNY_DATA_DIR" not in env, "the kernel goes through the server, not a second engine"
    claims = Signer.for_config(config).verify(env["PENNY_KERNEL_TOKEN"], KERNEL)
    assert (claims["sub"], claims["tenant"], sorted(claims["roles"]), claims["sid"]) == \
        ("me", "demo", ["admin", "member"], "run-1")

    # no loopback HTTP to offer (a unix socket): the data dir, as before
    env = kernel_environment(_serverapp(None, sock="/tmp/j.sock"), config, "run-1")
    assert env["PENNY_DATA_DIR"] == str(tmp_path) and env["PENNY_SERVER_URL"] is None


def test_a_hub_server_hands_its_users_credential_and_a_shared_one_none(tmp_path, monkeypatch):
    from penny_jupyter.settings import PennyConfig
    from penny_jupyter.signing import KERNEL, Signer
    from penny_server.app import kernel_environment

    config = PennyConfig(data_dir=str(tmp_path), tenant_map={"alice": "acme"}, trust_identity=True)
    monkeypatch.setenv("JUPYTERHUB_USER", "alice")
    env = kernel_environment(_serverapp(TokenPerUser()), config, "run-1")
    claims = Signer.for_config(config).verify(env["PENNY_KERNEL_TOKEN"], KERNEL)
    assert (claims["sub"], claims["tenant"], claims["roles"]) == ("alice", "acme", ["member"])

    monkeypatch.delenv("JUPYTERHUB_USER")
    env = kernel_environment(_serverapp(TokenPerUser()), config, "run-1")
    assert env == {"PENNY_SERVER_URL": "http://127.0.0.1:8899/lab/", "PENNY_KERNEL_TOKEN": None,
                   "PENNY_DATA_DIR": None}


def test_the_servers_errors_come_back_as_the_same_kind_of_error():
    from penny_jupyter.errors import InvalidParams, NotFound, PennyError, RateLimited, StoreUnavailable, Unavailable
    from penny_jupyter.kernel.remote import _error, _error_event

    body = b'{"error": {"code": "invalid_params", "message": "period: bad"}}'
    assert type(_error(400, body)) is InvalidParams and _error(400, body).message == "period: bad"
    outage = _error(503, b'{"error": {"code": "store_unavailable", "message": "the database is down"}}')
    assert type(outage) is StoreUnavailable and outage.code == "store_unavailable"
    assert outage.message == "the database is down" and isinstance(outage, Unavailable)
    unknown = _error(503, b'{"error": {"code": "backend_down", "message": "S3 is down"}}')  # a code of a newer server
    assert type(unknown) is Unavailable and unknown.code == "backend_down"
    assert type(_error(404, b'{"error": {"code": "not_found", "message": "x"}}')) is NotFound
    assert _error(429, b'{"error": {"code": "rate_limited", "message": "x"}}', "3").retry_after == 3.0
    assert type(_error(502, b"<html>bad gateway</html>")) is PennyError
    limited = _error_event({"type": "error", "code": "rate_limited", "message": "slow down", "retryAfter": 2})
    assert type(limited) is RateLimited and limited.retry_after == 2


def test_the_magics_pick_their_session_from_the_environment(monkeypatch, capsys):
    from penny_jupyter.kernel import session as sessions
    from penny_jupyter.kernel.magics import Penny
    from penny_jupyter.kernel.remote import RemoteSession

    remote = sessions.session_for_environment({"PENNY_SERVER_URL": "http://127.0.0.1:1/", "PENNY_KERNEL_TOKEN": "t"})
    assert isinstance(remote, RemoteSession) and remote is sessions.session_for_environment(
        {"PENNY_SERVER_URL": "http://127.0.0.1:1/", "PENNY_KERNEL_TOKEN": "t"}), "one per kernel"
    monkeypatch.setattr(sessions.LocalSession, "shared", classmethod(lambda cls: "local"))
    assert sessions.session_for_environment({}) == "local"

    monkeypatch.setenv("PENNY_SERVER_URL", "http://127.0.0.1:1/")
    monkeypatch.delenv("PENNY_KERNEL_TOKEN", raising=False)
    assert Penny()("kpis") is None
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "serves several users" in err and "per-user server" in err


# ---------------------------------------------------------------------- (b) a real server and its kernel


def _execute(client, code: str) -> dict:
    """Run one cell on the kernel; its outputs, by kind."""
    out = {"stdout": "", "stderr": "", "data": [], "updates": [], "errors": []}

    def hook(msg):
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream":
            out[content["name"]] += content["text"]
        elif kind in ("display_data", "execute_result"):
            out["data"].append(content["data"])
        elif kind == "update_display_data":
            out["updates"].append(content["data"])
        elif kind == "error":
            out["errors"].append(content["ename"])

    client.execute_interactive(code, output_hook=hook, timeout=180)
    return out


@pytest.fixture(scope="module")
def live(tmp_path_factory, demo_warehouse_template):
    """A real server (Penny's data dir from its config, NOT from the environment), a kernel it started, and
    what that kernel printed for each cell."""
    from jupyter_client import BlockingKernelClient

    from tests.live_server import LiveServer

    mp = pytest.MonkeyPatch()
    for var in ("PENNY_DATA_DIR", "PENNY_AS_OF", "PENNY_SERVER_URL", "PENNY_KERNEL_TOKEN", "JUPYTERHUB_USER"):
        mp.delenv(var, raising=False)
    root = tmp_path_factory.mktemp("live-kernel")
    data = root / "penny-data"
    (data / "warehouses").mkdir(parents=True)
    shutil.copy(demo_warehouse_template, data / "warehouses" / "demo.duckdb")
    server = LiveServer(root=root, extra_args=[f"--PennyConfig.data_dir={data}", f"--PennyConfig.as_of={AS_OF}",
                                               f"--PennyConfig.demo_scale={TEST_SCALE}", "--PennyConfig.model=builtin"])
    server.start()
    client = None
    try:
        kid = server.request("POST", "api/kernels", {"name": "python3"})["id"]
        client = BlockingKernelClient(connection_file=str(root / "runtime" / f"kernel-{kid}.json"))
        client.load_connection_file()
        client.start_channels()
        client.wait_for_ready(timeout=120)
        cells = [_execute(client, code) for code in [
            "import os\nprint(sorted(k for k in os.environ if k.startswith('PENNY_') and k != 'PENNY_CHECK_EVENTS'))\n"
            "print(os.environ['PENNY_SERVER_URL']); print(os.environ['PENNY_KERNEL_TOKEN'])",
            "%load_ext penny_jupyter",
            "k = %penny kpis MTD\nprint(k.id)",
            "%penny show {k.id}",
            "%penny ask Show me company KPIs for this month",
            "answer = _\nprint(answer.conversation_id)",
            "%penny ask and what was revenue last month",
            "print(_.conversation_id == answer.conversation_id)",
            "%%penny sql --limit 3\nSELECT region, count(*) AS n FROM customers GROUP BY region ORDER BY n DESC",
            "print(type(_).__name__, len(_), _.attrs.get('penny', {}).get('artifact_id') or '')",
            "%penny show art_doesnotexist",
        ]]
        seen = {"artifacts": server.get("penny/api/artifacts")["artifacts"],
                "audit": server.get("penny/api/audit")["entries"],
                "conversations": server.get("penny/api/conversations")["conversations"]}
        yield SimpleNamespace(server=server, cells=cells, seen=seen)
    finally:
        if client is not None:
            client.stop_channels()
        server.stop()
        mp.undo()


def test_the_kernel_gets_a_url_and_a_credential_and_no_data_dir(live):
    names, url, token = live.cells[0]["stdout"].splitlines()
    assert names == "['PENNY_KERNEL_TOKEN', 'PENNY_SERVER_URL']"
    assert url == live.server.url and token.count(".") == 2


def test_kpis_and_show_come_from_the_server(live):
    aid = live.cells[2]["stdout"].strip()
    assert aid.startswith("art_") and not live.cells[2]["errors"]
    assert aid in [a["id"] for a in live.seen["artifacts"]], "the server's owner sees what the kernel made"
    shown = live.cells[3]["data"][0]
    assert "Revenue" in shown["text/plain"] and "application/vnd.penny.artifact+json" in shown


def test_ask_streams_over_the_socket_and_keeps_the_conversation(live):
    cell = live.cells[4]
    markdown = (cell["updates"] or cell["data"])[-1]["text/markdown"]
    assert "Revenue" in markdown and "Penny is thinking" not in markdown
    assert cell["updates"], "the answer was updated in place as it streamed"
    assert any("application/vnd.penny.artifact+json" in d for d in cell["data"]), "then the dashboard"
    conv = live.cells[5]["stdout"].strip()
    assert live.cells[7]["stdout"].strip() == "True", "the follow-up went to the same conversation"
    stored = next(c for c in live.seen["conversations"] if c["id"] == conv)
    assert stored["messageCount"] >= 4  # two questions, two answers
    # the sidebar's list tells a notebook's conversation from its own
    assert stored["title"] == "Notebook · Show me company KPIs for this month"


def test_sql_and_the_audit_log_say_it_went_through_the_server(live):
    kind, rows, aid = live.cells[9]["stdout"].split()
    assert (kind, rows) == ("DataFrame", "3")
    assert aid in [a["id"] for a in live.seen["artifacts"]]
    calls = {(e["tool"], e["user"]) for e in live.seen["audit"]}
    assert {("get_company_kpis", "owner"), ("run_sql", "owner")} <= calls
    missing = live.cells[10]
    assert "not found" in missing["stderr"] and missing["stderr"].count("\n") == 1 and not missing["errors"]


# ---------------------------------------------------------------------- (c) the server is gone


def test_with_the_server_stopped_each_magic_says_one_line(live, monkeypatch):
    _, url, token = live.cells[0]["stdout"].splitlines()
    live.server.stop()  # the kernel it started stops with it; a kernel with the same environment carries on
    monkeypatch.delenv("PENNY_DATA_DIR", raising=False)
    monkeypatch.setenv("PENNY_SERVER_URL", url)
    monkeypatch.setenv("PENNY_KERNEL_TOKEN", token)
    sources = ["%load_ext penny_jupyter", "%penny kpis", "%penny ask how are we doing",
               "%%penny sql\nSELECT 1", "%penny artifacts"]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True).execute()
    for cell in nb.cells[1:]:
        assert not [o for o in cell.outputs if o["output_type"] == "error"], cell.source
        err = "".join(o.get("text", "") for o in cell.outputs if o.get("name") == "stderr")
        assert err.startswith(f"penny: cannot reach the Penny server at {url}") and err.count("\n") == 1, err
        assert "is JupyterLab still running?" in err and "Traceback" not in err
