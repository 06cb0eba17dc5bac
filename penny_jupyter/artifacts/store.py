"""ArtifactStore: artifacts persisted per tenant, fetched by id (latest version or a given one).

Specs are stored inline in the app database for now; large payloads in an fsspec store come later.
Artifacts are visible to every user of their tenant (a shared notebook shows them to colleagues)
and to nobody else: another tenant's id is NotFound, word for word as an unknown id.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, func, select

from ..chat.conversations import new_id
from ..errors import NotFound
from ..storage import Database
from ..storage import schema as s
from ..storage.database import utcnow
from ..tenancy import Principal
from ..tools.registry import ArtifactDraft


class ArtifactStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def save(self, who: Principal, draft: ArtifactDraft, conversation_id: str | None = None) -> dict[str, Any]:
        art = {"id": new_id("art"), "tenant": who.tenant, "type": draft.type, "title": draft.title, "version": 1,
               "spec": draft.spec, "createdAt": utcnow(), "source": draft.source, "conversationId": conversation_id}
        with self.db.begin() as c:
            c.execute(s.artifacts.insert().values(
                tenant=who.tenant, id=art["id"], version=1, type=draft.type, title=draft.title, spec=draft.spec,
                source=draft.source, conversation_id=conversation_id, owner=who.user, created_at=art["createdAt"]))
        return art

    def add_version(self, who: Principal, artifact_id: str, draft: ArtifactDraft) -> dict[str, Any]:
        latest = self.get(who, artifact_id)
        art = {**latest, "version": latest["version"] + 1, "title": draft.title, "spec": draft.spec,
               "source": draft.source or latest["source"], "createdAt": utcnow()}
        with self.db.begin() as c:
            c.execute(s.artifacts.insert().values(
                tenant=who.tenant, id=artifact_id, version=art["version"], type=art["type"], title=art["title"],
                spec=art["spec"], source=art["source"], conversation_id=art["conversationId"], owner=who.user,
                created_at=art["createdAt"]))
        return art

    def versions(self, who: Principal, artifact_id: str) -> list[dict[str, Any]]:
        self.get(who, artifact_id)
        a = s.artifacts
        with self.db.connect() as c:
            rows = c.execute(select(a.c.version, a.c.title, a.c.created_at, a.c.owner)
                             .where(and_(a.c.tenant == who.tenant, a.c.id == artifact_id))
                             .order_by(a.c.version)).all()
        return [{"version": r.version, "title": r.title, "createdAt": r.created_at, "author": r.owner} for r in rows]

    def get(self, who: Principal, artifact_id: str, version: int | None = None) -> dict[str, Any]:
        a = s.artifacts
        q = select(a).where(and_(a.c.tenant == who.tenant, a.c.id == artifact_id))
        q = q.where(a.c.version == version) if version else q.order_by(a.c.version.desc()).limit(1)
        with self.db.connect() as c:
            row = c.execute(q).first()
        if row is None:
            raise NotFound(f"artifact {artifact_id!r} not found")
        return self._wire(row)

    def list(self, who: Principal, conversation_id: str | None = None) -> list[dict[str, Any]]:
        a = s.artifacts
        latest = (select(a.c.id, func.max(a.c.version).label("v")).where(a.c.tenant == who.tenant)
                  .group_by(a.c.id).subquery())
        q = select(a).join(latest, and_(a.c.id == latest.c.id, a.c.version == latest.c.v)).where(a.c.tenant == who.tenant)
        if conversation_id:
            q = q.where(a.c.conversation_id == conversation_id)
        with self.db.connect() as c:
            rows = c.execute(q.order_by(a.c.created_at)).all()
        return [self._wire(r) for r in rows]

    @staticmethod
    def _wire(row) -> dict[str, Any]:
        return {"id": row.id, "tenant": row.tenant, "type": row.type, "title": row.title, "version": row.version,
                "spec": row.spec, "createdAt": row.created_at, "source": row.source,
                "conversationId": row.conversation_id}
