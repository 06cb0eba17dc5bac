"""A user's own kernel under the hub: `%penny` works through the service with the hub token it inherited, and the
service's files are out of its reach (it runs as the user's OS user; the service's data dir is 0700 `penny`)."""

from __future__ import annotations

import json
import uuid

import pytest


def run_code(hub, user: str, kernel_id: str, code: str, timeout: float = 240) -> str:
    """Run `code` in the user's kernel through their server's kernel socket; stdout, results and errors."""
    import websocket

    url = f"ws{hub.url[4:]}user/{user}/api/kernels/{kernel_id}/channels"
    ws = websocket.create_connection(url, timeout=timeout, suppress_origin=True,
                                     header=[f"Authorization: token {hub.token}"])
    msg_id, out = uuid.uuid4().hex, []
    ws.send(json.dumps({
        "header": {"msg_id": msg_id, "username": "tests", "session": uuid.uuid4().hex, "msg_type": "execute_request",
                   "version": "5.3"},
        "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
        "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                    "allow_stdin": False, "stop_on_error": True},
    }))
    try:
        while True:
            msg = json.loads(ws.recv())
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                out.append(content["text"])
            elif kind in ("execute_result", "display_data"):
                out.append(content["data"].get("text/plain", ""))
            elif kind == "error":
                out.append(f"{content['ename']}: {content['evalue']}")
            elif kind == "status" and content["execution_state"] == "idle":
                return "".join(out)
    finally:
        ws.close()


@pytest.fixture(scope="module")
def alice_kernel(hub):
    hub.start_server("alice")
    from tests.hub.conftest import request

    status, kernel = request("POST", f"{hub.url}user/alice/api/kernels", {"name": "python3"}, hub.token)
    assert status == 201, kernel
    yield kernel["id"]
    request("DELETE", f"{hub.url}user/alice/api/kernels/{kernel['id']}", token=hub.token)


def test_the_kernel_holds_no_penny_secret_only_where_the_service_is(hub, alice_kernel):
    out = run_code(hub, "alice", alice_kernel, "import os, pwd\n"
                   "print(pwd.getpwuid(os.getuid()).pw_name)\n"
                   "print(sorted(k for k in os.environ if k.startswith('PENNY')))\n"
                   "print(bool(os.environ.get('JUPYTERHUB_API_TOKEN')))")
    user, names, has_token = out.split("\n")[:3]
    assert user == "alice"
    assert names == "['PENNY_SERVICE_URL']" and has_token == "True"


def test_penny_magics_work_through_the_service_as_alice(hub, alice_kernel):
    out = run_code(hub, "alice", alice_kernel,
                   "%load_ext penny_jupyter\nk = %penny kpis MTD\nprint(k.artifact['id'], k.artifact['tenant'], len(k.metrics))")
    art_id, tenant, count = out.strip().splitlines()[-1].split()
    assert tenant == "acme" and int(count) > 5
    alice = hub.token_for("alice")
    status, art = hub.penny("GET", f"artifacts/{art_id}", alice)
    assert status == 200 and art["source"]["tool"] == "get_company_kpis"
    entries = hub.penny("GET", "audit", alice)[1]["entries"]
    assert any(e["user"] == "alice" and e["tool"] == "get_company_kpis" for e in entries)
    # bob's company cannot see what alice's kernel made
    assert hub.penny("GET", f"artifacts/{art_id}", hub.token_for("bob"))[0] == 404


def test_the_kernel_cannot_read_the_services_files_or_act_for_anyone_else(hub, alice_kernel):
    data = hub.root / "penny"
    paths = [data, data / "penny.sqlite", data / "signing.key", data / "warehouses" / "globex.duckdb",
             data / "warehouses" / "acme.duckdb"]
    code = "import os\n" + "".join(
        f"try:\n    (os.listdir if os.path.isdir({str(p)!r}) else (lambda p: open(p, 'rb').read(1)))({str(p)!r})\n"
        f"    print('READ', {str(p)!r})\nexcept Exception as e:\n    print(type(e).__name__)\n" for p in paths)
    code += ("import sqlite3\ntry:\n    sqlite3.connect('file:%s?mode=ro' % " + repr(str(data / "penny.sqlite"))
             + ", uri=True).execute('select 1').fetchall()\n    print('READ db')\nexcept Exception as e:\n"
             "    print(type(e).__name__)\n")
    out = run_code(hub, "alice", alice_kernel, code).split()
    assert out[:len(paths)] == ["PermissionError"] * len(paths), out
    assert out[-1] in ("OperationalError", "PermissionError"), out

    # Her own token says she is alice, whatever the request says; bob's work stays unknown to her.
    bob = hub.token_for("bob")
    status, conv = hub.penny("POST", "conversations", bob, {"title": "globex secret"})
    assert status == 201
    out = run_code(hub, "alice", alice_kernel, (
        "import os, json, urllib.request, urllib.error\n"
        "base = os.environ['PENNY_SERVICE_URL'] + 'penny/api/'\n"
        "h = {'Authorization': 'token ' + os.environ['JUPYTERHUB_API_TOKEN'], 'X-Penny-User': 'bob'}\n"
        "print(json.load(urllib.request.urlopen(urllib.request.Request(base + 'me', headers=h)))['user'])\n"
        f"try:\n    urllib.request.urlopen(urllib.request.Request(base + 'conversations/{conv['id']}', headers=h))\n"
        "    print('SEEN')\nexcept urllib.error.HTTPError as e:\n    print(e.code)\n"))
    assert out.split() == ["alice", "404"]
