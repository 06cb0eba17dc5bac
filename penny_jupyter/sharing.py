"""Sharing: a conversation or an artifact is private to its author until shared with the tenant or
with named colleagues of the same tenant. Roles decide who may share (PennyConfig.share_roles).

What a reader may do with what they can see is one rule, `require()`, that every service calls:
- CHANGE (messages, rename, delete, cancel, tools in a conversation): its author only;
- PUBLISH (new versions of an artifact, download links that work without a login): its author or an
  admin of the tenant, never a viewer. A link is checked again whenever it is opened (artifacts/links.py);
- SHARE (who else may read it): its author, with a role in `share_roles`.

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

CHANGE, PUBLISH, SHARE = "change", "publish", "share"
EVER = "9999"  # as a `granted_by` time: every share counts, whenever it was made (ISO times sort below it)


def permits(who: Principal, action: str, author: str, share_roles: Iterable[str] = ("member", "admin")) -> bool:
    """May `who` do `action` to a conversation or artifact by `author` that they can already read?"""
    if action == CHANGE:
        return who.user == author
    if action == PUBLISH:
        return "viewer" not in who.roles and (who.user == author or who.is_admin)
    if action == SHARE:
        return who.user == author and bool(who.roles & set(share_roles))
    raise ValueError(f"unknown action {action!r}")


def require(who: Principal, action: str, author: str, kind: str, verb: str,
            share_roles: Iterable[str] = ("member", "admin")) -> None:
    """Forbidden, with a sentence that says who may and what to do instead, unless permits()."""
    if permits(who, action, author, share_roles):
        return
    if action == SHARE and who.user == author:
        raise Forbidden(f"your role ({', '.join(sorted(who.roles))}) may not share; ask an admin of your "
                        "tenant for the member role")
    if action == SHARE:
        raise Forbidden(f"only the author ({author}) can change who this {kind} is shared with")
    if who.user == author:  # a viewer's own work: they may read it, not publish it
        raise Forbidden(f"your role ({', '.join(sorted(who.roles))}) may read but not {verb}; ask an admin of "
                        "your tenant for the member role", code="read_only")
    who_may = "they" if action == CHANGE else "they (or an admin of your tenant)"
    follow_up = ("Start a conversation of your own to ask follow-ups" if kind == "conversation" else
                 "Ask them, or make your own copy by asking the same question in a conversation of yours")
    raise Forbidden(f"{author} shared this {kind} with you to read; only {who_may} can {verb} it. {follow_up}",
                    code="read_only")


@dataclass(frozen=True)
class Sharing:
    tenant: bool = False
    users: tuple[str, ...] = ()

    def to_wire(self) -> dict[str, Any]:
        return {"tenant": self.tenant, "users": list(self.users)}


def needed(service: "SharingService | None") -> "SharingService":
    """The service, or Forbidden when this Penny was built without sharing (a store of one person)."""
    if service is None:
        raise Forbidden("sharing is not set up on this Penny")
    return service


class SharingService:
    def __init__(self, db: Database, config) -> None:
        self.db = db
        self.config = config

    def permits(self, who: Principal, action: str, author: str) -> bool:
        return permits(who, action, author, self.config.share_roles)

    def require(self, who: Principal, action: str, author: str, kind: str, verb: str) -> None:
        require(who, action, author, kind, verb, self.config.share_roles)

    def can_read_artifact(self, conn, who: Principal, artifact_id: str, conversation_id: str | None,
                          granted_by: str = EVER) -> bool:
        """For one artifact the caller did not author: is it, or the conversation that made it, shared with them
        (by a share made no later than `granted_by`, an ISO time: a link made before an unshare stays dead
        when the artifact is shared again)?"""
        return conn.execute(_CAN_READ, {"tenant": who.tenant, "user": who.user, "artifact": artifact_id,
                                        "conversation": conversation_id or "", "before": granted_by}).first() is not None

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
        self.require(who, SHARE, owner, kind, "share")
        names = sorted({u.strip() for u in users if u and u.strip()} - {who.user})
        if len(names) > MAX_USERS:
            raise BadRequest(f"share with at most {MAX_USERS} named users, or with the whole tenant")
        for name in names:
            if len(name) > 256 or name == TENANT:
                raise BadRequest(f"{name[:40]!r} is not a username")
            if self._tenant_of(name) not in (None, who.tenant):
                raise BadRequest(f"{name!r} is not in your tenant; shares never leave the tenant")
        now, sh = utcnow(), s.shares
        grantees = set(([TENANT] if tenant else []) + names)
        this = and_(sh.c.tenant == who.tenant, sh.c.kind == kind, sh.c.resource_id == resource_id)
        with self.db.begin() as c:
            # Only what changed: a grant that stays keeps its time, which the links made under it are checked against.
            had = set(c.execute(select(sh.c.grantee).where(this)).scalars())
            if had - grantees:
                c.execute(delete(sh).where(and_(this, sh.c.grantee.in_(had - grantees))))
            if grantees - had:
                c.execute(sh.insert(), [{"tenant": who.tenant, "kind": kind, "resource_id": resource_id,
                                         "grantee": g, "granted_by": who.user, "granted_at": now}
                                        for g in sorted(grantees - had)])
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
    _sh.c.granted_at <= bindparam("before"),
    or_(and_(_sh.c.kind == "artifact", _sh.c.resource_id == bindparam("artifact")),
        and_(_sh.c.kind == "conversation", _sh.c.resource_id == bindparam("conversation"))))).limit(1)
_OF = select(_sh.c.resource_id, _sh.c.grantee).where(and_(
    _sh.c.tenant == bindparam("tenant"), _sh.c.kind == bindparam("kind"),
    _sh.c.resource_id.in_(bindparam("ids", expanding=True))))
