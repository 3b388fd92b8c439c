"""Long-term memory providers (local SQLite FTS5, Honcho) behind ``hermes.messages.memory``."""
