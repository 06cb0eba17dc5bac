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


def tenants_of_groups(groups: list[str] | set[str], tenant_groups: str | dict[str, str]) -> set[str]:
    """The tenants a set of hub groups names: by prefix ('tenant-acme' -> 'acme') or by a group -> tenant map."""
    if isinstance(tenant_groups, dict):
        return {tenant_groups[g] for g in groups if g in tenant_groups}
    return {g[len(tenant_groups):] for g in groups if g.startswith(tenant_groups) and len(g) > len(tenant_groups)}


def principal_from_groups(user: str, groups: list[str] | set[str], *, tenant_groups: str | dict[str, str],
                          admin_groups=(), viewer_groups=()) -> Principal:
    """A hub user's Principal: the tenant from their one tenant group, roles from the admin and viewer groups.

    No tenant group, or two, is refused with what the hub admin must do: guessing a company is how data leaks."""
    tenants = tenants_of_groups(groups, tenant_groups)
    how = ("a group of the tenants map (c.PennyConfig.tenant_groups)" if isinstance(tenant_groups, dict)
           else f"a group named '{tenant_groups}<company>'")
    if not tenants:
        raise Forbidden(f"{user} belongs to no company in Penny: a hub admin must add them to exactly one tenant "
                        f"group ({how}), then they can use Penny", code="no_tenant")
    if len(tenants) > 1:
        raise Forbidden(f"{user} is in the tenant groups of {len(tenants)} companies ({', '.join(sorted(tenants))}): "
                        "Penny will not guess which company's data they may see; a hub admin must leave them in "
                        "exactly one", code="several_tenants")
    (tenant,) = tenants
    groups = set(groups)
    admin, viewer = bool(groups & set(admin_groups)), bool(groups & set(viewer_groups))
    roles = {"member", "admin"} if admin else ({"viewer"} if viewer else {"member"})
    return Principal(user=user, tenant=check_tenant_name(tenant), roles=frozenset(roles))
