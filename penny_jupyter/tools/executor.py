"""The executor: the only way a tool runs. It validates, authorizes (tenant from the Principal),
rate-limits, times out, retries transient failures, persists the artifacts, writes one audit row,
and reports one outcome, whatever went wrong.

Retries: only a `TransientError` is tried again, up to `config.tool_retries` times, with exponential
backoff and jitter (0.05 s, 0.1 s, 0.2 s ... each times 0.5-1.5). Invalid params, unknown tools,
timeouts and bugs are final: retrying them would only repeat the failure (or the load). The timeout
covers all attempts together.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

from pydantic import BaseModel, ValidationError

from .. import tracing
from ..errors import InvalidParams, NotFound, PennyError, RateLimited, ToolTimeout, TransientError
from ..protocol import describe_validation_error
from ..tenancy import Principal
from .audit import AuditLog, digest_params
from .ratelimit import ToolRateLimiter
from .base import Tool, ToolContext, ToolResult
from .registry import ToolRegistry

__all__ = ["Call", "Outcome", "ToolExecutor", "TransientError"]

log = logging.getLogger("penny.tools")

BACKOFF_BASE = 0.05  # seconds before the first retry; doubles each time
BACKOFF_MAX = 2.0


@dataclass
class Call:
    """A validated request to run a tool, ready to go."""

    call_id: str
    tool: Tool
    params: BaseModel
    admitted: bool = False  # counted against the rate limits already

    @property
    def params_dict(self) -> dict[str, Any]:
        return self.params.model_dump(mode="json")


@dataclass
class Outcome:
    call: Call
    ok: bool
    duration_ms: float
    result: ToolResult | None = None
    artifacts: list[dict[str, Any]] = field(default_factory=list)
    error: PennyError | None = None
    attempts: int = 0  # times the tool function was called (0: refused before it ran)


class ToolExecutor:
    def __init__(self, registry: ToolRegistry, warehouses, artifacts, config, *, audit: AuditLog | None = None,
                 limiter: ToolRateLimiter | None = None) -> None:
        self.registry = registry
        self.warehouses = warehouses
        self.artifacts = artifacts
        self.config = config
        self.audit = audit
        self.limiter = limiter or ToolRateLimiter(config.rate_limit_user, dict(config.rate_limit_tools),
                                                  getattr(config, "redis_url", ""))

    def prepare(self, name: str, params: Any, who: Principal | None = None) -> Call:
        """Look the tool up and validate its params; raises NotFound/InvalidParams with a sentence.
        With `who`, a refused request is audited too."""
        try:
            tool = self.registry.get(name)
            if not isinstance(params, dict):
                raise InvalidParams(f"params for {name!r} must be a JSON object, got {type(params).__name__}")
            try:
                parsed = tool.params.model_validate(params)
            except ValidationError as e:
                raise InvalidParams(f"invalid params for {name!r}: {describe_validation_error(e)}") from None
        except (NotFound, InvalidParams) as e:
            if who is not None:
                self._audit(who, str(name), params, e.code, 0.0)
            raise
        return Call(call_id=f"call_{uuid.uuid4().hex[:16]}", tool=tool, params=parsed)

    def admit(self, who: Principal, call: Call) -> None:
        """Count the call against the caller's limits, or raise RateLimited (audited) with retry_after."""
        if call.admitted:
            return
        try:
            self.limiter.check(who.tenant, who.user, call.tool.name)
        except RateLimited as e:
            self._audit(who, call.tool.name, call.params_dict, e.code, 0.0)
            raise
        call.admitted = True

    async def refresh(self, who: Principal, artifact_id: str) -> dict[str, Any]:
        """Re-run an artifact's source tool on today's data and store the result as its next version."""
        from ..sharing import PUBLISH

        art = self.artifacts.get_to(who, PUBLISH, "refresh", artifact_id)  # before the tool runs, not after
        source = art.get("source") or {}
        if not source.get("tool"):
            raise InvalidParams(f"artifact {artifact_id!r} was not made by a tool, so it cannot be refreshed")
        call = self.prepare(source["tool"], source.get("params") or {}, who)
        outcome = await self.run(who, call, persist=False)
        if not outcome.ok:
            raise outcome.error
        if not outcome.result.artifacts:
            raise PennyError(f"{call.tool.name} returned no artifact to refresh {artifact_id!r} with",
                             code="refresh_failed")
        # a large payload goes to the blob store (maybe S3): off the event loop
        return await asyncio.to_thread(self.artifacts.add_version, who, artifact_id, outcome.result.artifacts[0])

    async def run(self, who: Principal, call: Call, *, conversation_id: str | None = None,
                  persist: bool = True, on_progress: Callable[[dict[str, Any]], Any] | None = None) -> Outcome:
        """Run an admitted (or not yet counted) call; every way it ends is one Outcome and one audit row.

        `on_progress(event)` (sync or async) is called on this loop for each progress report the tool makes
        (`ctx.progress`, from its thread); all of them are delivered before this returns."""
        with tracing.span("penny.tool", tenant=who.tenant, tool=call.tool.name) as span:
            outcome = await self._run(who, call, conversation_id, persist, on_progress)
            if span is not None:
                span.set_attribute("penny.outcome", "ok" if outcome.ok else outcome.error.code)
            return outcome

    async def _run(self, who: Principal, call: Call, conversation_id: str | None, persist: bool,
                   on_progress: Callable[[dict[str, Any]], Any] | None) -> Outcome:
        started = time.perf_counter()
        try:
            self.admit(who, call)
        except RateLimited as e:  # already audited
            return Outcome(call, False, _ms(started), error=e)
        bridge = _ProgressBridge(on_progress) if on_progress is not None else None
        try:
            outcome = await self._execute(who, call, started, conversation_id, persist,
                                          bridge.report if bridge is not None else None)
        except asyncio.CancelledError:
            if bridge is not None:
                bridge.drop()
            self._audit(who, call.tool.name, call.params_dict, "cancelled", _ms(started))
            raise
        if bridge is not None:
            await bridge.flush()
        self._audit(who, call.tool.name, call.params_dict, "ok" if outcome.ok else outcome.error.code,
                    outcome.duration_ms, outcome.result.row_count if outcome.result is not None else None)
        return outcome

    async def _execute(self, who: Principal, call: Call, started: float, conversation_id: str | None,
                       persist: bool, on_progress: Callable[[dict[str, Any]], None] | None = None) -> Outcome:
        cancelled = False
        ctx = ToolContext(principal=who, warehouses=self.warehouses, config=self.config,
                          today=self.config.today(), cancelled=lambda: cancelled,
                          progress=on_progress or (lambda event: None))
        attempts = [0]
        try:
            result = await asyncio.wait_for(self._attempts(ctx, call, attempts), timeout=self.config.tool_timeout)
            stored = []
            if persist and result.artifacts:
                with tracing.span("penny.artifact.write", tenant=who.tenant, count=len(result.artifacts)):
                    stored = [await self.artifacts.save_async(who, d, conversation_id) for d in result.artifacts]
            return Outcome(call, result.failure is None, _ms(started), result=result, artifacts=stored,
                           error=result.failure, attempts=attempts[0])
        except asyncio.CancelledError:
            cancelled = True  # the tool's thread sees ctx.cancelled() and can stop early
            ctx.interrupt()
            raise
        except asyncio.TimeoutError:
            cancelled = True
            ctx.interrupt()
            err = ToolTimeout(f"{call.tool.name} took longer than {self.config.tool_timeout:g} s and was stopped; "
                              "try a shorter period or a narrower question")
            return Outcome(call, False, _ms(started), error=err, attempts=attempts[0])
        except PennyError as e:
            return Outcome(call, False, _ms(started), error=e, attempts=attempts[0])
        except Exception:  # a bug in a tool: log it here, tell the client only that it failed
            log.exception("tool %s failed", call.tool.name)
            err = PennyError(f"{call.tool.name} failed unexpectedly; the error was logged on the server",
                             code="tool_failed")
            return Outcome(call, False, _ms(started), error=err, attempts=attempts[0])

    async def _attempts(self, ctx: ToolContext, call: Call, attempts: list[int]) -> ToolResult:
        retries = max(0, int(self.config.tool_retries))
        while True:
            attempts[0] += 1
            try:
                if call.tool.inline:  # never blocks: a thread hop would cost more than the tool
                    return call.tool.run(ctx, call.params)
                # Tools are blocking (DuckDB); a thread keeps the event loop answering other sockets.
                return await asyncio.to_thread(call.tool.run, ctx, call.params)
            except TransientError as e:
                if attempts[0] > retries:
                    raise
                delay = min(BACKOFF_BASE * 2 ** (attempts[0] - 1), BACKOFF_MAX) * random.uniform(0.5, 1.5)
                log.info("tool %s failed transiently (%s); retry %d of %d in %.3f s",
                         call.tool.name, e.message, attempts[0], retries, delay)
                await asyncio.sleep(delay)

    def _audit(self, who: Principal, tool: str, params: Any, outcome: str, duration_ms: float,
               row_count: int | None = None) -> None:
        if self.audit is None:
            return
        self.audit.record(tenant=who.tenant, user=who.user, tool=tool, params_digest=digest_params(params),
                          outcome=outcome, duration_ms=duration_ms, row_count=row_count)


class _ProgressBridge:
    """Carries a tool's progress reports from its worker thread to `on_progress` on the event loop, in
    order; `flush` waits for the ones still being delivered (so they all precede tool.finished)."""

    def __init__(self, on_progress: Callable[[dict[str, Any]], Any]) -> None:
        self.on_progress = on_progress
        self.loop = asyncio.get_running_loop()
        self.pending: set[asyncio.Future] = set()
        self.closed = False

    def report(self, event: dict[str, Any]) -> None:  # any thread
        if self.closed:
            return
        try:
            self.loop.call_soon_threadsafe(self._deliver, dict(event))
        except RuntimeError:  # the loop is closed: nobody is listening any more
            pass

    def _deliver(self, event: dict[str, Any]) -> None:
        if self.closed:
            return
        try:
            res = self.on_progress(event)
        except Exception:
            log.warning("progress listener failed", exc_info=True)
            return
        if asyncio.iscoroutine(res) or isinstance(res, asyncio.Future):
            fut = asyncio.ensure_future(res)
            self.pending.add(fut)
            fut.add_done_callback(self.pending.discard)

    async def flush(self) -> None:
        await asyncio.sleep(0)  # reports scheduled just before the tool returned run first
        self.closed = True
        if self.pending:
            await asyncio.gather(*list(self.pending), return_exceptions=True)

    def drop(self) -> None:
        self.closed = True
        for fut in list(self.pending):
            fut.cancel()


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
