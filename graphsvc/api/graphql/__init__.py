"""GraphQL: schema, types, per-request context and DataLoaders."""
