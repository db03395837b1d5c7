"""Grafana dashboards for Oversight, generated from code (``python -m dashboards.build``)."""
