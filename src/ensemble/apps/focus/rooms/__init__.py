"""Rooms and their membership: create, list, settings, join and leave, ownership, kicks and
bans, and the moderators' closing of rooms."""
