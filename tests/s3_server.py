"""A real S3 API on loopback (moto's server), and a TCP proxy in front of it that can cut an upload
part-way: the tests' and benchmarks' way to an S3 that fails mid-request."""

from __future__ import annotations

import logging
import socket
import threading
from contextlib import contextmanager

CREDS = {"key": "testing", "secret": "testing"}


class MotoS3:
    """moto's ThreadedMotoServer. Its buckets live in this process, so stop() then start() on the same
    port is an outage that the data survives, like a real S3 endpoint that went away and came back."""

    def __init__(self) -> None:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self.port = 0
        self.server = None

    def start(self) -> "MotoS3":
        from moto.server import ThreadedMotoServer

        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()
        self.port = self.server.get_host_and_port()[1]
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def options(self, endpoint: str | None = None) -> dict:
        """fsspec options for PennyConfig.artifact_store_options."""
        return {**CREDS, "client_kwargs": {"endpoint_url": endpoint or self.url, "region_name": "us-east-1"}}

    def make_bucket(self, name: str) -> None:
        import s3fs

        fs = s3fs.S3FileSystem(skip_instance_cache=True, **self.options())
        fs.call_s3("create_bucket", Bucket=name)


@contextmanager
def s3_with_bucket(bucket: str):
    """A running MotoS3 with one bucket, stopped afterwards."""
    server = MotoS3().start()
    try:
        server.make_bucket(bucket)
        yield server
    finally:
        server.stop()


class CuttingProxy:
    """Forwards TCP to `target_port`. After cut_after(n), the next request that sends more than n bytes
    is forwarded for its first n bytes only, then both sides are closed (an upload dies mid-way)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self._limit: int | None = None
        self.cuts = 0
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self.port = self._sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cut_after(self, nbytes: int | None) -> None:
        self._limit = nbytes

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            threading.Thread(target=self._pipe, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, False), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, upload: bool) -> None:
        sent = 0
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                limit = self._limit if upload else None
                if limit is not None and sent + len(data) > limit:
                    dst.sendall(data[: max(0, limit - sent)])
                    self.cuts += 1
                    break
                dst.sendall(data)
                sent += len(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()

    def close(self) -> None:
        self._sock.close()
