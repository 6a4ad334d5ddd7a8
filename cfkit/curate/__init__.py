"""cfkit.curate."""
