"""Feedback (B3): the message and animation a client shows after an action."""
