"""Casino-Club: invite-only members play a slot and a gacha with virtual currency."""
