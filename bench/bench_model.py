"""A real LLM through Penny: message -> first streamed `assistant.delta` with the packaged 1.5B behind
llama.cpp's OpenAI-compatible server, and beside it, in the same run, the bare server: the same system
prompt, tools and question sent straight to /v1/chat/completions, time to its first streamed token.

The two measure different things on purpose. The bare server's first token is usually the start of the tool
call the model writes as text; Penny holds that back, runs the tool, and its first delta is the answer's
first words. The ratio is the price of a grounded answer, not overhead; bench_turn.py measures the overhead.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(ROOT))
from _report import p50, report  # noqa: E402

QUESTIONS = ("Show me company KPIs for this month", "How much revenue did we make this quarter?",
             "open the sales funnel dashboard", "revenue by month this year")


async def penny_first_delta(engine, who, question: str, n: int) -> float:
    first: list[float] = []
    started = time.perf_counter()

    async def emit(e):
        if e["type"] == "assistant.delta" and not first:
            first.append(time.perf_counter() - started)

    await engine.chat.ask(who, f"conv_bench_{n}", question, emit)
    return first[0] if first else float("nan")


async def bare_first_token(server, engine, question: str) -> float:
    import openai

    from penny_jupyter.chat.prompt import system_prompt
    from penny_jupyter.models.base import tool_schema

    client = openai.AsyncOpenAI(base_url=server.base_url, api_key="none", max_retries=0, timeout=300)
    tools = [tool_schema(t) for t in engine.chat.tools()]
    messages = [{"role": "system", "content": system_prompt(engine.config.today())},
                {"role": "user", "content": question}]
    started = time.perf_counter()
    stream = await client.chat.completions.create(model=server.model, messages=messages, tools=tools, stream=True,
                                                  temperature=engine.config.model_temperature)
    first = float("nan")
    async for chunk in stream:
        delta = chunk.choices[0].delta if chunk.choices else None
        if delta and (delta.content or delta.tool_calls):
            first = time.perf_counter() - started
            break
    await stream.close()
    await client.close()
    return first


async def main(tmp: Path) -> None:
    from penny_jupyter.data.generator import generate
    from penny_jupyter.engine import Engine
    from penny_jupyter.models.local_model import serve_in_subprocess
    from penny_jupyter.settings import PennyConfig
    from penny_jupyter.tenancy import Principal

    (tmp / "warehouses").mkdir()
    generate(tmp / "warehouses" / "demo.duckdb", "demo", scale=0.2)
    server = serve_in_subprocess("1.5b")
    try:
        engine = Engine(PennyConfig(data_dir=str(tmp), model=f"openai:{server.model}", demo_scale=0.2,
                                    openai_base_url=server.base_url, openai_timeout=300.0,
                                    fallback_to_builtin=False, load_plugins=False))
        who = Principal("bench", "demo")
        await bare_first_token(server, engine, "hello")  # warm: the server's first request loads its caches
        ours, bare = [], []
        for n, q in enumerate(QUESTIONS):  # alternately, so machine noise hits both alike
            bare.append(await bare_first_token(server, engine, q))
            ours.append(await penny_first_delta(engine, who, q, n))
        engine.close()
    finally:
        server.stop()
    report("real_model_first_text", f"{p50(ours):.1f} s p50 message -> first answer text through Penny over "
           f"{len(ours)} requests, vs {p50(bare):.1f} s to the bare server's first token (ratio "
           f"{p50(ours) / p50(bare):.1f}; Penny's first text comes after the tool call the model wrote, "
           "see the docstring) (no target: printed)", True)


if __name__ == "__main__":
    tmp = Path(tempfile.mkdtemp(prefix="penny-bench-model-"))
    try:
        asyncio.run(main(tmp))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
