"""Views over the agent's results: Prometheus today, OpenTelemetry beside it."""
