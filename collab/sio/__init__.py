"""Socket.IO adapter: maps Socket.IO events to the core's sessions, and the lean WebSocket transport under it."""
