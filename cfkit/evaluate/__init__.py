"""cfkit.evaluate."""
