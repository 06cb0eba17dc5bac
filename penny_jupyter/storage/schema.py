"""Table definitions. Every table's key starts with `tenant`: ids are scoped per tenant, so one
tenant's `conv_123` never collides with another's."""

from sqlalchemy import JSON, Column, Float, Index, Integer, MetaData, String, Table, Text, UniqueConstraint

metadata = MetaData()

conversations = Table(
    "conversations", metadata,
    Column("tenant", String(64), primary_key=True),
    Column("id", String(128), primary_key=True),
    Column("owner", String(256), nullable=False),
    Column("title", String(200), nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("updated_at", String(40), nullable=False),
    Column("last_seq", Integer, nullable=False, default=0),
)

messages = Table(
    "messages", metadata,
    Column("tenant", String(64), primary_key=True),
    Column("id", String(64), primary_key=True),
    Column("conversation_id", String(128), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("role", String(16), nullable=False),
    Column("author", String(256), nullable=False),
    Column("content", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("client_message_id", String(128)),
    Column("meta", JSON, nullable=False, default=dict),
    Column("created_at", String(40), nullable=False),
    UniqueConstraint("tenant", "conversation_id", "client_message_id", name="uq_messages_client_id"),
    Index("ix_messages_conv", "tenant", "conversation_id", "seq"),
)

# Every event a conversation streamed, so a client that reconnects can `resume` after its last seq.
events = Table(
    "events", metadata,
    Column("tenant", String(64), primary_key=True),
    Column("conversation_id", String(128), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("type", String(32), nullable=False),
    Column("payload", JSON, nullable=False),
)

artifacts = Table(
    "artifacts", metadata,
    Column("tenant", String(64), primary_key=True),
    Column("id", String(64), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("type", String(16), nullable=False),
    Column("title", String(300), nullable=False),
    Column("spec", JSON, nullable=False),
    Column("source", JSON, nullable=False),
    Column("conversation_id", String(128)),
    Column("owner", String(256), nullable=False),
    Column("created_at", String(40), nullable=False),
    # A spec larger than PennyConfig.artifact_inline_bytes lives in the artifact store (local folder or S3):
    # `spec` is then {} and these say where it is and what its bytes must hash to.
    Column("payload_key", String(512)),
    Column("payload_bytes", Integer),
    Column("payload_sha256", String(64)),
    Index("ix_artifacts_conv", "tenant", "conversation_id"),
)

# Who besides the author may read a conversation or an artifact: grantee "*" is the whole tenant, else
# one username. Keyed by tenant like everything else, so a share can never name another tenant's resource.
shares = Table(
    "shares", metadata,
    Column("tenant", String(64), primary_key=True),
    Column("kind", String(16), primary_key=True),  # "conversation" | "artifact"
    Column("resource_id", String(128), primary_key=True),
    Column("grantee", String(256), primary_key=True),
    Column("granted_by", String(256), nullable=False),
    Column("granted_at", String(40), nullable=False),
)

# Append-only record of every tool call. Each row's hash covers the previous row's hash of the same
# tenant, so an edited or removed row breaks the chain from there on. (tenant, prev_hash) is unique:
# two writers that read the same chain head cannot both append after it.
audit = Table(
    "audit", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", String(40), nullable=False),
    Column("tenant", String(64), nullable=False),
    Column("user", String(256), nullable=False),
    Column("tool", String(128), nullable=False),
    Column("params_digest", String(64), nullable=False),
    Column("outcome", String(64), nullable=False),
    Column("duration_ms", Float, nullable=False),
    Column("row_count", Integer),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    UniqueConstraint("tenant", "prev_hash", name="uq_audit_chain"),
    Index("ix_audit_tenant_id", "tenant", "id"),
)

# Turns being answered right now, one row each, held by the process answering (chat/leases.py). It refreshes
# beat_at while it works; a row whose beat stopped belongs to a process that died mid-turn, and the next reader
# of the conversation ends that turn as interrupted. Times are epoch seconds, compared as numbers.
turn_leases = Table(
    "turn_leases", metadata,
    Column("tenant", String(64), primary_key=True),
    Column("conversation_id", String(128), primary_key=True),
    Column("message_id", String(64), primary_key=True),  # the assistant message the turn will write
    Column("holder", String(64), nullable=False),  # the process answering (leases.HOLDER)
    Column("started_at", Float, nullable=False),
    Column("beat_at", Float, nullable=False),
)

migrations_table = Table(
    "penny_migrations", metadata,
    Column("version", Integer, primary_key=True),
    Column("name", String(100), nullable=False),
    Column("applied_at", Float, nullable=False),
)
