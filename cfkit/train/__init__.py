"""cfkit.train."""
