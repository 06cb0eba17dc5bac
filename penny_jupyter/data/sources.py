"""Your own data: a tenant's warehouse built from files you name, instead of a generated demo.

`PennyConfig.tenant_sources[tenant]` is one of::

    {"duckdb": "/path/file.duckdb"}
        that file is the tenant's warehouse, opened read-only and locked down like any other,
        and never written to.

    {"tables": {"invoices": "/data/invoices/*.parquet", "days": "s3://bucket/days.csv", ...},
     "s3": {"endpoint_url": "http://minio:9000", "key": "...", "secret": "...", "region": "..."}}
        each table is MATERIALIZED into a small DuckDB file (`CREATE TABLE invoices AS SELECT *
        FROM read_parquet(...)`) under `<data_dir>/sources/`, built by trusted code on a separate,
        short-lived connection. The tenant's query connection then opens that file exactly like a
        demo warehouse: read-only, external access OFF, configuration locked. So SQL run by a
        tool can never reach the source files, S3 or its credentials, and the catalog metrics
        run unchanged on real tables.

    Any of them may add {"catalog": {...}} or {"catalog": "path/catalog.yaml"}: where Penny's metrics
    live in tables named and shaped differently from the demo's (`mapping.py`).

Why materialize rather than views over the files: a view over `read_parquet` needs external
access on the query connection (an `allowed_paths` hole per table, and for S3 a secret or a
registered filesystem living on the tenant's own connection). A copy keeps the wall intact, is
faster to query, and an S3 outage after the build does not break reading.

S3 is read with s3fs registered as an fsspec filesystem on the build connection only
(`conn.register_filesystem`): no `INSTALL httpfs`, so it works offline against MinIO or moto.

Refresh: the path carries a fingerprint of the source config plus every source file's size and
modification time (local) or ETag (S3): `sources/<tenant>/<fingerprint>/<tenant>.duckdb`.
`Warehouses.ensure` re-checks the fingerprint at most every `CHECK_SECONDS`; a change builds a new
file (into a temp file, then renamed), and new cursors go to it. Old files are removed.
"""

from __future__ import annotations

import glob as globlib
import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

from ..errors import SourceConfigError, SourceUnavailable

CHECK_SECONDS = 300.0  # how often ensure() looks for changed source files

_TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def _is_s3(path: str) -> bool:
    return path.startswith(("s3://", "s3a://"))


def _reader(path: str) -> str:
    p = path.lower()
    for ext in (".gz", ".zst"):
        if p.endswith(ext):
            p = p[: -len(ext)]
    if p.endswith((".parquet", ".pq")):
        return "read_parquet"
    if p.endswith((".csv", ".tsv", ".txt")):
        return "read_csv_auto"
    if p.endswith((".json", ".jsonl", ".ndjson")):
        return "read_json_auto"
    raise SourceConfigError(f"cannot tell the format of {path!r}: name files ending in .parquet, .csv or .json")


def validate(tenant: str, source: Any) -> dict:
    """Check one tenant_sources entry; SourceConfigError with a sentence if it is wrong. Returns where the data
    is (the entry without its `catalog`)."""
    def bad(msg: str) -> SourceConfigError:
        return SourceConfigError(f"tenant_sources[{tenant!r}]: {msg}")

    if not isinstance(source, dict) or not source:
        raise bad("expected {'duckdb': path} or {'tables': {name: path, ...}}")
    if "catalog" in source:  # the company's own tables, described (mapping.py): checked when first used
        if not isinstance(source["catalog"], (dict, str)):
            raise bad("'catalog' must be a mapping of metrics onto your tables, or the path of a YAML file with one")
        source = {k: v for k, v in source.items() if k != "catalog"}
    if "warehouse" in source:
        from .dialects import dialect_of

        if set(source) - {"warehouse"} or not isinstance(source["warehouse"], str):
            raise bad("a {'warehouse': url} source takes only the SQLAlchemy URL of the company's database")
        dialect_of(source["warehouse"])  # a sentence naming the URL forms it accepts
        return source
    if "duckdb" in source:
        if set(source) - {"duckdb"} or not isinstance(source["duckdb"], str):
            raise bad("a {'duckdb': path} source takes only the path of a .duckdb file")
        return source
    tables = source.get("tables")
    if not isinstance(tables, dict) or not tables:
        raise bad("'tables' must map table names to file paths, globs or s3:// URLs")
    if set(source) - {"tables", "s3"}:
        raise bad(f"unknown keys {sorted(set(source) - {'tables', 's3'})}; expected 'tables' and optionally 's3' "
                  "and 'catalog'")
    for name, path in tables.items():
        if not isinstance(name, str) or not _TABLE_NAME.match(name):
            raise bad(f"table name {name!r} must be a plain identifier (letters, digits, underscore)")
        if not isinstance(path, str) or not path:
            raise bad(f"the path for table {name!r} must be a string")
        try:
            _reader(path)
        except SourceConfigError as e:
            raise bad(f"table {name!r}: {e.message}") from None
    s3 = source.get("s3")
    if s3 is not None and not isinstance(s3, dict):
        raise bad("'s3' must be a dict with endpoint_url, key, secret, region (all optional)")
    return source


def s3_filesystem(s3: dict | None):
    import s3fs

    s3 = dict(s3 or {})
    client_kwargs = {}
    if s3.get("endpoint_url"):
        client_kwargs["endpoint_url"] = s3["endpoint_url"]
    if s3.get("region"):
        client_kwargs["region_name"] = s3["region"]
    kwargs: dict[str, Any] = {
        "client_kwargs": client_kwargs,
        # fail fast when the endpoint is down, rather than retrying for many seconds
        "config_kwargs": {"connect_timeout": 5, "read_timeout": 60, "retries": {"max_attempts": 2}},
        "skip_instance_cache": True,
    }
    if s3.get("key"):
        kwargs["key"], kwargs["secret"] = s3["key"], s3.get("secret")
    if s3.get("token"):
        kwargs["token"] = s3["token"]
    if s3.get("anon"):
        kwargs["anon"] = True
    return s3fs.S3FileSystem(**kwargs)


def _unavailable(table: str, path: str, why: str) -> SourceUnavailable:
    why = " ".join(str(why).split())[:300]
    return SourceUnavailable(f"the source for table {table!r} ({path}) cannot be read: {why}. "
                             "Check that the file exists and the storage is reachable, then try again.",
                             retry_after=30)


def fingerprint(tenant: str, source: dict) -> str:
    """A digest of the source config and of every source file's identity (size+mtime, or S3 ETag).

    Raises SourceUnavailable naming the table and path when a source matches no file or the
    storage cannot be reached."""
    h = hashlib.sha256(json.dumps({"tenant": tenant, "source": source}, sort_keys=True, default=str).encode())
    fs = None
    for name, path in sorted(source["tables"].items()):
        try:
            if _is_s3(path):
                fs = fs or s3_filesystem(source.get("s3"))
                fs.invalidate_cache()
                stripped = path.split("://", 1)[1]
                found = fs.glob(stripped) if any(c in stripped for c in "*?[") else [stripped]
                entries = []
                for f in sorted(found):
                    info = fs.info(f)
                    entries.append([f, info.get("ETag") or info.get("etag"), info.get("size")])
            else:
                expanded = os.path.expanduser(path)
                found = sorted(globlib.glob(expanded, recursive=True)) if any(c in expanded for c in "*?[") \
                    else [expanded]
                entries = []
                for f in found:
                    st = os.stat(f)
                    entries.append([f, st.st_size, st.st_mtime_ns])
        except FileNotFoundError:
            raise _unavailable(name, path, "no such file") from None
        except Exception as e:  # network, permissions, credentials: say which table, never a traceback
            raise _unavailable(name, path, _short(e)) from None
        if not entries:
            raise _unavailable(name, path, "no file matches this path")
        h.update(json.dumps([name, entries], default=str).encode())
    return h.hexdigest()[:16]


def _short(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    # DuckDB wraps fsspec errors with a Python traceback: keep the last meaningful line
    lines = [ln.strip() for ln in text if ln.strip() and not ln.startswith((" ", "Traceback", "File ", "LINE "))]
    return lines[-1] if lines else type(e).__name__


def _sql_string(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def build(tenant: str, source: dict, dest: Path) -> Path:
    """Materialize every table of `source` into the DuckDB file `dest` (via a temp file + rename)."""
    import duckdb

    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    conn = duckdb.connect(str(tmp), config={
        "autoload_known_extensions": False, "autoinstall_known_extensions": False,
        "allow_community_extensions": False,
    })
    try:
        if any(_is_s3(p) for p in source["tables"].values()):
            conn.register_filesystem(s3_filesystem(source.get("s3")))
        for name, path in source["tables"].items():
            reader = _reader(path)
            try:
                conn.execute(f'CREATE TABLE "{name}" AS SELECT * FROM {reader}({_sql_string(os.path.expanduser(path))})')
            except duckdb.Error as e:
                raise _unavailable(name, path, _short(e)) from None
        conn.execute("CREATE TABLE penny_source_info AS SELECT ?::VARCHAR AS tenant, ?::VARCHAR AS fingerprint, "
                     "now() AS built_at", [tenant, dest.parent.name])
        conn.execute("CHECKPOINT")
    except BaseException:
        conn.close()
        tmp.unlink(missing_ok=True)
        raise
    conn.close()
    os.replace(tmp, dest)
    return dest


def source_path(data_path: Path, tenant: str, digest: str) -> Path:
    """`sources/<tenant>/<digest>/<tenant>.duckdb`: the catalog name stays the tenant's, like a demo's."""
    return data_path / "sources" / tenant / digest / f"{tenant}.duckdb"


def remove_stale(data_path: Path, tenant: str, keep: Path) -> None:
    """Delete the tenant's older builds (open connections keep reading their unlinked inode)."""
    import shutil

    for old in (data_path / "sources" / tenant).iterdir():
        if old.is_dir() and old != keep.parent:
            shutil.rmtree(old, ignore_errors=True)
