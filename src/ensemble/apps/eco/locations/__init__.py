"""ECO² locations."""
