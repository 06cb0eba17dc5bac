"""OllamaBackend: a local Ollama server through the `ollama` client (AsyncClient, streaming, tools).

Every way Ollama can fail (no server, not pulled, slower than the timeout, an error line mid-stream,
the connection dropping) becomes one ModelUnavailable with a sentence a person can act on. The
client's stream is closed on every exit, cancellation included, so a stopped turn stops Ollama too.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from typing import TYPE_CHECKING, Any, AsyncIterator

from ..errors import ModelUnavailable
from .base import Done, ModelEvent, ServerBackend, TextDelta, ToolCallRequest

if TYPE_CHECKING:
    from ..settings import PennyConfig
    from ..tools.base import Tool

log = logging.getLogger("penny.models")

DEFAULT_HOST = "http://127.0.0.1:11434"
_MESSAGE_KEYS = ("role", "content", "tool_name", "tool_calls")
_ids = itertools.count(1)


def host_of(config: "PennyConfig") -> str:
    return config.ollama_host or DEFAULT_HOST


class OllamaBackend(ServerBackend):
    def __init__(self, model: str, config: "PennyConfig") -> None:
        super().__init__()
        self.model = model
        self.name = f"ollama:{model}"
        self.config = config
        self.host = host_of(config)

    def _new_client(self):
        import ollama

        return ollama.AsyncClient(host=self.host, timeout=self.config.ollama_timeout)

    async def stream(self, messages: list[dict[str, Any]], tools: list["Tool"]) -> AsyncIterator[ModelEvent]:
        import httpx
        import ollama

        it = None
        try:
            it = await self._client().chat(model=self.model, messages=[_clean(m) for m in messages],
                                           tools=self.schemas(tools) or None, stream=True,
                                           options={"num_ctx": self.config.num_ctx,
                                                    "temperature": self.config.model_temperature})
            usage: dict[str, Any] = {}
            async for chunk in it:
                msg = chunk.message
                if msg is not None:
                    if msg.content:
                        yield TextDelta(msg.content)
                    for tc in msg.tool_calls or ():
                        args = _arguments(tc.function.arguments)
                        yield ToolCallRequest(id=f"tc_{next(_ids)}", name=tc.function.name,
                                              arguments=args)
                if chunk.done:
                    usage = {k: getattr(chunk, k) for k in ("prompt_eval_count", "eval_count", "total_duration",
                                                            "done_reason") if getattr(chunk, k, None) is not None}
                    break
            else:
                raise ModelUnavailable(f"Ollama ({self.name}) ended its answer early, without saying it was done.",
                                       code="model_stream_broken")
            yield Done(usage)
        except ModelUnavailable:
            raise
        except ollama.ResponseError as e:
            raise _response_error(self, e) from None
        except (ConnectionError, httpx.ConnectError, httpx.ConnectTimeout) as e:
            log.info("ollama at %s unreachable: %s", self.host, e)
            raise ModelUnavailable(f"I could not reach Ollama at {self.host}; is `ollama serve` running?",
                                   code="model_unreachable") from None
        except httpx.TimeoutException:
            raise ModelUnavailable(f"Ollama ({self.name}) took longer than {self.config.ollama_timeout:g} s to "
                                   "answer, so I stopped waiting.", code="model_timeout") from None
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.NetworkError) as e:
            log.info("ollama stream from %s broke: %s", self.host, e)
            raise ModelUnavailable(f"The connection to Ollama at {self.host} dropped in the middle of the answer.",
                                   code="model_stream_broken") from None
        except ValueError as e:  # a line that is not JSON
            log.info("ollama sent a line that is not JSON: %s", e)
            raise ModelUnavailable(f"Ollama ({self.name}) sent something that is not a valid answer.",
                                   code="model_stream_broken") from None
        finally:
            if it is not None:
                # Closes the HTTP response at once (on cancel too): Ollama sees the client go and stops.
                await asyncio.shield(_aclose(it))


async def _aclose(it) -> None:
    try:
        await it.aclose()
    except Exception:  # already broken: nothing left to close
        pass


def _response_error(backend: OllamaBackend, e) -> ModelUnavailable:
    status, text = getattr(e, "status_code", -1), str(getattr(e, "error", e))
    if status == 404 or "not found" in text.lower():
        return ModelUnavailable(f"The model {backend.model!r} is not pulled on the Ollama server at {backend.host}; "
                                f"run `ollama pull {backend.model}` there.", code="model_not_found")
    if status == -1:
        return ModelUnavailable(f"Ollama ({backend.name}) reported an error in the middle of the answer: {text}.",
                                code="model_error")
    return ModelUnavailable(f"Ollama ({backend.name}) refused the request (HTTP {status}): {text}.",
                            code="model_error")


def _arguments(raw: Any) -> Any:
    """Arguments as a dict when they can be read as one; anything else goes to the executor as it is
    (which answers with an error the model can read and recover from)."""
    if raw is None:
        return {}
    if isinstance(raw, str):
        from ..errors import BadRequest
        from ..protocol import load_json

        try:
            raw = load_json(raw, "the model's tool arguments")
        except BadRequest:
            return raw
    try:
        return dict(raw)
    except (TypeError, ValueError):
        return raw


def _clean(m: dict[str, Any]) -> dict[str, Any]:
    """Only the keys Ollama knows: the turn keeps its own bookkeeping in other keys."""
    return {k: m[k] for k in _MESSAGE_KEYS if k in m}


async def probe(host: str, timeout: float = 1.0) -> tuple[bool, list[str], str]:
    """(answered, pulled model names, why not) from `GET /api/tags` within `timeout` seconds."""
    import httpx

    try:
        async with httpx.AsyncClient(base_url=host, timeout=timeout) as client:
            r = await client.get("/api/tags")
            r.raise_for_status()
            names = [m.get("model") or m.get("name") for m in (r.json().get("models") or [])]
            return True, [n for n in names if n], ""
    except httpx.TimeoutException:
        return False, [], f"Ollama at {host} did not answer within {timeout:g} s"
    except httpx.HTTPStatusError as e:
        return False, [], f"Ollama at {host} answered HTTP {e.response.status_code}"
    except (httpx.HTTPError, OSError, ValueError) as e:
        return False, [], f"Ollama is not running at {host} ({type(e).__name__})"
