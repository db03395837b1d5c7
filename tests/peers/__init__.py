"""Real loopback peers (HTTP, TLS, raw TCP) that tests start on port 0."""
