"""The Prometheus view: a collector over the snapshot and the /metrics renderer."""
