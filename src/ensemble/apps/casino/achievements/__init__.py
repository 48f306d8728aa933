"""Achievements: a catalogue (data), progress per member from `casino.action` events,
each unlocked and rewarded once."""
