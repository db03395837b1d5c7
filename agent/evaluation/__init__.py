"""From results to meaning: thresholds, integration state, later compliance."""
