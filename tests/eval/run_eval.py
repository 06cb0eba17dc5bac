"""`make eval`: the eval sets through a whole Penny turn with the configured model, scored.

Each request of `tests/eval/*.jsonl` is one new conversation through ChatService, as the sidebar sends it, with
`fallback_to_builtin` off (a model that fails must count as failing, not as the router's answer). Scored:
- exact: the first tool call is the expected tool with the expected arguments (both read through the tool's
  parameter model, periods compared as the dates they mean), or no call when none is expected;
- wrong tool: a different tool, a call where none was expected, or none where one was;
- ungrounded: answers with a figure found in no tool result (chat/grounding.py); empty answers; answers that
  show a tool call's raw JSON;
- latency p50/p99 of the whole turn.
One `bench`-style line per file; `--report` gets every request with what happened.

    python tests/eval/run_eval.py [--model builtin|openai:<m>|ollama:<m>] [--files ...] [--limit N] [--stride K]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from _report import p50, pct, report  # noqa: E402

HERE = Path(__file__).parent
# Which sets were tuned on (their figures are optimistic) and which are still held out: see README.md here.
TARGETS = {"heldout4.jsonl": 0.95}
MODEL_TARGET = 0.80
_RAW_CALL = re.compile(r'\{\s*"name"\s*:|<tool_call>')


def normalized(tool: str, params: dict, today, row_cap: int) -> dict:
    """A call as what the tool will do: defaults filled in, a period as its dates, query_metric's grain and
    dimension as the tool resolves them (a month read by day is the month's default), and a run_sql limit at or
    above the row cap as no limit. Two calls that normalize alike give the same answer."""
    from dataclasses import asdict

    from penny_jupyter.tools.metrics import resolve
    from penny_jupyter.tools.registry import default_registry

    model = default_registry(load_plugins=False).get(tool).params
    args = model.model_validate(params)
    if tool == "query_metric":
        q = resolve(args, today)
        return {**asdict(q), "metric": q.metric.name, "period": tuple(q.period)}
    out = {k: (v if v != {} else None) for k, v in args.model_dump(mode="json").items()}
    if tool == "run_sql" and (out.get("limit") or 0) >= row_cap:
        out["limit"] = None
    return out


async def one(engine, who, item: dict, n: int) -> dict:
    events: list[dict] = []

    async def emit(e):
        events.append(e)

    started = time.perf_counter()
    await engine.chat.ask(who, f"conv_eval_{n}", item["text"], emit)
    seconds = time.perf_counter() - started
    call = next((e for e in events if e["type"] == "tool.started"), None)
    refused = next((e for e in events if e["type"] == "tool.finished" and not e["ok"]), None)
    text = "".join(e["text"] for e in events if e["type"] == "assistant.delta")
    msg = engine.conversations.messages(who, f"conv_eval_{n}")[-1]
    today = engine.config.today()
    want = item["tool"]
    got = call["tool"] if call else None
    exact = got == want
    if exact and want:
        try:
            cap = engine.config.sql_row_cap
            exact = normalized(want, call["params"], today, cap) == normalized(want, item["params"], today, cap)
        except Exception:  # the model's call does not read as the tool's arguments: not exact
            exact = False
    return {"text": item["text"], "want": [want, item["params"]], "got": [got, call["params"] if call else None],
            "exact": exact, "wrong_tool": got != want, "ungrounded": msg.meta.get("ungrounded", []),
            "empty": not text.strip(), "raw_call_shown": bool(_RAW_CALL.search(text)),
            "failed": msg.status != "complete", "model_error": msg.meta.get("modelError"),
            "refused_call": bool(refused), "seconds": round(seconds, 3), "answer": text[:2000]}


async def run(model: str, files: list[Path], limit: int | None, stride: int = 1, base_url: str = "",
              offset: int = 0) -> dict:
    from penny_jupyter.data.generator import generate
    from penny_jupyter.engine import Engine
    from penny_jupyter.settings import PennyConfig
    from penny_jupyter.tenancy import Principal

    tmp = Path(tempfile.mkdtemp(prefix="penny-eval-"))
    (tmp / "warehouses").mkdir()
    generate(tmp / "warehouses" / "demo.duckdb", "demo", scale=0.2)
    engine = Engine(PennyConfig(data_dir=str(tmp), model=model, demo_scale=0.2, load_plugins=False,
                                fallback_to_builtin=False, rate_limit_user="100000/minute",
                                **({"openai_base_url": base_url} if base_url else {})))
    who = Principal("eval", "demo")
    results: dict[str, list[dict]] = {}
    n = 0
    try:
        for path in files:
            items = [json.loads(x) for x in path.read_text().splitlines() if x.strip()][offset::stride][:limit]
            results[path.name] = []
            for item in items:
                n += 1
                results[path.name].append(await one(engine, who, item, n))
    finally:
        engine.close()
    return results


def line(name: str, model: str, rows: list[dict]) -> None:
    n = len(rows)
    exact = sum(r["exact"] for r in rows)
    secs = [r["seconds"] * 1000 for r in rows]
    ungrounded = sum(bool(r["ungrounded"]) for r in rows)
    target = TARGETS.get(name) if model == "builtin" else MODEL_TARGET
    text = (f"{exact / n:.1%} exact ({exact}/{n}), wrong tool {sum(r['wrong_tool'] for r in rows) / n:.1%}, "
            f"{ungrounded} answers with an ungrounded figure, {sum(r['empty'] for r in rows)} empty, "
            f"{sum(r['raw_call_shown'] for r in rows)} showing a raw call, {sum(r['failed'] for r in rows)} failed; "
            f"turn p50 {p50(secs):.0f} ms, p99 {pct(secs, 99):.0f} ms")
    held = "held-out" if name in TARGETS else "tuned on"
    if target is None:
        return report(f"eval_{Path(name).stem}_{model}", f"{text} ({held}; no target)", True)
    report(f"eval_{Path(name).stem}_{model}", f"{text} ({held}; target >= {target:.0%} exact, 0 ungrounded)",
           exact / n >= target and ungrounded == 0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=os.environ.get("MODEL") or "builtin")
    ap.add_argument("--files", nargs="*", type=Path, default=sorted(HERE.glob("*.jsonl")))
    ap.add_argument("--limit", type=int, default=None, help="first N requests of each file")
    ap.add_argument("--stride", type=int, default=1, help="every Kth request (a spread sample for slow models)")
    ap.add_argument("--offset", type=int, default=0, help="start the sample at this request (another sample)")
    ap.add_argument("--openai-base-url", default="", help="default: $OPENAI_BASE_URL (make model prints it)")
    ap.add_argument("--report", type=Path, default=ROOT / ".penny" / "eval-report.json")
    args = ap.parse_args()
    results = asyncio.run(run(args.model, args.files, args.limit, args.stride, args.openai_base_url,
                                   args.offset))
    for name, rows in results.items():
        line(name, args.model, rows)
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(json.dumps({"model": args.model, "results": results}, indent=1))
    print(f"report: {args.report}")


if __name__ == "__main__":
    main()
