"""What Penny stored survives a server restart on the same data dir (a real `jupyter server` process)."""

from __future__ import annotations

from conftest import AS_OF, TEST_SCALE
from tests.live_server import LiveServer


def test_conversations_messages_and_artifacts_survive_a_restart(tmp_path, penny_data_dir):
    args = [f"--PennyConfig.as_of={AS_OF}", f"--PennyConfig.demo_scale={TEST_SCALE}"]
    server = LiveServer(root=tmp_path, data_dir=penny_data_dir, extra_args=args)
    server.start()
    try:
        conv = server.request("POST", "penny/api/conversations", {"title": "Keep me", "id": "conv_keep"})
        out = server.request("POST", "penny/api/conversations/conv_keep/messages",
                             {"content": "open the finance snapshot dashboard"})
        aid = next(e for e in out["events"] if e["type"] == "artifact")["artifact"]["id"]
        before = server.get("penny/api/conversations/conv_keep/messages")
    finally:
        server.stop()

    again = LiveServer(root=tmp_path, data_dir=penny_data_dir, extra_args=args)
    again.start()
    try:
        assert [c["id"] for c in again.get("penny/api/conversations")["conversations"]] == [conv["id"]]
        assert again.get("penny/api/conversations/conv_keep/messages") == before
        assert again.get(f"penny/api/artifacts/{aid}")["title"]
        # the conversation goes on with the next seq, not from 1
        more = again.request("POST", "penny/api/conversations/conv_keep/messages", {"content": "KPIs this year"})
        assert more["events"][0]["seq"] > max(m["seq"] for m in before["messages"])
    finally:
        again.stop()
