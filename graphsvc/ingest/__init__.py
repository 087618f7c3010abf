"""Ingest: the engine that applies batches and runs, the importer contract and the import runner."""
