"""The REST contract as OpenAPI 3.1, generated from the same pydantic models the handlers use."""

from __future__ import annotations

from functools import lru_cache

from penny_jupyter import protocol

_ERROR = {"$ref": "#/components/schemas/Error"}


def _op(summary: str, body: str | None = None, ok: int = 200, params: tuple[str, ...] = ()) -> dict:
    op: dict = {"summary": summary, "responses": {
        str(ok): {"description": "OK"},
        "400": {"description": "bad input", "content": {"application/json": {"schema": _ERROR}}},
        "403": {"description": "not authenticated", "content": {"application/json": {"schema": _ERROR}}},
        "404": {"description": "unknown, or another tenant's", "content": {"application/json": {"schema": _ERROR}}},
    }}
    if body:
        op["requestBody"] = {"required": True, "content": {"application/json": {
            "schema": {"$ref": f"#/components/schemas/{body}"}}}}
    if params:
        op["parameters"] = [{"name": p, "in": "path", "required": True, "schema": {"type": "string"}} for p in params]
    return op


def _limited(op: dict) -> dict:
    """Operations that run a tool: they count against the rate limits and may fail transiently."""
    op["responses"]["429"] = {"description": "rate limited; the Retry-After header says after how many seconds "
                              "to try again", "content": {"application/json": {"schema": _ERROR}}}
    op["responses"]["503"] = {"description": "a backend was briefly unavailable (after retries)",
                              "content": {"application/json": {"schema": _ERROR}}}
    return op


def _audit_op() -> dict:
    op = _op("The tenant's tool-call audit log, newest first (?limit=, ?before=id), and whether its hash chain "
             "verifies. Admins only.")
    op["responses"]["403"]["description"] = "not authenticated, or not an admin"
    op["parameters"] = [{"name": "limit", "in": "query", "required": False, "schema": {"type": "integer"}},
                        {"name": "before", "in": "query", "required": False, "schema": {"type": "integer"}}]
    return op


def _admin_op() -> dict:
    op = _op("The tenant admin panel: {tenant, users (members with roles, and anyone who called a tool), usage "
             "(calls, errors, rateLimited for the last 30 days: per day, byTool, byUser), audit (newest 50 entries, "
             "verified, firstBadId), sources (ok, detail), model}. Admins only; the caller's tenant only.")
    op["responses"]["403"]["description"] = "not authenticated, or not an admin (code admin_only)"
    return op


def _models_op() -> dict:
    op = _op("The default model (active) with the reason for it, and every model a message may name "
             "(builtin and each pulled Ollama model)")
    op["responses"]["200"]["content"] = {"application/json": {"schema": {"$ref": "#/components/schemas/ModelList"}}}
    return op


@lru_cache(maxsize=1)
def build_openapi() -> dict:
    models = {m.__name__: m for m in (protocol.ConversationCreate, protocol.ConversationPatch, protocol.MessageCreate,
                                      protocol.ToolExecuteBody, protocol.ConversationOut, protocol.MessageOut,
                                      protocol.ArtifactOut, protocol.ModelInfo, protocol.ModelList,
                                      protocol.SharingOut, protocol.SharingBody, protocol.LinkCreate)}
    schemas = {name: m.model_json_schema(by_alias=True, ref_template="#/components/schemas/{model}")
               for name, m in models.items()}
    for schema in schemas.values():  # nested models are components of their own (ModelInfo, SharingOut)
        schema.pop("$defs", None)
    schemas["Error"] = {"type": "object", "required": ["error"], "properties": {"error": {
        "type": "object", "required": ["code", "message"],
        "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}}}
    cid, aid = ("id",), ("id",)
    paths = {
        "/penny/api/health": {"get": _op("Which model answers (model, modelReason), and whether the engine is up")},
        "/penny/api/models": {"get": _models_op()},
        "/penny/api/me": {"get": _op("The caller's user, tenant and roles")},
        "/penny/api/location": {"get": _op("Where Penny's engine answers for this server: {engine: 'here'}, or "
                                           "{engine: 'service', url} under a hub with a Penny service")},
        "/penny/api/conversations": {"get": _op("The caller's conversations"),
                                     "post": _op("Start a conversation", "ConversationCreate", 201)},
        "/penny/api/conversations/{id}": {"get": _op("One conversation", params=cid),
                                          "patch": _op("Rename", "ConversationPatch", params=cid),
                                          "delete": _op("Delete with its messages", ok=204, params=cid)},
        "/penny/api/conversations/{id}/sharing": {"put": _op(
            "Who besides its author may read it (and the artifacts it made): the tenant and/or named users; "
            "403 if the caller is not its author or their role may not share", "SharingBody", params=cid)},
        "/penny/api/conversations/{id}/messages": {
            "get": _op("Messages in order", params=cid),
            "post": _op("Send a message; answers with the turn's events", "MessageCreate", 201, cid)},
        "/penny/api/tools": {"get": _op("Tools with their parameter schemas")},
        "/penny/api/tools/{name}/execute": {"post": _limited(_op("Run a tool", "ToolExecuteBody", params=("name",)))},
        "/penny/api/dashboards": {"get": _op("Dashboard templates")},
        "/penny/api/artifacts": {"get": _op("Artifacts the caller may read (their own and those shared with them), "
                                            "optionally of one conversation (?conversationId=)")},
        "/penny/api/artifacts/{id}": {"get": _op("An artifact (latest version, or ?version=N)", params=aid)},
        "/penny/api/artifacts/{id}/versions": {"get": _op("Its versions", params=aid)},
        "/penny/api/artifacts/{id}/bundle": {"get": _op("As a notebook output's mime bundle (?version=N): "
                                                        "application/vnd.penny.artifact+json, text/html, text/plain",
                                                        params=aid)},
        "/penny/api/artifacts/{id}/refresh": {"post": _limited(_op("Re-run its source tool as a new version (its author or an "
                                                                   "admin; 403 read_only for readers)", ok=201, params=aid))},
        "/penny/api/artifacts/{id}/download": {"get": _op("Download as ?format=json|csv|html (&version=N); html is "
                                                          "one self-contained file", params=aid)},
        "/penny/api/artifacts/{id}/sharing": {"put": _op("Who besides its author may read it", "SharingBody",
                                                         params=aid)},
        "/penny/api/artifacts/{id}/links": {"post": _op(
            "A signed download link that expires: {url, expiresAt, format, version, storage}; url is a path under "
            "the server's base_url that needs no login. Its author or an admin only (403 read_only for readers)",
            "LinkCreate", 201, aid)},
        "/penny/files/{token}": {"get": _op("What a signed link names (on S3: a redirect to a presigned URL); 403 "
                                            "link_invalid or link_expired, 404 link_revoked once the artifact is no "
                                            "longer shared with whoever made the link",
                                            params=("token",))},
        "/penny/api/audit": {"get": _audit_op()},
        "/penny/api/admin": {"get": _admin_op()},
        "/penny/api/openapi.json": {"get": _op("This document")},
    }
    paths["/penny/files/{token}"]["get"]["security"] = []  # the signed token is the permission
    security = {"jupyter": {"type": "apiKey", "in": "header", "name": "Authorization",
                            "description": "`token <jupyter token>`, or the login cookie (with _xsrf on writes)"},
                "kernel": {"type": "apiKey", "in": "header", "name": "X-Penny-Token",
                           "description": "the credential the server hands the kernels it starts (PENNY_KERNEL_TOKEN)"}}
    return {"openapi": "3.1.0", "info": {"title": "Penny", "version": __import__("penny_jupyter").__version__},
            "paths": paths, "components": {"schemas": schemas, "securitySchemes": security},
            "security": [{"jupyter": []}, {"kernel": []}]}
