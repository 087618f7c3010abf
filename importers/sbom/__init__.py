"""SBOM importer (entry point ``sbom``): CycloneDX and SPDX 2.x JSON."""

from importers.sbom.importer import SbomImporter

__all__ = ["SbomImporter"]
