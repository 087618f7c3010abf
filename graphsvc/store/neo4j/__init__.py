"""The Neo4j backend of the store port."""
