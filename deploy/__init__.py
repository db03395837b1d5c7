"""Deployment examples: the container image, Kubernetes manifests and a local Compose stack."""
