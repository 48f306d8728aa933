"""VIP tiers (B3): rules as data, automatic upgrades, downgrades at period end after one
period of grace, the benefits (shop discount, daily bonus coins, exclusive banners)."""
