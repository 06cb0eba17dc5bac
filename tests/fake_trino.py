"""A small fake Trino coordinator: Trino's real client protocol on a free port, answering from a DuckDB file.

A Trino server cannot be installed here (a JVM service), so the tests of a company warehouse on Trino talk to
this instead, through the real `trino` client and its SQLAlchemy dialect. It speaks the part of the protocol
they use: `POST /v1/statement` with the SQL as the body and the `X-Trino-*` headers, answered with one JSON
page (`id`, `infoUri`, `stats.state`, `columns` with Trino type signatures, `data`), or a FAILED page with
Trino's `error` object (`errorName`, `errorType`). The SQL is read as Trino's dialect and run on DuckDB through
sqlglot, which is what makes it a test of Penny's rendering: a query Trino would not parse fails here too.

It enforces what a Trino access-control rule would: a statement other than a query is refused as
PERMISSION_DENIED. `query_max_run_time` from the session header bounds each query (EXCEEDED_TIME_LIMIT).
`server.statements` holds every statement received, `server.sessions` every session header.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


def _signature(duck_type: str) -> tuple[str, dict[str, Any], Any]:
    """(Trino type name, typeSignature, cell encoder) for a DuckDB result type."""
    t = duck_type.upper()

    def sig(raw: str, *args: int) -> dict[str, Any]:
        return {"rawType": raw, "arguments": [{"kind": "LONG", "value": a} for a in args]}

    if t in ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UBIGINT", "UINTEGER"):
        return "bigint", sig("bigint"), int
    if t in ("DOUBLE", "FLOAT", "REAL"):
        return "double", sig("double"), float
    if t.startswith("DECIMAL"):
        p, s = (int(x) for x in t[t.index("(") + 1:-1].split(","))
        return f"decimal({p},{s})", sig("decimal", p, s), str
    if t == "DATE":
        return "date", sig("date"), lambda v: v.isoformat()
    if t.startswith("TIMESTAMP"):
        return "timestamp(3)", sig("timestamp", 3), lambda v: v.isoformat(sep=" ", timespec="milliseconds")
    if t == "BOOLEAN":
        return "boolean", sig("boolean"), bool
    return "varchar", sig("varchar", 2147483647), str  # unbounded, as Trino describes it


class FakeTrino:
    def __init__(self, warehouse: Path) -> None:
        import duckdb

        self.path = warehouse
        self._db = duckdb.connect(str(warehouse), read_only=True)
        self._lock = threading.Lock()
        self.statements: list[str] = []
        self.sessions: list[str] = []
        self.delay = 0.0  # seconds each query "runs", to test the time limit
        server = self
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), type("H", (_Handler,), {"fake": server}))
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._db.close()

    def run(self, sql: str, session: dict[str, str]) -> dict[str, Any]:
        import sqlglot
        import time

        self.statements.append(sql)
        qid = uuid.uuid4().hex[:12]
        page: dict[str, Any] = {"id": qid, "infoUri": f"http://127.0.0.1:{self.port}/ui/{qid}"}
        try:
            tree = sqlglot.parse(sql, read="trino")
            if len(tree) != 1 or not isinstance(tree[0], sqlglot.exp.Query):
                return {**page, **_error("PERMISSION_DENIED", "USER_ERROR", "Access Denied: only queries are allowed")}
            limit = session.get("query_max_run_time", "")
            if self.delay and limit.endswith("s") and self.delay > float(limit[:-1]):
                time.sleep(float(limit[:-1]))
                return {**page, **_error("EXCEEDED_TIME_LIMIT", "INSUFFICIENT_RESOURCES",
                                         f"Query exceeded maximum time limit of {limit}")}
            time.sleep(self.delay)
            with self._lock:
                cur = self._db.cursor()
                res = cur.execute(tree[0].sql("duckdb"))
                desc = res.description
                rows = res.fetchall()
        except Exception as e:  # what Trino says about a query it cannot run: a USER_ERROR page
            return {**page, **_error("SYNTAX_ERROR", "USER_ERROR", str(e).splitlines()[0])}
        sigs = [_signature(str(d[1])) for d in desc]
        page["columns"] = [{"name": d[0], "type": s[0], "typeSignature": s[1]} for d, s in zip(desc, sigs)]
        page["data"] = [[None if v is None else enc(v) for v, (_, _, enc) in zip(r, sigs)] for r in rows]
        page["stats"] = {"state": "FINISHED"}
        return page


def _error(name: str, kind: str, message: str) -> dict[str, Any]:
    return {"stats": {"state": "FAILED"},
            "error": {"message": message, "errorCode": 1, "errorName": name, "errorType": kind,
                      "failureInfo": {"type": "io.trino.spi.TrinoException", "message": message, "stack": []}}}


class _Handler(BaseHTTPRequestHandler):
    fake: FakeTrino

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def do_POST(self) -> None:  # noqa: N802
        if self.path != "/v1/statement":
            self.send_error(404)
            return
        sql = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        header = self.headers.get("X-Trino-Session") or ""
        self.fake.sessions.append(header)
        session = dict(kv.split("=", 1) for kv in header.split(",") if "=" in kv)
        body = json.dumps(self.fake.run(sql, session), default=_json).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _json(v: Any) -> Any:
    if isinstance(v, (dt.date, dt.datetime)):
        return v.isoformat()
    if isinstance(v, decimal.Decimal):
        return str(v)
    raise TypeError(type(v).__name__)
