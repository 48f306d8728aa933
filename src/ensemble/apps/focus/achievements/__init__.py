"""Achievements: a catalogue shipped as data, unlocked once per user by consuming session and
room events, each unlock published as `AchievementUnlocked`."""
