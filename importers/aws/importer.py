"""The ``aws`` importer: AWS Config configuration items and describe-* output -> CIs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from graphsvc.ingest.importer import Importer, ImporterOptions, ImportResult
from importers.aws.mapping import transform_files
from importers.aws.parse import parse_file
from importers.aws.records import AwsFile

__all__ = ["AwsImporter"]


class AwsImporter(Importer[AwsFile]):
    """Imports AWS resources from AWS Config items and AWS CLI describe responses.

    EC2 instances, VPCs, subnets, security groups, application/network load
    balancers (elbv2), RDS DB instances and Lambda functions become
    ``ConfigurationItem`` entities; network placement and security group use
    become ``DEPENDS_ON`` relations. The format of each file is detected from
    its content (see :mod:`importers.aws.parse`); keys, identifiers,
    attributes and relation directions are described in
    :mod:`importers.aws.mapping`. Identifiers match the ``terraform``
    importer's, so a resource that both describe is one CI.
    """

    name: ClassVar[str] = "aws"
    default_source: ClassVar[str] = "aws"
    description: ClassVar[str] = (
        "AWS Config items and describe-* JSON: EC2, VPC, ELBv2, RDS, Lambda"
    )

    def parse(self, path: Path, options: ImporterOptions) -> AwsFile:  # noqa: ARG002
        """Read one AWS file.

        Raises:
            ParseError: when the file is not JSON, has an unknown shape, or a
                resource lacks its id (the error names the element, e.g.
                ``Reservations[0].Instances[2].InstanceId``).
        """
        return parse_file(path)

    def transform(
        self,
        parsed: Sequence[tuple[Path, AwsFile]],
        options: ImporterOptions,  # noqa: ARG002
    ) -> ImportResult:
        """Turn the parsed files of a run into CIs and ``DEPENDS_ON`` relations (pure)."""
        return transform_files(parsed)
