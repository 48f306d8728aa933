"""Notifications: each user's inbox, delivered live on their socket and, through jobs and the
user's preferences, by e-mail and push to their registered devices."""
