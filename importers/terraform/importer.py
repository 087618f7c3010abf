"""The ``terraform`` importer: Terraform state (format version 4) -> configuration items."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from graphsvc.ingest.importer import Importer, ImporterOptions, ImportResult
from importers.terraform.mapping import transform_states
from importers.terraform.state import TerraformState, parse_state

__all__ = ["TerraformImporter"]


class TerraformImporter(Importer[TerraformState]):
    """Imports Terraform state files (``terraform.tfstate``, format version 4).

    Each managed resource instance becomes a ``ConfigurationItem``; ``data``
    resources and deposed objects are skipped. Dependencies recorded in the
    state, and attribute values that reference another imported resource's
    id, become ``DEPENDS_ON`` relations. See :mod:`importers.terraform.mapping`
    for keys, attributes, identifiers and relations, and
    :mod:`importers.terraform.state` for what is read from a state.

    Several states may be imported in one run; dependencies resolve inside
    their own state, implicit references across all of them. Resources that
    have no cloud id are keyed by the run's scope and their address, so give
    each state (workspace) its own scope.
    """

    name: ClassVar[str] = "terraform"
    default_source: ClassVar[str] = "terraform"
    description: ClassVar[str] = "Terraform state v4: managed resources and their dependencies"

    def parse(self, path: Path, options: ImporterOptions) -> TerraformState:  # noqa: ARG002
        """Read one state file.

        Raises:
            ParseError: when the file is not JSON, not a version 4 state, or a
                resource or instance is malformed (the error names the element,
                e.g. ``resources[3].instances[0].attributes``).
        """
        return parse_state(path)

    def transform(
        self, parsed: Sequence[tuple[Path, TerraformState]], options: ImporterOptions
    ) -> ImportResult:
        """Turn the parsed states of a run into CIs and ``DEPENDS_ON`` relations (pure)."""
        return transform_states(parsed, options.scope)
