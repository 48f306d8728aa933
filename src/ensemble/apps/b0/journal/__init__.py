"""B0 journal."""
