"""Request identity -> Principal. The only place that decides who a caller is and which tenant they see."""

from __future__ import annotations

from jupyter_server.auth.identity import IdentityProvider, LegacyIdentityProvider, PasswordIdentityProvider
from penny_jupyter.errors import Unauthorized
from penny_jupyter.settings import PennyConfig
from penny_jupyter.tenancy import Principal, resolve_principal


# jupyter-server's own providers: one shared token or password, so a single-user server.
_SHARED_SECRET_PROVIDERS = (IdentityProvider, PasswordIdentityProvider, LegacyIdentityProvider)


def principal_for(handler, config: PennyConfig) -> Principal:
    user = handler.current_user
    if user is None:
        raise Unauthorized("sign in to Jupyter first: this request carried no valid token or cookie")
    provider = handler.identity_provider
    trusted = config.trust_identity
    if trusted is None:
        # jupyter-server's default provider names every token caller a fresh random anonymous user,
        # so on such a (single-user) server every authenticated caller is the one owner.
        trusted = type(provider) not in _SHARED_SECRET_PROVIDERS
    if not trusted:
        return Principal(user=config.single_user_name, tenant=config.default_tenant,
                         roles=frozenset({"member", "admin"}))
    return resolve_principal(user.username, tenant_map=dict(config.tenant_map), default_tenant=config.default_tenant,
                             admins=set(config.admins))
