"""The chat socket, measured in one Jupyter server process on one event loop:

- ping -> pong round trip on /penny/ws vs a bare tornado echo socket mounted in the same server;
- built-in chat: message sent -> first `assistant.delta`.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent))
from _report import p50, report  # noqa: E402

from tornado.websocket import WebSocketHandler, websocket_connect  # noqa: E402

PINGS, MESSAGES = 500, 40


class Echo(WebSocketHandler):
    def on_message(self, message):
        self.write_message(message)


async def main(tmp: Path) -> None:
    from jupyter_server.serverapp import ServerApp
    from traitlets.config import Config

    from tests.live_server import free_port

    data = tmp / "data"
    (data / "warehouses").mkdir(parents=True)
    from penny_jupyter.data.generator import generate

    generate(data / "warehouses" / "demo.duckdb", "demo", scale=0.2)
    port, token = free_port(), "benchtoken"
    c = Config({"ServerApp": {"jpserver_extensions": {"penny_server": True}},
                "PennyConfig": {"data_dir": str(data)}, "IdentityProvider": {"token": token}})
    app = ServerApp.instance(config=c, port=port, port_retries=0, open_browser=False, allow_root=True,
                             root_dir=str(tmp), log_level="WARN")
    app.init_signal = lambda: None
    app.initialize(argv=[])
    app.web_app.add_handlers(".*$", [(r"/bench/echo", Echo)])
    app.start_app()
    headers = {"Authorization": f"token {token}"}
    from tornado.httpclient import HTTPRequest

    penny = await websocket_connect(HTTPRequest(f"ws://127.0.0.1:{port}/penny/ws", headers=headers))
    json.loads(await penny.read_message())  # ready
    echo = await websocket_connect(f"ws://127.0.0.1:{port}/bench/echo")

    async def rtt(ws, frame: str) -> float:
        t = time.perf_counter()
        await ws.write_message(frame)
        await ws.read_message()
        return (time.perf_counter() - t) * 1000

    ping = json.dumps({"type": "ping"})
    for _ in range(50):  # warm-up
        await rtt(penny, ping)
        await rtt(echo, ping)
    ours, bare = [], []
    for _ in range(PINGS):  # interleaved, so load on the machine hits both alike
        ours.append(await rtt(penny, ping))
        bare.append(await rtt(echo, ping))
    ratio = p50(ours) / p50(bare)
    report("ws_ping_pong", f"{p50(ours):.3f} ms p50, ratio {ratio:.2f} vs bare tornado echo {p50(bare):.3f} ms"
           " (target ratio <= 2)", ratio <= 2)

    firsts = []
    for i in range(MESSAGES):
        t = time.perf_counter()
        await penny.write_message(json.dumps({"type": "message", "content": "Show me company KPIs for this month",
                                              "conversationId": f"conv_bench_{i}"}))
        first = None
        while True:
            event = json.loads(await penny.read_message())
            if event["type"] == "assistant.delta" and first is None:
                first = (time.perf_counter() - t) * 1000
            if event["type"] == "assistant.done":
                break
        firsts.append(first)
    firsts = firsts[5:]  # the first turns pay for imports and the first connection
    report("chat_first_delta", f"{p50(firsts):.1f} ms p50 over {len(firsts)} messages (target <= 50 ms)",
           p50(firsts) <= 50)
    penny.close()
    echo.close()
    await app._cleanup()


if __name__ == "__main__":
    tmp = Path(tempfile.mkdtemp(prefix="penny-bench-"))
    try:
        asyncio.run(main(tmp))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
