"""BlobStore: artifact payloads too large for the app database, in any fsspec filesystem.

A local folder under the data dir by default; `s3://bucket/prefix` through s3fs for S3 or MinIO.
Every key is written once and never overwritten (a new version gets a new key), so a failed write
can only lose the write itself, never an earlier version. Writes are atomic on both backends:
locally a temp file renamed into place, on S3 the object appears only when its upload completed.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from ..errors import NotFound, PennyError, Unavailable

# Connection settings that make an S3 outage a prompt error instead of minutes of retries.
_S3_DEFAULTS = {"config_kwargs": {"connect_timeout": 5, "read_timeout": 30, "retries": {"max_attempts": 2},
                                  "signature_version": "s3v4"}}


class BlobStore:
    def __init__(self, url: str, options: dict[str, Any] | None = None) -> None:
        import fsspec

        self.url = url.rstrip("/")
        self.is_local = "://" not in url or url.startswith("file://")
        opts = dict(options or {})
        if url.startswith(("s3://", "s3a://")):
            for key, value in _S3_DEFAULTS.items():
                opts[key] = {**value, **opts.get(key, {})} if isinstance(value, dict) else opts.get(key, value)
            opts.setdefault("skip_instance_cache", True)
        if self.is_local:
            Path(url.removeprefix("file://")).mkdir(parents=True, exist_ok=True)
        self.fs, self.root = fsspec.core.url_to_fs(url, **opts)
        if hasattr(self.fs, "retries"):
            self.fs.retries = 2  # s3fs's own retry loop (5 by default) on top of botocore's: an outage took 11 s

    def _path(self, key: str) -> str:
        if ".." in key.split("/") or key.startswith("/"):
            raise ValueError(f"bad blob key {key!r}")
        return f"{self.root.rstrip('/')}/{key}"

    def put(self, key: str, data: bytes, content_type: str = "application/json",
            disposition: str | None = None) -> None:
        path = self._path(key)
        try:
            if self.is_local:
                self._put_local(path, data)
            else:
                extra = {"ContentType": content_type}
                if disposition:
                    extra["ContentDisposition"] = disposition
                self.fs.pipe_file(path, data, **extra)
        except PennyError:
            raise
        except Exception as e:
            raise Unavailable(f"could not write to the artifact store at {self.url}: {_reason(e)}. "
                              "Nothing was changed: earlier versions are intact; try again when the store is back",
                              code="store_unavailable") from None

    @staticmethod
    def _put_local(path: str, data: bytes) -> None:
        folder = os.path.dirname(path)
        os.makedirs(folder, exist_ok=True)
        tmp = os.path.join(folder, f".{os.path.basename(path)}.{secrets.token_hex(4)}.part")
        try:
            with open(tmp, "wb") as f:
                f.write(data)
            # Atomic: readers see no file or the whole file. Not fsynced, like the app database
            # (SQLite WAL, synchronous=NORMAL): a power cut may lose the newest payload, which then
            # reads as payload_missing/payload_corrupt (its SHA-256 is checked), never as wrong numbers.
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def get(self, key: str) -> bytes:
        return self.get_many([key])[key]

    def get_many(self, keys: list[str]) -> dict[str, bytes]:
        """Fetch several payloads at once (s3fs fetches them concurrently)."""
        if not keys:
            return {}
        paths = {self._path(k): k for k in keys}
        try:
            got = self.fs.cat(list(paths), on_error="raise")
            return {paths[p]: v for p, v in got.items()}
        except FileNotFoundError:
            raise NotFound("the artifact's stored payload is missing from the artifact store",
                           code="payload_missing") from None
        except Exception as e:
            raise Unavailable(f"could not read from the artifact store at {self.url}: {_reason(e)}; "
                              "try again when the store is back", code="store_unavailable") from None

    def delete(self, key: str) -> None:
        """Best effort (an orphaned payload costs space, never correctness)."""
        try:
            self.fs.rm_file(self._path(key))
        except Exception:
            pass

    def sign(self, key: str, ttl: int) -> str | None:
        """A presigned GET URL valid for `ttl` seconds, on stores that can make one (S3); else None."""
        if self.is_local or not hasattr(self.fs, "sign"):
            return None
        try:
            return self.fs.sign(self._path(key), expiration=int(ttl))
        except Exception as e:
            raise Unavailable(f"could not sign a link at {self.url}: {_reason(e)}",
                              code="store_unavailable") from None


def _reason(e: BaseException) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return f"{type(e).__name__}{': ' + text[:200] if text else ''}"
