"""1:1 messages: conversations between two users, their messages with exact unread counts,
live delivery to both users' sockets, and blocks."""
