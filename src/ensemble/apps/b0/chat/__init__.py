"""B0 chat."""
