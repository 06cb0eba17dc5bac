"""Request identity -> Principal. The only place that decides who a caller is and which tenant they see.

Three kinds of caller:
- a person, authenticated by Jupyter (token, password, JupyterHub, JWT);
- in the Penny service (team mode), a person or their kernel, authenticated by the hub (OAuth cookie, or a hub
  token such as JUPYTERHUB_API_TOKEN) and placed in a tenant by their hub groups (hub.HubDirectory);
- a kernel this server started, authenticated by the credential the server handed it (`X-Penny-Token`, minted
  here and signed with penny_jupyter.signing). It names the server's owner; on a server without one owner it
  gets none (see owner_principal). The service mints none: kernels use their hub token there.
"""

from __future__ import annotations

import inspect
import logging
import os

from jupyter_server.auth.identity import IdentityProvider, LegacyIdentityProvider, PasswordIdentityProvider, User
from tornado import web
from penny_jupyter.errors import PennyError, Unauthorized
from penny_jupyter.settings import PennyConfig
from penny_jupyter.signing import KERNEL_HEADER
from penny_jupyter.tenancy import Principal, owner_of_server, resolve_principal

log = logging.getLogger("penny.auth")


# jupyter-server's own providers: one shared token or password, so a single-user server.
_SHARED_SECRET_PROVIDERS = (IdentityProvider, PasswordIdentityProvider, LegacyIdentityProvider)


def principal_for(handler, config: PennyConfig) -> Principal:
    known = getattr(handler, "known_principal", None)
    if known is not None:  # settled in Identity.prepare: a kernel credential, or the hub's word
        return known
    user = handler.current_user
    if user is None or handler.settings.get("penny_directory") is not None:
        raise not_signed_in(handler.settings)
    if not trusts_identity(config, handler.identity_provider):
        return owner_of_server(config)
    return _named(config, user.username)


def trusts_identity(config: PennyConfig, provider) -> bool:
    if config.trust_identity is not None:
        return config.trust_identity
    # jupyter-server's default provider names every token caller a fresh random anonymous user,
    # so on such a (single-user) server every authenticated caller is the one owner.
    return type(provider) not in _SHARED_SECRET_PROVIDERS


def _named(config: PennyConfig, username: str) -> Principal:
    return resolve_principal(username, tenant_map=dict(config.tenant_map), default_tenant=config.default_tenant,
                             admins=set(config.admins), viewers=set(config.viewers))


# ---------------------------------------------------------------------- kernels' credentials


def owner_principal(config: PennyConfig, provider, environ=os.environ) -> Principal | None:
    """Who the kernels this server starts act as, or None when the server has no one owner.

    A single-user server (jupyter-server's own token or password) is its owner's; a JupyterHub single-user
    server names its user in JUPYTERHUB_USER. LIMIT: a server that trusts several identities and has no
    owner (one server shared by several people) starts kernels for whoever asks, but the kernel cannot prove
    later which of them it belongs to, so it gets no credential and the magics say they need a per-user server.
    """
    if not trusts_identity(config, provider):
        return owner_of_server(config)
    hub_user = environ.get("JUPYTERHUB_USER")
    return _named(config, hub_user) if hub_user else None


def kernel_credential(config: PennyConfig, provider, instance: str, environ=os.environ) -> str | None:
    """The credential the server hands its kernels (PENNY_KERNEL_TOKEN), or None (see owner_principal).

    It names this run of the server (`sid`), so it stops working when the server stops: a credential printed
    into a shared notebook does not outlive the server, much like Jupyter's own token."""
    owner = owner_principal(config, provider, environ)
    if owner is None:
        return None
    from penny_jupyter.signing import KERNEL, Signer

    return Signer.for_config(config).issue(
        {"sub": owner.user, "tenant": owner.tenant, "roles": sorted(owner.roles), "sid": instance}, KERNEL)


def verify_kernel_credential(settings, token: str) -> Principal:
    """The Principal a kernel credential names; Unauthorized for one that was changed, expired, is for
    something else (a download link), or was made by another run or another server."""
    from penny_jupyter.signing import KERNEL, Signer

    signer = settings.get("penny_signer")
    if signer is None:
        signer = settings["penny_signer"] = Signer.for_config(settings["penny_config"])
    try:
        claims = signer.verify(token, KERNEL)
        if claims.get("sid") != settings["penny_instance"]:
            raise Unauthorized("this kernel's Penny credential is from an earlier run of the server: restart the "
                               "kernel", code="kernel_credential_stale")
        if not isinstance(claims["roles"], list):
            raise _invalid()
        return Principal(user=str(claims["sub"]), tenant=claims["tenant"], roles=frozenset(claims["roles"]))
    except Unauthorized:
        raise
    except PennyError as e:
        if e.code == "link_expired":
            raise Unauthorized("this kernel's Penny credential has expired: restart the kernel",
                               code="kernel_credential_expired") from None
        raise _invalid() from None
    except (KeyError, TypeError):
        raise _invalid() from None


def _invalid() -> Unauthorized:
    return Unauthorized("this kernel's Penny credential is not valid: it was changed or was not made by this "
                        "server; restart the kernel", code="kernel_credential_invalid")


def not_signed_in(settings) -> Unauthorized:
    if settings.get("penny_directory") is not None:
        return Unauthorized("sign in to JupyterHub first: this request carried no valid hub token or cookie (a "
                            "kernel or script sends its JUPYTERHUB_API_TOKEN as 'Authorization: token ...')")
    return Unauthorized("sign in to Jupyter first: this request carried no valid token or cookie")


class Identity:
    """Mixin, first among the bases of Penny's REST handlers and its chat socket: settles who is asking once,
    before the method runs, in `known_principal`.

    - X-Penny-Token: one of this server's kernels, authenticated by that credential alone (a kernel holds no
      Jupyter token or cookie, and the identity provider is not asked). The Penny service accepts none.
    - In the Penny service: whoever the hub authenticated (JupyterHubIdentityProvider, in jupyter-server's
      prepare), placed in their tenant by their hub groups. Refusals are Penny's JSON errors with a sentence.
    - Otherwise nothing changes: principal_for() maps the Jupyter user.
    """

    known_principal: Principal | None = None

    async def prepare(self, *args, **kwargs):
        try:
            token = self.request.headers.get(KERNEL_HEADER)
            if token is not None:
                return self._prepare_kernel(token)
            directory = self.settings.get("penny_directory")
            try:
                result = super().prepare(*args, **kwargs)
                if inspect.isawaitable(result):
                    await result
            except web.HTTPError as e:
                # The hub's XSRF check refuses a write that came with no valid token before anyone asks who it
                # is; say what is wrong with it instead ("'_xsrf' argument missing" would send people astray).
                if directory is None or e.status_code != 403 or getattr(self, "_jupyter_current_user", None):
                    raise
                raise not_signed_in(self.settings) from None
            if directory is not None and self.current_user is not None:
                self.known_principal = await directory.principal(self.current_user.username)
        except PennyError as e:  # Penny's JSON error, on REST and on the socket's upgrade request alike
            if not self._finished:
                log.warning("penny refused %s %s: %s", self.request.method, self.request.path, e.code)
                from penny_jupyter.errors import to_wire

                from .handlers import send_error_body

                send_error_body(self, to_wire(e))
        return None

    def _prepare_kernel(self, token: str) -> None:
        from jupyter_server.base.call_context import CallContext

        if self.settings.get("penny_directory") is not None:
            raise Unauthorized("this is your team's Penny service: it knows people by their hub token "
                               "(Authorization: token $JUPYTERHUB_API_TOKEN), not by a server's kernel credential",
                               code="kernel_credential_invalid")
        CallContext.set(CallContext.JUPYTER_HANDLER, self)
        if not self.check_host():  # the DNS-rebinding guard every Jupyter request gets
            raise web.HTTPError(403)
        self.known_principal = verify_kernel_credential(self.settings, token)
        # For @authenticated / @ws_authenticated. No XSRF check (JupyterHandler.prepare would make one): XSRF rides
        # credentials a browser attaches by itself (cookies); it never attaches this header, and a page cannot
        # know the token to set it.
        self.current_user = self._jupyter_current_user = User(username=self.known_principal.user)


# ---------------------------------------------------------------------- who is in a tenant


async def tenant_members(handler, who: Principal) -> list[Principal]:
    """The people of `who`'s tenant that the identity side knows of, with their roles (for the admin panel).

    On a single-user server: its owner. On a server that trusts names: everyone the config names for that
    tenant (tenant_map, admins, viewers). The hub service overrides this with the tenant's hub groups."""
    config = handler.settings["penny_config"]
    directory = handler.settings.get("penny_directory")
    if directory is not None:
        return await directory.members(who.tenant)
    if not trusts_identity(config, handler.identity_provider):
        return [owner_of_server(config)]
    names = set(config.tenant_map) | set(config.admins) | set(config.viewers) | {who.user}
    people = [_named(config, n) for n in sorted(names)]
    return [p for p in people if p.tenant == who.tenant]
