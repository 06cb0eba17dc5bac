"""The executor: the only way a tool runs. It validates, authorizes (tenant from the Principal),
times out, persists the artifacts, and reports one outcome, whatever went wrong."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from ..errors import InvalidParams, PennyError, ToolTimeout
from ..protocol import describe_validation_error
from ..tenancy import Principal
from .registry import Tool, ToolContext, ToolRegistry, ToolResult

log = logging.getLogger("penny.tools")


@dataclass
class Call:
    """A validated request to run a tool, ready to go."""

    call_id: str
    tool: Tool
    params: BaseModel

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


class ToolExecutor:
    def __init__(self, registry: ToolRegistry, warehouses, artifacts, config) -> None:
        self.registry = registry
        self.warehouses = warehouses
        self.artifacts = artifacts
        self.config = config

    def prepare(self, name: str, params: Any) -> Call:
        """Look the tool up and validate its params; raises NotFound/InvalidParams with a sentence."""
        tool = self.registry.get(name)
        if not isinstance(params, dict):
            raise InvalidParams(f"params for {name!r} must be a JSON object, got {type(params).__name__}")
        try:
            parsed = tool.params.model_validate(params)
        except ValidationError as e:
            raise InvalidParams(f"invalid params for {name!r}: {describe_validation_error(e)}") from None
        return Call(call_id=f"call_{uuid.uuid4().hex[:16]}", tool=tool, params=parsed)

    async def refresh(self, who: Principal, artifact_id: str) -> dict[str, Any]:
        """Re-run an artifact's source tool on today's data and store the result as its next version."""
        art = self.artifacts.get(who, artifact_id)
        source = art.get("source") or {}
        if not source.get("tool"):
            raise InvalidParams(f"artifact {artifact_id!r} was not made by a tool, so it cannot be refreshed")
        call = self.prepare(source["tool"], source.get("params") or {})
        outcome = await self.run(who, call, persist=False)
        if not outcome.ok:
            raise outcome.error
        if not outcome.result.artifacts:
            raise PennyError(f"{call.tool.name} returned no artifact to refresh {artifact_id!r} with",
                             code="refresh_failed")
        return self.artifacts.add_version(who, artifact_id, outcome.result.artifacts[0])

    async def run(self, who: Principal, call: Call, *, conversation_id: str | None = None,
                  persist: bool = True) -> Outcome:
        started = time.perf_counter()
        cancelled = False
        ctx = ToolContext(principal=who, warehouses=self.warehouses, config=self.config,
                          today=self.config.today(), cancelled=lambda: cancelled)
        try:
            # Tools are blocking (DuckDB); a thread keeps the event loop answering other sockets.
            result = await asyncio.wait_for(asyncio.to_thread(call.tool.run, ctx, call.params),
                                            timeout=self.config.tool_timeout)
            stored = [self.artifacts.save(who, d, conversation_id) for d in result.artifacts] if persist else []
            return Outcome(call, True, _ms(started), result=result, artifacts=stored)
        except asyncio.CancelledError:
            cancelled = True  # the tool's thread sees ctx.cancelled() and can stop early
            ctx.interrupt()
            raise
        except asyncio.TimeoutError:
            cancelled = True
            ctx.interrupt()
            err = ToolTimeout(f"{call.tool.name} took longer than {self.config.tool_timeout:g} s and was stopped; "
                              "try a shorter period or a narrower question")
            return Outcome(call, False, _ms(started), error=err)
        except PennyError as e:
            return Outcome(call, False, _ms(started), error=e)
        except Exception:  # a bug in a tool: log it here, tell the client only that it failed
            log.exception("tool %s failed", call.tool.name)
            err = PennyError(f"{call.tool.name} failed unexpectedly; the error was logged on the server",
                             code="tool_failed")
            return Outcome(call, False, _ms(started), error=err)


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
