"""AWS importer (entry point ``aws``)."""

from importers.aws.importer import AwsImporter

__all__ = ["AwsImporter"]
