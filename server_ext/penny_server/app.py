"""PennyServerApp: reads PennyConfig, registers the handlers, builds the engine once, on first use."""

from __future__ import annotations

import asyncio
import os
import secrets

from jupyter_server.extension.application import ExtensionApp
from penny_jupyter.errors import Conflict, Unavailable
from penny_jupyter.settings import PennyConfig

from .events import make_bus

REFUSAL = ("this Jupyter server trusts several people and is configured for several tenants (tenant_map), but "
           "anyone who can start a kernel here can read every tenant's data: a kernel runs as the server's OS user. "
           "Run Penny for teams as the JupyterHub service (README, 'Penny for teams'), or, only if this server's "
           "users cannot run code, set c.PennyConfig.allow_multi_tenant_server = True")


class EngineHolder:
    """Builds the Engine in a worker thread the first time a request needs it, so the server starts
    as fast as without Penny and the event loop never waits on migrations."""

    def __init__(self, config: PennyConfig) -> None:
        self.config = config
        self._engine = None
        self._models = None
        self._lock = asyncio.Lock()

    @property
    def started(self):
        """The engine if a request has built it already, else None (never builds it)."""
        return self._engine

    @property
    def models(self):
        """The engine's ModelSelector once the engine is built; before that a light one of the same config, so
        `health` and `models` answer without starting the engine (the router loads only if a turn needs it)."""
        if self._engine is not None:
            return self._engine.models
        if self._models is None:
            from penny_jupyter.models.backends import ModelSelector

            self._models = ModelSelector(self.config)
        return self._models

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


class Elsewhere:
    """Stands in for the EngineHolder where this process must not run Penny: every request gets `error`."""

    started = None

    def __init__(self, error) -> None:
        self.error = error

    @property
    def models(self):
        raise self.error

    async def get(self):
        raise self.error

    def close(self) -> None:
        pass


def mode_of(serverapp, config: PennyConfig) -> str:
    """Where Penny's engine runs for this server:
    - "service": this is the Penny service (penny_server.service), the only process with Penny's data;
    - "client": a user's server under a hub with a Penny service (service_url): no engine here;
    - "refused": a server that trusts several identities and names several tenants (see REFUSAL);
    - "here": everything else (the personal default)."""
    from .auth import trusts_identity

    if getattr(serverapp, "penny_service", False):
        return "service"
    if config.service_url:
        return "client"
    tenants = set(config.tenant_map.values()) | {config.default_tenant}
    several = len(tenants) > 1 and trusts_identity(config, serverapp.identity_provider)
    if several and not config.allow_multi_tenant_server:
        return "refused"
    return "here"


def private_data_dir(config: PennyConfig, log) -> None:
    """The service's data dir is its OS user's alone (0700), whatever the umask or an earlier install left."""
    from pathlib import Path

    path = Path(config.data_dir).expanduser()
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.stat().st_mode & 0o077:
        log.warning("Penny: %s was readable by others; made it 0700", path)
        path.chmod(0o700)


class PennyServerApp(ExtensionApp):
    name = "penny_server"
    classes = [PennyConfig]

    def initialize_settings(self) -> None:
        config = PennyConfig(config=self.serverapp.config)
        self.settings["penny_config"] = config
        # Names this run of the server in the credentials it hands its kernels (auth.kernel_credential).
        self.settings["penny_instance"] = secrets.token_hex(16)
        self.settings["penny_bus"] = make_bus(config, self.log)  # which sockets hear a person's events (events.py)
        self.mode = mode_of(self.serverapp, config)
        self.settings["penny_location"] = {"engine": "here"}
        if self.mode == "service":
            from .hub import HubDirectory

            private_data_dir(config, self.log)
            hub = self.serverapp.identity_provider.hub_auth
            self.settings["penny_directory"] = HubDirectory(config, hub.api_url, hub.api_token)
        if self.mode == "client":
            from urllib.parse import urlparse

            url = config.service_url
            self.settings["penny_location"] = {"engine": "service", "url": urlparse(url).path or "/"}
            self.settings["penny"] = Elsewhere(Conflict(
                f"Penny runs as your team's service at {url}; this server holds no Penny data (the sidebar and "
                "the magics talk to the service)", code="penny_service"))
        elif self.mode == "refused":
            self.log.error("Penny: %s", REFUSAL)
            self.settings["penny"] = Elsewhere(Unavailable(REFUSAL, code="multi_tenant_refused"))
        else:
            self.settings["penny"] = EngineHolder(config)

    async def _start_jupyter_server_extension(self, serverapp) -> None:
        # Kernels inherit the server's environment. The port is final only now (port_retries, port 0: it is
        # picked after extensions load), and this hook runs in the loop's first turns, ahead of any request
        # that could start a kernel. (pytest-jupyter's in-process servers never run it: their env stays clean.)
        config = self.settings["penny_config"]
        if self.mode == "service":
            return
        if self.mode == "client":  # the magics use the service, with the hub token the kernel inherits
            env = {"PENNY_SERVICE_URL": config.service_url, "PENNY_SERVER_URL": None, "PENNY_KERNEL_TOKEN": None,
                   "PENNY_DATA_DIR": None}
        elif self.mode == "refused":
            env = {"PENNY_SERVER_URL": loopback_url(serverapp) or serverapp.connection_url,
                   "PENNY_KERNEL_TOKEN": None, "PENNY_DATA_DIR": None}
        else:
            env = kernel_environment(serverapp, config, self.settings["penny_instance"])
        for key, value in env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    def initialize_handlers(self) -> None:
        from .handlers import HANDLERS

        self.handlers.extend(HANDLERS)
        if self.mode == "service":
            from .service import service_home_handler

            self.handlers.append((r"/penny/?", service_home_handler()))

    async def stop_extension(self) -> None:
        holder = self.settings.get("penny")
        if holder is not None:
            holder.close()
        if self.settings.get("penny_bus") is not None:
            await self.settings["penny_bus"].close()


def kernel_environment(serverapp, config: PennyConfig, instance: str) -> dict[str, str | None]:
    """What the kernels this server starts are told, by environment variable (None: removed).

    - A server with one owner: its loopback URL and a credential naming the owner, so the magics use this
      server's API (the same data, limits and audit as the sidebar). No PENNY_DATA_DIR: a second engine in the
      kernel on the same files is not needed and would bypass the server.
    - The same, but no plain-HTTP loopback to offer (a unix socket, or TLS whose certificate names another
      host): the data dir, as before, and the kernel runs the engine in-process as the owner.
    - A server without one owner (see auth.owner_principal): the URL only, so the magics can say why they do
      not work, and neither a credential nor the data dir.
    """
    from .auth import kernel_credential

    data_dir = config.data_dir  # resolved now: it may come from PENNY_DATA_DIR, which may be removed below
    token = kernel_credential(config, serverapp.identity_provider, instance)
    url = loopback_url(serverapp)
    if token is None:
        return {"PENNY_SERVER_URL": url or serverapp.connection_url, "PENNY_KERNEL_TOKEN": None,
                "PENNY_DATA_DIR": None}
    if url is None:
        return {"PENNY_SERVER_URL": None, "PENNY_KERNEL_TOKEN": None, "PENNY_DATA_DIR": data_dir,
                "PENNY_AS_OF": config.as_of or None}
    return {"PENNY_SERVER_URL": url, "PENNY_KERNEL_TOKEN": token}


def loopback_url(serverapp) -> str | None:
    """This server's URL as seen from its own machine, with base_url; None on a unix socket or with TLS."""
    if serverapp.sock or serverapp.certfile:
        return None
    ip = serverapp.ip or "localhost"
    if ip in ("localhost", "0.0.0.0") or ip.startswith("127."):
        host = "127.0.0.1"
    elif ip in ("::", "::1"):
        host = "[::1]"
    else:  # bound to one address only: only that one answers
        host = f"[{ip}]" if ":" in ip else ip
    return f"http://{host}:{serverapp.port}{serverapp.base_url}"
