"""SQL that a person wrote runs in a child process that the server can kill.

DuckDB's `interrupt()` is only looked at between chunks of work: one scalar call such as
`lpad('x', 2000000000, 'a')` runs to its end (53 s here) whatever the timer says, and the memory it
takes is not counted by `memory_limit`. So `run_sql` does not run in the server: each query goes to a
child (`python -m penny_jupyter.data.sqlprocess <warehouse>`) that holds the tenant's file read-only
on the same locked connection as the server's (`lockdown.open_locked`), and the parent, waiting
for the reply, kills the child with SIGKILL when the query outlives its timeout, when the child's
resident memory passes the warehouse's limit (plus a margin for Python and DuckDB themselves), or
when the call is cancelled. A killed child takes all of its memory with it; the server's own
never grows. Children are kept for reuse (a few per tenant, while they are idle for under
IDLE_SECONDS) and are started afresh after a kill.

The child gets no environment but PATH and HOME: it never holds the server's secrets. Its replies
are capped at REPLY_BYTES (rows past the cap are dropped and the result marked truncated), and
server paths are blanked out of what it sends back (cells and error messages alike).

Wire between the two: a 4-byte big-endian length, then orjson. Parent -> child `{"sql", "limit"}`;
child -> parent first `{"ready": <database name>}`, then per query `{"columns": [[name, type]...],
"rows": [[...]...], "truncated"}` or `{"error": <kind>, "message"}`. Both sides live in this one
module (about 400 lines) so that the wire between them is written once.
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import os
import re
import select
import signal
import struct
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPLY_BYTES = 32 << 20  # a result larger than this (as JSON) is cut, and says so
IDLE_SECONDS = 300.0  # a child idle longer than this is stopped
IDLE_PER_TENANT = 2  # children kept waiting per tenant
MEMORY_MARGIN = 256 << 20  # what Python and DuckDB themselves take, over memory_limit
POLL_SECONDS = 0.05  # how often the parent looks at a running child's memory
START_SECONDS = 30.0  # a child that is not ready by then is not going to be
_HEADER = struct.Struct(">I")


class QueryFailed(Exception):
    """How a query ended when it did not give rows. `kind` is one of: timeout, memory, cancelled,
    parse, statements, refused, sql, oom, crashed, unavailable. Tools turn it into a sentence."""

    def __init__(self, kind: str, message: str = "") -> None:
        super().__init__(message or kind)
        self.kind = kind
        self.message = message


@dataclass
class QueryResult:
    columns: list[tuple[str, str]]  # name, DuckDB type
    rows: list[list[Any]]  # JSON-ready cells
    truncated: bool  # more rows than `limit`, or more bytes than REPLY_BYTES


# ---------------------------------------------------------------------- parent side


class SqlProcess:
    """One child on one warehouse file; used by one thread at a time (the pool hands it out)."""

    def __init__(self, path: Path, *, threads: int, memory_limit: str) -> None:
        self.path = path
        self.memory_limit = memory_limit
        self.max_rss = parse_bytes(memory_limit) + MEMORY_MARGIN
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/"),
               "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "penny_jupyter.data.sqlprocess", str(path), str(max(1, int(threads))),
             memory_limit], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
            close_fds=True, start_new_session=True)
        self.idle_since = time.monotonic()
        self._killed_for: str | None = None
        ready = self._read(time.monotonic() + START_SECONDS, watch_memory=False)
        if "ready" not in ready:
            self.kill("unavailable")
            raise QueryFailed("unavailable", str(ready.get("message") or "the query process did not start"))
        self.catalog: str = ready["ready"]

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None and self._killed_for is None

    def query(self, sql: str, limit: int, timeout: float) -> QueryResult:
        """Run one checked query; QueryFailed for every way it does not give rows."""
        import orjson

        self._write(orjson.dumps({"sql": sql, "limit": int(limit)}))
        reply = self._read(time.monotonic() + timeout, watch_memory=True)
        if "error" in reply:
            raise QueryFailed(str(reply["error"]), str(reply.get("message") or ""))
        self.idle_since = time.monotonic()
        return QueryResult(columns=[(str(n), str(t)) for n, t in reply["columns"]], rows=reply["rows"],
                           truncated=bool(reply["truncated"]))

    def interrupt(self) -> None:
        """Stop the running query now (from any thread: the executor's timeout, a cancel)."""
        self.kill("cancelled")

    def kill(self, why: str) -> None:
        if self._killed_for is None:
            self._killed_for = why
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def close(self) -> None:
        self.kill("closed")
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:  # a zombie the OS will reap; nothing more we can do
            pass
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except OSError:
                pass

    def rss(self) -> int:
        try:
            with open(f"/proc/{self.proc.pid}/statm") as f:
                return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            return 0

    def _write(self, data: bytes) -> None:
        try:
            self.proc.stdin.write(_HEADER.pack(len(data)) + data)
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            raise self._ended() from None

    def _read(self, deadline: float, *, watch_memory: bool) -> dict[str, Any]:
        import orjson

        fd = self.proc.stdout.fileno()
        head = self._read_exactly(fd, _HEADER.size, deadline, watch_memory)
        (size,) = _HEADER.unpack(head)
        if size > REPLY_BYTES + (1 << 20):
            self.kill("crashed")
            raise QueryFailed("crashed", "the query process sent more than it may")
        return orjson.loads(self._read_exactly(fd, size, deadline, watch_memory))

    def _read_exactly(self, fd: int, n: int, deadline: float, watch_memory: bool) -> bytes:
        chunks, got = [], 0
        while got < n:
            left = deadline - time.monotonic()
            if left <= 0:
                self.kill("timeout")
                raise self._ended()
            ready, _, _ = select.select([fd], [], [], min(POLL_SECONDS, left))
            if not ready:
                if watch_memory and self.rss() > self.max_rss:
                    self.kill("memory")
                    raise self._ended()
                if self._killed_for is not None:
                    raise self._ended()
                continue
            chunk = os.read(fd, min(n - got, 1 << 20))
            if not chunk:  # the child is gone: killed by us, or it died
                raise self._ended()
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)

    def _ended(self) -> QueryFailed:
        if self._killed_for is None:
            self.kill("crashed")
        why = self._killed_for
        if why == "memory":
            return QueryFailed("memory", f"more than {self.memory_limit} of memory")
        if why in ("timeout", "cancelled", "unavailable"):
            return QueryFailed(why)
        return QueryFailed("crashed", "the query process ended unexpectedly")


class SqlProcessPool:
    """Children per warehouse file: handed out one caller at a time, taken back when they are fine."""

    def __init__(self, *, threads: int, memory_limit: str) -> None:
        self.threads = threads
        self.memory_limit = memory_limit
        self._idle: dict[Path, list[SqlProcess]] = {}
        self._all: set[SqlProcess] = set()
        self._lock = threading.Lock()

    def checkout(self, path: Path) -> SqlProcess:
        with self._lock:
            self._reap()
            idle = self._idle.get(path) or []
            while idle:
                proc = idle.pop()
                if proc.alive:
                    return proc
                self._all.discard(proc)
        proc = SqlProcess(path, threads=self.threads, memory_limit=self.memory_limit)
        with self._lock:
            self._all.add(proc)
        return proc

    def checkin(self, proc: SqlProcess) -> None:
        with self._lock:
            idle = self._idle.setdefault(proc.path, [])
            if proc.alive and len(idle) < IDLE_PER_TENANT:
                idle.append(proc)
                return
            self._all.discard(proc)
        proc.close()

    def close(self) -> None:
        with self._lock:
            procs, self._all, self._idle = list(self._all), set(), {}
        for proc in procs:
            proc.close()

    def _reap(self) -> None:
        now = time.monotonic()
        for path, idle in list(self._idle.items()):
            keep = [p for p in idle if p.alive and now - p.idle_since < IDLE_SECONDS]
            for p in set(idle) - set(keep):
                self._all.discard(p)
                p.close()
            self._idle[path] = keep


def parse_bytes(text: str) -> int:
    """DuckDB's memory_limit spelling ("1GB", "512MiB", "2 GB") in bytes."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(i?)B?\s*", str(text), re.I)
    if not m:
        raise ValueError(f"cannot read {text!r} as an amount of memory (e.g. 1GB, 512MB)")
    # DuckDB reads "GB" as 1000**3 and "GiB" as 1024**3; reading both as 1024**3 errs on the generous side
    return int(float(m.group(1)) * 1024 ** "BKMGT".index((m.group(2) or "B").upper()))


# ---------------------------------------------------------------------- child side


def _serve(path: str, threads: int, memory_limit: str) -> None:
    import orjson

    from .lockdown import open_locked

    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer

    def send(obj: dict[str, Any], raw_rows: list[bytes] | None = None) -> None:
        data = orjson.dumps(obj)
        if raw_rows is not None:  # rows encoded one by one (to cap the bytes), spliced in as an array
            data = data[:-1] + b',"rows":[' + b",".join(raw_rows) + b"]}"
        stdout.write(_HEADER.pack(len(data)) + data)
        stdout.flush()

    redact = _Redactor(path)
    try:
        conn = open_locked(Path(path), threads=threads, memory_limit=memory_limit)
        catalog = conn.execute("SELECT current_database()").fetchone()[0]
    except Exception as e:  # the file is gone, locked, not DuckDB...
        return send({"error": "unavailable", "message": redact(str(getattr(e, "message", e)))})
    send({"ready": catalog})
    while True:
        head = stdin.read(_HEADER.size)
        if len(head) < _HEADER.size:
            return  # the parent closed the pipe: done
        request = orjson.loads(stdin.read(_HEADER.unpack(head)[0]))
        kind, message, result = _run_one(conn, request["sql"], int(request["limit"]))
        if kind:
            send({"error": kind, "message": redact(message)})
            continue
        columns, rows, truncated = result
        try:  # all rows in one call; row by row only for what that cannot do (a cap, a path, a HUGEINT)
            whole = orjson.dumps(rows, default=_cell, option=orjson.OPT_NON_STR_KEYS)
        except orjson.JSONEncodeError:
            whole = None
        if whole is not None and len(whole) <= REPLY_BYTES and not any(n in whole for n in redact.needles):
            send({"columns": columns, "truncated": truncated}, [whole[1:-1]] if rows else [])
            continue
        raw, size = [], 0
        for row in rows:
            enc = _encode_row(row, redact)
            size += len(enc) + 1
            if size > REPLY_BYTES:
                truncated = True
                break
            raw.append(enc)
        send({"columns": columns, "truncated": truncated}, raw)


def _run_one(conn, sql: str, limit: int):
    import duckdb

    cur = conn.cursor()
    try:
        try:
            stmts = cur.extract_statements(sql)
        except duckdb.Error as e:
            return "parse", _clean(e), None
        if len(stmts) != 1:
            return "statements", str(len(stmts)), None
        if stmts[0].type != duckdb.StatementType.SELECT:
            return "refused", str(stmts[0].type).rsplit(".", 1)[-1], None
        cur.execute(sql)
        desc = cur.description or []
        rows = cur.fetchmany(limit + 1)
    except duckdb.OutOfMemoryException:
        return "oom", "", None
    except duckdb.PermissionException as e:
        return "permission", _clean(e), None
    except duckdb.Error as e:
        return "sql", _clean(e), None
    finally:
        cur.close()
    columns = [[d[0], str(d[1])] for d in desc]
    return None, "", (columns, rows[:limit], len(rows) > limit)


def _encode_row(row, redact: "_Redactor") -> bytes:
    """One row as JSON. orjson writes str, int, float, dates and UUIDs itself (NaN as null) and asks
    _cell for the rest; a row that names a server path is done again cell by cell, blanked."""
    import orjson

    try:
        enc = orjson.dumps(row, default=_cell, option=orjson.OPT_NON_STR_KEYS)
    except orjson.JSONEncodeError:  # an integer past 64 bits
        enc = orjson.dumps([_cell(v) for v in row], default=_cell, option=orjson.OPT_NON_STR_KEYS)
    if any(old in enc for old in redact.needles):
        enc = orjson.dumps([redact.cell(v) for v in orjson.loads(enc)])
    return enc


class _Redactor:
    """Blanks out server paths (the warehouse file, its folder, the home folder) from what goes back."""

    def __init__(self, path: str) -> None:
        p = Path(path).resolve()
        home = os.environ.get("HOME") or ""
        self.swaps = [(str(p), p.stem), (str(Path(path)), p.stem), (str(p.parent), "<warehouse>")]
        if len(home) > 1:
            self.swaps.append((home, "~"))
        self.swaps.sort(key=lambda s: -len(s[0]))  # the longest first: the file before its folder
        self.needles = [old.encode() for old, _ in self.swaps]

    def __call__(self, text: str) -> str:
        for old, new in self.swaps:
            text = text.replace(old, new)
        return re.sub(r"(?<![\w.])/(?:[\w.@+-]+/)+[\w.@+-]*", "<path>", text)  # any other absolute path

    def cell(self, value: Any) -> Any:
        if isinstance(value, str) and "/" in value:
            for old, new in self.swaps:
                value = value.replace(old, new)
        return value


def _clean(e: Exception) -> str:
    """DuckDB's message without the type prefix, the LINE/caret context or anything traceback-like."""
    lines = [ln.strip() for ln in str(e).strip().splitlines() if ln.strip()]
    msg = lines[0] if lines else type(e).__name__
    msg = re.sub(r"^[A-Za-z ]+ Error:\s*", "", msg)
    return msg[:300]


def _cell(v: Any) -> Any:
    """A DuckDB value as JSON can carry it (orjson's `default` for what it cannot write itself)."""
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, int):  # JSON readers (and orjson) stop at 64 bits; HUGEINTs travel as text
        return v if -(1 << 63) <= v < (1 << 64) else str(v)
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, decimal.Decimal):
        f = float(v)
        return f if math.isfinite(f) else None
    if isinstance(v, (dt.datetime, dt.date, dt.time)):
        return v.isoformat()
    if isinstance(v, dt.timedelta):
        return v.total_seconds()
    if isinstance(v, uuid.UUID):
        return str(v)
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v).hex()
    if isinstance(v, dict):
        return {str(k): _cell(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_cell(x) for x in v]
    return str(v)


def _die_with_parent() -> None:
    """A server killed outright (SIGKILL, OOM) never gets to stop its children: each one watches for it
    and ends itself, whatever query it is in the middle of."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, daemon=True, name="penny-sql-parent").start()


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C in the server's terminal is the server's
    _die_with_parent()
    _serve(sys.argv[1], int(sys.argv[2]), sys.argv[3])
