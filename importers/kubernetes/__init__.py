"""Kubernetes importer (entry point ``kubernetes`` of ``graphsvc.importers``)."""

from importers.kubernetes.importer import KubernetesImporter

__all__ = ["KubernetesImporter"]
