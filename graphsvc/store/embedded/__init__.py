"""The embedded store: SQLite (WAL) as the durable truth, an in-memory index for traversal."""
