"""Live rooms: the room WebSocket (snapshot, clock sync, presence, chat) and room presence
kept across server processes."""
