"""The tenant admin panel over the wire (`GET penny/api/admin`): its numbers are the calls that were made (an
error and a rate-limit hit among them), over exactly the last 30 days; the chain flag flips when a row is
edited; members and viewers are refused; and one tenant's calls never show in another's panel."""

from __future__ import annotations

import datetime as dt
import sqlite3

import pytest

from tests.server.conftest import refused
from tests.server.identity import TokenPerUser, as_


@pytest.fixture
def jp_server_config(penny_config_values):
    return {
        "ServerApp": {"jpserver_extensions": {"penny_server": True}, "identity_provider_class": TokenPerUser},
        "PennyConfig": {**penny_config_values,
                        "tenant_map": {"alice": "acme", "carol": "acme", "bob": "globex", "dave": "globex"},
                        "admins": ["alice", "dave"], "viewers": ["carol"],
                        "rate_limit_tools": {"load_dashboard": "2/minute"},
                        "allow_multi_tenant_server": True},  # a test server: nobody here runs code
    }


def _today() -> str:
    return dt.datetime.now(dt.timezone.utc).date().isoformat()


async def _run(api, user: str, tool: str, params: dict) -> int:
    """Run a tool as `user`; the HTTP status, whether it worked or not."""
    from tornado.httpclient import HTTPClientError

    try:
        code, _ = await api("POST", "tools", tool, "execute", body={"params": params}, headers=as_(user))
        return code
    except HTTPClientError as e:
        return e.code


async def test_the_numbers_are_the_calls_that_were_made(api):
    dash = {"slug": "company-health"}
    assert [await _run(api, "alice", "load_dashboard", dash) for _ in range(3)] == [200, 200, 429]
    assert await _run(api, "alice", "get_company_kpis", {"period": "XTD"}) == 400  # invalid params: an error
    assert await _run(api, "carol", "get_company_kpis", {}) == 200
    assert await _run(api, "bob", "get_company_kpis", {}) == 200  # globex: never in acme's panel

    code, out = await api("GET", "admin", headers=as_("alice"))
    assert code == 200 and out["tenant"] == "acme"
    assert out["users"] == [
        {"user": "alice", "roles": ["admin", "member"], "calls": 4, "errors": 1, "rateLimited": 1,
         "lastSeen": out["users"][0]["lastSeen"]},
        {"user": "carol", "roles": ["viewer"], "calls": 1, "errors": 0, "rateLimited": 0,
         "lastSeen": out["users"][1]["lastSeen"]},
    ]
    assert all(u["lastSeen"].startswith(_today()) for u in out["users"])

    usage = out["usage"]
    assert usage["byTool"] == [{"tool": "load_dashboard", "calls": 3, "errors": 0, "rateLimited": 1},
                               {"tool": "get_company_kpis", "calls": 2, "errors": 1, "rateLimited": 0}]
    assert usage["byUser"] == [{"user": "alice", "calls": 4, "errors": 1, "rateLimited": 1},
                               {"user": "carol", "calls": 1, "errors": 0, "rateLimited": 0}]
    assert usage["days"][-1] == {"date": _today(), "calls": 5, "errors": 1, "rateLimited": 1}
    assert sum(d["calls"] for d in usage["days"]) == 5

    audit = out["audit"]
    assert audit["verified"] is True and "firstBadId" not in audit
    assert [(e["user"], e["tool"], e["outcome"]) for e in audit["entries"]] == [
        ("carol", "get_company_kpis", "ok"), ("alice", "get_company_kpis", "invalid_params"),
        ("alice", "load_dashboard", "rate_limited"), ("alice", "load_dashboard", "ok"),
        ("alice", "load_dashboard", "ok")]

    [source] = out["sources"]
    assert source["name"] == "warehouse" and source["kind"] == "demo" and source["ok"] is True
    assert "/" not in source["detail"] and "Traceback" not in source["detail"]
    assert out["model"]["active"] == "builtin" and out["model"]["models"]

    _, globex = await api("GET", "admin", headers=as_("dave"))
    assert globex["tenant"] == "globex"
    assert [(u["user"], u["roles"], u["calls"]) for u in globex["users"]] == [
        ("bob", ["member"], 1), ("dave", ["admin", "member"], 0)]
    assert globex["usage"]["byTool"] == [{"tool": "get_company_kpis", "calls": 1, "errors": 0, "rateLimited": 0}]
    assert {e["tenant"] for e in globex["audit"]["entries"]} == {"globex"}
    assert "alice" not in str(globex) and "carol" not in str(globex) and "load_dashboard" not in str(globex)


async def test_the_window_is_the_last_30_days(api, monkeypatch):
    from penny_jupyter.tools import audit as audit_module

    today = dt.datetime.now(dt.timezone.utc).date()

    def at(days_ago: int):
        stamp = f"{(today - dt.timedelta(days=days_ago)).isoformat()}T12:00:00.000Z"
        monkeypatch.setattr(audit_module, "utcnow", lambda: stamp)

    at(30)  # one day too old: in the audit log, not in the usage
    assert await _run(api, "carol", "get_company_kpis", {}) == 200
    at(29)  # the first day of the window
    assert await _run(api, "alice", "get_company_kpis", {}) == 200
    at(3)
    assert await _run(api, "alice", "get_company_kpis", {"period": "XTD"}) == 400
    monkeypatch.undo()
    assert await _run(api, "alice", "get_company_kpis", {}) == 200

    _, out = await api("GET", "admin", headers=as_("alice"))
    usage = out["usage"]
    assert usage["since"] == (today - dt.timedelta(days=29)).isoformat() and usage["until"] == today.isoformat()
    days = usage["days"]
    assert len(days) == 30 and [d["date"] for d in days] == [
        (today - dt.timedelta(days=29 - i)).isoformat() for i in range(30)]
    busy = {d["date"]: (d["calls"], d["errors"]) for d in days if d["calls"]}
    assert busy == {days[0]["date"]: (1, 0), days[26]["date"]: (1, 1), today.isoformat(): (1, 0)}
    assert usage["byUser"] == [{"user": "alice", "calls": 3, "errors": 1, "rateLimited": 0}]
    carol = next(u for u in out["users"] if u["user"] == "carol")  # a member: listed, with no calls in the window
    assert carol["calls"] == 0 and carol["lastSeen"].startswith((today - dt.timedelta(days=30)).isoformat())
    assert len(out["audit"]["entries"]) == 4 and out["audit"]["verified"] is True


async def test_the_chain_flag_flips_when_a_row_is_edited(api, penny_data_dir):
    for _ in range(3):
        assert await _run(api, "alice", "get_company_kpis", {}) == 200
    _, before = await api("GET", "admin", headers=as_("alice"))
    assert before["audit"]["verified"] is True
    middle = before["audit"]["entries"][1]["id"]

    with sqlite3.connect(penny_data_dir / "penny.sqlite") as db:  # someone with the database file in hand
        db.execute("UPDATE audit SET outcome = 'ok', duration_ms = 1 WHERE id = ?", (middle,))

    _, after = await api("GET", "admin", headers=as_("alice"))
    assert after["audit"]["verified"] is False and after["audit"]["firstBadId"] == middle
    _, globex = await api("GET", "admin", headers=as_("dave"))
    assert globex["audit"]["verified"] is True  # another tenant's chain is its own


@pytest.mark.parametrize("user", ["carol", "bob"])  # a viewer of acme, a member of globex
async def test_only_admins_open_it(api, user):
    status, err = await refused(api("GET", "admin", headers=as_(user)))
    assert status == 403 and err["code"] == "admin_only"
    assert "admin" in err["message"] and "Traceback" not in err["message"]


async def test_a_source_that_does_not_answer_says_so_without_its_path(tmp_path):
    from penny_jupyter.admin import probe_source
    from penny_jupyter.engine import Engine
    from penny_jupyter.settings import PennyConfig

    missing = tmp_path / "secret-folder" / "acme.duckdb"
    engine = Engine(PennyConfig(data_dir=str(tmp_path / "data"), tenant_sources={"acme": {"duckdb": str(missing)}}))
    try:
        source = await probe_source(engine, "acme")
    finally:
        engine.close()
    assert source["ok"] is False and source["kind"] == "duckdb" and source["name"] == "warehouse"
    assert "cannot be read" in source["detail"]
    assert "/" not in source["detail"] and "secret-folder" not in source["detail"]
