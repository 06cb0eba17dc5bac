"""A first check on SQL sent to `run_sql`: one read-only query over the tenant's own tables.

This is defence in depth, not the wall. The wall is the connection it runs on (`warehouse.py`):
read-only, external access off, no extension loading, configuration locked. The guard exists so
a refusal comes back as a sentence that says why and what to do instead, before DuckDB sees the
text, and so a gap in one layer is not a hole.

Checks, in order (the first failure is reported):

1. the text is not empty and not longer than `MAX_QUERY_CHARS`;
2. sqlglot (`read="duckdb"`) parses it into exactly one statement;
3. that statement, and every node inside it, is a query (SELECT / WITH / UNION / VALUES /
   DESCRIBE / SHOW / SUMMARIZE / FROM-first) - no writes, DDL, ATTACH, COPY, SET, PRAGMA, CALL...;
4. no function that reads files, the network, the environment or the settings (`read_csv`,
   `read_parquet`, `glob`, `getenv`, `current_setting`, `duckdb_*`, `query()`, `*_scan`...);
5. no table reference that is a file path or string literal (`FROM '/etc/passwd'`);
6. no system view as a table (`FROM duckdb_databases`, `FROM pragma_database_list`: they show paths);
7. no table reference into another database/catalog (`other.main.t`); only the tenant's own
   catalog and the `main`, `information_schema` and `pg_catalog` schemas.

DuckDB's own parser (`extract_statements`) then confirms one SELECT-type statement in
`tools/sql.py`, just before the query runs.
"""

from __future__ import annotations

import re
from typing import Iterable

from ..errors import SqlRefused

MAX_QUERY_CHARS = 20_000

ALLOWED_SCHEMAS = {"main", "information_schema", "pg_catalog"}

# Exact function names that read outside the tenant's tables, reveal the host, or run SQL text.
DENIED_FUNCTIONS = {
    "glob", "getenv", "current_setting", "sniff_csv", "query", "query_table", "which_secret",
    "load_aws_credentials", "checkpoint", "force_checkpoint", "json_execute_serialized_sql",
    "parquet_metadata", "parquet_schema", "parquet_file_metadata", "parquet_kv_metadata",
    "parquet_bloom_probe", "iceberg_metadata", "iceberg_snapshots", "sql_auto_complete",
    "read_text", "read_blob", "export_database", "import_database", "install", "load",
    "enable_profiling", "disable_profiling", "enable_logging", "disable_logging", "set_variable",
    "getvariable", "current_database_path",
}
# Name patterns for the same: readers, scanners, attachers, DuckDB system functions, pragmas.
DENIED_PATTERNS = re.compile(
    r"^(read_|parquet_|sniff_|duckdb_|pragma_|sqlite_|postgres_|mysql_|iceberg_|delta_|ducklake_|"
    r"http_|https_|s3_|gcs_|azure_|arrow_|excel_|st_read|st_drivers|"
    # PostgreSQL's (a company warehouse, pgwarehouse.py): server files, other databases, other sessions, settings
    r"pg_read_|pg_ls_|pg_stat_file|lo_|dblink|pg_terminate_|pg_cancel_|pg_reload_|set_config|"
    # ... and those that run SQL given as text (query_to_xml('select set_config(...)')): the text is never checked
    r"query_to_|cursor_to_|table_to_xml|schema_to_xml|database_to_xml|ts_stat$|ts_rewrite$|"
    # other engines' (enginewarehouse.py): BigQuery's federated queries, Snowflake's system functions
    r"external_query$|system\$)"
    r"|(_scan|_attach|_secret|_secrets)$"
)

# Statement kinds a query may be; everything else is refused with a sentence naming it.
_KIND_WORDS = {
    "Insert": "INSERT", "Update": "UPDATE", "Delete": "DELETE", "Merge": "MERGE", "Create": "CREATE",
    "Drop": "DROP", "Alter": "ALTER", "Copy": "COPY", "Attach": "ATTACH", "Detach": "DETACH",
    "Install": "INSTALL", "Set": "SET", "Pragma": "PRAGMA", "Use": "USE", "Transaction": "BEGIN",
    "Commit": "COMMIT", "Rollback": "ROLLBACK", "TruncateTable": "TRUNCATE", "LoadData": "LOAD",
    "Export": "EXPORT", "Refresh": "REFRESH", "Analyze": "ANALYZE", "Grant": "GRANT", "Revoke": "REVOKE",
}

_WHY = {
    "ATTACH": "only your own warehouse can be read", "DETACH": "only your own warehouse can be read",
    "USE": "only your own warehouse can be read", "SET": "the connection's settings are fixed",
    "RESET": "the connection's settings are fixed", "PRAGMA": "the connection's settings are fixed",
    "INSTALL": "extensions cannot be installed or loaded", "LOAD": "extensions cannot be installed or loaded",
    "COPY": "files cannot be read or written", "EXPORT": "files cannot be read or written",
    "IMPORT": "files cannot be read or written", "CALL": "only queries run here",
}

_PATHLIKE = re.compile(r"[./\\:*?~]")
# DuckDB's system views, which FROM reads without parentheses (`FROM pragma_database_list` gives the file's path).
_SYSTEM_VIEW = re.compile(r"^(duckdb_|pragma_|sqlite_)", re.I)

FIX = "run_sql only reads the tables of your own warehouse: write a single SELECT (or WITH ... SELECT) over them"


def _refuse(why: str, fix: str = FIX) -> SqlRefused:
    return SqlRefused(f"{why}; {fix}.")


def _func_name(node) -> str:
    from sqlglot import exp

    if isinstance(node, exp.Anonymous):
        return str(node.name).lower()
    try:
        return node.sql_name().lower()
    except Exception:  # a node class without a SQL name: fall back to its class name
        return type(node).__name__.lower()


def _leading_word(sql: str) -> str:
    text = re.sub(r"(--[^\n]*\n?|/\*.*?\*/)", " ", sql, flags=re.S).strip()
    m = re.match(r"[A-Za-z_]+", text)
    return m.group(0).upper() if m else ""


def check(query: str, *, catalogs: Iterable[str] = (), any_schema: bool = False) -> str:
    """Return the query (stripped) if it may run, else raise SqlRefused with the reason.

    `catalogs` are the database names that are the tenant's own (e.g. the warehouse file's stem);
    a reference qualified by any other catalog is refused. `any_schema`: every schema of that database is the
    tenant's (a company's own PostgreSQL, where the role's grants decide; in DuckDB a schema can be an attached
    file, so there only its own are)."""
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import ParseError, TokenError

    if not isinstance(query, str) or not query.strip():
        raise _refuse("the query is empty")
    if len(query) > MAX_QUERY_CHARS:
        raise _refuse(f"the query is {len(query):,} characters long, more than the {MAX_QUERY_CHARS:,} allowed",
                      "shorten it, e.g. move repeated parts into a WITH clause")
    query = query.strip()
    try:
        statements = [s for s in sqlglot.parse(query, read="duckdb") if s is not None]
    except (ParseError, TokenError) as e:
        first = str(e).splitlines()[0][:200]
        word = _leading_word(query)
        if word and word not in ("SELECT", "WITH", "FROM", "VALUES", "TABLE", "DESCRIBE", "SHOW", "SUMMARIZE", "("):
            raise _refuse(f"{word} statements are not allowed") from None
        raise _refuse(f"the query could not be read as DuckDB SQL ({first})",
                      "check the syntax; run_sql accepts a single SELECT (or WITH ... SELECT)") from None
    if not statements:
        raise _refuse("the query is empty")
    if len(statements) > 1:
        raise _refuse(f"the text holds {len(statements)} statements (separated by ';'), and only one is allowed",
                      "send a single SELECT, without a second statement after a ';'")
    stmt = statements[0]

    for node in stmt.walk():
        name = type(node).__name__
        if name in _KIND_WORDS:
            word = _KIND_WORDS[name]
            raise _refuse(f"{word} statements are not allowed ({_WHY.get(word, 'the warehouse is read-only')})")
        if isinstance(node, exp.Command):
            word = (str(node.this).split() or [""])[0].upper() if node.this else _leading_word(query)
            raise _refuse(f"{word} statements are not allowed ({_WHY.get(word, 'only queries run here')})")
    allowed_roots = (exp.Query, exp.Values, exp.Describe, exp.Summarize, exp.Show, exp.Pivot)
    if not isinstance(stmt, allowed_roots):
        word = _leading_word(query) or type(stmt).__name__.upper()
        raise _refuse(f"{word} statements are not allowed")

    for node in stmt.find_all(exp.Func):
        fname = _func_name(node)
        if fname in DENIED_FUNCTIONS or DENIED_PATTERNS.search(fname):
            raise _refuse(f"the function {fname}() is not allowed: it reads files, settings or the environment "
                          "outside your warehouse tables",
                          "query the warehouse tables by name instead (SHOW TABLES lists them)")

    own = {c.lower() for c in catalogs}
    for table in stmt.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier):
            continue  # a table function; its name was checked above
        tname = str(table.this.this)
        if _SYSTEM_VIEW.match(tname) and (table.db or "main").lower() in ALLOWED_SCHEMAS:
            raise _refuse(f"the system view {tname} is not available here: it shows the server's files and settings",
                          "list tables with SHOW TABLES and columns with DESCRIBE <table> or information_schema")
        if _PATHLIKE.search(tname):
            raise _refuse(f"the table reference '{tname}' looks like a file path; reading files is not allowed",
                          "query the warehouse tables by name instead (SHOW TABLES lists them)")
        catalog, db = table.catalog, table.db
        if catalog and catalog.lower() not in own:
            raise _refuse(f"'{table.sql(dialect='duckdb')}' refers to another database ({catalog}); "
                          "only your own warehouse can be read",
                          "drop the database prefix and name the table directly")
        if db and not catalog and db.lower() not in ALLOWED_SCHEMAS and db.lower() not in own and not any_schema:
            raise _refuse(f"'{table.sql(dialect='duckdb')}' refers to a schema or database '{db}' that is not "
                          "your warehouse's", "drop the prefix and name the table directly")
        if db and catalog and db.lower() not in ALLOWED_SCHEMAS and not any_schema:
            raise _refuse(f"'{table.sql(dialect='duckdb')}' refers to a schema '{db}' that is not your warehouse's",
                          "drop the prefix and name the table directly")

    # A string literal in a FROM/JOIN position is a file reference even if it has no path characters.
    tokens = sqlglot.Dialect.get_or_raise("duckdb").tokenize(query)
    for prev, tok in zip(tokens, tokens[1:]):
        if tok.token_type.name in ("STRING", "RAW_STRING", "HEREDOC_STRING") and prev.token_type.name in (
                "FROM", "JOIN", "COMMA") and _in_from(tokens, prev):
            raise _refuse(f"the table reference '{tok.text}' is a string, which DuckDB reads as a file; "
                          "reading files is not allowed",
                          "query the warehouse tables by name instead (SHOW TABLES lists them)")
    return query


def _in_from(tokens, prev) -> bool:
    """Whether a COMMA token sits in a FROM list (FROM and JOIN are always table positions)."""
    if prev.token_type.name != "COMMA":
        return True
    idx = tokens.index(prev)
    for t in reversed(tokens[:idx]):
        n = t.token_type.name
        if n in ("FROM", "JOIN"):
            return True
        if n in ("SELECT", "WHERE", "L_PAREN", "R_PAREN", "GROUP_BY", "ORDER_BY", "HAVING", "ON"):
            return False
    return False
