"""What a small model really sends, read the way a person needs it: a tool call written as text runs as a call
and its JSON never reaches the person; a description copied into an argument is refused with a sentence the
model can act on; a turn whose model falls silent still ends with an answer. Through the fake Ollama server
(real HTTP, streamed), as a model would send it."""

from __future__ import annotations

import json

import pytest

from penny_jupyter.models.calls import TextCalls
from penny_jupyter.tools.registry import default_registry
from tests.test_models import fake_ollama, kinds, make_engine, run_turn, stored, text_of  # noqa: F401 (fixtures)

TOOLS = list(default_registry(load_plugins=False))
KPI_CALL = {"name": "get_company_kpis", "arguments": {"period": "MTD"}}


def read(*chunks: str) -> tuple[str, list[tuple[str, dict]]]:
    f = TextCalls(TOOLS)
    shown = "".join(f.feed(c) for c in chunks)
    rest, calls = f.end()
    return shown + rest, [(c.name, c.arguments) for c in calls]


def one_char_at_a_time(text: str) -> tuple[str, list]:
    return read(*list(text))


# ------------------------------------------------------------------ recognising calls written as text

@pytest.mark.parametrize("written", [
    f"```json\n{json.dumps(KPI_CALL)}\n```",
    f"```\n{json.dumps(KPI_CALL, indent=2)}\n```",
    f"<tool_call>\n{json.dumps(KPI_CALL)}\n</tool_call>",
    f"<tools>\n{json.dumps(KPI_CALL)}\n</tools>",  # the 1.5B copies the tag its template lists the tools in
    f"<function_call>{json.dumps(KPI_CALL)}</function_call>",
    json.dumps(KPI_CALL),
    json.dumps({"name": "get_company_kpis", "parameters": {"period": "MTD"}}),
    json.dumps({"name": "get_company_kpis", "arguments": json.dumps({"period": "MTD"})}),  # double-encoded
])
def test_a_call_written_as_text_is_a_call_and_is_not_shown(written):
    for result in (read(written), one_char_at_a_time(written)):
        assert result == ("", [("get_company_kpis", {"period": "MTD"})])


def test_text_around_a_written_call_is_shown_and_the_call_is_not():
    shown, calls = one_char_at_a_time(f"Let me check.\n```json\n{json.dumps(KPI_CALL)}\n```\nOne moment.")
    assert calls == [("get_company_kpis", {"period": "MTD"})]
    assert shown == "Let me check.\n\nOne moment." and "{" not in shown


@pytest.mark.parametrize("text", [
    "I looked this up with get_company_kpis: revenue is up 3%.",  # a mention
    'The tool takes {"period": "MTD"} as its argument.',  # an object, but not a call, mid-prose
    '```json\n{"period": "MTD", "unit": "company"}\n```',  # JSON that is not a call
    json.dumps({"name": "drop_tables", "arguments": {}}),  # no such tool on offer
    '```python\nprint({"name": "get_company_kpis", "arguments": {}})\n```',  # code, not a call
    "Revenue was $1.2M ``` and then some",  # a stray fence mid-line
    "Done. ```json\n{\"name\": \"get_company_kpis\"",  # cut off before it closed
    "Use <tools> to list what I can do.",  # a tag that never closes
    '<tools>\n{"name": "drop_tables", "arguments": {}}\n</tools>',  # a tag around no offered tool
])
def test_text_that_is_not_a_call_stays_text_exactly(text):
    assert read(text) == (text, []) and one_char_at_a_time(text) == (text, [])


def test_text_streams_out_before_the_round_ends():
    f = TextCalls(TOOLS)
    assert f.feed("Revenue is up ") == "Revenue is up "
    assert f.feed("3% this month.\n``") == "3% this month.\n"  # a fence may be starting: held
    assert f.feed("`sql\nSELECT 1\n```") == "```sql\nSELECT 1\n"  # code, not a call: streamed as it comes
    assert f.end() == ("```", [])


# ------------------------------------------------------------------ through a turn

def test_a_model_that_writes_its_call_as_json_gets_it_run(make_engine, fake_ollama):
    engine = make_engine()
    fake_ollama.reply("Sure.\n```json\n", json.dumps(KPI_CALL)[:20], json.dumps(KPI_CALL)[20:], "\n```")
    fake_ollama.reply("Revenue leads this month.")
    events = run_turn(engine)
    started = next(e for e in events if e["type"] == "tool.started")
    assert started["tool"] == "get_company_kpis" and started["params"]["period"] == "MTD"
    assert "artifact" in kinds(events)
    text = text_of(events)
    assert "{" not in text and "```" not in text and "get_company_kpis" not in text
    assert text == "Sure.\n\nRevenue leads this month."
    # The model sees its call as a call, and the result as the tool's answer to it.
    second = fake_ollama.requests[1]["messages"]
    assert second[-2]["tool_calls"][0]["function"]["name"] == "get_company_kpis"
    assert second[-1]["role"] == "tool" and "Revenue" in second[-1]["content"]
    assert "```" not in stored(engine)[-1].content


def test_a_copied_description_is_refused_and_the_model_recovers(make_engine, fake_ollama):
    engine = make_engine()
    metric = next(t for t in TOOLS if t.name == "query_metric")
    described = metric.params.model_fields["period"].description
    fake_ollama.reply(tool=("query_metric", {"metric": "revenue", "period": described}))
    fake_ollama.reply(tool=("query_metric", {"metric": "revenue", "period": "MTD"}))
    fake_ollama.reply("Revenue this month is in the card.")
    events = run_turn(engine, "revenue this month")
    started = [e for e in events if e["type"] == "tool.started"]
    assert [s["params"]["period"] for s in started] == ["MTD"], "the copied description never ran"
    refusal = fake_ollama.requests[1]["messages"][-1]["content"]
    assert "`period`" in refusal and "description" in refusal and "'MTD'" in refusal
    assert events[-1]["status"] == "complete"


def test_a_model_silent_after_its_tools_still_answers_from_them(make_engine, fake_ollama):
    engine = make_engine()
    fake_ollama.reply(tool=("get_company_kpis", {"period": "MTD"}))
    fake_ollama.reply("")  # the second round: nothing at all
    events = run_turn(engine)
    tool_text = fake_ollama.requests[1]["messages"][-1]["content"].split("\n\ndata:")[0]
    text = text_of(events)
    assert text.strip(), "never an empty answer"
    assert tool_text.splitlines()[0] in text, "the answer is the tool's own summary of the data"
    assert "dashboard is below" in text
    msg = stored(engine)[-1]
    assert msg.content == text and msg.meta["modelError"] == "model_empty_answer"


def test_a_model_silent_after_refused_calls_says_what_failed(make_engine, fake_ollama):
    engine = make_engine()
    fake_ollama.reply(tool=("query_metric", {"metric": "revenue", "period": "MTD", "start": "2026-01-01"}))
    fake_ollama.reply("")
    events = run_turn(engine, "revenue this month")
    text = text_of(events)
    assert [e["ok"] for e in events if e["type"] == "tool.finished"] in ([], [False])
    assert text.startswith("I could not get that from the data (query_metric:") and "Try asking" in text
    assert events[-1]["status"] == "complete"


def test_a_model_that_says_nothing_at_all_gets_a_sentence(make_engine, fake_ollama):
    engine = make_engine()
    fake_ollama.reply("")
    events = run_turn(engine, "hello")
    assert text_of(events) == ("ollama:llama3.2 gave an empty answer. Ask again in other words, or pick the "
                               "built-in router in the model menu.")


def test_a_model_that_echoes_the_tool_message_shows_only_the_prose():
    echoed = ("**Revenue** over year to date: $14.49M.\n- by month: highest $1.51M\n"
              'data: {"metric":"revenue","total":14489883.0}\nattached for the person: chart art_a858f4\n'
              "Revenue grew all year.")
    for shown, calls in (read(echoed), one_char_at_a_time(echoed)):
        assert calls == []
        assert shown == "**Revenue** over year to date: $14.49M.\n- by month: highest $1.51M\nRevenue grew all year."
    assert read("The data: {x} is fine inline")[0] == "The data: {x} is fine inline"  # not at a line start


def test_code_streams_and_a_markdown_wrapper_is_unwrapped():
    f = TextCalls(TOOLS)
    assert f.feed("Here:\n```sql\nSELECT 1") == "Here:\n```sql\nSELECT 1", "code is shown as it streams"
    assert f.feed("\n```\nAfter.") == "\n```\nAfter."
    wrapped = "```markdown\n**Revenue** is $1.06M.\n\nUp 1.4%.\n```"
    for shown, calls in (read(wrapped), one_char_at_a_time(wrapped)):
        assert (shown, calls) == ("**Revenue** is $1.06M.\n\nUp 1.4%.\n", [])
    g = TextCalls(TOOLS)
    assert g.feed("```markdown\n**Rev") == "**Rev", "a wrapped answer still streams"


def test_a_bare_call_with_a_stray_closing_fence_is_a_call():
    """The 1.5B wrote this after a tool round: a bare object, then the fence it never opened."""
    assert read('{"name": "describe_data", "arguments": {}}\n```') == ("", [("describe_data", {})])


def test_a_past_call_repeated_with_its_result_is_neither_shown_nor_run():
    echoed = ('```json\n{"name": "run_sql", "arguments": {"query": "SELECT 1"}, "data": {"rows": [[1]]}}\n```'
              "\nThe count is 1.")
    assert read(echoed) == ("\nThe count is 1.", [])
