"""penny.sql for a run whose warehouse is a database: the sandbox gets the rows, never the connection.

A tenant whose data lives in its own PostgreSQL (`tenant_sources = {"acme": {"warehouse": URL}}`) has no file
to bind into the sandbox, and the sandbox has no network and must never hold the URL or its password. So for
the life of one run the server listens on a Unix socket in that run's own work dir (`<workdir>/.penny/sql.sock`,
`/work/.penny/sql.sock` inside, named by PENNY_SQL_SOCKET), and a thread of the server answers each
`penny.sql(query, *params)` by running it AS THE CALLER, the way run_sql does (`tools/sql.run_query`: the
guard, a read-only transaction, the timeout, the row cap). The sandbox's uid is mapped to the server's, so
an owner-only socket is enough, and the work dir stays 0700.

Wire, one query per connection, one connection at a time: the sandbox sends a 4-byte big-endian length, then
JSON `{"sql": str, "params": [scalars]}` (at most MAX_REQUEST_BYTES); the server answers the same way with
`{"columns": [[name, type]...], "truncated": bool, "rows": [[cell...]...]}` (types as run_sql's, cells as
JSON: dates and times ISO strings, decimals numbers; rows past MAX_RESPONSE_BYTES are cut and the result
marked truncated) or `{"error": {"code", "message"}}` with the sentence run_sql would give. At most
MAX_QUERIES queries per run.

Threads: the tool's worker thread runs the sandbox inside `serve()`; the listener is a thread of its own.
Leaving `serve()` (the run ended, timed out or was cancelled) stops a query in flight with `interrupt` (the
caller's ToolContext.interrupt: a PostgreSQL cancel), waits for the thread and closes the socket; a cancel of
the whole call reaches a running query the same way, through the ToolContext.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import struct
import threading
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator

from ..errors import BadRequest, PennyError, RateLimited, SandboxUnavailable, TooLarge

MAX_REQUEST_BYTES = 256 * 1024  # a query is at most 20,000 characters (sqlguard), plus its values
MAX_RESPONSE_BYTES = 32 << 20  # as the query process's reply (sqlprocess.REPLY_BYTES): past it, rows are cut
MAX_QUERIES = 100  # per run: a loop of queries is a load on the company's database, not an analysis
POLL_SECONDS = 0.2  # how often the listener looks whether the run is over
STOP_SECONDS = 5.0  # how long leaving serve() waits for a query in flight to stop after its cancel
MAX_PATH_BYTES = 107  # sun_path holds 108 bytes with its NUL
_HEADER = struct.Struct(">I")

log = logging.getLogger("penny.sandbox")

# (query, values) -> sqlprocess.QueryResult, or a PennyError whose sentence goes back to the code
Answer = Callable[[str, list], Any]


class _HungUp(Exception):
    """The sandbox closed its end, or the run is over: nothing more to read or answer."""


class SqlChannel:
    """The server's side of penny.sql for ONE run: make one per run and pass it to `runner.run_code`."""

    def __init__(self, answer: Answer, *, interrupt: Callable[[], None] = lambda: None,
                 max_queries: int = MAX_QUERIES) -> None:
        self._answer = answer
        self._interrupt = interrupt
        self.max_queries = max_queries
        self.queries = 0  # asked so far, refused ones included
        self._stop = threading.Event()
        self._busy = False  # a query is running now: leaving serve() has to stop it

    @contextmanager
    def serve(self, path: str) -> Iterator[None]:
        """Listen at `path` (a fresh file in the run's work dir) while the block runs; the socket and its
        thread are gone when it is left, however it is left."""
        if len(os.fsencode(path)) > MAX_PATH_BYTES:
            raise SandboxUnavailable(f"run_python cannot open its SQL channel: the run's work dir ({len(path)} "
                                     "characters) is too long a path for a socket; an admin can point TMPDIR at a "
                                     "shorter directory")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(path)
            os.chmod(path, 0o600)  # the sandbox's uid is mapped to ours: the owner is all that may connect
            listener.listen(1)
            listener.settimeout(POLL_SECONDS)
            thread = threading.Thread(target=self._listen, args=(listener,), name="penny-sql-channel", daemon=True)
            thread.start()
            try:
                yield
            finally:
                self._stop.set()
                self._wait(thread)
        finally:
            listener.close()

    def _wait(self, thread: threading.Thread) -> None:
        deadline = time.monotonic() + STOP_SECONDS
        while thread.is_alive() and time.monotonic() < deadline:
            if self._busy:  # interrupted again each round: a query may have started just after the last one
                self._interrupt()
            thread.join(POLL_SECONDS)
        if thread.is_alive():  # the database ignored the cancel; its statement_timeout ends the query
            log.warning("penny.sql: a query was still running %.0f s after its run ended", STOP_SECONDS)

    # ------------------------------------------------------------------ the listener thread
    def _listen(self, listener: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = listener.accept()
            except socket.timeout:
                continue
            except OSError:  # the socket was closed under us: the run is over
                return
            with conn:
                conn.settimeout(POLL_SECONDS)
                try:
                    self._one(conn)
                except (_HungUp, OSError):  # the code went away mid-query: nobody to answer
                    pass
                except Exception:  # a bug of ours: the next query still gets an answer
                    log.exception("penny.sql: the channel could not answer a request")

    def _one(self, conn: socket.socket) -> None:
        (size,) = _HEADER.unpack(self._recv(conn, _HEADER.size))
        if size > MAX_REQUEST_BYTES:  # not read: the connection closes after the answer
            return self._send(conn, _error(TooLarge(f"penny.sql got a request of {size:,} bytes, more than the "
                                                    f"{MAX_REQUEST_BYTES:,} allowed; send a shorter query")))
        try:
            request = json.loads(self._recv(conn, size))
            text, values = request["sql"], request.get("params") or []
            if not isinstance(text, str) or not isinstance(values, list) or not all(
                    v is None or isinstance(v, (str, int, float, bool)) for v in values):
                raise ValueError
        except (ValueError, TypeError, KeyError, RecursionError):
            return self._send(conn, _error(BadRequest("penny.sql takes a query (a string) and values (numbers, "
                                                      "strings, dates or None)")))
        self.queries += 1
        if self.queries > self.max_queries:
            return self._send(conn, _error(RateLimited(f"this run already sent {self.max_queries} queries, the most "
                                                       "one run may; get what you need in fewer, larger queries")))
        self._busy = True
        try:
            reply = _encode(self._answer(text, values))
        except PennyError as e:
            reply = _error(e)
        except Exception:  # a bug of ours: the sandbox gets a sentence, the log gets the traceback
            log.exception("penny.sql failed")
            reply = _error(PennyError("penny.sql failed unexpectedly; the error was logged on the server",
                                      code="sql_crashed"))
        finally:
            self._busy = False
        self._send(conn, reply)

    def _recv(self, conn: socket.socket, n: int) -> bytes:
        chunks, got = [], 0
        while got < n:
            try:
                chunk = conn.recv(min(n - got, 1 << 16))
            except socket.timeout:
                if self._stop.is_set():
                    raise _HungUp() from None
                continue
            if not chunk:
                raise _HungUp()
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)

    def _send(self, conn: socket.socket, body: bytes) -> None:
        conn.settimeout(STOP_SECONDS)  # a sandbox that stops reading does not hold the thread past its run
        conn.sendall(_HEADER.pack(len(body)) + body)


def _error(e: PennyError) -> bytes:
    return json.dumps({"error": {"code": e.code, "message": e.message}}).encode()


def _encode(result) -> bytes:
    """The result as JSON, rows one by one so the reply stays under MAX_RESPONSE_BYTES."""
    import orjson

    truncated, rows, size = bool(result.truncated), [], 0
    room = MAX_RESPONSE_BYTES - (64 << 10)  # for the columns and the brackets
    for row in result.rows:
        # cells are JSON-ready already (pgwarehouse._cell); a type it does not know (uuid, interval) as its text
        raw = orjson.dumps(row, default=str)
        size += len(raw) + 1
        if size > room:
            truncated = True
            break
        rows.append(raw)
    head = orjson.dumps({"columns": [[str(n), str(t)] for n, t in result.columns], "truncated": truncated})
    return head[:-1] + b',"rows":[' + b",".join(rows) + b"]}"


__all__ = ["MAX_QUERIES", "MAX_REQUEST_BYTES", "MAX_RESPONSE_BYTES", "SqlChannel"]
