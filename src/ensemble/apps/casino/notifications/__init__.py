"""A member's notifications: the inbox with gap-free per-member ids, and their live delivery."""
