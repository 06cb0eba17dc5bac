"""Signed, expiring tokens: download links and the kernel's credential (JWT, HS256; checked by PyJWT).

One secret per data dir (a 0600 file made on first use, or `PennyConfig.signing_secret`), so the
server and the kernels it starts agree without being told. Each token names what it is for
(`aud`): a download link can never be replayed as a kernel credential, nor the other way round.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import os
import secrets
import time
from pathlib import Path
from typing import Any

from .errors import Forbidden

LINK = "penny-link"
KERNEL = "penny-kernel"
KERNEL_HEADER = "X-Penny-Token"  # how a kernel sends its credential to the server


class Signer:
    def __init__(self, secret: str | bytes) -> None:
        self._secret = secret.encode() if isinstance(secret, str) else secret

    @classmethod
    def for_config(cls, config) -> "Signer":
        return cls(config.signing_secret or _secret_file(config.data_path / "signing.key"))

    def issue(self, claims: dict[str, Any], audience: str, ttl: float | None = None) -> str:
        """A compact HS256 JWT. Made with the stdlib (RFC 7515 signing is three lines) because the server mints
        its kernels' credential while it starts, and importing PyJWT pulls in `cryptography` (~100 ms); every
        token is checked by PyJWT in verify()."""
        body = {**claims, "aud": audience, "iat": int(time.time())}
        if ttl is not None:
            body["exp"] = math.ceil(time.time() + ttl)  # rounded up: a token lives at least `ttl` seconds
        signing_input = f"{_b64(json.dumps(_HEADER).encode())}.{_b64(json.dumps(body).encode())}"
        signature = hmac.new(self._secret, signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{_b64(signature)}"

    def verify(self, token: str, audience: str) -> dict[str, Any]:
        """The claims, or Forbidden: `link_expired` when it was genuine but is too old, else `link_invalid`."""
        import jwt

        try:
            return jwt.decode(token, self._secret, algorithms=["HS256"], audience=audience,
                              options={"require": ["aud", "iat"]})
        except jwt.ExpiredSignatureError:
            raise Forbidden("this link has expired: make a new one with the artifact's Link button (or POST its links endpoint)",
                            code="link_expired") from None
        except jwt.PyJWTError:
            raise Forbidden("this link is not valid: it was changed or was not made by this server",
                            code="link_invalid") from None


_HEADER = {"alg": "HS256", "typ": "JWT"}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _secret_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(secrets.token_bytes(32))
    try:  # link() never replaces: when the server and a kernel race on first use, one key wins
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return path.read_bytes()
