"""Penny for teams, for real: JupyterHub from deploy/jupyterhub_config.py (what `make hub` runs), its
configurable-http-proxy, the Penny service as the OS user `penny`, and each person's server spawned as their
own OS user (alice, carol: acme; bob: globex). Needs root (to create users and spawn as them) and the hub's
environment (`make hub-env`, which `make test` runs as root); otherwise these tests are skipped, saying why.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PREFIX = Path(os.environ.get("PENNY_HUB_PREFIX", "/opt/penny-hub"))
PASSWORD = "penny-demo-tests"
AS_OF = "2026-11-20"
OS_USERS = ("penny", "alice", "carol", "bob")
# Hub users beyond the demo's: dave is in no tenant group, erin in two.
EXTRA = """
c.Authenticator.allowed_users |= {{"dave", "erin"}}
c.JupyterHub.load_groups["tenant-acme"]["users"].append("erin")
c.JupyterHub.load_groups["tenant-globex"]["users"].append("erin")
c.JupyterHub.services[0]["command"].append("--PennyConfig.hub_cache_seconds=2")
c.JupyterHub.services.append({{"name": "penny-tests", "api_token": {token!r}}})
c.JupyterHub.load_roles.append({{"name": "penny-tests", "services": ["penny-tests"],
                               "scopes": ["admin:users", "admin:servers", "tokens", "admin:groups", "access:servers"]}})
"""


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).resolve().parent
    reason = _why_not()
    for item in items:
        if here in Path(str(item.fspath)).resolve().parents and reason:
            item.add_marker(pytest.mark.skip(reason=reason))


def _why_not() -> str | None:
    if os.geteuid() != 0:
        return "the team tests spawn servers as real OS users: run them as root (CI and containers do)"
    if not (PREFIX / "venv/bin/jupyterhub").exists() or not (PREFIX / "node_modules/.bin/configurable-http-proxy").exists():
        return f"no hub environment at {PREFIX}: run `make hub-env` (make test does, as root)"
    return None


@pytest.fixture(autouse=True)
def jp_asyncio_loop():
    """pytest-jupyter's autouse loop would close the loop Playwright's sync API runs on."""
    yield None


@pytest.fixture(autouse=True)
def jp_server_cleanup():
    yield


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Hub:
    url: str           # the proxy's public URL, ending in "/"
    service_url: str   # the Penny service straight, not through the proxy (for the benchmark)
    token: str         # the test service's admin token
    root: Path
    process: subprocess.Popen
    api_url: str = ""  # the hub's API straight (what the service itself calls), not through the proxy

    def api(self, method: str, path: str, body=None, token: str | None = None):
        """(status, JSON body) of a hub API call."""
        return request(method, f"{self.url}hub/api/{path}", body, token or self.token)

    def penny(self, method: str, path: str, token: str | None, body=None):
        """(status, JSON body) of a call to the Penny service through the proxy, with a hub token."""
        return request(method, f"{self.url}services/penny/penny/api/{path}", body, token)

    def token_for(self, user: str, note: str = "penny tests") -> str:
        status, body = self.api("POST", f"users/{user}/tokens", {"note": note, "expires_in": 3600})
        assert status == 201, body
        return body["token"]

    def start_server(self, user: str) -> None:
        status, body = self.api("POST", f"users/{user}/server")
        assert status in (201, 202, 400), body  # 400: already running
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            _, model = self.api("GET", f"users/{user}")
            server = (model.get("servers") or {}).get("")
            if server and server.get("ready"):
                return
            time.sleep(0.5)
        raise RuntimeError(f"{user}'s server did not start:\n{self.log_tail()}")

    def log_tail(self, n: int = 80) -> str:
        try:
            return "\n".join((self.root / "hub.log").read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"


def request(method: str, url: str, body=None, token: str | None = None, headers: dict | None = None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if token:
        req.add_header("Authorization", f"token {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:
            raw = resp.read()
            return resp.status, (json.loads(raw) if raw else None)
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw)
        except ValueError:
            return e.code, {"raw": raw.decode(errors="replace")}
    except (urllib.error.URLError, OSError) as e:  # not listening (yet): status 0
        return 0, {"raw": str(e)}


def _ensure_os_users() -> None:
    for user in OS_USERS:
        if subprocess.run(["id", "-u", user], capture_output=True).returncode != 0:
            subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", user], check=True)


@pytest.fixture(scope="session")
def hub() -> Hub:
    with running_hub() as started:
        yield started


@contextmanager
def running_hub() -> Iterator[Hub]:
    """The hub, its proxy and the Penny service, up until the block ends (the `hub` fixture; bench/bench_hub.py)."""
    _ensure_os_users()
    # Not under pytest's tmp dir (0700 root): the service and the users must pass through to their own dirs.
    root = Path(tempfile.mkdtemp(prefix="penny-hub-", dir="/tmp"))
    root.chmod(0o755)
    token = secrets.token_hex(24)
    config = root / "jupyterhub_config.py"
    config.write_text(f"c = get_config()\nload_subconfig({str(REPO / 'deploy/jupyterhub_config.py')!r})\n"
                      + EXTRA.format(token=token))
    port, service_port = free_port(), free_port()
    env = dict(os.environ)
    for key in list(env):  # this test process's own Jupyter/Penny settings are not the hub's
        if key.startswith(("JUPYTER", "PENNY_", "JPY_")):
            env.pop(key)
    env.update({
        "PENNY_HUB_PREFIX": str(PREFIX), "PENNY_HUB_STATE": str(root / "hub"),
        "PENNY_SERVICE_DATA": str(root / "penny"), "HUB_PORT": str(port), "HUB_PASSWORD": PASSWORD,
        "HUB_API_PORT": str(free_port()), "HUB_PROXY_API_PORT": str(free_port()),
        "PENNY_SERVICE_PORT": str(service_port), "PENNY_DEMO_SCALE": "0.05", "PENNY_AS_OF": AS_OF,
    })
    log = open(root / "hub.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen([str(PREFIX / "venv/bin/jupyterhub"), "-f", str(config)], cwd=root, env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    hub = Hub(url=f"http://127.0.0.1:{port}/", service_url=f"http://127.0.0.1:{service_port}/services/penny/",
              token=token, root=root, process=proc, api_url=f"http://127.0.0.1:{env['HUB_API_PORT']}/hub/api/")
    try:
        _wait(hub)
        yield hub
    finally:
        for user in ("alice", "carol", "bob"):
            hub.api("DELETE", f"users/{user}/server") if proc.poll() is None else None
        _stop(proc)
        _reap(str(root), env["HUB_PROXY_API_PORT"])
        log.close()
        shutil.rmtree(root, ignore_errors=True)


def _wait(hub: Hub, timeout: float = 120) -> None:
    """Up when the hub answers and the service answers through the proxy (401: alive, wants a token)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if hub.process.poll() is not None:
            raise RuntimeError(f"jupyterhub exited with {hub.process.returncode}:\n{hub.log_tail()}")
        status, _ = request("GET", f"{hub.url}services/penny/penny/api/health")
        if status == 401:
            return
        time.sleep(0.5)
    raise RuntimeError(f"the hub or the Penny service did not come up in {timeout}s:\n{hub.log_tail()}")


def _reap(root: str, proxy_api_port: str) -> None:
    """What the hub started in sessions of their own and left behind (seen: the proxy and the Penny service still
    running after the hub exited): anything whose command line names this hub's directory or proxy port."""
    import psutil

    left = []
    for p in psutil.process_iter(["cmdline"]):
        cmd = " ".join(p.info.get("cmdline") or [])
        if root in cmd or f"--api-port {proxy_api_port}" in cmd:
            left.append(p)
    for p in left:
        try:
            p.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(left, timeout=5)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


@pytest.fixture
def fresh_id() -> str:
    return uuid.uuid4().hex[:8]
