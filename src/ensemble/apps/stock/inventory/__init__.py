"""Stock movements (the append-only log) and current stock."""
