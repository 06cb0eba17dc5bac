"""Which model answers: the built-in router, an Ollama model or an OpenAI-compatible one, chosen from
PennyConfig.model.

- "builtin": the offline router, always.
- "ollama:<model>": that Ollama model; when it fails the turn says so and (fallback_to_builtin) the
  router answers instead.
- "openai:<model>": that model on the OpenAI-compatible server at `openai_base_url` (llama.cpp's server,
  vLLM, LM Studio, LiteLLM, OpenAI); it fails and falls back the same way.
- "auto": Ollama when `GET /api/tags` answers within ~1 s and `ollama_model` is pulled, else the
  router. The probe is cached ~30 s, so a turn never waits on it twice.

A message may name its own model ("builtin", "ollama:<name>" or "openai:<name>") to override the default for one turn.
BuiltinBackend adapts the router to the Model interface: one tool call routed from the last user
message; after the tool result comes back, it streams the tool's summary, as Penny always has.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, AsyncIterator, Callable

from ..errors import BadRequest
from .base import Clarify, Done, Model, ModelEvent, TextDelta, ToolCallRequest
from .ollama import OllamaBackend, host_of, probe
from .openai_compat import OpenAIBackend, api_key_of, base_url_of, probe as openai_probe

if TYPE_CHECKING:
    from ..settings import PennyConfig
    from ..tools.base import Tool

BUILTIN = "builtin"
PROBE_TIMEOUT = 1.0
PROBE_TTL = 30.0  # one cached probe per selector: which models Ollama has is at most this many seconds old
MAX_OLLAMA_BACKENDS = 32  # backends kept, one per model name asked for (a frame may name any): oldest go first
_ids = itertools.count(1)


# ------------------------------------------------------------------ the built-in router as a Model


class BuiltinBackend:
    """The offline router behind the Model interface. `router.route(text)` returns a Route, a
    Clarification (question + suggestions), or None (then it answers with what it can do)."""

    def __init__(self, router) -> None:
        self.router = router

    @property
    def name(self) -> str:
        return getattr(self.router, "name", BUILTIN) or BUILTIN

    async def stream(self, messages: list[dict[str, Any]], tools: list["Tool"]) -> AsyncIterator[ModelEvent]:
        last = messages[-1] if messages else {"role": "user", "content": ""}
        if last.get("role") == "tool":
            for chunk in chunks(_after_tool(last)):
                yield TextDelta(chunk)
            yield Done({})
            return
        asked = next((m for m in reversed(messages) if m.get("role") == "user"), {})
        text = asked.get("content") or ""
        route = self.router.route(text)
        if asked.get("context") and RUN_IT.fullmatch(text) and (route is None or hasattr(route, "question")):
            # "run this" about the attached cell: the cell's SQL or Python is the request
            route = self.router.route(asked["context"])
        if route is None:
            from .builtin import help_reply

            yield Clarify(*help_reply(self.router, text))
        elif hasattr(route, "question"):  # Clarification(question, suggestions)
            yield Clarify(str(route.question), [str(s) for s in (getattr(route, "suggestions", None) or [])])
        else:
            yield TextDelta(intro(route.tool, route.params))
            yield ToolCallRequest(id=f"route_{next(_ids)}", name=route.tool, arguments=dict(route.params))
        yield Done({})


# A request to run what the person attached, and nothing else: "run this", "please execute the cell". Not "why does
# this run slowly?" or "don't run this": those are questions about the cell.
RUN_IT = re.compile(r"\s*(please\s+)?(run|execute)(\s+(it|this|that|(the|this|that|my)\s+(cell|code|query|sql)))?"
                    r"(\s+please)?\s*[.!]?\s*", re.I)


def _after_tool(msg: dict[str, Any]) -> str:
    """The answer after the routed tool ran, from the outcome the turn attached to the tool message."""
    meta = msg.get("penny") or {}
    tool = meta.get("tool") or msg.get("tool_name") or "the tool"
    if meta.get("ok"):
        out = "\n\n" + (meta.get("text") or "")
        if meta.get("artifacts"):
            out += "\n\n" + attached(meta["artifacts"])
        return out
    err = meta.get("error") or {"code": "unknown", "message": msg.get("content") or "unknown error"}
    if meta.get("stage") == "prepare":
        return f"\n\nI could not run that: {err['message']}"
    m = err.get("message") or "unknown error"
    if err.get("code") == "rate_limited":
        return f"\n\nI did not run that: you have made too many tool calls for now. {m[0].upper()}{m[1:]}."
    if err.get("code") == "sql_refused":  # the tool card under the answer holds the whole message
        if "statements are not allowed" in m:
            return f"\n\nPenny only runs read-only queries, so I did not run that ({m.split(' (')[0].split(';')[0]})."
        why = m.split("; ")[0]
        return f"\n\nI did not run that query: {why}. Write a single SELECT (or WITH ... SELECT)."
    # The error is shown in full above the answer (the sidebar's tool card, a cell's ✗ line): said once, not twice.
    return f"\n\n{_DOING.get(tool, 'That')} did not work; the error is above."


def attached(artifacts: list[dict[str, Any]]) -> str:
    """'The chart and the table are below.' Insert into notebook (the card) and `%penny show` do the rest; an
    answer does not teach commands or show ids."""
    kinds = [a["type"] for a in artifacts]
    names = " and ".join(f"the {k}" for k in kinds)
    return f"{names[0].upper()}{names[1:]} {'is' if len(kinds) == 1 else 'are'} below."


# What a failed tool was doing, in words (an answer never names a tool).
_DOING = {"run_sql": "The query", "query_metric": "Looking up the metric", "get_company_kpis": "Looking up the KPIs",
          "load_dashboard": "Opening the dashboard", "describe_data": "Listing the data", "run_python": "The code"}


def intro(tool: str, params: dict[str, Any]) -> str:
    from ..data.periods import PERIOD_WORDS

    period = PERIOD_WORDS.get(params.get("period", "") or "", "")
    if tool == "get_company_kpis":
        unit = params.get("unit", "company")
        who = "the company" if unit == "company" else unit
        return f"Checking the KPIs for {who} {period}…"
    if tool == "load_dashboard":
        name = params["slug"].replace("-", " ")
        return f"Opening the **{name}** dashboard{(' for ' + period) if period else ''}."
    if tool == "query_metric":
        what = str(params.get("metric", "the metric")).replace("_", " ")
        by = f" by {params['by']}" if params.get("by") else ""
        top = f" (top {params['top']})" if params.get("top") else ""
        when = PERIOD_WORDS.get(str(params.get("period", "")), params.get("period") or "")
        return f"Looking up **{what}**{by}{top}{(' for ' + when) if when else ''}…"
    if tool == "describe_data":
        return "Listing the tables and metrics I can see…"
    if tool == "run_sql":
        return "Running your query against the warehouse…"
    if tool == "run_python":
        return "Running your code in the sandbox…"
    return "Working on it…"  # a plugin's tool: its card names it


def chunks(text: str) -> list[str]:
    """Stream line by line: a person sees the answer build up, and each delta stays small."""
    return [c for c in re.split(r"(?<=\n)", text) if c]


# ------------------------------------------------------------------ selection


@dataclass
class Selection:
    model: Model
    id: str
    reason: str


@dataclass
class _Probe:
    at: float
    ok: bool
    models: list[str]
    error: str


_MODEL_ID = re.compile(r"^(builtin|auto|ollama:[A-Za-z0-9_.:/\-]{1,200}|openai:[A-Za-z0-9_.:/@\-]{1,200})$")


def parse_model_id(value: str) -> str:
    """'builtin', 'auto', 'ollama:<name>' or 'openai:<name>'; BadRequest with a sentence otherwise."""
    value = (value or "").strip()
    if not _MODEL_ID.match(value):
        raise BadRequest(f"unknown model {value!r}; use 'builtin', 'auto', 'ollama:<model name>' or "
                         "'openai:<model name>'", code="unknown_model")
    return value


def pulled_name(wanted: str, pulled: list[str]) -> str | None:
    """The pulled model `wanted` refers to: exact, or 'llama3.2' for 'llama3.2:latest'."""
    if wanted in pulled:
        return wanted
    base = wanted if ":" in wanted else f"{wanted}:latest"
    return base if base in pulled else None


class ModelSelector:
    def __init__(self, config: "PennyConfig", router: Any = None, *, router_factory: Callable[[], Any] | None = None,
                 clock: Callable[[], float] = time.monotonic, probe_timeout: float = PROBE_TIMEOUT,
                 probe_ttl: float = PROBE_TTL, model: str | None = None) -> None:
        self.config = config
        self._model = model  # overrides config.model (a ChatService built without a selector: "builtin")
        self._router, self._router_factory = router, router_factory
        self.clock, self.probe_timeout, self.probe_ttl = clock, probe_timeout, probe_ttl
        self._builtin: BuiltinBackend | None = None
        self._ollama: dict[str, OllamaBackend] = {}
        self._openai: dict[str, OpenAIBackend] = {}
        self._probes: dict[str, _Probe] = {}  # "ollama" / "openai" -> the last answer
        self._probe_locks: dict[str, asyncio.Lock] = {}

    @property
    def builtin(self) -> BuiltinBackend:
        if self._builtin is None:
            router = self._router
            if router is None:
                if self._router_factory is not None:
                    router = self._router_factory()
                else:
                    from .builtin import BuiltinRouter

                    router = BuiltinRouter()
            self._builtin = BuiltinBackend(router)
        return self._builtin

    def ollama(self, model: str) -> OllamaBackend:
        """A backend holds no answers, only the name and clients, so keeping one is never stale; the map is bounded."""
        if model not in self._ollama:
            while len(self._ollama) >= MAX_OLLAMA_BACKENDS:
                self._ollama.pop(next(iter(self._ollama)))
            self._ollama[model] = OllamaBackend(model, self.config)
        return self._ollama[model]

    def openai(self, model: str) -> OpenAIBackend:
        """As `ollama`: one per model name, bounded."""
        if model not in self._openai:
            while len(self._openai) >= MAX_OLLAMA_BACKENDS:
                self._openai.pop(next(iter(self._openai)))
            self._openai[model] = OpenAIBackend(model, self.config)
        return self._openai[model]

    @property
    def openai_base_url(self) -> str:
        return base_url_of(self.config)

    @property
    def host(self) -> str:
        return host_of(self.config)

    @property
    def configured(self) -> str:
        try:
            return parse_model_id(self._model or getattr(self.config, "model", "") or "auto")
        except BadRequest:
            return "auto"

    def configured_id(self) -> str:
        """The default model's id without asking Ollama anything (for places that cannot wait)."""
        conf = self.configured
        if conf == "auto":
            p = self._probes.get("ollama")
            if p and p.ok and (name := pulled_name(self.config.ollama_model, p.models)):
                return f"ollama:{name}"
            return BUILTIN
        return conf

    async def probe(self, force: bool = False) -> _Probe:
        """Ollama's `GET /api/tags`, cached for probe_ttl."""
        return await self._cached("ollama", lambda: probe(self.host, self.probe_timeout), force)

    async def probe_openai(self, force: bool = False) -> _Probe:
        """The OpenAI-compatible server's `GET /models`, cached for probe_ttl."""
        return await self._cached("openai", lambda: openai_probe(
            self.openai_base_url, api_key_of(self.config), self.config.openai_api_key_env, self.probe_timeout), force)

    async def _cached(self, which: str, ask: Callable[[], Any], force: bool) -> _Probe:
        def fresh() -> _Probe | None:
            p = self._probes.get(which)
            return p if not force and p is not None and self.clock() - p.at < self.probe_ttl else None

        if (p := fresh()) is not None:
            return p
        try:
            async with self._probe_locks.setdefault(which, asyncio.Lock()):
                if (p := fresh()) is not None:
                    return p
                ok, models, error = await ask()
                self._probes[which] = _Probe(self.clock(), ok, models, error)
        except RuntimeError:  # the lock was made on another (closed) event loop
            self._probe_locks[which] = asyncio.Lock()
            ok, models, error = await ask()
            self._probes[which] = _Probe(self.clock(), ok, models, error)
        return self._probes[which]

    async def select(self, override: str | None = None) -> Selection:
        choice = parse_model_id(override) if override else self.configured
        if choice == BUILTIN:
            why = "chosen for this message" if override else 'configured (PennyConfig.model = "builtin")'
            return Selection(self.builtin, BUILTIN, f"The built-in offline router: {why}.")
        if choice.startswith("ollama:"):
            model = choice.split(":", 1)[1]
            why = "chosen for this message" if override else "configured"
            return Selection(self.ollama(model), choice, f"Ollama model {model} at {self.host}, {why}.")
        if choice.startswith("openai:"):
            model = choice.split(":", 1)[1]
            why = "chosen for this message" if override else "configured"
            return Selection(self.openai(model), choice,
                             f"Model {model} on the OpenAI-compatible server at {self.openai_base_url}, {why}.")
        p = await self.probe()
        wanted = self.config.ollama_model
        if not p.ok:
            return Selection(self.builtin, BUILTIN, f"The built-in offline router: {p.error}.")
        name = pulled_name(wanted, p.models)
        if name is None:
            return Selection(self.builtin, BUILTIN, f"The built-in offline router: Ollama at {self.host} answers "
                                                    f"but {wanted!r} is not pulled (`ollama pull {wanted}`).")
        return Selection(self.ollama(name), f"ollama:{name}",
                         f"Ollama model {name} at {self.host} (found automatically).")

    async def describe(self) -> dict[str, Any]:
        """{active, reason, models: [{id, label, available, reason?}]}: builtin, every pulled Ollama model and
        the configured OpenAI-compatible one (available while its server answers `GET /models`)."""
        sel = await self.select()
        p = await self.probe()
        reason = sel.reason
        models: list[dict[str, Any]] = [{"id": BUILTIN, "label": "Built-in router (offline)", "available": True}]
        for name in p.models:
            models.append({"id": f"ollama:{name}", "label": f"{name} (Ollama)", "available": True})
        listed = {m["id"] for m in models}
        wanted: list[str] = []
        if sel.id.startswith("ollama:"):
            wanted.append(sel.id.split(":", 1)[1])
        if self.configured == "auto":
            wanted.append(self.config.ollama_model)
        for name in wanted:
            if p.ok and pulled_name(name, p.models):
                continue
            mid = f"ollama:{name}"
            if mid in listed:
                continue
            listed.add(mid)
            why = p.error if not p.ok else f"not pulled on {self.host} (`ollama pull {name}`)"
            models.append({"id": mid, "label": f"{name} (Ollama)", "available": False, "reason": why})
        if sel.id.startswith("ollama:") and not p.ok:
            then = ("the built-in router answers instead" if self.config.fallback_to_builtin
                    else "messages to it fail")
            reason = f"{reason} {p.error}; until it answers, {then}."
        if sel.id.startswith("openai:"):
            name = sel.id.split(":", 1)[1]
            o = await self.probe_openai()
            entry: dict[str, Any] = {"id": sel.id, "label": f"{name} (OpenAI-compatible)", "available": o.ok}
            if not o.ok:
                entry["reason"] = o.error
                then = ("the built-in router answers instead" if self.config.fallback_to_builtin
                        else "messages to it fail")
                reason = f"{reason} {o.error[0].upper()}{o.error[1:]}; until it answers, {then}."
            elif o.models and name not in o.models:
                entry["reason"] = (f"{self.openai_base_url} does not list {name!r} (it lists "
                                   f"{', '.join(o.models[:5])}); a server with one model, like llama.cpp's, "
                                   "answers to any name")
            models.append(entry)
        return {"active": sel.id, "reason": reason, "models": models}
