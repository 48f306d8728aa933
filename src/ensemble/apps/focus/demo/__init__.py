"""The example client page."""
