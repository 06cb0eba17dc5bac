"""Every REST endpoint of the wire contract, as a single-user server's owner sees it."""

from __future__ import annotations

import json

import pytest
from tornado.httpclient import HTTPClientError

from tests.server.conftest import error_of

ENDPOINTS = [
    ("GET", ("health",)), ("GET", ("me",)), ("GET", ("location",)), ("GET", ("conversations",)), ("POST", ("conversations",)),
    ("GET", ("conversations", "c1")), ("PATCH", ("conversations", "c1")), ("DELETE", ("conversations", "c1")),
    ("GET", ("conversations", "c1", "messages")), ("POST", ("conversations", "c1", "messages")),
    ("GET", ("tools",)), ("POST", ("tools", "get_company_kpis", "execute")), ("GET", ("dashboards",)),
    ("GET", ("artifacts",)), ("GET", ("artifacts", "a1")), ("GET", ("artifacts", "a1", "versions")),
    ("GET", ("artifacts", "a1", "bundle")),
    ("POST", ("artifacts", "a1", "refresh")), ("GET", ("artifacts", "a1", "download")), ("GET", ("openapi.json",)),
    ("GET", ("audit",)), ("GET", ("models",)), ("PUT", ("conversations", "c1", "sharing")),
    ("PUT", ("artifacts", "a1", "sharing")), ("POST", ("artifacts", "a1", "links")), ("GET", ("admin",)),
]


@pytest.mark.parametrize("method,path", ENDPOINTS, ids=lambda v: "/".join(v) if isinstance(v, tuple) else v)
async def test_every_endpoint_refuses_unauthenticated_callers(api, method, path):
    with pytest.raises(HTTPClientError) as e:
        await api(method, *path, headers={"Authorization": ""})
    assert e.value.code in (401, 403)
    err = error_of(e.value)
    assert err["code"] in ("unauthorized", "forbidden") and err["message"]
    assert "Traceback" not in e.value.response.body.decode()


async def test_health_and_me_on_a_single_user_server(api):
    code, health = await api("GET", "health")
    assert code == 200 and health["status"] == "ok" and health["model"] == "builtin"
    code, me = await api("GET", "me")
    # jupyter-server's default identity gives every token caller a random name: Penny maps them to one owner.
    assert me == {"user": "owner", "tenant": "demo", "roles": ["admin", "member"]}
    _, me_again = await api("GET", "me")
    assert me_again["user"] == "owner"


async def test_conversation_crud(api):
    code, conv = await api("POST", "conversations", body={"title": "Q4 review"})
    assert code == 201 and conv["title"] == "Q4 review" and conv["id"].startswith("conv_")
    cid = conv["id"]
    _, listed = await api("GET", "conversations")
    assert [c["id"] for c in listed["conversations"]] == [cid]
    code, renamed = await api("PATCH", "conversations", cid, body={"title": "Board prep"})
    assert code == 200 and renamed["title"] == "Board prep"
    _, got = await api("GET", "conversations", cid)
    assert got["title"] == "Board prep"
    code, _ = await api("DELETE", "conversations", cid)
    assert code == 204
    with pytest.raises(HTTPClientError) as e:
        await api("GET", "conversations", cid)
    assert e.value.code == 404 and error_of(e.value)["code"] == "not_found"


async def test_post_message_runs_a_turn_and_messages_come_back_in_order(api):
    _, conv = await api("POST", "conversations", body={})
    cid = conv["id"]
    code, out = await api("POST", "conversations", cid, "messages",
                          body={"content": "Show me company KPIs for this month", "clientMessageId": "c1"})
    assert code == 201
    kinds = [e["type"] for e in out["events"]]
    assert kinds[0] == "message.created" and kinds[-1] == "assistant.done"
    assert "tool.started" in kinds and "artifact" in kinds
    _, msgs = await api("GET", "conversations", cid, "messages")
    roles = [m["role"] for m in msgs["messages"]]
    assert roles == ["user", "assistant"]
    seqs = [m["seq"] for m in msgs["messages"]]
    assert seqs == sorted(seqs)
    assert "Revenue" in msgs["messages"][1]["content"]


async def test_tools_list_and_execute(api):
    _, tools = await api("GET", "tools")
    names = {t["name"] for t in tools["tools"]}
    assert {"get_company_kpis", "load_dashboard"} <= names
    kpis = next(t for t in tools["tools"] if t["name"] == "get_company_kpis")
    assert kpis["parameters"]["properties"]["period"]["enum"] == ["MTD", "QTD", "YTD"]

    code, out = await api("POST", "tools", "get_company_kpis", "execute", body={"params": {"period": "QTD"}})
    assert code == 200 and out["ok"] is True
    assert len(out["data"]["metrics"]) >= 10
    art = out["artifacts"][0]
    assert art["type"] == "dashboard" and art["tenant"] == "demo" and art["version"] == 1


@pytest.mark.parametrize("params,needle", [
    ({"period": "XTD"}, "period"),
    ({"period": 3}, "period"),
    ({"unit": "Atlantis"}, "Atlantis"),
])
async def test_execute_rejects_bad_params_with_a_sentence(api, params, needle):
    with pytest.raises(HTTPClientError) as e:
        await api("POST", "tools", "get_company_kpis", "execute", body={"params": params})
    assert e.value.code == 400
    err = error_of(e.value)
    assert err["code"] == "invalid_params" and needle in err["message"]


async def test_unknown_tool_and_malformed_body(api):
    with pytest.raises(HTTPClientError) as e:
        await api("POST", "tools", "drop_tables", "execute", body={"params": {}})
    assert e.value.code == 404 and error_of(e.value)["code"] == "unknown_tool"
    assert "get_company_kpis" in error_of(e.value)["message"]
    with pytest.raises(HTTPClientError) as e:
        await api("POST", "conversations", body="{not json")
    assert e.value.code == 400 and error_of(e.value)["code"] == "bad_request"
    with pytest.raises(HTTPClientError) as e:
        await api("POST", "conversations", body={"title": 42})
    assert e.value.code == 400 and "title" in error_of(e.value)["message"]


@pytest.mark.parametrize("path", [("conversations",), ("tools", "get_company_kpis", "execute")])
async def test_a_deeply_nested_body_is_a_400_with_a_sentence(api, path):
    body = '{"title": ' + "[" * 5000 + "]" * 5000 + "}"  # was a 500: RecursionError in json.loads
    with pytest.raises(HTTPClientError) as e:
        await api("POST", *path, body=body)
    assert e.value.code == 400 and error_of(e.value)["code"] == "bad_request"
    assert "more than 64 levels deep" in error_of(e.value)["message"]
    _, out = await api("POST", "conversations", body={"title": "still here"})  # nothing else is hurt
    assert out["title"] == "still here"


async def test_dashboards_and_artifact_lifecycle(api):
    _, dashboards = await api("GET", "dashboards")
    slugs = [d["slug"] for d in dashboards["dashboards"]]
    assert slugs == ["company-health", "sales-funnel", "ops-incidents", "finance-snapshot"]

    _, out = await api("POST", "tools", "load_dashboard", "execute",
                       body={"params": {"slug": "sales-funnel"}, "conversationId": "conv_funnel"})
    aid = out["artifacts"][0]["id"]
    _, art = await api("GET", "artifacts", aid)
    assert art["title"] == out["artifacts"][0]["title"] and art["source"]["tool"] == "load_dashboard"
    _, listed = await api("GET", "artifacts", params={"conversationId": "conv_funnel"})
    assert [a["id"] for a in listed["artifacts"]] == [aid]

    code, v2 = await api("POST", "artifacts", aid, "refresh")
    assert code == 201 and v2["version"] == 2 and v2["id"] == aid
    _, versions = await api("GET", "artifacts", aid, "versions")
    assert [v["version"] for v in versions["versions"]] == [1, 2]
    _, v1 = await api("GET", "artifacts", aid, params={"version": "1"})
    assert v1["version"] == 1
    # what a refreshed notebook output takes: the new version live, with its static copies
    _, bundle = await api("GET", "artifacts", aid, "bundle")
    live = bundle["application/vnd.penny.artifact+json"]
    assert (live["id"], live["version"], live["spec"]) == (aid, 2, v2["spec"])
    assert v2["title"] in bundle["text/html"] and v2["title"] in bundle["text/plain"]
    _, old = await api("GET", "artifacts", aid, "bundle", params={"version": "1"})
    assert old["application/vnd.penny.artifact+json"]["version"] == 1

    code, resp = await api("GET", "artifacts", aid, "download", params={"format": "json"}, raw=True)
    assert code == 200 and json.loads(resp.body)["id"] == aid


async def test_kpi_artifact_downloads_as_csv(api):
    _, out = await api("POST", "tools", "get_company_kpis", "execute", body={"params": {}})
    aid = out["artifacts"][0]["id"]
    _, resp = await api("GET", "artifacts", aid, "download", params={"format": "csv"}, raw=True)
    lines = resp.body.decode().strip().splitlines()
    assert lines[0].startswith("metric,label,value")
    assert len(lines) == 1 + len(out["data"]["metrics"])
    with pytest.raises(HTTPClientError) as e:
        await api("GET", "artifacts", aid, "download", params={"format": "docx"})
    assert e.value.code == 400


async def test_unknown_ids_are_404(api):
    for path in (("artifacts", "art_nope"), ("artifacts", "art_nope", "versions"), ("conversations", "conv_nope"),
                 ("conversations", "conv_nope", "messages"), ("nothing", "here")):
        with pytest.raises(HTTPClientError) as e:
            await api("GET", *path)
        assert e.value.code == 404, path
        assert error_of(e.value)["message"]
    with pytest.raises(HTTPClientError) as e:
        await api("GET", "artifacts", "art_nope", params={"version": "x"})
    assert e.value.code in (400, 404)


async def test_openapi_lists_every_endpoint(api):
    _, doc = await api("GET", "openapi.json")
    assert doc["openapi"].startswith("3.")
    documented = {(m.upper(), p.removeprefix("/penny/api/")) for p, ops in doc["paths"].items() for m in ops
                  if p.startswith("/penny/api/")}
    assert "/penny/files/{token}" in doc["paths"]  # signed links: no login, so not in ENDPOINTS
    tested = {(m, "/".join(path).replace("c1", "{id}").replace("a1", "{id}").replace("get_company_kpis", "{name}"))
              for m, path in ENDPOINTS}
    assert documented == tested
    assert "ConversationCreate" in doc["components"]["schemas"]


async def test_a_sql_table_downloads_as_csv(api):
    _, out = await api("POST", "tools", "run_sql", "execute",
                       body={"params": {"query": "SELECT region, count(*) AS n FROM customers GROUP BY 1 ORDER BY 1"}})
    aid = out["artifacts"][0]["id"]
    _, resp = await api("GET", "artifacts", aid, "download", params={"format": "csv"}, raw=True)
    lines = resp.body.decode().strip().splitlines()
    assert resp.headers["Content-Type"].startswith("text/csv")
    assert lines[0] == "region,n" and [ln.split(",")[0] for ln in lines[1:]] == ["APAC", "EMEA", "LATAM", "NA"]


async def test_python_that_raises_answers_with_its_output_and_the_error(api):
    """The kernel's %%penny python shows what ran before the error, as a cell would: the reply keeps it."""
    code, out = await api("POST", "tools", "run_python", "execute",
                          body={"params": {"code": "print('before')\nx = 1\nx / 0"}})
    assert code == 200 and out["ok"] is False
    assert out["error"] == {"code": "code_raised",
                            "message": "Line 3 raised ZeroDivisionError: division by zero. Fix the code and run it again."}
    assert out["data"]["stdout"] == "before\n" and out["data"]["raised"] == "ZeroDivisionError"
