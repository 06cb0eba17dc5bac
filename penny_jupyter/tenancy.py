"""Who is asking, and for which company. Every service takes a Principal, never a name from a request."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .errors import Forbidden

_TENANT_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


@dataclass(frozen=True)
class Principal:
    user: str
    tenant: str
    roles: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        check_tenant_name(self.tenant)

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles


def owner_of_server(config) -> Principal:
    """The one person of a single-user server (or of plain IPython): every caller there is them."""
    return Principal(user=config.single_user_name, tenant=config.default_tenant, roles=frozenset({"member", "admin"}))


def check_tenant_name(tenant: str) -> str:
    """Tenant names become file names (one DuckDB file each), so they are kept to a safe alphabet."""
    if not _TENANT_RE.match(tenant or ""):
        raise Forbidden(f"tenant name {tenant!r} is not allowed: use lowercase letters, digits, '-' and '_'")
    return tenant


def resolve_principal(user: str, *, tenant_map: dict[str, str], default_tenant: str,
                      admins: set[str] | frozenset[str] = frozenset(),
                      viewers: set[str] | frozenset[str] = frozenset(),
                      tenant_from_identity: str | None = None) -> Principal:
    """Map an authenticated user to a Principal.

    `tenant_from_identity` comes from a trusted identity provider (JupyterHub group, JWT claim);
    otherwise the configured user->tenant map decides, falling back to the default tenant.
    """
    tenant = tenant_from_identity or tenant_map.get(user) or default_tenant
    roles = {"viewer"} if user in viewers and user not in admins else {"member"}
    if user in admins:
        roles.add("admin")
    return Principal(user=user, tenant=tenant, roles=frozenset(roles))
