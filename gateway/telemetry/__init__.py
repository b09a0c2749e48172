"""Observability: OpenTelemetry traces, Prometheus metrics, JSON logs with redaction, audit events.

ARCHITECTURE.md names a single ``telemetry.py``; it grew into a package of small modules instead:

- ``redaction``  the log filter that keeps tokens, secrets and session ids out of every log line
- ``logs``       request ids (a context variable), the JSON formatter and ``configure_logging``
- ``tracing``    tracer provider set-up (Application Insights, OTLP or nothing) and W3C propagation
- ``metrics``    the gateway's Prometheus registry, with bounded label values
- ``audit``      who did what: ``AuditEvent`` and its emitter
- ``http``       the ASGI middleware for request ids and control-plane spans and metrics
- ``mcp``        the per-request observation used by the MCP proxy

This ``__init__`` imports nothing, so ``gateway.services`` can use ``gateway.telemetry.audit`` without
pulling in the web framework.
"""
