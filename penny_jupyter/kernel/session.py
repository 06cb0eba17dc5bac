"""The kernel's way to Penny: an in-process engine on the same data dir as the server.

Under a Jupyter server the extension hands the kernel PENNY_DATA_DIR (and PENNY_AS_OF) through the
environment, so `%penny show <id>` finds what the sidebar made. Calls run on a private thread with
its own event loop, because a kernel's main thread already runs one.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..engine import Engine
from ..settings import PennyConfig
from ..tenancy import Principal


class LocalSession:
    _lock = threading.Lock()
    _instance: "LocalSession | None" = None

    def __init__(self, config: PennyConfig | None = None) -> None:
        self.engine = Engine(config or PennyConfig())
        cfg = self.engine.config
        self.principal = Principal(user=cfg.single_user_name, tenant=cfg.default_tenant,
                                   roles=frozenset({"member", "admin"}))
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="penny")

    @classmethod
    def shared(cls) -> "LocalSession":
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def run_tool(self, tool: str, params: dict[str, Any]):
        executor = self.engine.executor
        call = executor.prepare(tool, params, self.principal)
        outcome = self._pool.submit(asyncio.run, executor.run(self.principal, call)).result()
        if not outcome.ok:
            raise outcome.error
        return outcome

    def artifact(self, artifact_id: str, version: int | None = None) -> dict[str, Any]:
        return self.engine.artifacts.get(self.principal, artifact_id, version)
