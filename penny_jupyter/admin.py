"""The tenant admin panel: who is in the tenant, what they ran in the last 30 days, the audit log and whether
its chain holds, whether the tenant's data answers, and the model. One tenant's admins see that tenant only.

Usage is counted from the audit table (one row per tool call, written by tools/executor.py), so the panel
shows what was audited and nothing else. A row's `outcome` is "ok", "rate_limited" (the limiter refused
it), or another code (invalid params, unknown tool, timeout, a tool's failure, a cancel): those are the
errors. So `calls = ok + errors + rateLimited`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from typing import Any

from sqlalchemy import case, func, select

from .errors import Forbidden, SourceConfigError, SourceUnavailable
from .storage import schema
from .tenancy import Principal

log = logging.getLogger("penny.admin")

T = schema.audit
WINDOW_DAYS = 30
AUDIT_ENTRIES = 50
PROBE_SECONDS = 5.0  # a data source that takes longer to answer SELECT is reported as not answering


async def overview(engine, who: Principal, members: list[Principal], today: dt.date,
                   model: dict[str, Any] | None = None) -> dict[str, Any]:
    """Everything the admin panel shows, for `who`'s tenant. `members` come from the identity side (the
    server knows who belongs to a tenant; the engine only knows who called a tool); `today` is the last day
    of the window, in the audit's clock (UTC); `model` is `await engine.models.describe()`, asked here
    when not given."""
    require_admin(who)
    since = today - dt.timedelta(days=WINDOW_DAYS - 1)
    tenant = who.tenant
    usage, last_seen = await asyncio.to_thread(_usage, engine.db, tenant, since, today)
    entries = await asyncio.to_thread(engine.audit.list, tenant, AUDIT_ENTRIES)
    verified, first_bad = await asyncio.to_thread(engine.audit.verify, tenant)
    audit: dict[str, Any] = {"entries": entries, "verified": verified}
    if not verified:
        audit["firstBadId"] = first_bad
    return {
        "tenant": tenant,
        "users": _users([m for m in members if m.tenant == tenant], usage["byUser"], last_seen),
        "usage": usage,
        "audit": audit,
        "sources": [await probe_source(engine, tenant)],
        "model": model if model is not None else await engine.models.describe(),
    }


def require_admin(who: Principal) -> None:
    if not who.is_admin:
        raise Forbidden("the admin panel is for admins of this tenant only; ask one of them for the admin role",
                        code="admin_only")


def _usage(db, tenant: str, since: dt.date, until: dt.date) -> tuple[dict[str, Any], dict[str, str]]:
    """Counts per (day, tool, user) in one grouped query (a few hundred rows at most, whatever the table's
    size), folded here into per day, per tool and per user; and each user's last call, ever."""
    day = func.substr(T.c.at, 1, 10)  # `at` is ISO 8601 UTC: its first ten characters are the date
    errors = func.sum(case((T.c.outcome.in_(("ok", "rate_limited")), 0), else_=1))
    limited = func.sum(case((T.c.outcome == "rate_limited", 1), else_=0))
    in_window = (T.c.tenant == tenant, T.c.at >= since.isoformat(),
                 T.c.at < (until + dt.timedelta(days=1)).isoformat())
    grouped = (select(day.label("day"), T.c.tool, T.c.user, func.count().label("calls"),
                      errors.label("errors"), limited.label("limited"))
               .where(*in_window).group_by(day, T.c.tool, T.c.user))
    seen = select(T.c.user, func.max(T.c.at)).where(T.c.tenant == tenant).group_by(T.c.user)
    with db.connect() as conn:
        rows = conn.execute(grouped).all()
        last_seen = {u: at for u, at in conn.execute(seen)}
    days = {(since + dt.timedelta(days=i)).isoformat(): _zero() for i in range(WINDOW_DAYS)}
    tools: dict[str, dict[str, int]] = {}
    users: dict[str, dict[str, int]] = {}
    for r in rows:
        for bucket in (days.get(r.day), tools.setdefault(r.tool, _zero()), users.setdefault(r.user, _zero())):
            if bucket is not None:
                bucket["calls"] += int(r.calls)
                bucket["errors"] += int(r.errors)
                bucket["rateLimited"] += int(r.limited)
    usage = {"since": since.isoformat(), "until": until.isoformat(),
             "days": [{"date": d, **c} for d, c in days.items()],
             "byTool": [{"tool": k, **c} for k, c in _busiest(tools)],
             "byUser": [{"user": k, **c} for k, c in _busiest(users)]}
    return usage, last_seen


def _zero() -> dict[str, int]:
    return {"calls": 0, "errors": 0, "rateLimited": 0}


def _busiest(counts: dict[str, dict[str, int]]) -> list[tuple[str, dict[str, int]]]:
    return sorted(counts.items(), key=lambda kv: (-kv[1]["calls"], kv[0]))


def _users(members: list[Principal], by_user: list[dict[str, Any]], last_seen: dict[str, str]) -> list[dict]:
    """Every member, and everyone who called a tool in the window without being one (a user since removed
    from the tenant's groups still shows, with no roles)."""
    roles = {m.user: sorted(m.roles) for m in members}
    counts = {u["user"]: u for u in by_user}
    out = []
    for user in sorted(set(roles) | set(counts)):
        c = counts.get(user) or {"user": user, **_zero()}
        out.append({"user": user, "roles": roles.get(user, []), "calls": c["calls"], "errors": c["errors"],
                    "rateLimited": c["rateLimited"], "lastSeen": last_seen.get(user)})
    return out


async def probe_source(engine, tenant: str) -> dict[str, Any]:
    """Whether the tenant's warehouse answers a trivial query within PROBE_SECONDS. `detail` is a sentence
    for the admin: never a path, a credential or a traceback (those go to the server's log)."""
    source = (engine.config.tenant_sources or {}).get(tenant)
    if source is None:
        kind = "demo"
    elif isinstance(source, dict) and "duckdb" in source:
        kind = "duckdb"
    elif isinstance(source, dict) and "warehouse" in source:
        # the company's own database (pgwarehouse.py, enginewarehouse.py) by its engine; its URL is never shown
        from .data.dialects import DIALECTS

        url = str(source["warehouse"])
        scheme = url.split("://", 1)[0].split("+", 1)[0].lower() if "://" in url else ""
        kind = {"postgres": "postgresql"}.get(DIALECTS.get(scheme, ""), DIALECTS.get(scheme, "unknown"))
    else:
        tables = (source.get("tables") or {}) if isinstance(source, dict) else {}
        kind = "s3" if any(str(p).startswith(("s3://", "s3a://")) for p in tables.values()) else "files"
    out = {"name": "warehouse", "kind": kind}
    if kind == "demo" and not engine.warehouses.path(tenant).exists():
        return {**out, "ok": True, "detail": "The demo warehouse is generated on the first question asked."}
    started = time.perf_counter()
    try:
        n = await asyncio.wait_for(asyncio.to_thread(_count_tables, engine.warehouses, tenant), PROBE_SECONDS)
    except asyncio.TimeoutError:
        detail = f"It did not answer a test query within {PROBE_SECONDS:g} s."
    except SourceConfigError:
        log.warning("tenant_sources for %s is not valid", tenant, exc_info=True)
        detail = "The Penny config's tenant_sources entry for this tenant is not valid; the server log says why."
    except SourceUnavailable:
        log.warning("the data of %s cannot be read", tenant, exc_info=True)
        detail = "Its data cannot be read now (a file missing or storage unreachable); the server log says which."
    except Exception as e:  # a broken file, a driver error: its kind only, the rest to the log
        log.warning("probing the warehouse of %s failed", tenant, exc_info=True)
        detail = f"It failed a test query ({type(e).__name__}); the server log has the details."
    else:
        ms = (time.perf_counter() - started) * 1000
        detail = f"Answered a test query in {ms:.0f} ms; {n} table{'s' * (n != 1)}."
        if isinstance(source, dict) and "catalog" in source:
            ok, said = await _probe_mapping(engine.warehouses, tenant)
            return {**out, "ok": ok, "detail": f"{detail} Catalog: {said}"}
        return {**out, "ok": True, "detail": detail}
    return {**out, "ok": False, "detail": detail}


async def _probe_mapping(warehouses, tenant: str) -> tuple[bool, str]:
    """The tenant's own mapping of the metrics (data/mapping.py): how many are mapped, and which fail on its
    tables. A mistake in the mapping is the admin's to fix, so its sentence is shown whole."""
    from .data import mapping

    def check() -> tuple[Any, dict[str, str]]:
        cat = warehouses.catalog(tenant)
        cur = warehouses.cursor(tenant)
        try:
            return cat, mapping.problems(cur, cat)
        finally:
            cur.close()

    try:
        cat, failing = await asyncio.wait_for(asyncio.to_thread(check), PROBE_SECONDS)
    except SourceConfigError as e:
        return False, e.message
    except asyncio.TimeoutError:
        return False, f"its mapped metrics were not all checked within {PROBE_SECONDS:g} s."
    said = f"{len(cat.metrics)} metrics mapped, {len(cat.unmapped)} not"
    if failing:
        said += "; failing on its tables: " + "; ".join(f"{cat.metrics[k].label}: {v}" for k, v in failing.items())
    return not failing, said + "."


def _count_tables(warehouses, tenant: str) -> int:
    cur = warehouses.cursor(tenant)
    try:
        dialect = getattr(cur, "dialect", "duckdb")
        if dialect == "postgres":  # the tables the role may read, in every schema (a company's billing.*)
            from .data.pgwarehouse import describe_sql

            return len({t for t, _, _ in cur.execute(describe_sql(), native=True).fetchall()})
        if dialect != "duckdb":  # another engine: the tables of the URL's schema
            return len({t for t, _, _ in cur.describe()})
        return int(cur.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()")
                   .fetchone()[0])
    finally:
        cur.close()
