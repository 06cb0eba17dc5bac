"""REST handlers: parse, authorize, delegate to the engine. Errors are mapped to HTTP in one place
(`PennyHandler.write_error`); a client never sees a stack trace."""

from __future__ import annotations

import asyncio
import functools
import json
from typing import Any

from jupyter_server.auth.decorator import allow_unauthenticated
from jupyter_server.base.handlers import APIHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin
from penny_jupyter.errors import BadRequest, Forbidden, NotFound, PennyError, to_wire
from tornado import web

from .auth import Identity, not_signed_in, principal_for


def _protocol():
    """pydantic loads on the first request, not at server start."""
    from penny_jupyter import protocol

    return protocol


API = r"/penny/api"
ID = r"([A-Za-z0-9_.:-]{1,128})"


class PennyHandler(Identity, ExtensionHandlerMixin, APIHandler):
    @property
    def principal(self):
        return principal_for(self, self.settings["penny_config"])

    async def engine(self):
        return await self.settings["penny"].get()

    def body(self, model) -> Any:
        from pydantic import ValidationError

        proto = _protocol()
        raw = proto.load_json(self.request.body or b"{}", "request body", invalid="bad_request", too_deep="bad_request")
        try:
            return model.model_validate(raw)
        except ValidationError as e:
            raise BadRequest(f"invalid request body: {proto.describe_validation_error(e)}") from None

    def reply(self, data: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(data))

    def get_login_url(self) -> str:
        refusal = getattr(self, "penny_refusal", None)  # the hub knows them, but not as a user of this service
        if refusal is not None:
            raise refusal
        raise not_signed_in(self.settings)

    def _handle_request_exception(self, e: BaseException) -> None:
        if isinstance(e, PennyError):
            return self.send_error(e.status, exc_info=(type(e), e, e.__traceback__))
        return super()._handle_request_exception(e)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, web.HTTPError) and not isinstance(exc, PennyError):  # tornado's own 403/404/405...
            wire = to_wire(status=status_code, message=exc.log_message or exc.reason)
        else:
            wire = to_wire(exc)
        send_error_body(self, wire)


def send_error_body(handler, wire) -> None:
    """An error reply, on any Penny handler (and the kernel credential's refusal): errors.to_wire's body."""
    for name, value in wire.headers().items():
        handler.set_header(name, value)
    handler.set_status(wire.status)
    handler.set_header("Content-Type", "application/json")
    handler.finish(json.dumps(wire.body()))


def authenticated(method):
    """tornado's @web.authenticated, but every method without a user gets Penny's sentence (get_login_url), where
    tornado would send a bare 403 for anything but GET."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        if not self.current_user:
            self.get_login_url()  # raises
        return method(self, *args, **kwargs)

    setattr(wrapper, "__allow_unauthenticated", False)
    return wrapper


class HealthHandler(PennyHandler):
    @authenticated
    async def get(self):
        config = self.settings["penny_config"]
        models = await self.settings["penny"].models.describe()
        self.reply({"status": "ok", "model": models["active"], "modelReason": models["reason"],
                    "engineStarted": self.settings["penny"].started is not None,
                    "version": __import__("penny_jupyter").__version__, "defaultTenant": config.default_tenant})


class LocationHandler(PennyHandler):
    """Where the sidebar finds Penny: here, or (a user's server under a hub) at the team's service."""

    @authenticated
    async def get(self):
        self.reply(self.settings["penny_location"])


class ModelsHandler(PennyHandler):
    @authenticated
    async def get(self):
        self.reply(await self.settings["penny"].models.describe())


class MeHandler(PennyHandler):
    @authenticated
    async def get(self):
        who = self.principal
        self.reply({"user": who.user, "tenant": who.tenant, "roles": sorted(who.roles)})


class ConversationsHandler(PennyHandler):
    @authenticated
    async def get(self):
        engine, who = await self.engine(), self.principal
        self.reply({"conversations": [c.to_wire() for c in engine.conversations.list(who)]})

    @authenticated
    async def post(self):
        engine, who = await self.engine(), self.principal
        body = self.body(_protocol().ConversationCreate)
        conv = engine.conversations.create(who, body.title, body.id)
        self.reply(conv.to_wire(), 201)


class ConversationHandler(PennyHandler):
    @authenticated
    async def get(self, cid):
        engine, who = await self.engine(), self.principal
        self.reply(engine.conversations.get(who, cid).to_wire())

    @authenticated
    async def patch(self, cid):
        engine, who = await self.engine(), self.principal
        body = self.body(_protocol().ConversationPatch)
        self.reply(engine.conversations.rename(who, cid, body.title).to_wire())

    @authenticated
    async def delete(self, cid):
        engine, who = await self.engine(), self.principal
        engine.conversations.delete(who, cid)
        self.set_status(204)
        self.finish()


class ConversationSharingHandler(PennyHandler):
    @authenticated
    async def put(self, cid):
        """Who besides its author may read the conversation (and the artifacts it made)."""
        engine, who = await self.engine(), self.principal
        body = self.body(_protocol().SharingBody)
        self.reply(engine.conversations.share(who, cid, body.tenant, body.users).to_wire())


class MessagesHandler(PennyHandler):
    @authenticated
    async def get(self, cid):
        engine, who = await self.engine(), self.principal
        self.reply({"messages": [m.to_wire() for m in engine.conversations.messages(who, cid)]})

    @authenticated
    async def post(self, cid):
        """Runs a whole turn and answers with every event it produced (the socket streams the same)."""
        engine, who = await self.engine(), self.principal
        body = self.body(_protocol().MessageCreate)
        engine.conversations.get(who, cid)
        events: list[dict] = []

        async def collect(event):
            events.append(event)

        await engine.chat.ask(who, cid, body.content, collect, client_message_id=body.client_message_id,
                              model=body.model)
        self.reply({"events": events}, 201)


class ToolsHandler(PennyHandler):
    @authenticated
    async def get(self):
        engine = await self.engine()
        self.reply({"tools": [t.describe() for t in engine.tools]})


class ToolExecuteHandler(PennyHandler):
    @authenticated
    async def post(self, name):
        engine, who = await self.engine(), self.principal
        body = self.body(_protocol().ToolExecuteBody)
        events: list[dict] = []

        async def collect(event):
            events.append(event)

        outcome = await engine.chat.execute_tool(who, name, body.params, collect, body.conversation_id)
        if not outcome.ok and outcome.result is None:
            raise outcome.error
        # a call that ran but failed (code that raised) still hands back what it printed and showed
        self.reply({"callId": outcome.call.call_id, "tool": name, "ok": outcome.ok, "durationMs": outcome.duration_ms,
                    "text": outcome.result.text, "data": outcome.result.data, "artifacts": outcome.artifacts,
                    **({"error": outcome.error.to_dict()} if outcome.error else {})})


class DashboardsHandler(PennyHandler):
    @authenticated
    async def get(self):
        self.reply({"dashboards": (await self.engine()).dashboards()})


class ArtifactsHandler(PennyHandler):
    @authenticated
    async def get(self):
        engine, who = await self.engine(), self.principal
        # worker threads: a large payload may be fetched from the artifact store (S3), off the event loop
        arts = await asyncio.to_thread(engine.artifacts.list, who, self.get_argument("conversationId", None))
        self.reply({"artifacts": arts})


class ArtifactHandler(PennyHandler):
    @authenticated
    async def get(self, aid):
        engine, who = await self.engine(), self.principal
        version = _version(self.get_argument("version", None))
        self.reply(await asyncio.to_thread(engine.artifacts.get, who, aid, version))


class ArtifactBundleHandler(PennyHandler):
    """The artifact as a notebook output's mime bundle (artifacts/bundle.py): a refreshed output in a notebook
    takes the new version's live data and its static copies together, so the saved file stays in step."""

    @authenticated
    async def get(self, aid):
        from penny_jupyter.artifacts.bundle import mime_bundle

        engine, who = await self.engine(), self.principal
        version = _version(self.get_argument("version", None))
        self.reply(mime_bundle(await asyncio.to_thread(engine.artifacts.get, who, aid, version)))


class ArtifactVersionsHandler(PennyHandler):
    @authenticated
    async def get(self, aid):
        engine, who = await self.engine(), self.principal
        self.reply({"versions": engine.artifacts.versions(who, aid)})


class ArtifactSharingHandler(PennyHandler):
    @authenticated
    async def put(self, aid):
        engine, who = await self.engine(), self.principal
        body = self.body(_protocol().SharingBody)
        art = await asyncio.to_thread(engine.artifacts.share, who, aid, body.tenant, body.users)
        self.reply({"sharing": art["sharing"], "artifact": art})


class ArtifactLinksHandler(PennyHandler):
    @authenticated
    async def post(self, aid):
        """A signed, expiring download link: a path under this server's base_url."""
        engine, who = await self.engine(), self.principal
        body = self.body(_protocol().LinkCreate)
        link = await asyncio.to_thread(engine.links.create, who, aid, body.format, body.version, body.expires_in)
        link["url"] = self.base_url + link["url"]
        self.reply(link, 201)


class ArtifactRefreshHandler(PennyHandler):
    @authenticated
    async def post(self, aid):
        engine, who = await self.engine(), self.principal
        self.reply(await engine.executor.refresh(who, aid), 201)


class ArtifactDownloadHandler(PennyHandler):
    @authenticated
    async def get(self, aid):
        engine, who = await self.engine(), self.principal
        send_export(self, await asyncio.to_thread(engine.artifacts.export, who, aid, self.get_argument("format", "json"),
                                                  _version(self.get_argument("version", None))))


class SignedFileHandler(PennyHandler):
    """`GET penny/files/<token>`: what a signed link names, to whoever holds the link, until it expires or its
    artifact stops being shared with whoever made it. No Jupyter login: the signature is the permission (403
    link_invalid / link_expired, 404 link_revoked otherwise). On S3, a redirect to a short-lived presigned URL."""

    @allow_unauthenticated
    async def get(self, token):
        engine = await self.engine()
        opened = await asyncio.to_thread(engine.links.open, token)
        self.set_header("Cache-Control", "private, no-store")
        if isinstance(opened, str):
            return self.redirect(opened)
        self.set_header("X-Content-Type-Options", "nosniff")
        send_export(self, opened)


def send_export(handler: PennyHandler, exported) -> None:
    handler.set_header("Content-Disposition", exported.disposition)
    # APIHandler.finish would label every body application/json (CSV downloads were, until this)
    handler.finish(exported.body, set_content_type=exported.media_type)


class AuditHandler(PennyHandler):
    @authenticated
    async def get(self):
        """The caller's tenant's audit log, newest first, and whether its hash chain holds. Admins only."""
        engine, who = await self.engine(), self.principal
        if not who.is_admin:
            raise Forbidden("the audit log is for admins of this tenant only")
        limit = _positive(self.get_argument("limit", "100"), "limit")
        before = self.get_argument("before", None)
        entries = engine.audit.list(who.tenant, min(limit, 1000), _positive(before, "before") if before else None)
        ok, first_bad = engine.audit.verify(who.tenant)
        out = {"entries": entries, "verified": ok}
        if not ok:
            out["firstBadId"] = first_bad
        self.reply(out)


class AdminHandler(PennyHandler):
    @authenticated
    async def get(self):
        """The tenant admin panel: members and roles, 30 days of usage, the audit log, data sources, model."""
        import datetime as dt

        from penny_jupyter import admin

        from .auth import tenant_members

        engine, who = await self.engine(), self.principal
        admin.require_admin(who)  # before asking the identity side (the hub) who else is in the tenant
        # The audit's clock (UTC), not config.today(): rows carry the real time of each call, so a pretend
        # as_of date would show a month without them.
        today = dt.datetime.now(dt.timezone.utc).date()
        model = await self.settings["penny"].models.describe()
        self.reply(await admin.overview(engine, who, await tenant_members(self, who), today, model))


class OpenAPIHandler(PennyHandler):
    @authenticated
    async def get(self):
        from .openapi import build_openapi

        self.reply(build_openapi())


def _version(raw: str | None) -> int | None:
    if raw is None:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise BadRequest(f"version must be a positive integer, got {raw!r}")
    return int(raw)


def _positive(raw: str, name: str) -> int:
    if not raw.isdigit() or int(raw) < 1:
        raise BadRequest(f"{name} must be a positive integer, got {raw!r}")
    return int(raw)


class NotFoundHandler(PennyHandler):
    @authenticated
    def _unknown(self, *args):
        raise NotFound(f"no Penny endpoint at {self.request.path}; see {self.base_url}penny/api/openapi.json",
                       code="unknown_endpoint")

    get = post = patch = put = delete = _unknown


def _handlers():
    from .websocket import ChatSocket

    return [
        (rf"{API}/health", HealthHandler),
        (rf"{API}/location", LocationHandler),
        (rf"{API}/models", ModelsHandler),
        (rf"{API}/me", MeHandler),
        (rf"{API}/conversations", ConversationsHandler),
        (rf"{API}/conversations/{ID}", ConversationHandler),
        (rf"{API}/conversations/{ID}/messages", MessagesHandler),
        (rf"{API}/conversations/{ID}/sharing", ConversationSharingHandler),
        (rf"{API}/tools", ToolsHandler),
        (rf"{API}/tools/{ID}/execute", ToolExecuteHandler),
        (rf"{API}/dashboards", DashboardsHandler),
        (rf"{API}/artifacts", ArtifactsHandler),
        (rf"{API}/artifacts/{ID}", ArtifactHandler),
        (rf"{API}/artifacts/{ID}/versions", ArtifactVersionsHandler),
        (rf"{API}/artifacts/{ID}/bundle", ArtifactBundleHandler),
        (rf"{API}/artifacts/{ID}/refresh", ArtifactRefreshHandler),
        (rf"{API}/artifacts/{ID}/download", ArtifactDownloadHandler),
        (rf"{API}/artifacts/{ID}/sharing", ArtifactSharingHandler),
        (rf"{API}/artifacts/{ID}/links", ArtifactLinksHandler),
        (r"/penny/files/([A-Za-z0-9_.-]{1,4096})", SignedFileHandler),
        (rf"{API}/audit", AuditHandler),
        (rf"{API}/admin", AdminHandler),
        (rf"{API}/openapi.json", OpenAPIHandler),
        (rf"{API}/.*", NotFoundHandler),
        (r"/penny/ws", ChatSocket),
    ]


HANDLERS = _handlers()
