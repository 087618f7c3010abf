"""The graph vocabulary, the ingest batch format and the records read back: pure domain, no I/O."""
