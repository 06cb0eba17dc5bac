"""The chat socket: the seed's two frames verbatim, event order, resume, and every bad frame."""

from __future__ import annotations

import json

import pytest

SEED_MESSAGE = {"type": "message", "content": "Show me company KPIs for this month", "conversationId": "conv_123"}
SEED_TOOL = {"type": "tool_execute", "tool": "get_company_kpis", "params": {"period": "MTD", "unit": "company"}}


async def test_ready_names_the_owner_and_tenant(open_socket):
    ws = await open_socket()
    reason = ws.ready.pop("modelReason")  # why that model: here, no Ollama answers on the test machine
    assert ws.ready == {"type": "ready", "user": "owner", "tenant": "demo", "model": "builtin"} and reason


async def test_seed_message_streams_an_answer_quoting_kpis_then_a_dashboard(open_socket, api):
    ws = await open_socket()
    await ws.send(SEED_MESSAGE)
    events = await ws.until("assistant.done")
    kinds = [e["type"] for e in events]

    assert kinds[0] == "message.created" and events[0]["message"]["role"] == "user"
    # tool.started, tool.finished, artifact, assistant.done, in that order
    order = [kinds.index(k) for k in ("tool.started", "tool.finished", "artifact", "assistant.done")]
    assert order == sorted(order)
    deltas = [e for e in events if e["type"] == "assistant.delta"]
    assert len(deltas) >= 3 and kinds.index("assistant.delta") < kinds.index("assistant.done")
    assert all(e["conversationId"] == "conv_123" for e in events if "conversationId" in e)
    seqs = [e["seq"] for e in events if "seq" in e]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), "seq must strictly increase"

    finished = next(e for e in events if e["type"] == "tool.finished")
    assert finished["ok"] is True and finished["tool"] == "get_company_kpis" and finished["durationMs"] > 0
    artifact = next(e for e in events if e["type"] == "artifact")["artifact"]
    assert artifact["type"] == "dashboard" and artifact["id"] == finished["artifactId"]
    metric_widgets = [w for w in artifact["spec"]["widgets"] if w["type"] == "metric"]
    assert len(metric_widgets) >= 10

    text = "".join(e["text"] for e in deltas)
    # The answer quotes the actual numbers of the dashboard it returns.
    revenue = next(w for w in metric_widgets if w["name"] == "revenue")
    assert "Revenue" in text and revenue["formatted"] in text

    # The artifact is persisted and fetchable by id; the conversation holds both messages.
    _, fetched = await api("GET", "artifacts", artifact["id"])
    assert fetched["spec"] == artifact["spec"]
    _, msgs = await api("GET", "conversations", "conv_123", "messages")
    assert [m["role"] for m in msgs["messages"]] == ["user", "assistant"]


async def test_seed_tool_execute_frame(open_socket):
    ws = await open_socket()
    await ws.send(SEED_TOOL)
    events = await ws.until("artifact")
    assert [e["type"] for e in events] == ["tool.started", "tool.finished", "artifact"]
    assert events[0]["params"] == {"period": "MTD", "unit": "company"}
    assert events[1]["ok"] and events[2]["artifact"]["source"] == {"tool": "get_company_kpis",
                                                                   "params": {"period": "MTD", "unit": "company"}}


async def test_dashboard_by_topic(open_socket):
    ws = await open_socket()
    await ws.send({"type": "message", "content": "open the sales funnel dashboard"})
    events = await ws.until("assistant.done")
    art = next(e for e in events if e["type"] == "artifact")["artifact"]
    assert art["source"]["params"]["slug"] == "sales-funnel"


async def test_unroutable_request_gets_help_not_an_error(open_socket):
    ws = await open_socket()
    await ws.send({"type": "message", "content": "what's the weather in Lisbon?"})
    events = await ws.until("assistant.done")
    assert not [e for e in events if e["type"] in ("error", "tool.started")]
    text = "".join(e["text"] for e in events if e["type"] == "assistant.delta")
    assert "can't answer that one yet" in text and len(text) < 100, "one short line, not a wall of text"
    suggestions = events[-1]["suggestions"]  # the requests it offers arrive as buttons
    assert any("KPIs" in s for s in suggestions) and any("dashboard" in s for s in suggestions)


async def test_resume_replays_exactly_what_was_missed(open_socket):
    ws = await open_socket()
    await ws.send({**SEED_MESSAGE, "conversationId": "conv_resume"})
    events = await ws.until("assistant.done")
    ws.close()
    cut = events[2]["seq"]
    ws2 = await open_socket()
    await ws2.send({"type": "resume", "conversationId": "conv_resume", "afterSeq": cut})
    replay = [await ws2.next() for _ in range(len([e for e in events if e.get("seq", 0) > cut]))]
    assert [e["seq"] for e in replay] == [e["seq"] for e in events if e.get("seq", 0) > cut]
    assert [e["type"] for e in replay] == [e["type"] for e in events if e.get("seq", 0) > cut]
    await ws2.send({"type": "ping"})
    assert (await ws2.next())["type"] == "pong", "nothing beyond the missed events is replayed"


async def test_same_client_message_id_is_stored_once(open_socket, api):
    ws = await open_socket()
    frame = {**SEED_MESSAGE, "conversationId": "conv_dup", "clientMessageId": "c-1"}
    await ws.send(frame)
    await ws.until("assistant.done")
    await ws.send(frame)
    err = await ws.until("error")
    assert err[-1]["code"] == "duplicate_message"
    _, msgs = await api("GET", "conversations", "conv_dup", "messages")
    assert [m["role"] for m in msgs["messages"]] == ["user", "assistant"]


BAD_FRAMES = [
    ("{not json", "malformed_frame", "JSON"),
    ("[1, 2]", "malformed_frame", "object"),
    (json.dumps({"type": "shout", "content": "hi"}), "unknown_frame", "shout"),
    (json.dumps({"content": "no type"}), "unknown_frame", "type"),
    (json.dumps({"type": "message"}), "invalid_frame", "content"),
    (json.dumps({"type": "message", "content": 42}), "invalid_frame", "content"),
    (json.dumps({"type": "message", "content": "hi", "conversationId": "../../etc"}), "invalid_frame",
     "conversationId"),
    (json.dumps({"type": "resume", "conversationId": "c", "afterSeq": -1}), "invalid_frame", "afterSeq"),
    (json.dumps({"type": "tool_execute", "tool": "rm_rf", "params": {}}), "unknown_tool", "rm_rf"),
    (json.dumps({"type": "tool_execute", "tool": "get_company_kpis", "params": {"period": "XTD"}}),
     "invalid_params", "period"),
    (json.dumps({"type": "tool_execute", "tool": "get_company_kpis", "params": {"period": ["MTD"]}}),
     "invalid_params", "period"),
    (json.dumps({"type": "tool_execute", "tool": "load_dashboard", "params": {"slug": "payroll"}}),
     "invalid_params", "slug"),
    (json.dumps({"type": "tool_execute", "tool": "get_company_kpis", "params": "MTD"}), "invalid_frame", "params"),
    (json.dumps({"type": "resume", "conversationId": "conv_unknown", "afterSeq": 0}), "not_found", "conv_unknown"),
    (json.dumps({"type": "cancel", "conversationId": "conv_unknown"}), "not_found", "conv_unknown"),
    (json.dumps({"type": "typing", "conversationId": "conv_unknown"}), "not_found", "conv_unknown"),
    # 5,000 levels: the stdlib's parser raised RecursionError and the socket closed with no error event
    ('{"type": "tool_execute", "tool": "run_sql", "params": {"q": ' + "[" * 5000 + "]" * 5000 + "}}",
     "invalid_frame", "more than 64 levels deep"),
    ('{"type": "message", "content": "hi", "x": ' + "[" * 65 + "]" * 65 + "}", "invalid_frame", "64 levels"),
]


@pytest.mark.parametrize("raw,code,needle", BAD_FRAMES, ids=[b[1] + ":" + b[0][:30] for b in BAD_FRAMES])
async def test_bad_frames_get_an_error_and_the_socket_stays_open(open_socket, api, raw, code, needle):
    ws = await open_socket()
    await ws.send(raw)
    err = await ws.next()
    assert err["type"] == "error" and err["code"] == code, err
    assert needle in err["message"]
    assert "Traceback" not in err["message"]
    await ws.send({"type": "ping"})
    assert (await ws.next())["type"] == "pong"
    _, convs = await api("GET", "conversations")
    assert convs["conversations"] == [], "a refused frame leaves nothing half-written"


async def test_frame_over_one_mebibyte_is_refused(open_socket):
    ws = await open_socket()
    await ws.send(json.dumps({"type": "message", "content": "x" * (1 << 20)}))
    err = await ws.next()
    assert err["type"] == "error" and err["code"] == "too_large"
    await ws.send({"type": "ping"})
    assert (await ws.next())["type"] == "pong"


async def test_unauthenticated_socket_is_refused(jp_ws_fetch):
    from tornado.httpclient import HTTPClientError

    with pytest.raises(HTTPClientError) as e:
        await jp_ws_fetch("penny", "ws", headers={"Authorization": ""})
    assert e.value.code == 403


async def test_a_second_tab_of_the_same_person_sees_the_answer_stream(open_socket):
    tab1, tab2 = await open_socket(), await open_socket()
    await tab1.send({**SEED_MESSAGE, "conversationId": "conv_tabs"})
    seen1 = await tab1.until("assistant.done")
    seen2 = await tab2.until("assistant.done")
    assert [e["seq"] for e in seen2] == [e["seq"] for e in seen1]
    await tab2.send({"type": "typing", "conversationId": "conv_tabs"})
    assert (await tab1.next())["type"] == "typing"


ANALYST_QUESTIONS = [
    ("revenue by month this year", "query_metric", {"metric": "revenue", "grain": "month"}, "chart"),
    ("churn by region last quarter", "query_metric", {"metric": "churn", "by": "region"}, "chart"),
    ("top 10 customers by ARR", "query_metric", {"metric": "arr", "top": 10}, "chart"),
    ("SELECT region, count(*) AS customers FROM customers GROUP BY region ORDER BY region", "run_sql", {}, "table"),
]


@pytest.mark.parametrize("text,tool,expected,kind", ANALYST_QUESTIONS, ids=[q[0][:30] for q in ANALYST_QUESTIONS])
async def test_analyst_questions_return_the_right_artifact(open_socket, text, tool, expected, kind):
    ws = await open_socket()
    await ws.send({"type": "message", "content": text})
    events = await ws.until("assistant.done")
    started = next(e for e in events if e["type"] == "tool.started")
    assert started["tool"] == tool
    assert expected.items() <= started["params"].items()
    finished = next(e for e in events if e["type"] == "tool.finished")
    assert finished["ok"], finished
    kinds = [e["artifact"]["type"] for e in events if e["type"] == "artifact"]
    assert kind in kinds
    if tool == "run_sql":
        table = next(e["artifact"] for e in events if e["type"] == "artifact")
        assert [r["region"] for r in table["spec"]["rows"]] == ["APAC", "EMEA", "LATAM", "NA"]


MOVING_AVERAGE = '''```python
import plotly.graph_objects as go
df = penny.sql("SELECT date_trunc('month', issue_date) AS month, sum(amount) AS revenue "
               "FROM invoices GROUP BY 1 ORDER BY 1")
df["3-month average"] = df["revenue"].rolling(3).mean()
fig = go.Figure([go.Scatter(x=df["month"], y=df["revenue"], name="revenue"),
                 go.Scatter(x=df["month"], y=df["3-month average"], name="3-month average")])
penny.chart(fig, title="Revenue by month with a 3-month moving average")
```'''


async def test_pasted_python_runs_in_the_sandbox_and_returns_a_chart(open_socket):
    ws = await open_socket()
    await ws.send({"type": "message", "content": MOVING_AVERAGE})
    events = await ws.until("assistant.done", timeout=120)
    finished = next(e for e in events if e["type"] == "tool.finished")
    assert finished["tool"] == "run_python" and finished["ok"], finished
    chart = next(e["artifact"] for e in events if e["type"] == "artifact")
    assert chart["type"] == "chart"
    names = [trace.get("name") for trace in chart["spec"]["figure"]["data"]]
    assert names == ["revenue", "3-month average"]


async def test_python_that_raises_is_a_failed_call_at_its_line(open_socket):
    """1/0 is the person's error: a failed tool (not "✓ ok") naming their line once, their output kept."""
    ws = await open_socket()
    await ws.send({"type": "message", "content": "```python\nprint('before')\nx = 1\nx / 0\n```"})
    events = await ws.until("assistant.done", timeout=120)
    finished = next(e for e in events if e["type"] == "tool.finished")
    assert finished["tool"] == "run_python" and finished["ok"] is False
    assert finished["error"] == {"code": "code_raised", "message":
                                 "Line 3 raised ZeroDivisionError: division by zero. Fix the code and run it again."}
    text = "".join(e["text"] for e in events if e["type"] == "assistant.delta")
    assert text.strip().endswith("The code did not work; the error is above.")
    assert "ZeroDivisionError" not in text  # shown once, on the card
