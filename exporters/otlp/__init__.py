"""OpenTelemetry over OTLP: metrics, traces and their export, off unless configured."""
