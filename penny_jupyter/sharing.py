"""Sharing: a conversation or an artifact is private to its author until shared with the tenant or
with named colleagues of the same tenant. Roles decide who may share (PennyConfig.share_roles).

A share row is keyed by the sharer's tenant, and every read filters on the reader's tenant, so a
share cannot cross tenants even if a name exists in two. Naming someone the config puts in another
tenant is refused outright, so nobody believes they shared with them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from sqlalchemy import and_, bindparam, delete, exists, or_, select

from .errors import BadRequest, Forbidden
from .storage import Database
from .storage import schema as s
from .storage.database import utcnow
from .tenancy import Principal

TENANT = "*"  # the grantee that means "everyone in the tenant"
MAX_USERS = 200


@dataclass(frozen=True)
class Sharing:
    tenant: bool = False
    users: tuple[str, ...] = ()

    def to_wire(self) -> dict[str, Any]:
        return {"tenant": self.tenant, "users": list(self.users)}


class SharingService:
    def __init__(self, db: Database, config) -> None:
        self.db = db
        self.config = config

    def can_share(self, who: Principal) -> bool:
        return bool(who.roles & set(self.config.share_roles))

    def can_read_artifact(self, conn, who: Principal, artifact_id: str, conversation_id: str | None) -> bool:
        """For one artifact the caller did not author: is it, or the conversation that made it, shared with them?"""
        return conn.execute(_CAN_READ, {"tenant": who.tenant, "user": who.user, "artifact": artifact_id,
                                        "conversation": conversation_id or ""}).first() is not None

    def of(self, who: Principal, kind: str, ids: Iterable[str]) -> dict[str, Sharing]:
        ids = list(set(ids))
        if not ids:
            return {}
        with self.db.connect() as c:
            rows = c.execute(_OF, {"tenant": who.tenant, "kind": kind, "ids": ids}).all()
        found: dict[str, list[str]] = {}
        for r in rows:
            found.setdefault(r.resource_id, []).append(r.grantee)
        return {rid: Sharing(tenant=TENANT in g, users=tuple(sorted(x for x in g if x != TENANT)))
                for rid, g in found.items()}

    def set(self, who: Principal, kind: str, resource_id: str, owner: str, tenant: bool,
            users: Iterable[str]) -> Sharing:
        """Replace who the resource is shared with. Only its author, with a role that may share."""
        if owner != who.user:
            raise Forbidden(f"only the author ({owner}) can change who this {kind} is shared with")
        if not self.can_share(who):
            raise Forbidden(f"your role ({', '.join(sorted(who.roles))}) may not share; ask an admin of your "
                            "tenant for the member role")
        names = sorted({u.strip() for u in users if u and u.strip()} - {who.user})
        if len(names) > MAX_USERS:
            raise BadRequest(f"share with at most {MAX_USERS} named users, or with the whole tenant")
        for name in names:
            if len(name) > 256 or name == TENANT:
                raise BadRequest(f"{name[:40]!r} is not a username")
            if self._tenant_of(name) not in (None, who.tenant):
                raise BadRequest(f"{name!r} is not in your tenant; shares never leave the tenant")
        now, sh = utcnow(), s.shares
        with self.db.begin() as c:
            c.execute(delete(sh).where(and_(sh.c.tenant == who.tenant, sh.c.kind == kind,
                                            sh.c.resource_id == resource_id)))
            grantees = ([TENANT] if tenant else []) + names
            if grantees:
                c.execute(sh.insert(), [{"tenant": who.tenant, "kind": kind, "resource_id": resource_id,
                                         "grantee": g, "granted_by": who.user, "granted_at": now} for g in grantees])
        return Sharing(tenant=bool(tenant), users=tuple(names))

    def forget(self, conn, who: Principal, kind: str, resource_id: str) -> None:
        sh = s.shares
        conn.execute(delete(sh).where(and_(sh.c.tenant == who.tenant, sh.c.kind == kind,
                                           sh.c.resource_id == resource_id)))

    def _tenant_of(self, user: str) -> str | None:
        """The tenant the config puts a user in; None when identity decides (trusted provider, no map)."""
        mapped = dict(self.config.tenant_map).get(user)
        if mapped:
            return mapped
        return self.config.default_tenant if self.config.tenant_map else None


# Clauses and statements with bind parameters :tenant and :user (the reader), built once by each service:
# constructing SQLAlchemy statements per call cost more than running them.
_sh = s.shares


def _shared(kind: str, id_col):
    return exists().where(and_(_sh.c.tenant == bindparam("tenant"), _sh.c.kind == kind, _sh.c.resource_id == id_col,
                               _sh.c.grantee.in_([TENANT, bindparam("user")])))


def readable(kind: str, id_col, owner_col):
    """WHERE: rows the reader authored, or that are shared with them or their whole tenant."""
    return or_(owner_col == bindparam("user"), _shared(kind, id_col))


def readable_artifact(a):
    """WHERE for artifacts (`a`: the artifacts table or an alias whose `owner` is the author): also readable
    when the conversation that made them is shared with the reader."""
    return or_(readable("artifact", a.c.id, a.c.owner),
               and_(a.c.conversation_id.is_not(None), _shared("conversation", a.c.conversation_id)))

_CAN_READ = select(1).where(and_(
    _sh.c.tenant == bindparam("tenant"), _sh.c.grantee.in_([TENANT, bindparam("user")]),
    or_(and_(_sh.c.kind == "artifact", _sh.c.resource_id == bindparam("artifact")),
        and_(_sh.c.kind == "conversation", _sh.c.resource_id == bindparam("conversation"))))).limit(1)
_OF = select(_sh.c.resource_id, _sh.c.grantee).where(and_(
    _sh.c.tenant == bindparam("tenant"), _sh.c.kind == bindparam("kind"),
    _sh.c.resource_id.in_(bindparam("ids", expanding=True))))
