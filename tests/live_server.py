"""Start a real `jupyter server` process (for restarts, benchmarks and browser tests)."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LiveServer:
    root: Path
    data_dir: Path | None = None
    app: str = "server"  # "server" or "lab"
    penny: bool = True
    extra_args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    token: str = ""
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self, timeout: float = 60) -> float:
        """Start and wait until /api/status answers; returns the seconds that took."""
        self.port = self.port or free_port()
        self.token = self.token or secrets.token_hex(16)
        cfg_dir = self.root / "jupyter-config"
        cfg_dir.mkdir(parents=True, exist_ok=True)
        (cfg_dir / "jupyter_server_config.json").write_text(json.dumps(
            {"ServerApp": {"jpserver_extensions": {"penny_server": self.penny}}}))
        env = {**os.environ, "JUPYTER_CONFIG_DIR": str(cfg_dir), "JUPYTER_CONFIG_PATH": str(cfg_dir),
               "JUPYTER_RUNTIME_DIR": str(self.root / "runtime"), **self.env}
        if self.data_dir:
            env["PENNY_DATA_DIR"] = str(self.data_dir)
        cmd = [sys.executable, "-m", "jupyterlab" if self.app == "lab" else "jupyter_server",
               f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0", "--ServerApp.ip=127.0.0.1",
               f"--IdentityProvider.token={self.token}", "--ServerApp.open_browser=False",
               "--ServerApp.allow_root=True", f"--ServerApp.root_dir={self.root}", *self.extra_args]
        log = open(self.root / f"server-{self.port}.log", "w")
        started = time.perf_counter()
        self.proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=self.root)
        while time.perf_counter() - started < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {(self.root / f'server-{self.port}.log').read_text()[-3000:]}")
            try:
                self.get("api/status")
                return time.perf_counter() - started
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise TimeoutError("server did not answer /api/status")

    def get(self, path: str, timeout: float = 10) -> dict:
        req = urllib.request.Request(self.url + path, headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return json.loads(r.read() or b"null")

    def request(self, method: str, path: str, body: dict | None = None, timeout: float = 60) -> dict:
        req = urllib.request.Request(self.url + path, method=method, data=json.dumps(body or {}).encode(),
                                     headers={"Authorization": f"token {self.token}",
                                              "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return json.loads(r.read() or b"null")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
