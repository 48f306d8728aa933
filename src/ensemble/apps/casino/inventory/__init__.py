"""A member's inventory: items and shards, granted by the gacha, rewards and the shop."""
