"""Traces and metrics of fires, receivers and background deliveries (extra ``otel``)."""
