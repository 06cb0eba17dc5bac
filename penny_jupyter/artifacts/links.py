"""Signed download links that expire, and stop working when what they name is no longer shared.

A link is `penny/files/<token>`: a JWT (signing.py) naming the tenant, artifact, version, format and
the person who made it. Only someone the sharing rule lets publish the artifact makes one (its author, or
an admin of the tenant; never a viewer), and every time the link is opened that is checked again, as
its maker, against the artifact's sharing now: unsharing the artifact (or its conversation), or deleting
the conversation, makes every link others made for it answer 404, for good (sharing it again later does
not bring a link back: only the shares that stood when the link was made count). The author's own
links work until they expire. A link pins the version it was made for, so it always gives the same file.

On S3 the rendered file is uploaded once, when the link is made; opening the link checks it as above
and redirects to a presigned URL that lives a minute, so the bytes never pass through Jupyter.
"""

from __future__ import annotations

import datetime as dt
import math
import secrets
import time
from typing import Any

from ..errors import BadRequest, Forbidden, NotFound
from ..sharing import PUBLISH
from ..signing import LINK, Signer
from ..storage.database import utcnow
from ..tenancy import Principal
from .blobs import BlobStore
from .exports import Export, check, export

FILES_PATH = "penny/files/"  # under the server's base_url
REDIRECT_TTL = 60  # seconds a presigned S3 URL handed out by an opened link lives


class LinkService:
    def __init__(self, artifacts, blobs: BlobStore, signer: Signer, config) -> None:
        self.artifacts = artifacts
        self.blobs = blobs
        self.signer = signer
        self.config = config

    def create(self, who: Principal, artifact_id: str, fmt: str, version: int | None = None,
               expires_in: int | None = None) -> dict[str, Any]:
        """A link to something the caller may publish. Returns {url, expiresAt, format, version, storage};
        `url` is a path under the server's base_url."""
        ttl = int(expires_in if expires_in is not None else self.config.link_ttl)
        if not 1 <= ttl <= self.config.link_max_ttl:
            raise BadRequest(f"expiresIn must be between 1 and {self.config.link_max_ttl} seconds, got {ttl}")
        art = self.artifacts.get_to(who, PUBLISH, "make download links for", artifact_id, version)
        check(art, fmt)  # refuse now what the link could never serve
        # Rounded up: a 1-second link truncated to the second could be dead before its first use.
        expires = dt.datetime.fromtimestamp(math.ceil(time.time()) + ttl, dt.timezone.utc)
        claims = {"t": who.tenant, "a": art["id"], "v": art["version"], "f": fmt, "u": who.user,
                  "r": sorted(who.roles), "at": utcnow()}
        if not self.blobs.is_local:
            rendered = export(art, fmt)
            claims["k"] = f"exports/{who.tenant}/{art['id']}/v{art['version']}-{secrets.token_hex(8)}/{_safe(rendered)}"
            self.blobs.put(claims["k"], rendered.body, rendered.media_type, rendered.disposition)
        token = self.signer.issue(claims, LINK, ttl)
        return {"format": fmt, "version": art["version"], "expiresAt": expires.isoformat().replace("+00:00", "Z"),
                "url": FILES_PATH + token, "storage": "local" if self.blobs.is_local else "s3"}

    def open(self, token: str) -> Export | str:
        """The file a link names (or, on S3, a short-lived presigned URL to it); Forbidden (link_invalid /
        link_expired) for a token that is not a genuine live link, NotFound (link_revoked) for one whose
        artifact is no longer shared with its maker, or whose maker may no longer publish it."""
        claims = self.signer.verify(token, LINK)
        try:
            maker = Principal(user=str(claims["u"]), tenant=claims["t"], roles=frozenset(claims["r"]))
            art = self.artifacts.get_to(maker, PUBLISH, "publish", claims["a"], int(claims["v"]), str(claims["at"]))
        except (NotFound, Forbidden):
            raise NotFound("this link no longer works: the artifact it names was unshared or deleted. Ask the "
                           "person who sent it for a new one", code="link_revoked") from None
        except (KeyError, TypeError, ValueError):  # a link from before links named their maker
            raise Forbidden("this link is not valid: it was made by an older Penny; make a new one with the "
                            "artifact's Link button", code="link_invalid") from None
        if "k" in claims:
            return self.blobs.sign(claims["k"], min(REDIRECT_TTL, max(1, int(claims["exp"] - time.time()))))
        return export(art, claims["f"])


def _safe(rendered: Export) -> str:
    return "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in rendered.filename)
