"""Oversight: a sidecar agent that watches a bank's integrations and exports what it sees."""

__version__ = "0.1.0"
