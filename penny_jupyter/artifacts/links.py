"""Signed download links that expire.

On S3 the rendered file is uploaded once per link and the link is an S3 presigned URL: the bytes never
pass through Jupyter. On local storage the link is `penny/files/<token>`, a JWT (signing.py) naming the
tenant, artifact, version and format, served by the extension to whoever holds it until it expires.
A link pins the version it was made for, so it always gives the same file.
"""

from __future__ import annotations

import datetime as dt
import secrets
import time
from typing import Any

from ..errors import BadRequest
from ..signing import LINK, Signer
from ..tenancy import Principal
from .blobs import BlobStore
from .exports import Export, check, export

FILES_PATH = "penny/files/"  # under the server's base_url


class LinkService:
    def __init__(self, artifacts, blobs: BlobStore, signer: Signer, config) -> None:
        self.artifacts = artifacts
        self.blobs = blobs
        self.signer = signer
        self.config = config

    def create(self, who: Principal, artifact_id: str, fmt: str, version: int | None = None,
               expires_in: int | None = None) -> dict[str, Any]:
        """A link for something the caller can read. Returns {url, expiresAt, format, version}; `url` is a
        path under the server's base_url (local) or an absolute https URL (S3)."""
        ttl = int(expires_in if expires_in is not None else self.config.link_ttl)
        if not 1 <= ttl <= self.config.link_max_ttl:
            raise BadRequest(f"expiresIn must be between 1 and {self.config.link_max_ttl} seconds, got {ttl}")
        art = self.artifacts.get(who, artifact_id, version)
        check(art, fmt)  # refuse now what the link could never serve
        expires = dt.datetime.fromtimestamp(int(time.time()) + ttl, dt.timezone.utc)
        out = {"format": fmt, "version": art["version"], "expiresAt": expires.isoformat().replace("+00:00", "Z")}
        if not self.blobs.is_local:
            rendered = export(art, fmt)
            key = f"exports/{who.tenant}/{art['id']}/v{art['version']}-{secrets.token_hex(8)}/{_safe(rendered)}"
            self.blobs.put(key, rendered.body, rendered.media_type, rendered.disposition)
            return {**out, "url": self.blobs.sign(key, ttl), "storage": "s3"}
        token = self.signer.issue({"t": who.tenant, "a": art["id"], "v": art["version"], "f": fmt}, LINK, ttl)
        return {**out, "url": FILES_PATH + token, "storage": "local"}

    def open(self, token: str) -> Export:
        """The file a local link names; Forbidden (link_invalid / link_expired) for anything else."""
        claims = self.signer.verify(token, LINK)
        art = self.artifacts.get_for_link(claims["t"], claims["a"], int(claims["v"]))
        return export(art, claims["f"])


def _safe(rendered: Export) -> str:
    return "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in rendered.filename)
