"""The benchmark harness: the agent side by side with blackbox_exporter (see bench/README.md)."""
