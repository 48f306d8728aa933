"""ECO² chat."""
