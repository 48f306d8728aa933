"""Responsible play (B2): limits, cool-off, self-exclusion, reality checks, and the charge
every bet, pull and purchase goes through."""
