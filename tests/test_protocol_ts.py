"""The sidebar's copy of the wire contract (labextension/src/protocol.ts) matches protocol.py field by field:
every server event has a TypeScript interface with the same fields, and every frame the sidebar can send is
one the server accepts, with fields it knows. A field added on one side only fails here."""

from __future__ import annotations

import re
import typing
from pathlib import Path

import pytest

from penny_jupyter import protocol

TS = (Path(__file__).resolve().parents[1] / "labextension" / "src" / "protocol.ts").read_text()
ENVELOPE = {"conversationId", "seq"}  # IBaseEvent: what every conversation event may carry


def _fields(body: str) -> dict[str, str]:
    """{name: type text} of the top-level members of an interface or object-type body."""
    out, depth = {}, 0
    for line in body.splitlines():
        if depth == 0:
            m = re.match(r"\s*(\w+)\??:\s*(.+?);?\s*$", line)
            if m:
                out[m.group(1)] = m.group(2)
        depth += line.count("{") - line.count("}")
    return out


def _ts_events() -> dict[str, set[str]]:
    events = {}
    for name, body in re.findall(r"export interface (I\w+Event) extends IBaseEvent \{\n(.*?)\n\}", TS, re.S):
        fields = _fields(body)
        kind = re.match(r"'([\w.]+)'", fields.pop("type")).group(1)
        events[kind] = set(fields)
    return events


def _ts_frames() -> dict[str, set[str]]:
    union = re.search(r"export type ClientFrame =(.*?);\n\n", TS, re.S).group(1)
    frames = {}
    for body in re.findall(r"\{(.*?)\}", union, re.S):
        fields = _fields(body.replace(";", ";\n"))
        kind = re.match(r"'(\w+)'", fields.pop("type")).group(1)
        frames[kind] = set(fields)
    return frames


def _aliases(model) -> set[str]:
    return {f.alias or n for n, f in model.model_fields.items()} - {"type"}


@pytest.mark.parametrize("kind", sorted(protocol.EVENT_MODELS))
def test_every_event_has_the_same_fields_in_typescript(kind):
    ts = _ts_events()
    assert kind in ts, f"protocol.ts has no interface for the {kind!r} event"
    assert ts[kind] == _aliases(protocol.EVENT_MODELS[kind]) - ENVELOPE, kind


def test_typescript_knows_no_event_the_server_does_not_send():
    assert set(_ts_events()) == set(protocol.EVENT_MODELS)
    union = re.search(r"export type ServerEvent =(.*?);", TS, re.S).group(1)
    assert len(re.findall(r"\|\s*I\w+Event", union)) == len(protocol.EVENT_MODELS)


def test_every_frame_the_sidebar_sends_is_one_the_server_reads():
    members = typing.get_args(typing.get_args(protocol.ClientFrame)[0])
    models = {typing.get_args(m.model_fields["type"].annotation)[0]: m for m in members}
    frames = _ts_frames()
    assert frames and set(frames) <= set(models)
    for kind, fields in frames.items():
        assert fields <= _aliases(models[kind]), kind
