"""OpenAIBackend: any server that speaks OpenAI's chat-completions API, through the `openai` client.

llama.cpp's server, vLLM, LM Studio, a LiteLLM proxy and OpenAI itself all answer
`POST {base_url}/chat/completions` with streamed Server-Sent Events, so one backend serves them all. The
turn speaks Ollama-style message dicts; they are translated here (tool calls get ids and JSON-string
arguments, tool results the id of their call). Streamed tool calls arrive in fragments by index and are
put together before the turn sees them.

The API key is read from the environment variable `openai_api_key_env` names, never from config, and never
logged or echoed (a 401 body quotes the key it was sent, so its words are not passed on). A local server
needs none: "none" is sent when the variable is unset. Every way the server can fail becomes one
ModelUnavailable with a sentence a person can act on. The client retries nothing (the turn falls back
instead) and its stream is closed on every exit, cancellation included, so a stopped turn stops the server.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
from typing import TYPE_CHECKING, Any, AsyncIterator

from ..errors import ModelUnavailable
from .base import Done, ModelEvent, ServerBackend, TextDelta, ToolCallRequest
from .ollama import _aclose, _arguments

if TYPE_CHECKING:
    from ..settings import PennyConfig
    from ..tools.base import Tool

log = logging.getLogger("penny.models")

DEFAULT_BASE_URL = "https://api.openai.com/v1"
NO_KEY = "none"  # what a local server that checks nothing is sent
_ids = itertools.count(1)


def base_url_of(config: "PennyConfig") -> str:
    return (config.openai_base_url or DEFAULT_BASE_URL).rstrip("/")


def api_key_of(config: "PennyConfig") -> str:
    return os.environ.get(config.openai_api_key_env or "", "") or NO_KEY


class OpenAIBackend(ServerBackend):
    def __init__(self, model: str, config: "PennyConfig") -> None:
        super().__init__()
        self.model = model
        self.name = f"openai:{model}"
        self.config = config
        self.base_url = base_url_of(config)
        self.key_env = config.openai_api_key_env

    def _new_client(self):
        import openai

        return openai.AsyncOpenAI(base_url=self.base_url, api_key=api_key_of(self.config),
                                  timeout=self.config.openai_timeout, max_retries=0)

    async def stream(self, messages: list[dict[str, Any]], tools: list["Tool"]) -> AsyncIterator[ModelEvent]:
        import openai

        it = None
        started = False  # the server accepted the request: a connection error now is a broken stream
        try:
            schemas = self.schemas(tools)
            extra: dict[str, Any] = {"tools": schemas} if schemas else {}
            it = await self._client().chat.completions.create(
                model=self.model, messages=to_openai(messages), stream=True,
                temperature=self.config.model_temperature,
                stream_options={"include_usage": True}, **extra)
            started = True
            calls: dict[int, dict[str, str]] = {}  # index -> {id, name, arguments so far}
            finish: str | None = None
            usage: dict[str, Any] = {}
            async for chunk in it:
                if getattr(chunk, "usage", None):
                    usage = {k: v for k, v in chunk.usage.model_dump().items() if isinstance(v, int)}
                for choice in chunk.choices or ():
                    delta = choice.delta
                    if delta is not None and delta.content:
                        yield TextDelta(delta.content)
                    for n, tc in enumerate((delta.tool_calls if delta is not None else None) or ()):
                        call = calls.setdefault(tc.index if tc.index is not None else n,
                                                {"id": "", "name": "", "arguments": ""})
                        call["id"] = call["id"] or (tc.id or "")
                        if tc.function is not None:
                            call["name"] += tc.function.name or ""
                            call["arguments"] += tc.function.arguments or ""
                    if choice.finish_reason and finish is None:
                        finish = choice.finish_reason
                        for _, call in sorted(calls.items()):
                            yield ToolCallRequest(id=call["id"] or f"call_{next(_ids)}", name=call["name"],
                                                  arguments=_arguments(call["arguments"] or None))
            if finish is None:
                raise ModelUnavailable(f"{self.name} at {self.base_url} ended its answer early, without saying "
                                       "it was done.", code="model_stream_broken")
            yield Done({**usage, "finish_reason": finish})
        except ModelUnavailable:
            raise
        except openai.APITimeoutError:
            raise ModelUnavailable(f"{self.name} at {self.base_url} took longer than "
                                   f"{self.config.openai_timeout:g} s to answer, so I stopped waiting.",
                                   code="model_timeout") from None
        except openai.APIConnectionError as e:
            if started:
                log.info("stream from %s broke: %s", self.base_url, type(e.__cause__ or e).__name__)
                raise ModelUnavailable(f"The connection to {self.base_url} dropped in the middle of the answer.",
                                       code="model_stream_broken") from None
            log.info("%s unreachable: %s", self.base_url, type(e.__cause__ or e).__name__)
            raise ModelUnavailable(f"I could not reach the OpenAI-compatible server at {self.base_url}; is it "
                                   "running, and is PennyConfig.openai_base_url right?",
                                   code="model_unreachable") from None
        except openai.APIStatusError as e:
            raise _status_error(self, e.status_code, e.body) from None
        except openai.APIError as e:  # an error event in the middle of the stream
            text = _redact(_message(e.body) or e.message, self.key_env)
            raise ModelUnavailable(f"{self.name} reported an error in the middle of the answer: {text}.",
                                   code="model_error") from None
        except ValueError as e:  # a data line that is not JSON
            log.info("%s sent a line that is not JSON: %s", self.base_url, type(e).__name__)
            raise ModelUnavailable(f"{self.name} at {self.base_url} sent something that is not a valid answer.",
                                   code="model_stream_broken") from None
        finally:
            if it is not None:
                # Closes the HTTP response at once (on cancel too): the server sees the client go and stops.
                await asyncio.shield(_aclose(it))


def _status_error(backend: OpenAIBackend, status: int, body: Any) -> ModelUnavailable:
    env = backend.key_env
    if status in (401, 403):
        # The server's own words may quote the key: never pass them on.
        if os.environ.get(env or ""):
            what = f"refused the API key in the environment variable {env}; set {env} to a valid key for it"
        else:
            what = f"needs an API key; set the environment variable {env} to one"
        return ModelUnavailable(f"The OpenAI-compatible server at {backend.base_url} {what} (HTTP {status}) and "
                                "restart Jupyter.", code="model_unauthorized")
    if status == 404:
        return ModelUnavailable(f"The server at {backend.base_url} has no model {backend.model!r} (HTTP 404): "
                                f"`GET {backend.base_url}/models` lists the ones it has, and an OpenAI-compatible "
                                "base URL usually ends in /v1.", code="model_not_found")
    text = _redact(_message(body) or "no details", env)
    return ModelUnavailable(f"{backend.name} at {backend.base_url} refused the request (HTTP {status}): {text}.",
                            code="model_error")


def _message(body: Any) -> str:
    if isinstance(body, dict):
        return str(body.get("message") or body.get("error") or "")
    return str(body or "")[:300]


def _redact(text: str, key_env: str) -> str:
    """The server's words, minus the key should it echo it back."""
    key = os.environ.get(key_env or "")
    return text.replace(key, "<redacted>") if key else text


def to_openai(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Penny's Ollama-style messages as OpenAI chat messages. An assistant's tool calls get ids call_1,
    call_2, ... in order and JSON-string arguments; each following tool message takes the id of the first
    unanswered call of its tool (else the first unanswered one)."""
    out: list[dict[str, Any]] = []
    ids = itertools.count(1)
    pending: list[tuple[str, str]] = []  # (id, tool name) of calls not yet answered
    for m in messages:
        role = m.get("role")
        if role == "assistant" and m.get("tool_calls"):
            calls = []
            for tc in m["tool_calls"]:
                fn = tc.get("function") or {}
                args = fn.get("arguments")
                cid = f"call_{next(ids)}"
                pending.append((cid, fn.get("name", "")))
                calls.append({"id": cid, "type": "function", "function": {
                    "name": fn.get("name", ""),
                    "arguments": args if isinstance(args, str) else json.dumps(args or {})}})
            out.append({"role": "assistant", "content": m.get("content") or None, "tool_calls": calls})
        elif role == "tool":
            match = next((p for p in pending if p[1] == m.get("tool_name")), pending[0] if pending else None)
            if match is None:
                cid = f"call_{next(ids)}"
            else:
                pending.remove(match)
                cid = match[0]
            out.append({"role": "tool", "tool_call_id": cid, "content": m.get("content") or ""})
        else:
            out.append({"role": role, "content": m.get("content") or ""})
    return out


async def probe(base_url: str, api_key: str, key_env: str, timeout: float = 1.0) -> tuple[bool, list[str], str]:
    """(answered, model ids, why not) from `GET {base_url}/models` within `timeout` seconds."""
    import httpx

    try:
        async with httpx.AsyncClient(timeout=timeout) as client:
            r = await client.get(f"{base_url}/models", headers={"Authorization": f"Bearer {api_key}"})
            if r.status_code in (401, 403):
                return False, [], (f"the server at {base_url} refused the API key (HTTP {r.status_code}); set the "
                                   f"environment variable {key_env}")
            r.raise_for_status()
            names = [m.get("id") for m in (r.json().get("data") or []) if isinstance(m, dict)]
            return True, [n for n in names if n], ""
    except httpx.TimeoutException:
        return False, [], f"the server at {base_url} did not answer within {timeout:g} s"
    except httpx.HTTPStatusError as e:
        return False, [], f"the server at {base_url} answered HTTP {e.response.status_code} to GET /models"
    except (httpx.HTTPError, OSError, ValueError, AttributeError) as e:
        return False, [], f"no OpenAI-compatible server is answering at {base_url} ({type(e).__name__})"
