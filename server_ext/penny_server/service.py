"""`penny-service`: the Penny service JupyterHub starts and routes at {hub_prefix}services/penny/ (team mode).

It is a jupyter-server with one extension, Penny's (the same handlers and socket as in a user's own server),
and none of jupyter-server's own services: no kernels, contents, files or terminals, so nobody runs code in
the process that holds every tenant's data. The hub authenticates every caller (JupyterHubIdentityProvider:
the OAuth cookie of a browser, or a hub token such as a kernel's JUPYTERHUB_API_TOKEN); the tenant and roles
come from the caller's hub groups (hub.HubDirectory). Where it listens, its URL prefix, its hub token and
OAuth client all come from the environment the hub gives a managed service.

Run it as an OS user of its own with a data dir only it can read (README, "Penny for teams").
"""

from __future__ import annotations

import os
from urllib.parse import urlparse

from jupyter_server.serverapp import ServerApp
from traitlets import default


def _hub_identity_class():
    from jupyterhub.services.auth import HubOAuth
    from jupyterhub.singleuser.extension import JupyterHubIdentityProvider
    from penny_jupyter.errors import Forbidden
    from penny_jupyter.settings import PennyConfig

    class PennyHubOAuth(HubOAuth):
        def _get_token_url(self, handler):
            """The hub accepts `?token=` on websocket requests only (a browser cannot set a header on one), and
            knows them by `Sec-Fetch-Mode: websocket`, which Chromium does not send on a WebSocket handshake
            (measured: Chromium 156 sends only Origin). The Upgrade header says the same thing."""
            if handler.request.headers.get("Upgrade", "").lower() == "websocket":
                return handler.get_argument("token", "")
            return super()._get_token_url(handler)

    class HubIdentity(JupyterHubIdentityProvider):
        """The hub's own identity provider, with Penny's cache time and a sentence for a hub user who may not
        use the service."""

        @default("hub_auth")
        def _default_hub_auth(self):
            ttl = PennyConfig(parent=self.parent).hub_cache_seconds
            return PennyHubOAuth(parent=self, cache_max_age=max(0, int(ttl)))

        async def get_user(self, handler):
            user = await super().get_user(handler)
            model = getattr(handler, "_cached_hub_user", None)
            if user is None and model:  # a real hub user or service, without access:services!service=<us>
                self.log.warning("penny: hub %s %r has no access to the service", model.get("kind"), model.get("name"))
                handler.penny_refusal = Forbidden(
                    f"{model.get('name')} is signed in to the hub but may not use the Penny service: a hub admin must "
                    "grant them access:services!service=penny (see the README, 'Penny for teams')",
                    code="no_service_access")
            return user

    return HubIdentity


def _no_file_serving_class():
    from jupyter_server.services.contents.filemanager import FileContentsManager

    class NoFiles(FileContentsManager):
        """jupyter-server adds its contents manager's /files/ handler whatever the services: it would serve the
        working directory (measured: penny.sqlite, from a service started in its data dir)."""

        def get_extra_handlers(self):
            return []

    return NoFiles


def service_home_handler():
    """`GET {prefix}penny/`: what a person sees who opens the service in a browser. A page, so the hub's OAuth
    flow applies (a login redirect, then the service's own cookie); it says who they are to Penny and where
    to go, and hands the page the XSRF token its own requests need."""
    from html import escape

    from jupyter_server.base.handlers import JupyterHandler
    from penny_jupyter.errors import PennyError
    from tornado import web

    class ServiceHome(JupyterHandler):
        @web.authenticated
        async def get(self):
            try:
                who = await self.settings["penny_directory"].principal(self.current_user.username)
                line = f"You are {escape(who.user)} in {escape(who.tenant)} ({', '.join(sorted(who.roles))})."
            except PennyError as e:
                self.set_status(e.status)
                line = escape(str(e))
            hub = os.environ.get("JUPYTERHUB_BASE_URL", "/")
            self.write(f"""<!doctype html><html><head><meta charset="utf-8"><title>Penny for teams</title>
<meta name="penny-xsrf" content="{escape(self.xsrf_token.decode())}"></head>
<body style="font: 15px system-ui, sans-serif; margin: 3em; max-width: 40em">
<h1>Penny for teams</h1><p id="penny-who">{line}</p>
<p>Penny lives in the sidebar of your JupyterLab: <a href="{escape(hub)}hub/home">open your server</a>.</p>
</body></html>""")

    return ServiceHome


class PennyService(ServerApp):
    name = "penny-service"
    description = "The Penny service for a JupyterHub: one Penny for a company's analysts, tenants from hub groups."
    penny_service = True  # PennyServerApp builds the hub directory and no kernel credentials when it sees this

    default_services = ()  # no kernels, contents, files, terminals: Penny's handlers only

    @default("contents_manager_class")
    def _default_contents_manager_class(self):
        return _no_file_serving_class()

    @default("identity_provider_class")
    def _default_identity_provider_class(self):
        return _hub_identity_class()

    @default("base_url")
    def _default_base_url(self):
        return os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/services/penny/")

    @default("ip")
    def _default_ip(self):
        return urlparse(os.environ.get("JUPYTERHUB_SERVICE_URL", "http://127.0.0.1:10101")).hostname

    @default("port")
    def _default_port(self):
        return urlparse(os.environ.get("JUPYTERHUB_SERVICE_URL", "http://127.0.0.1:10101")).port or 80

    @default("open_browser")
    def _default_open_browser(self):
        return False

    @default("terminals_enabled")
    def _default_terminals_enabled(self):
        return False

    @default("default_url")
    def _default_default_url(self):
        return "/penny/"

    def find_server_extensions(self) -> None:
        # Only Penny's, whatever else is installed in the same environment (jupyterlab, its LSP...).
        self.jpserver_extensions = {"penny_server": True}

    def init_webapp(self) -> None:
        super().init_webapp()
        # The hub's OAuth checks XSRF itself, after it knows whether a request came with a token (then none is
        # needed) or a cookie; tornado's own check would run first and refuse every token call (as in the hub's
        # own single-user servers).
        self.web_app.settings["xsrf_cookies"] = False


def main() -> None:
    os.umask(0o077)  # every file the service writes is its own: its data dir is 0700 and stays so
    PennyService.launch_instance()


if __name__ == "__main__":
    main()
