"""The Neo4j backend of the store port (``GRAPHSVC_STORE=neo4j``).

``store`` holds :class:`~graphsvc.store.neo4j.store.Neo4jStore` (driver glue),
``cypher`` every statement it sends (pure, golden-tested), ``codec`` and
``walk`` the pure logic it shares with no driver, ``errors`` the translation
of driver exceptions. Only the store factory imports this package.
"""
