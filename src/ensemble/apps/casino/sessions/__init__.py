"""Game sessions (one open per member) and the play stats read from hands and sessions."""
