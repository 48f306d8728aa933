"""Missions (B3): definitions as data, progress from members' actions per window, each
window's reward claimed once."""
