"""Campaigns: a notification to a segment, scheduled to the minute, cancellable before."""
