"""Compliance: standard policies evaluated the same way for every integration, and their scores."""
