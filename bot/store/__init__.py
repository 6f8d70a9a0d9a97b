"""Persistence: SQLModel tables, the database engine and the thread the store runs in."""
