"""PennyServerApp: reads PennyConfig, registers the handlers, builds the engine once, on first use."""

from __future__ import annotations

import asyncio
import os

from jupyter_server.extension.application import ExtensionApp
from penny_jupyter.settings import PennyConfig


class EngineHolder:
    """Builds the Engine in a worker thread the first time a request needs it, so the server starts
    as fast as without Penny and the event loop never waits on migrations."""

    def __init__(self, config: PennyConfig) -> None:
        self.config = config
        self._engine = None
        self._lock = asyncio.Lock()

    @property
    def started(self):
        """The engine if a request has built it already, else None (never builds it)."""
        return self._engine

    async def get(self):
        if self._engine is None:
            async with self._lock:
                if self._engine is None:
                    self._engine = await asyncio.to_thread(self._build)
        return self._engine

    def _build(self):
        from penny_jupyter.engine import Engine

        engine = Engine(self.config)
        engine.chat  # noqa: B018 - build the services now, in this thread, not on the loop
        return engine

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()


class PennyServerApp(ExtensionApp):
    name = "penny_server"
    classes = [PennyConfig]

    def initialize_settings(self) -> None:
        config = PennyConfig(config=self.serverapp.config)
        # Kernels started by this server inherit the environment: the kernel-side magics find the
        # same app state and warehouses without being told.
        os.environ.setdefault("PENNY_DATA_DIR", config.data_dir)
        if config.as_of:
            os.environ.setdefault("PENNY_AS_OF", config.as_of)
        self.settings["penny"] = EngineHolder(config)
        self.settings["penny_config"] = config

    def initialize_handlers(self) -> None:
        from .handlers import HANDLERS

        self.handlers.extend(HANDLERS)

    async def stop_extension(self) -> None:
        holder = self.settings.get("penny")
        if holder is not None:
            holder.close()
