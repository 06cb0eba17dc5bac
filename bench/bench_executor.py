"""Executor overhead: what prepare + run (validation, both rate limits, the thread hop, the audit insert
on the default SQLite store) add to one call of a no-op tool, beside calling the tool function directly,
measured in the same run. The parts are measured alone too, so a MISS says which one to fix."""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _report import p50, report  # noqa: E402

from pydantic import BaseModel  # noqa: E402

from penny_jupyter.settings import PennyConfig  # noqa: E402
from penny_jupyter.storage import Database  # noqa: E402
from penny_jupyter.tenancy import Principal  # noqa: E402
from penny_jupyter.tools.audit import AuditLog, digest_params  # noqa: E402
from penny_jupyter.tools.executor import ToolExecutor  # noqa: E402
from penny_jupyter.tools.ratelimit import ToolRateLimiter  # noqa: E402
from penny_jupyter.tools.base import Tool, ToolContext, ToolResult  # noqa: E402
from penny_jupyter.tools.registry import ToolRegistry  # noqa: E402

N = 1000
WARMUP = 50
TARGET_MS = 1.0


class Params(BaseModel):
    period: str = "MTD"
    unit: str = "company"


def noop(ctx, params):
    return ToolResult(text="", row_count=0)


PARAMS = {"period": "QTD", "unit": "emea"}


def timed(fn, n=N) -> list[float]:
    for _ in range(WARMUP):
        fn()
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


async def atimed(fn, n=N) -> list[float]:
    for _ in range(WARMUP):
        await fn()
    out = []
    for _ in range(n):
        t = time.perf_counter()
        await fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        db = Database(f"sqlite:///{Path(d) / 'penny.sqlite'}")
        reg = ToolRegistry()
        reg.register(Tool("noop", "nothing", Params, noop))
        reg.register(Tool("noop_inline", "nothing, on the loop", Params, noop, inline=True))
        config = PennyConfig(data_dir=d, rate_limit_user="1000000/minute",
                             rate_limit_tools={"noop": "1000000/minute", "noop_inline": "1000000/minute"})
        audit = AuditLog(db)
        ex = ToolExecutor(reg, None, None, config, audit=audit)
        who = Principal("bench", "demo")
        ctx = ToolContext(principal=who, warehouses=None, config=config, today=config.today())
        parsed = Params.model_validate(PARAMS)

        direct = timed(lambda: noop(ctx, parsed))
        validate = timed(lambda: ex.prepare("noop", PARAMS, who))
        limiter = ToolRateLimiter("1000000/minute", {"noop": "1000000/minute"})
        limits = timed(lambda: limiter.check("demo", "bench", "noop"))
        rec = timed(lambda: audit.record(tenant="other", user="bench", tool="noop", params_digest=digest_params(PARAMS),
                                         outcome="ok", duration_ms=0.01, row_count=0))

        async def measure():
            hop = await atimed(lambda: asyncio.to_thread(noop, ctx, parsed))

            async def full(name="noop"):
                out = await ex.run(who, ex.prepare(name, PARAMS, who), persist=False)
                assert out.ok

            through = await atimed(full)
            inline = await atimed(lambda: full("noop_inline"))
            return hop, through, inline

        hop, through, inline = asyncio.run(measure())
        assert audit.verify("demo") == (True, None)
        db.close()

    overhead = p50(through) - p50(direct)
    print(f"  parts, p50 ms: validate {p50(validate):.3f} | limits {p50(limits):.3f} | audit insert {p50(rec):.3f} "
          f"| thread hop {p50(hop):.3f} | direct call {p50(direct):.4f} | inline tool through executor "
          f"{p50(inline) - p50(direct):.3f}", flush=True)
    report("executor_overhead", f"{overhead:.3f} ms p50 per call over a no-op tool (target <= {TARGET_MS:g} ms)",
           overhead <= TARGET_MS)


if __name__ == "__main__":
    main()
