"""The `penny` module user code sees inside the sandbox: `penny.show(df)`, `penny.chart(fig)`,
`penny.metric(label, value, ...)`, `penny.db()` and `penny.sql(query)`.

This file runs INSIDE the sandbox (bind-mounted read-only at /opt/penny/penny_helper.py). It imports
nothing from penny_jupyter. Every result is one JSON file in RESULTS_DIR, numbered in call order;
the runner outside reads them back (without following symlinks) and turns them into artifacts.

`penny.sql` reads the warehouse FILE when there is one (DuckDB, in here). A tenant whose warehouse is a
database has no file: its queries go to the server over the run's Unix socket (PENNY_SQL_SOCKET; the wire is
described in penny_jupyter/sandbox/sqlchannel.py), which runs them as the caller and sends back rows.
"""

from __future__ import annotations

import datetime as _dt
import json as _json
import math as _math
import os as _os
import re

RESULTS_DIR = _os.environ.get("PENNY_RESULTS_DIR", "/work/.penny/results")
WAREHOUSE = _os.environ.get("PENNY_WAREHOUSE", "/data/warehouse.duckdb")
SQL_SOCKET = _os.environ.get("PENNY_SQL_SOCKET", "")
MAX_REQUEST_BYTES = 256 * 1024  # as sqlchannel.py's
MAX_REPLY_BYTES = 40 << 20  # sqlchannel.py sends at most 32 MB; more is not a reply of the server's
MAX_ROWS = 10_000
_count = [0]
_conn = [None]

__all__ = ["show", "chart", "metric", "db", "sql", "SqlError"]


class SqlError(Exception):
    """A query the server refused or could not run (a company database, through penny.sql): the message is the
    server's sentence, saying why and what to do; `code` is its error code (e.g. "sql_refused")."""

    def __init__(self, message: str, code: str = "sql_error") -> None:
        super().__init__(message)
        self.code = code


def _remote() -> bool:
    """The warehouse is a database the server queries for us (no file here)."""
    return bool(SQL_SOCKET) and not WAREHOUSE


def _plain(obj):
    """JSON scalars only: numpy scalars/arrays to Python, dates to ISO, NaN/inf to None."""
    if obj is None or isinstance(obj, (bool, str, int)):
        return obj
    if isinstance(obj, float):
        return obj if _math.isfinite(obj) else None
    if isinstance(obj, dict):
        if "bdata" in obj and "dtype" in obj:  # plotly>=6 packs numpy arrays; the renderers want lists
            return _plain(_unpack(obj))
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set)):
        return [_plain(v) for v in obj]
    if isinstance(obj, (_dt.datetime, _dt.date, _dt.time)):
        return obj.isoformat()
    if hasattr(obj, "isoformat"):  # pandas Timestamp
        try:
            return obj.isoformat()
        except Exception:
            pass
    if hasattr(obj, "tolist"):  # numpy arrays and scalars
        return _plain(obj.tolist())
    if hasattr(obj, "item"):
        return _plain(obj.item())
    try:
        import pandas as pd

        if obj is pd.NaT or (not isinstance(obj, (list, dict)) and pd.isna(obj)):
            return None
    except Exception:
        pass
    return str(obj)


def _unpack(obj: dict):
    import base64

    import numpy as np

    arr = np.frombuffer(base64.b64decode(obj["bdata"]), dtype=np.dtype(obj["dtype"]))
    shape = obj.get("shape")
    if shape:
        dims = [int(x) for x in str(shape).split(",")] if isinstance(shape, str) else list(shape)
        arr = arr.reshape(dims)
    return arr.tolist()


def _write(kind: str, payload: dict) -> None:
    _os.makedirs(RESULTS_DIR, exist_ok=True)
    _count[0] += 1
    path = _os.path.join(RESULTS_DIR, f"{_count[0]:04d}.json")
    with open(path, "w") as f:
        _json.dump({"kind": kind, **payload}, f, allow_nan=False)


def _fmt(dtype) -> str:
    s = str(dtype)
    if s.startswith(("int", "uint", "Int", "UInt")):
        return "integer"
    if s.startswith(("float", "Float")):
        return "number"
    if s.startswith("datetime") or s == "date":
        return "date"
    return "text"


_PERCENT_NAME = re.compile(r"%|(?<![a-z])(pct|percent|share|margin)(?![a-z])", re.I)
_CHANGE_NAME = re.compile(r"change|growth|delta|diff", re.I)


def _column_format(label: str, dtype, values) -> str:
    """A float column named like a percentage shows as one: fractions (pandas' pct_change, a share: 0.42) as
    "42.0%", a change already in percent ("Change %": 4.2) as "▲ 4.2%". Other columns keep their dtype's format."""
    fmt = _fmt(dtype)
    if fmt != "number" or not _PERCENT_NAME.search(label):
        return fmt
    seen = [abs(v) for v in values if isinstance(v, (int, float)) and v == v]
    if seen and max(seen) <= 1.5:
        return "percent_1"
    if _CHANGE_NAME.search(label):
        return "change_1"
    return fmt


def _title_of(columns: list[dict]) -> str:
    """A title from the columns when the code gave none: "net_new_mrr, rolling_3m by month"."""
    labels = [c["label"] for c in columns]
    if len(labels) >= 2:
        return f"{', '.join(labels[1:3])}{', …' if len(labels) > 3 else ''} by {labels[0]}"
    return labels[0] if labels else "Table"


def show(df, title: str | None = None) -> None:
    """Show a pandas DataFrame (or anything DataFrame() accepts) as a table artifact."""
    import pandas as pd

    if isinstance(df, pd.Series):
        df = df.to_frame()
    if not isinstance(df, pd.DataFrame):
        df = pd.DataFrame(df)
    if not isinstance(df.index, pd.RangeIndex):
        df = df.reset_index()
    truncated = len(df) > MAX_ROWS
    part = df.head(MAX_ROWS)
    keys, seen = [], {}
    for n in (str(c) for c in part.columns):
        k = n if n not in seen else f"{n}_{seen[n] + 1}"
        seen[n] = seen.get(n, 0) + 1
        keys.append(k)
    columns = [{"key": k, "label": str(c), "format": _column_format(str(c), t, part.iloc[:, i].tolist())}
               for i, (k, c, t) in enumerate(zip(keys, part.columns, part.dtypes))]
    rows = [dict(zip(keys, (_plain(v) for v in r))) for r in part.itertuples(index=False, name=None)]
    _write("table", {"title": title or _title_of(columns), "columns": columns, "rows": rows, "truncated": truncated,
                     "total_rows": int(len(df))})


def chart(fig, title: str | None = None, kind: str | None = None) -> None:
    """Show a plotly figure (or its dict) as a chart artifact."""
    fig_json = fig.to_plotly_json() if hasattr(fig, "to_plotly_json") else dict(fig)
    fig_json = _plain(fig_json)
    layout = fig_json.setdefault("layout", {})
    layout["template"] = "none"
    if title is None:
        t = layout.get("title")
        title = (t.get("text") if isinstance(t, dict) else t) or "Chart"
    if kind is None:
        types = [d.get("type", "scatter") for d in fig_json.get("data", [])]
        kind = "bar" if types and types[0] == "bar" else "pie" if types and types[0] == "pie" else (
            "funnel" if types and types[0] == "funnel" else "line")
    _write("chart", {"title": str(title), "chart_kind": kind, "figure": fig_json})


def metric(label: str, value, *, previous=None, unit: str = "count", format: str | None = None,
           up_is_good: bool = True, formatted: str | None = None) -> None:
    """Show one number (with an optional previous value to compare with) as a metric widget."""
    value = _plain(value)
    previous = _plain(previous)
    _write("metric", {"label": str(label), "value": value, "previous": previous, "unit": unit,
                      "format": format, "up_is_good": bool(up_is_good), "formatted": formatted})


def db():
    """A read-only DuckDB connection to your company's warehouse."""
    if _remote():
        raise RuntimeError("penny.db() is not available here: your company's warehouse is a database that the "
                           "server queries for you, not a file in the sandbox; use penny.sql(query), which returns a "
                           "DataFrame")
    if _conn[0] is None:
        import pandas  # noqa: F401  (before DuckDB reserves address space: numpy's BLAS must map first)
        import duckdb

        import resource

        mem = int(_os.environ.get("PENNY_DUCKDB_MEMORY_MB", "256"))
        # DuckDB reserves address space in proportion to what RLIMIT_AS leaves when it opens, which
        # would leave nothing for pandas and plotly: open it under a lower soft limit, then restore.
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        lowered = False
        if soft != resource.RLIM_INFINITY:
            try:
                with open("/proc/self/statm") as f:
                    used = int(f.read().split()[0]) * resource.getpagesize()
                resource.setrlimit(resource.RLIMIT_AS, (min(soft, used + (mem + 64) * 1024 * 1024), hard))
                lowered = True
            except (OSError, ValueError):
                pass
        try:
            _conn[0] = duckdb.connect(WAREHOUSE, read_only=True, config={
                "threads": 1, "memory_limit": f"{mem}MB", "enable_external_access": False,
                "autoload_known_extensions": False, "autoinstall_known_extensions": False})
        finally:
            if lowered:
                resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    return _conn[0]


def sql(query: str, *params):
    """Run a query on the warehouse and return a pandas DataFrame; `params` fill its `?` (or `$1`) placeholders.
    On a company database the server runs it (read-only, capped at its row limit: `df.attrs["truncated"]`
    says whether rows were left out) and a refusal raises SqlError with the server's reason."""
    if _remote():
        return _frame(_ask(query, params))
    cur = db().cursor()
    try:
        return cur.execute(query, list(params) if params else None).df()
    finally:
        cur.close()


# ---------------------------------------------------------------------------- penny.sql on a company database
def _ask(query, params) -> dict:
    """One query to the server over the run's socket: a 4-byte big-endian length, then JSON, each way."""
    import socket
    import struct

    if not isinstance(query, str):
        raise TypeError(f"penny.sql takes the query as a string, not {type(query).__name__}")
    body = _json.dumps({"sql": query, "params": [_plain(v) for v in params]}).encode()
    if len(body) > MAX_REQUEST_BYTES:
        raise SqlError(f"the query and its values are {len(body):,} bytes, more than the {MAX_REQUEST_BYTES:,} "
                       "penny.sql sends; send a shorter query", "too_large")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        try:
            s.connect(SQL_SOCKET)
            s.sendall(struct.pack(">I", len(body)) + body)
            (size,) = struct.unpack(">I", _recv(s, 4))
            if size > MAX_REPLY_BYTES:
                raise SqlError(f"the server's reply is {size:,} bytes, more than penny.sql reads", "too_large")
            reply = _json.loads(_recv(s, size))
        except OSError as e:
            raise SqlError(f"penny.sql cannot reach the server that runs the queries ({type(e).__name__}); run "
                           "the code again", "unavailable") from None
    error = reply.get("error")
    if error:
        raise SqlError(str(error.get("message") or "the query failed"), str(error.get("code") or "sql_error"))
    return reply


def _recv(s, n: int) -> bytes:
    chunks, got = [], 0
    while got < n:
        chunk = s.recv(min(n - got, 1 << 20))
        if not chunk:
            raise ConnectionResetError("the server closed the connection")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


# The types the server names (as run_sql's: DuckDB's spelling) -> the dtype DuckDB's own .df() gives for them, so
# code reads the same whether the warehouse is a file or a database. A NULL in an integer column keeps it integer.
_INTS = {"TINYINT": "Int8", "SMALLINT": "Int16", "INTEGER": "Int32", "BIGINT": "Int64"}
_FLOATS = {"REAL": "float32", "FLOAT": "float32", "DOUBLE": "float64", "DECIMAL": "float64"}


def _column(values: list, kind: str):
    import pandas as pd

    kind = kind.split("(")[0].upper()
    if kind in _INTS:
        nulls = any(v is None for v in values)
        return pd.Series(values, dtype=_INTS[kind] if nulls else _INTS[kind].lower())
    if kind in _FLOATS:
        return pd.Series([float("nan") if v is None else v for v in values], dtype=_FLOATS[kind])
    if kind == "DATE" or kind.startswith("TIMESTAMP"):  # ISO strings on the wire
        s = pd.Series(values, dtype=object)
        try:
            return pd.to_datetime(s, format="ISO8601")
        except (ValueError, TypeError):  # times with different UTC offsets (timestamptz across a DST change)
            return pd.to_datetime(s, format="ISO8601", utc=True)
    return pd.Series(values)


def _frame(reply: dict):
    """The server's rows as a DataFrame; `df.attrs["truncated"]` says whether there were more (and a warning)."""
    import warnings

    import pandas as pd

    columns = [(str(n), str(t)) for n, t in reply.get("columns") or []]
    rows = reply.get("rows") or []
    cells = list(zip(*rows)) if rows else [()] * len(columns)
    df = pd.concat([_column(list(c), t) for c, (_, t) in zip(cells, columns)], axis=1) if columns else pd.DataFrame()
    df.columns = [n for n, _ in columns]  # positions first, then the names: a query may repeat one
    truncated = bool(reply.get("truncated"))
    df.attrs["truncated"] = truncated
    if truncated:
        warnings.warn(f"penny.sql: the result has more rows than the {len(df):,} that came back (the server's cap); "
                      "aggregate or filter in SQL to get all of what you need", stacklevel=3)
    return df
