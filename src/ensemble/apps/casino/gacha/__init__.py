"""The gacha (A4): banners, versioned rate tables published before they apply, hard pity
per member and banner, pulls paid through the ledger, duplicates to shards, history."""
