"""The ``kubernetes`` importer: ``kubectl get -o json`` output and manifests -> the graph."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from graphsvc.ingest.importer import Importer, ImporterOptions, ImportResult
from importers.kubernetes.model import KubeFile
from importers.kubernetes.parse import parse_kube_file
from importers.kubernetes.transform import transform_objects

__all__ = ["KubernetesImporter"]


class KubernetesImporter(Importer[KubeFile]):
    """Imports Kubernetes objects: workloads, pods, nodes and services of one cluster.

    The run's scope names the cluster and is part of every key, so import each
    cluster with its own scope. Pass every file describing the cluster in one
    run: relations (owners, selectors, environment references) resolve across
    the files of the run. See :mod:`importers.kubernetes.transform` for the
    mapping and :mod:`importers.kubernetes.parse` for the accepted shapes.
    """

    name: ClassVar[str] = "kubernetes"
    default_source: ClassVar[str] = "kubernetes"
    description: ClassVar[str] = (
        "Kubernetes objects: kubectl get -o json (List or single object) or YAML manifests"
    )

    def parse(self, path: Path, options: ImporterOptions) -> KubeFile:
        """Read one file of Kubernetes objects.

        Raises:
            ParseError: when the file is unreadable, not JSON/YAML, of the wrong
                shape, or holds an object without ``kind`` or ``metadata.name``
                (names the file, the element and the reason).
        """
        del options
        return parse_kube_file(path)

    def transform(
        self, parsed: Sequence[tuple[Path, KubeFile]], options: ImporterOptions
    ) -> ImportResult:
        """Map every parsed file of the run, keyed under ``options.scope`` (pure, sorted)."""
        return transform_objects([f for _, f in parsed], options.scope)
