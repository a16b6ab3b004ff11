"""Optional OpenTelemetry traces: FastAPI request spans and psycopg query spans.

Off unless ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set (OpenTelemetry's own variable, read by
its SDK with the rest of ``OTEL_*``: ``OTEL_SERVICE_NAME``, headers, timeouts) and the
optional packages are installed (``pip install 'casestore[otel]'``). Spans go to the
collector over OTLP/HTTP in batches, off the request path. Without the packages a set
endpoint is reported once in the log and the API runs untraced.
"""

from __future__ import annotations

import logging
import os
from typing import Any

log = logging.getLogger("casestore.api.tracing")
ENDPOINT = "OTEL_EXPORTER_OTLP_ENDPOINT"


def install_tracing(app: Any) -> Any:
    """Instrument ``app`` and psycopg when an OTLP endpoint is configured; the tracer
    provider (``shutdown()`` flushes it), or None when tracing is off."""
    if not os.environ.get(ENDPOINT):
        return None
    try:
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
        from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as e:
        log.warning(
            "%s is set but OpenTelemetry is not installed (pip install 'casestore[otel]'): "
            "no traces (%s)",
            ENDPOINT,
            e,
        )
        return None
    name = os.environ.get("OTEL_SERVICE_NAME") or "casestore"
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    FastAPIInstrumentor.instrument_app(app, tracer_provider=provider)
    PsycopgInstrumentor().instrument(tracer_provider=provider, skip_dep_check=True)
    log.info("OpenTelemetry traces to %s as %s", os.environ[ENDPOINT], name)
    return provider
