"""The wire contract's client frames: the seed's frames parse; bad ones raise a sentence."""

from __future__ import annotations

import json

import pytest

from penny_jupyter import protocol
from penny_jupyter.errors import BadRequest


def test_seed_frames_parse_verbatim():
    m = protocol.parse_client_frame(json.dumps({"type": "message", "content": "Show me company KPIs for this month",
                                                "conversationId": "conv_123"}))
    assert isinstance(m, protocol.MessageFrame) and m.conversation_id == "conv_123"
    t = protocol.parse_client_frame(json.dumps({"type": "tool_execute", "tool": "get_company_kpis",
                                                "params": {"period": "MTD", "unit": "company"}}))
    assert isinstance(t, protocol.ToolExecuteFrame) and t.params == {"period": "MTD", "unit": "company"}


def test_events_dump_camel_case():
    e = protocol.ToolFinishedEvent(call_id="c", tool="t", ok=True, duration_ms=1.5, artifact_id="a")
    assert e.dump() == {"type": "tool.finished", "callId": "c", "tool": "t", "ok": True, "durationMs": 1.5,
                        "artifactId": "a"}


@pytest.mark.parametrize("raw,code", [
    (b"\xff\xfe", "malformed_frame"), ("null", "malformed_frame"), ('"hi"', "malformed_frame"),
    ('{"type": 1}', "unknown_frame"), ('{"type": "ping", "extra": 1}', "invalid_frame"),
    ('{"type": "message", "content": ""}', "invalid_frame"),
])
def test_bad_frames(raw, code):
    with pytest.raises(BadRequest) as e:
        protocol.parse_client_frame(raw)
    assert e.value.code == code and e.value.message
