"""ECO² images."""
