"""ECO² scan."""
