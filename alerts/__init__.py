"""Oversight's Prometheus rules as code: ``python -m alerts.build`` writes alerts/rules/*.yml."""
