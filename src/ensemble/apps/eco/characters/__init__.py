"""ECO² characters."""
