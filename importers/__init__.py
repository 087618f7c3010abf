"""Importers: one package per tool, turning its output into ingest items.

They are found through the entry point group ``graphsvc.importers``.
"""
