"""serving room (next stages)."""
