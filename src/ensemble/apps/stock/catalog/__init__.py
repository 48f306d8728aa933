"""Categories and products of a store."""
