"""Focus Mate moderation: reports, and what moderators do about users, posts and comments."""
