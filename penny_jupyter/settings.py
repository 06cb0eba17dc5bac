"""PennyConfig: the one place for every option.

Set them in jupyter_server_config.py (`c.PennyConfig.data_dir = "/srv/penny"`), or build a
PennyConfig directly in a script or test. Only OLLAMA_HOST, OPENAI_BASE_URL, PENNY_SERVICE_URL, PENNY_DATA_DIR
and PENNY_AS_OF are read from the environment (and the API key from the variable openai_api_key_env names,
OPENAI_API_KEY by default): the ecosystem sets the first two, a hub's spawner the third; the other two place
an in-process engine (plain IPython, a script, or a kernel of a server it cannot reach over loopback HTTP;
see penny_server.app).
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from traitlets import Bool, Dict, Float, Integer, List, Unicode, Union, default
from traitlets.config import Configurable


class PennyConfig(Configurable):
    data_dir = Unicode(help="Folder for app state, tenant warehouses and artifacts.").tag(config=True)
    database_url = Unicode(
        "", help="SQLAlchemy URL for app state; empty means a SQLite file in data_dir."
    ).tag(config=True)

    default_tenant = Unicode("demo", help="Tenant of users not named in tenant_map.").tag(config=True)
    tenant_map = Dict(
        key_trait=Unicode(), value_trait=Unicode(), help="Username -> tenant, for servers shared by several companies."
    ).tag(config=True)
    admins = List(Unicode(), help="Usernames with the admin role in their tenant.").tag(config=True)
    single_user_name = Unicode(
        "owner",
        help="The user every caller is on a single-user server (jupyter-server's default identity provider "
        "gives each token request a fresh anonymous name, so names mean nothing there).",
    ).tag(config=True)
    trust_identity = Bool(
        None,
        allow_none=True,
        help="Trust usernames from the identity provider. None: trust them unless it is jupyter-server's default.",
    ).tag(config=True)

    allow_multi_tenant_server = Bool(
        False, help="Serve several tenants (tenant_map) from one plain Jupyter server. Only for a server whose "
        "users cannot run code: a kernel runs as the server's OS user and can read every tenant's files. Teams "
        "run the Penny service behind JupyterHub instead (README, 'Penny for teams')."
    ).tag(config=True)

    # team mode: the Penny service behind JupyterHub ------------------------------------------------
    service_url = Unicode(
        help="Where the team's Penny service answers, as the hub's public URL of it (e.g. "
        "'https://hub.example.com/services/penny/'). Set on users' servers: their extension then runs no "
        "engine and the sidebar and magics use the service. Default: the PENNY_SERVICE_URL environment "
        "variable (c.Spawner.environment)."
    ).tag(config=True)
    tenant_groups = Union(
        [Unicode(), Dict(key_trait=Unicode(), value_trait=Unicode())], default_value="tenant-",
        help="Which hub groups name a user's tenant: a prefix ('tenant-': group 'tenant-acme' is tenant 'acme') "
        "or a map of group -> tenant. A user must be in exactly one.",
    ).tag(config=True)
    admin_groups = List(Unicode(), default_value=["penny-admins"],
                        help="Hub groups whose members are admins of their own tenant.").tag(config=True)
    viewer_groups = List(Unicode(), default_value=["penny-viewers"],
                         help="Hub groups whose members only read what is shared with them.").tag(config=True)
    hub_cache_seconds = Float(
        30.0, help="How long the service trusts what the hub said about a token or a user's groups: a revoked "
        "token or a changed group counts at most this much later."
    ).tag(config=True)

    redis_url = Unicode(
        "", help="Redis (or Valkey) URL, e.g. 'redis://redis:6379/0', shared by every replica of one Penny: chat "
        "events reach a person's sockets on all replicas, and rate limits count across them. Empty: one process, "
        "everything in memory. While Redis is unreachable each replica goes on alone (its own sockets, its own "
        "limits), logs it once, and rejoins when Redis answers."
    ).tag(config=True)

    demo_scale = Float(1.0, help="Size of the generated demo warehouse (1.0 is ~1M fact rows).").tag(config=True)
    refresh_demo_data = Bool(
        True, help="Regenerate a generated demo warehouse whose data ends before today. Your own files are never touched."
    ).tag(config=True)
    as_of = Unicode("", help="ISO date treated as 'today' (empty: the real date). For demos and tests.").tag(config=True)

    model = Unicode("auto", help='"auto", "builtin", "ollama:<model>" or "openai:<model>" (any OpenAI-compatible '
                    "server at openai_base_url).").tag(config=True)
    ollama_host = Unicode(help="Ollama server URL; default from OLLAMA_HOST (else http://127.0.0.1:11434).").tag(config=True)
    ollama_model = Unicode(
        "llama3.2", help='The Ollama model "auto" uses when the server answers and has it pulled.'
    ).tag(config=True)
    ollama_timeout = Float(
        60.0, help="Seconds to wait for Ollama to connect or send the next piece of an answer."
    ).tag(config=True)
    model_temperature = Float(
        0.2, help="Sampling temperature sent to Ollama and OpenAI-compatible models: low, so the same question "
        "gets the same tool call and an answer that sticks to the figures."
    ).tag(config=True)
    openai_base_url = Unicode(
        help='Base URL of the OpenAI-compatible server "openai:<model>" talks to, e.g. "http://127.0.0.1:8080/v1" '
        "for llama.cpp's server, vLLM, LM Studio or a LiteLLM proxy; default from OPENAI_BASE_URL (else "
        "https://api.openai.com/v1)."
    ).tag(config=True)
    openai_api_key_env = Unicode(
        "OPENAI_API_KEY", help="Name of the environment variable that holds the API key for openai_base_url (the "
        'key itself is never a config value). Unset: "none" is sent, which a local server accepts.'
    ).tag(config=True)
    openai_timeout = Float(
        60.0, help="Seconds to wait for the OpenAI-compatible server to connect or send the next piece of an answer."
    ).tag(config=True)
    num_ctx = Integer(
        16384, help="Context window asked of Ollama (options.num_ctx); below it Ollama cuts the prompt's front, "
        "where the tool definitions are."
    ).tag(config=True)
    max_tool_rounds = Integer(4, help="Rounds of tool calls one turn may make before Penny stops the model.").tag(
        config=True)
    fallback_to_builtin = Bool(
        True, help="When the model cannot answer (down, not pulled, too slow, a tool loop), answer the same turn "
        "with the built-in router."
    ).tag(config=True)
    history_token_budget = Integer(
        8000, help="Tokens (estimated as characters / 4) of conversation history, system prompt and tool "
        "definitions sent to the model; older turns are dropped, summarized in one line."
    ).tag(config=True)
    turn_heartbeat_seconds = Float(
        5.0, help="Seconds between the heartbeats a running turn writes to the app database. A turn three beats "
        "late belongs to a server that stopped mid-answer: the next reader of its conversation (on any replica) "
        "ends it as interrupted, with a sentence. Every replica of one Penny should use the same value."
    ).tag(config=True)

    tool_timeout = Float(30.0, help="Seconds a tool call may run.").tag(config=True)
    tool_retries = Integer(2, help="Retries (with backoff) for a tool call that failed transiently.").tag(config=True)
    rate_limit_user = Unicode(
        "120/minute", help="Tool calls one user may make (a `limits` rate string, e.g. '120/minute')."
    ).tag(config=True)
    rate_limit_tools = Dict(
        default_value={"run_sql": "30/minute"}, key_trait=Unicode(), value_trait=Unicode(),
        help="Per-tool limits for each user, on top of rate_limit_user.",
    ).tag(config=True)
    sql_row_cap = Integer(10_000, help="Rows run_sql returns at most (the result says it was truncated).").tag(config=True)
    sql_timeout = Float(10.0, help="Seconds a run_sql query may run before its process is stopped.").tag(config=True)
    sql_max_concurrent_per_user = Integer(
        1, help="run_sql queries one person may have running at once; one more is refused (429) until one ends."
    ).tag(config=True)
    warehouse_memory_limit = Unicode("1GB", help="DuckDB memory_limit per tenant warehouse connection.").tag(config=True)
    tenant_sources = Dict(
        help="Tenant -> where its data lives instead of a generated demo: {'duckdb': '/path/file.duckdb'}, "
        "{'tables': {'invoices': 's3://bucket/invoices/*.parquet', ...}, 's3': {'endpoint_url': ..., ...}} or the "
        "company's own database, queried where it lives: {'warehouse': 'postgresql+psycopg://penny_ro@db/acme'}. "
        "Any of them may add 'catalog': where Penny's metrics live in tables named differently from the demo's "
        "(a dict, or the path of a YAML file). See the README, 'Your own data'."
    ).tag(config=True)
    load_plugins = Bool(True, help="Load third-party tools registered under the `penny.tools` entry point.").tag(config=True)
    max_frame_bytes = Integer(1 << 20, help="Largest WebSocket frame accepted.").tag(config=True)
    kpi_query_threads = Integer(2, help="DuckDB threads per tenant warehouse connection.").tag(config=True)
    sandbox_max_concurrent = Integer(2, help="run_python sandboxes running at once; more wait in line.").tag(
        config=True)
    sandbox_timeout = Float(30.0, help="Wall-clock seconds one run_python sandbox may run.").tag(config=True)
    sandbox_memory_mb = Integer(1024, help="Address space (RLIMIT_AS, MB) of a run_python sandbox.").tag(config=True)
    sandbox_output_bytes = Integer(1 << 20, help="Bytes of stdout+stderr kept from a run; past it the run is "
                                   "stopped and the output marked truncated.").tag(config=True)
    sandbox_cpu_seconds = Integer(30, help="CPU seconds (RLIMIT_CPU) of a run_python sandbox.").tag(config=True)
    sandbox_mode = Unicode(
        "bwrap", help='"bwrap" (namespaces + rlimits + seccomp; run_python refuses when bubblewrap cannot isolate) '
        'or "unsafe-no-isolation" (rlimits and seccomp only: the code can read what the server can; only for '
        "trusted single-user installs)."
    ).tag(config=True)

    artifact_store_url = Unicode(
        "", help="Where artifact payloads above artifact_inline_bytes go: empty for <data_dir>/artifacts, a local "
        "folder, or s3://bucket/prefix (see artifact_store_options for MinIO or any S3)."
    ).tag(config=True)
    artifact_store_options = Dict(
        help="fsspec options for artifact_store_url, e.g. {'key': ..., 'secret': ..., "
        "'client_kwargs': {'endpoint_url': 'http://minio:9000'}} for s3fs."
    ).tag(config=True)
    artifact_inline_bytes = Integer(
        256 * 1024, help="Artifact specs up to this size (JSON bytes) stay in the app database; larger ones go "
        "to the artifact store."
    ).tag(config=True)
    signing_secret = Unicode(
        "", help="Secret that signs download links and kernel credentials; empty: a random key kept in "
        "<data_dir>/signing.key. Set it when several servers share one data store."
    ).tag(config=True)
    link_ttl = Integer(3600, help="Seconds a download link stays valid by default.").tag(config=True)
    link_max_ttl = Integer(7 * 24 * 3600, help="Longest validity a download link may ask for (seconds).").tag(
        config=True)
    share_roles = List(
        Unicode(), default_value=["member", "admin"],
        help="Roles that may share their own conversations and artifacts with their tenant or named colleagues.",
    ).tag(config=True)
    viewers = List(
        Unicode(), help="Usernames with the viewer role: they read what is shared with them and cannot share."
    ).tag(config=True)

    otlp_endpoint = Unicode(
        "", help="OpenTelemetry collector (OTLP over HTTP, e.g. 'http://otel-collector:4318') for one trace per "
        "turn; empty: the standard OTEL_EXPORTER_OTLP_ENDPOINT if set, else no tracing (nothing is imported)."
    ).tag(config=True)

    @default("data_dir")
    def _default_data_dir(self) -> str:
        env = os.environ.get("PENNY_DATA_DIR")
        if env:
            return env
        from jupyter_core.paths import jupyter_data_dir

        return str(Path(jupyter_data_dir()) / "penny")

    @default("service_url")
    def _default_service_url(self) -> str:
        return os.environ.get("PENNY_SERVICE_URL", "")

    @default("as_of")
    def _default_as_of(self) -> str:
        return os.environ.get("PENNY_AS_OF", "")

    @default("ollama_host")
    def _default_ollama_host(self) -> str:
        return os.environ.get("OLLAMA_HOST", "")

    @default("openai_base_url")
    def _default_openai_base_url(self) -> str:
        return os.environ.get("OPENAI_BASE_URL", "") or "https://api.openai.com/v1"

    # derived -----------------------------------------------------------------
    @property
    def data_path(self) -> Path:
        p = Path(self.data_dir).expanduser()
        p.mkdir(parents=True, exist_ok=True)
        return p

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_path / 'penny.sqlite'}"

    def today(self) -> dt.date:
        return dt.date.fromisoformat(self.as_of) if self.as_of else dt.date.today()
