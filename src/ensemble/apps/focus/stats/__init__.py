"""Sessions and stats: a user's focus sessions (list, goal), and their totals, per-day series
and streaks over local days."""
