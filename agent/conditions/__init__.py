"""Conditions: what success means, parsed once at load into small typed checks."""
