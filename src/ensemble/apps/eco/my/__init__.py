"""ECO² my."""
