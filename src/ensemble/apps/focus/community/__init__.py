"""Focus Mate community: posts, comments and likes."""
