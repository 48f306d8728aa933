"""B0 travel."""
