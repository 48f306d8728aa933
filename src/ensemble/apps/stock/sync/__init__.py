"""Offline batch sync and the gap-free change feed."""
