"""xview Processing provider and algorithms."""
