"""Engine: every service of Penny built from one PennyConfig.

The server extension builds one per server, the kernel one per process when no server is there,
tests one per data dir. Nothing here knows about sockets or cells.
"""

from __future__ import annotations

from functools import cached_property

from .settings import PennyConfig


class Engine:
    def __init__(self, config: PennyConfig | None = None) -> None:
        self.config = config or PennyConfig()
        from . import tracing

        tracing.configure(self.config)

    @cached_property
    def db(self):
        from .storage import Database

        return Database(self.config.resolved_database_url)

    @cached_property
    def conversations(self):
        from .chat.conversations import ConversationService

        return ConversationService(self.db, self.sharing, turn_heartbeat_seconds=self.config.turn_heartbeat_seconds)

    @cached_property
    def sharing(self):
        from .sharing import SharingService

        return SharingService(self.db, self.config)

    @cached_property
    def blobs(self):
        from .artifacts.blobs import BlobStore

        cfg = self.config
        return BlobStore(cfg.artifact_store_url or str(cfg.data_path / "artifacts"), dict(cfg.artifact_store_options))

    @cached_property
    def artifacts(self):
        from .artifacts.store import ArtifactStore

        return ArtifactStore(self.db, self.blobs, self.config.artifact_inline_bytes, self.sharing)

    @cached_property
    def signer(self):
        from .signing import Signer

        return Signer.for_config(self.config)

    @cached_property
    def links(self):
        from .artifacts.links import LinkService

        return LinkService(self.artifacts, self.blobs, self.signer, self.config)

    @cached_property
    def warehouses(self):
        from .data.warehouse import Warehouses

        return Warehouses(self.config)

    @cached_property
    def tools(self):
        from .tools.registry import default_registry

        return default_registry(load_plugins=self.config.load_plugins)

    @cached_property
    def audit(self):
        from .tools.audit import AuditLog

        return AuditLog(self.db)

    @cached_property
    def executor(self):
        from .tools.executor import ToolExecutor

        return ToolExecutor(self.tools, self.warehouses, self.artifacts, self.config, audit=self.audit)

    @cached_property
    def router(self):
        from .data.catalog import valid_units
        from .models.builtin import BuiltinRouter

        return BuiltinRouter(units=[u for u in valid_units() if u != "company"], today=self.config.today)

    @cached_property
    def models(self):
        """Which model answers (config.model: auto | builtin | ollama:<model>), and the backends."""
        from .models.backends import ModelSelector

        return ModelSelector(self.config, router_factory=lambda: self.router)

    @cached_property
    def chat(self):
        from .chat.turn import ChatService

        return ChatService(self.conversations, self.executor, self.router, models=self.models)

    def dashboards(self) -> list[dict]:
        """The dashboard templates a person can open ({slug, title, ...})."""
        from .tools.dashboards import list_dashboards

        return list_dashboards()

    @property
    def model_name(self) -> str:
        """The default model's id as last seen (no network); `await engine.models.describe()` asks."""
        return self.models.configured_id()

    def close(self) -> None:
        if "warehouses" in self.__dict__:
            self.warehouses.close()
        if "db" in self.__dict__:
            self.db.close()
