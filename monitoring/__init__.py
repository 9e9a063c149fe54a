"""monitoring room (next stages)."""
