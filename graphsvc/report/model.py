"""The content of the CAB change report (PRODUCT.md 4.4), as one frozen model.

:class:`ChangeReport` is what every format renders: the JSON format is its
serialisation (camelCase names), and ``schema/change-report.schema.json`` is its
JSON Schema (:func:`graphsvc.report.schema.report_schema_json`). The HTML and
Markdown renderers only lay it out; they compute nothing the model does not hold,
except the diagram, which the HTML renderer draws from it.

Sections, in reading order: ``change`` and ``summary`` (the one-screen summary,
with ``risk``), ``conflicts``, ``services`` (affected services by tier),
``teams`` (teams to notify, with contacts), ``projects``, and ``affected``
(every affected entity).

Counts in ``summary`` are always complete. Lists of very large blast radii may
be cut, and say so: ``affected.listed < affected.total`` when the listing stops
after :data:`~graphsvc.report.build.DEFAULT_MAX_ENTITIES` entities, and a tier's
``listed < count`` when only its first services (DOWN first, nearest first) are
shown with paths.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue
from pydantic.alias_generators import to_camel

from graphsvc.analysis.changes import ConflictKind
from graphsvc.analysis.impact import ImpactState, NoticeRole
from graphsvc.model.vocabulary import Direction, EntityKind, RelationType

__all__ = [
    "AffectedEntity",
    "AffectedListing",
    "AffectedProject",
    "AffectedService",
    "ChangeInfo",
    "ChangeReport",
    "ConflictItem",
    "ConflictTally",
    "Contact",
    "EntityRef",
    "KindTally",
    "PathStepItem",
    "ProjectReasonItem",
    "RiskAssessment",
    "RiskBand",
    "RiskFactorItem",
    "ServiceTierGroup",
    "Summary",
    "TeamMember",
    "TeamRoleNotice",
    "TeamToNotify",
    "TierTally",
    "TimeWindow",
]

REPORT_VERSION: Literal["1"] = "1"
"""Version of the report's JSON shape; a breaking change of the shape raises it."""


class _Frozen(BaseModel):
    """Base of the report models: frozen, camelCase in JSON, no unknown fields."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        json_schema_serialization_defaults_required=True,
    )


class EntityRef(_Frozen):
    """An entity as the report names it."""

    kind: EntityKind
    key: str
    name: str = Field(description="Display name (the key when the entity states none).")


class TimeWindow(_Frozen):
    """A half-open interval ``[start, end)`` (touching windows do not overlap)."""

    start: datetime
    end: datetime


class ChangeInfo(_Frozen):
    """The change under review."""

    change: EntityRef
    status: str = Field(description="The entity's status: active, stale or retired.")
    state: str | None = Field(description="The change's `state` attribute (new … closed).")
    change_type: str | None = Field(description="standard, normal or emergency.")
    declared_risk: str | None = Field(description="The risk the change tool states.")
    window: TimeWindow | None = Field(
        description="The planned window; null when plannedStart/plannedEnd are missing or wrong."
    )
    attributes: dict[str, JsonValue] = Field(description="Every attribute of the change.")


class RiskBand(StrEnum):
    """How to read the risk score: low below 30, medium below 60, high from 60."""

    __hash__ = str.__hash__

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class RiskFactorItem(_Frozen):
    """One input of the risk score (see ``graphsvc.analysis.changes.change_impact``)."""

    name: str
    value: str
    points: int
    explanation: str


class RiskAssessment(_Frozen):
    """The risk score (0-100, the capped sum of the factors' points) and why."""

    score: int = Field(ge=0, le=100)
    band: RiskBand
    factors: list[RiskFactorItem] = Field(description="Every factor, most points first.")


class ConflictTally(_Frozen):
    """How many conflicts of one kind."""

    kind: ConflictKind
    count: int


class KindTally(_Frozen):
    """How many impact-set entities of one kind, and how many of them are DOWN."""

    kind: EntityKind
    count: int
    down: int


class TierTally(_Frozen):
    """Impact-set services of one tier (null: the service states no tier)."""

    tier: int | None
    count: int
    down: int
    degraded: int


class Summary(_Frozen):
    """The one-screen summary: a verdict line and the complete counts.

    ``impactSet`` counts the modified entities and everything their failure
    reaches (PRODUCT.md 4.4); ``down``/``degraded`` split it by state (modified
    entities are DOWN).
    """

    verdict: str = Field(description='One line, e.g. "2 conflicts, 1 tier-1 service down".')
    conflicts: list[ConflictTally] = Field(description="One entry per kind, all three kinds.")
    modified: int = Field(description="Entities the change MODIFIES (its start set).")
    impact_set: int
    down: int
    degraded: int
    stale: int
    deepest: int = Field(description="Largest number of hops from a modified entity.")
    by_kind: list[KindTally]
    services_by_tier: list[TierTally] = Field(description="Tier 1 first, no tier last.")
    teams: int = Field(description="Teams to notify.")
    projects: int = Field(description="Affected projects.")


class ConflictItem(_Frozen):
    """A conflict: what collides, and when.

    ``other`` is the colliding change (COLLISION) or the window (BLACKOUT,
    OUTSIDE_MAINTENANCE). ``overlap`` is the time both this change and the
    other (change or blackout) cover; null for OUTSIDE_MAINTENANCE and when a
    window is missing.
    """

    kind: ConflictKind
    other: EntityRef
    other_state: str | None = Field(
        description="The other change's state, or the window's windowType."
    )
    other_window: TimeWindow | None
    overlap: TimeWindow | None
    reason: str | None = Field(description="The window's `reason` attribute, when it has one.")
    entities: list[EntityRef] = Field(description="The entities that cause it (up to 50).")
    total_entities: int
    explanation: str


class PathStepItem(_Frozen):
    """One relation walked, as stored (its own ``from`` and ``to``)."""

    type: RelationType
    from_: EntityRef = Field(alias="from", serialization_alias="from")
    to: EntityRef


class AffectedService(_Frozen):
    """An affected service and the path that explains it.

    ``path`` leaves a modified entity and ends at the service (empty when the
    change modifies the service itself).
    """

    service: EntityRef
    tier: int | None
    state: ImpactState
    depth: int
    stale: bool
    path: list[PathStepItem]


class ServiceTierGroup(_Frozen):
    """Affected services of one tier.

    ``count``/``down``/``degraded`` are complete; ``services`` lists the first
    ``listed`` of them, DOWN first, then nearest first, then by key.
    """

    tier: int | None
    count: int
    down: int
    degraded: int
    listed: int
    services: list[AffectedService]


class Contact(_Frozen):
    """A way to reach a team: an attribute of the team (email, slack, oncall …)."""

    channel: str = Field(description="The attribute's name, e.g. email, slack, oncall.")
    value: str


class TeamMember(_Frozen):
    """A person who is MEMBER_OF the team."""

    person: EntityRef
    email: str | None
    role: str | None


class TeamRoleNotice(_Frozen):
    """Why a team is notified in one role.

    ``inherited`` is true when the team serves none of the affected entities
    directly, only PART_OF ancestors of some of them; ``via`` names up to five
    of the ancestors it was inherited through (``viaCount`` in all), and may be
    non-empty for a direct notice that is also inherited for other entities.
    """

    role: NoticeRole
    inherited: bool
    via: list[EntityRef]
    via_count: int
    affected: int = Field(description="Impact-set entities the team is notified for.")


class TeamToNotify(_Frozen):
    """A team to notify, its roles, and how to reach it.

    ``members`` lists up to ten members (``memberCount`` in all);
    ``escalateTo`` names the teams it is PART_OF. ``warnings`` flag a team that
    cannot be reached: retired, stale, without members or without contacts.
    """

    team: EntityRef
    status: str
    roles: list[TeamRoleNotice]
    contacts: list[Contact]
    members: list[TeamMember]
    member_count: int
    escalate_to: list[EntityRef]
    warnings: list[str]


class ProjectReasonItem(_Frozen):
    """One reason a project is affected.

    ``relation`` is DEPENDS_ON, DELIVERS or CONSOLIDATES (the project relates
    so to ``count`` impact-set entities, up to five named), or IMPLEMENTS (its
    open ``changes`` modify them).
    """

    relation: RelationType
    count: int
    entities: list[EntityRef]
    changes: list[EntityRef]


class AffectedProject(_Frozen):
    """An affected project and every reason it is."""

    project: EntityRef
    reasons: list[ProjectReasonItem]


class AffectedEntity(_Frozen):
    """One entity of the impact set.

    ``reachedFrom`` is the entity the walk came from (the previous entity on
    one shortest path from a modified entity), ``relation`` the type of the
    relation walked and ``walked`` how: ``out`` when ``reachedFrom`` is the
    relation's ``from`` (``disk PART_OF array`` reaching the array), ``in`` when
    it is its ``to`` (``app DEPENDS_ON db`` reaching the app). All three are
    null for a modified entity (depth 0). Following ``reachedFrom`` gives the
    whole path.
    """

    entity: EntityRef
    tier: int | None = Field(description="A service's tier.")
    ci_class: str | None = Field(description="A configuration item's ciClass.")
    state: ImpactState
    depth: int
    stale: bool
    reached_from: EntityRef | None
    relation: RelationType | None
    walked: Direction | None


class AffectedListing(_Frozen):
    """Every entity of the impact set, in breadth-first order (modified entities first).

    ``listed < total`` when the listing was cut (the counts stay complete).
    """

    total: int
    listed: int
    entities: list[AffectedEntity]


class ChangeReport(_Frozen):
    """The CAB change review report of one change (PRODUCT.md 4.4)."""

    report_version: Literal["1"] = REPORT_VERSION
    generated_at: datetime
    as_of: datetime | None = Field(description="The graph was read as of then; null: now.")
    change: ChangeInfo
    summary: Summary
    risk: RiskAssessment
    start_set: list[EntityRef] = Field(description="What the change MODIFIES.")
    conflicts: list[ConflictItem] = Field(
        description="COLLISIONs, then BLACKOUTs, then OUTSIDE_MAINTENANCE."
    )
    services: list[ServiceTierGroup] = Field(description="Tier 1 first, no tier last.")
    teams: list[TeamToNotify] = Field(
        description="Owners first, then support teams; most affected first."
    )
    projects: list[AffectedProject]
    affected: AffectedListing
