"""The docs' collector-free set-up (docs/tracing.md): OpenTelemetry's console exporter."""

from __future__ import annotations

from pathlib import Path


def export_spans_to(path: Path) -> None:
    """Install the SDK, every finished span written to ``path`` as one JSON line."""
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

    out = path.open("a", encoding="utf-8", buffering=1)  # line-buffered: a killed process keeps it
    exporter = ConsoleSpanExporter(out=out, formatter=lambda span: span.to_json(indent=None) + "\n")
    provider = TracerProvider(resource=Resource.create({"service.name": "traced-site"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
