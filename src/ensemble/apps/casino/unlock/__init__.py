"""Age-gated content unlock (B5): staged content unlocked stage by stage with coins, for
verified adults only, behind `CASINO_UNLOCK_ENABLED`."""
