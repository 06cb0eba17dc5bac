"""Traces of Penny's turns (OpenTelemetry), when an OTLP endpoint is configured.

One trace per turn: the socket frame, the turn, each model round, each tool call, its SQL, the artifact
write. Attributes name the tenant, the tool, the model and how things ended, never a data value, a tool
parameter or message text. Without `PennyConfig.otlp_endpoint` or the standard OTEL_EXPORTER_OTLP_ENDPOINT
nothing of OpenTelemetry is imported, and a span costs one global lookup.
"""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from typing import Any, Iterator

log = logging.getLogger("penny.tracing")

_tracer = None


def configure(config) -> None:
    """Export spans over OTLP/HTTP when an endpoint is set (once per process: the provider is global)."""
    endpoint = config.otlp_endpoint or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "")
    if not endpoint or _tracer is not None:
        return
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        log.error("Penny: tracing to %s needs `pip install \"penny-jupyter[tracing]\"`; no traces are sent", endpoint)
        return
    # The standard variable is the collector's base URL (the exporter adds /v1/traces); ours may be either.
    url = None if not config.otlp_endpoint else (
        endpoint if endpoint.rstrip("/").endswith("/v1/traces") else endpoint.rstrip("/") + "/v1/traces")
    from opentelemetry import trace

    provider = TracerProvider(resource=Resource.create({"service.name": "penny"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=url)))
    trace.set_tracer_provider(provider)  # the process's provider: flushed at exit, and for other libraries' spans
    use(provider)
    log.info("Penny: sending traces to %s", url or endpoint)


def use(provider) -> None:
    """Trace into `provider` (an SDK TracerProvider): configure() above, or a test's in-memory exporter."""
    global _tracer
    _tracer = provider.get_tracer("penny") if provider is not None else None


@contextmanager
def span(name: str, **attributes: Any) -> Iterator[Any]:
    """A child of the current span (contextvars: it follows awaits and asyncio.to_thread); the span, or None when
    not tracing. Attribute names are given without the `penny.` prefix."""
    if _tracer is None:
        yield None
        return
    attrs = {f"penny.{k}": v for k, v in attributes.items() if v is not None}
    with _tracer.start_as_current_span(name, attributes=attrs) as current:
        yield current
