"""Terraform state importer (entry point ``terraform``)."""

from importers.terraform.importer import TerraformImporter

__all__ = ["TerraformImporter"]
