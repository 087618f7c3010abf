"""Parsed AWS resources: one record shape for AWS Config items and describe-* output.

Both input formats are reduced to :class:`AwsResource` records, so the graph
mapping (:mod:`importers.aws.mapping`) does not care where a resource came from,
and a resource described by both formats in one run gives the same key,
attributes and relations.

Resource types are named by their CloudFormation / AWS Config type
(``AWS::EC2::Instance``). ``ciClass`` uses the Terraform AWS provider's resource
type names (:data:`CI_CLASSES`), so a CI that the ``terraform`` importer and this
importer both describe agrees on its class instead of flip-flopping between two
spellings.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "CI_CLASSES",
    "EC2_INSTANCE",
    "ELBV2_LOAD_BALANCER",
    "LAMBDA_FUNCTION",
    "LAYERS",
    "RDS_DB_INSTANCE",
    "SECURITY_GROUP",
    "SUBNET",
    "VPC",
    "AwsFile",
    "AwsLink",
    "AwsNote",
    "AwsResource",
    "LinkDirection",
    "Scalar",
    "is_arn",
    "is_cloud_id",
]

Scalar = str | int | float | bool
"""A JSON scalar kept as a fact."""

EC2_INSTANCE = "AWS::EC2::Instance"
VPC = "AWS::EC2::VPC"
SUBNET = "AWS::EC2::Subnet"
SECURITY_GROUP = "AWS::EC2::SecurityGroup"
ELBV2_LOAD_BALANCER = "AWS::ElasticLoadBalancingV2::LoadBalancer"
RDS_DB_INSTANCE = "AWS::RDS::DBInstance"
LAMBDA_FUNCTION = "AWS::Lambda::Function"

CI_CLASSES: Mapping[str, str] = {
    EC2_INSTANCE: "aws_instance",
    VPC: "aws_vpc",
    SUBNET: "aws_subnet",
    SECURITY_GROUP: "aws_security_group",
    ELBV2_LOAD_BALANCER: "aws_lb",
    RDS_DB_INSTANCE: "aws_db_instance",
    LAMBDA_FUNCTION: "aws_lambda_function",
}
"""The resource types imported, and the ``ciClass`` of each."""

LAYERS: Mapping[str, int] = {
    VPC: 0,
    SUBNET: 1,
    SECURITY_GROUP: 2,
    EC2_INSTANCE: 3,
    RDS_DB_INSTANCE: 3,
    LAMBDA_FUNCTION: 3,
    ELBV2_LOAD_BALANCER: 4,
}
"""Which end of an AWS Config relationship is the dependent one.

AWS Config writes a relationship from both ends and with symmetric names (an
instance "Is associated with SecurityGroup", the group "Is associated with
Instance"), so the name cannot give the direction. The resource in the higher
layer depends on the one in the lower layer: a load balancer on its instances
and subnets, an instance on its security groups, subnet and VPC, a subnet on its
VPC. Within one layer the name decides ("Contains X": X depends on the item).
"""

_AWS_PREFIXES = "i|vpc|subnet|sg|igw|eigw|nat|eni|vol|snap|ami|rtb|acl|pcx|tgw|vpce|dopt|eipalloc"
_AWS_SHORT_ID = re.compile(rf"^(?:{_AWS_PREFIXES})-(?:[0-9a-f]{{8}}|[0-9a-f]{{17}})$")
_RDS_RESOURCE_ID = re.compile(r"^(?:db|cluster)-[0-9A-Z]{20,}$")
_ARN = re.compile(r"^arn:[a-z0-9-]+:[a-z0-9-]+:[a-z0-9-]*:[^:]*:\S")


def is_cloud_id(value: str) -> bool:
    """Return whether ``value`` is an AWS resource id (``i-…``, ``vpc-…``, RDS ``db-…``).

    The same shapes as the ``terraform`` importer's ``cloudResourceId``, so
    both importers identify a resource by the same value.
    """
    return bool(_AWS_SHORT_ID.match(value) or _RDS_RESOURCE_ID.match(value))


def is_arn(value: str) -> bool:
    """Return whether ``value`` is an Amazon Resource Name."""
    return _ARN.match(value) is not None


LinkDirection = Literal["out", "auto"]
"""``out``: the resource depends on the target. ``auto``: decide by :data:`LAYERS`."""


@dataclass(frozen=True, slots=True)
class AwsLink:
    """A reference from a resource to another one.

    Attributes:
        target_type: The other resource's type (may be one that is not imported).
        target_id: Its resource id (or ARN for load balancers); ``None`` when the
            source names it otherwise (an IAM role by name).
        label: Where the link comes from: the AWS Config relationship name
            (stripped) or the describe field (``SubnetId``).
        direction: See :data:`LinkDirection`.
        redundancy_group: Set on links to alternatives of which one suffices
            (a load balancer's or Lambda function's subnets).
    """

    target_type: str
    target_id: str | None
    label: str
    direction: LinkDirection
    redundancy_group: str | None = None


@dataclass(frozen=True, slots=True)
class AwsResource:
    """One AWS resource as the graph needs it.

    Attributes:
        element: Where it is in its file (``[0]``, ``Reservations[0].Instances[2]``).
        resource_type: CloudFormation type (``AWS::EC2::Instance``).
        resource_id: The id AWS Config uses as ``resourceId``: instance, VPC,
            subnet and group ids; the load balancer's ARN; the RDS
            ``DbiResourceId``; the Lambda function name.
        name: Display name: ``Name`` tag, else the resource's own name
            (group name, load balancer name, DB identifier, function name), else
            the resource id.
        arn: Its ARN, when the input states it.
        cloud_resource_id: The resource id when it has an AWS id shape.
        ip_address: Private IP address (instances).
        fqdn: Private DNS name (instances), endpoint address (RDS), DNS name
            (load balancers).
        tags: Tags, sorted by key.
        facts: Further attributes (``accountId``, ``region``,
            ``availabilityZone``, class-specific facts), sorted by name.
        links: References to other resources, in input order.
    """

    element: str
    resource_type: str
    resource_id: str
    name: str
    arn: str | None
    cloud_resource_id: str | None
    ip_address: str | None
    fqdn: str | None
    tags: tuple[tuple[str, str], ...]
    facts: tuple[tuple[str, Scalar], ...]
    links: tuple[AwsLink, ...]


@dataclass(frozen=True, slots=True)
class AwsNote:
    """Something skipped while parsing (reported as an import warning)."""

    element: str
    message: str


@dataclass(frozen=True, slots=True)
class AwsFile:
    """One parsed file.

    Attributes:
        format: ``config`` (AWS Config configuration items) or the describe
            response it is (``ec2-describe-instances`` …).
        resources: The resources, in file order.
        notes: What was skipped.
    """

    format: str
    resources: tuple[AwsResource, ...]
    notes: tuple[AwsNote, ...]
