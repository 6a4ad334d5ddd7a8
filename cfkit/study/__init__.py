"""cfkit.study."""
