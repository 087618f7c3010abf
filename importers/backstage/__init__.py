"""Backstage catalog importer (entry point ``backstage`` of ``graphsvc.importers``)."""

from importers.backstage.importer import BackstageImporter

__all__ = ["BackstageImporter"]
