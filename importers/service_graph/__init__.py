"""Service dependency graph importer (entry point ``service-graph`` of ``graphsvc.importers``)."""

from importers.service_graph.importer import ServiceGraphImporter

__all__ = ["ServiceGraphImporter"]
