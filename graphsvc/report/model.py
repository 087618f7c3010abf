"""The content of the CAB change report (PRODUCT.md 4.4), as one frozen model.

:class:`ChangeReport` is what every format renders: the JSON format is its
serialisation (camelCase names), and ``schema/change-report.schema.json`` is its
JSON Schema (:func:`graphsvc.report.schema.report_schema_json`). The HTML and
Markdown renderers only lay it out; they compute nothing the model does not hold,
except the diagram, which the HTML renderer draws from it.

Sections, in reading order: ``warnings`` (what makes the report incomplete:
shown first), ``change`` (who asked, who does it, approval, back-out and test
plans) and ``summary`` (the one-screen summary, with ``risk``), ``conflicts``,
``services`` (affected services by tier), ``teams`` (teams to notify, with
contacts), ``projects``, and ``affected`` (every affected entity).

Every DEGRADED entity says what keeps it up (``keptUpBy``): the redundancy
group with a DOWN member and the surviving members, either its own or, for
an entity DEGRADED only because what it needs is DEGRADED, those of the
nearest entity on its path whose group holds (``holder``).

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
    "Assignee",
    "ChangeInfo",
    "ChangeReport",
    "ConflictItem",
    "ConflictTally",
    "Contact",
    "EntityRef",
    "KindTally",
    "PathStepItem",
    "ProjectReasonItem",
    "RedundancyItem",
    "ReportWarning",
    "RiskAssessment",
    "RiskBand",
    "RiskFactorItem",
    "ServiceTierGroup",
    "Summary",
    "SurvivorItem",
    "TeamMember",
    "TeamRoleNotice",
    "TeamToNotify",
    "TierTally",
    "TimeWindow",
    "WarningCode",
]

REPORT_VERSION: Literal["2"] = "2"
"""Version of the report's JSON shape; a change of the shape raises it.

2: ``warnings``; the change's requester, assignees, approval, effort, back-out
and test plans and named configuration item; ``keptUpBy`` on affected
services and entities.
"""


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


class RiskBand(StrEnum):
    """How to read the risk score: low below 30, medium below 60, high from 60."""

    __hash__ = str.__hash__

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class RiskFactorItem(_Frozen):
    """One input of the risk score: its value, its points, and what it counted."""

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


class SurvivorItem(_Frozen):
    """A surviving member of a redundancy group: not DOWN, so the group holds."""

    entity: EntityRef
    degraded: bool = Field(
        description="True: it is in the impact set, DEGRADED but up; false: unaffected."
    )


class RedundancyItem(_Frozen):
    """A redundancy group that keeps a DEGRADED entity up: some members DOWN, not all.

    ``holder`` is the entity whose ``redundancyGroup`` it is: the DEGRADED
    entity itself, or, for an entity that is DEGRADED only because what it
    needs is DEGRADED, the nearest entity on its path whose group holds.
    ``members`` counts the group's live relations; ``failed`` are the DOWN
    members and ``survivors`` the others.
    """

    holder: EntityRef
    group: str
    members: int
    failed: list[EntityRef]
    survivors: list[SurvivorItem]


class AffectedService(_Frozen):
    """An affected service and the path that explains it.

    ``path`` leaves a modified entity and ends at the service (empty when the
    change modifies the service itself). ``keptUpBy`` says, for a DEGRADED
    service, which redundancy keeps it up (empty for a DOWN one).
    """

    service: EntityRef
    tier: int | None
    state: ImpactState
    depth: int
    stale: bool
    path: list[PathStepItem]
    kept_up_by: list[RedundancyItem]


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


class Assignee(_Frozen):
    """A team or person the change is ASSIGNED_TO: who does the work, and how to reach them.

    ``contacts`` are the assignee's contact attributes (email, chat, on-call …).
    For a team, ``members`` lists up to ten members (``memberCount`` in all)
    and ``escalateTo`` the teams it is PART_OF; for a person, ``role`` is the
    person's role and ``members``/``escalateTo`` are empty.
    """

    assignee: EntityRef
    status: str = Field(description="active, stale or retired.")
    contacts: list[Contact]
    role: str | None
    members: list[TeamMember]
    member_count: int
    escalate_to: list[EntityRef]


class ChangeTask(_Frozen):
    """A task the change carries out (``IMPLEMENTS``)."""

    task: EntityRef
    status: str | None = Field(description="The task's `status` (open … done), as stated.")
    due: datetime | None = Field(description="When the task is due (`due`).")
    effort_hours: float | None = Field(description="Estimated effort in hours (`effortHours`).")


class ChangeInfo(_Frozen):
    """The change under review: what the change tool states about it, and who does it.

    Free-text fields are as the change tool states them (null when it states
    nothing): a report that shows null for ``backoutPlan`` or ``testPlan``
    says the change has none on record.
    """

    change: EntityRef
    status: str = Field(description="The entity's status: active, stale or retired.")
    state: str | None = Field(description="The change's `state` attribute (new … closed).")
    change_type: str | None = Field(description="standard, normal or emergency.")
    declared_risk: str | None = Field(
        description="The risk the change tool declares (shown beside the computed score)."
    )
    window: TimeWindow | None = Field(
        description="The planned window; null when plannedStart/plannedEnd are missing or wrong."
    )
    requested_by: str | None = Field(description="Who asked for the change (`requestedBy`).")
    assigned_to: list[Assignee] = Field(
        description="Teams and people the change is ASSIGNED_TO, teams first."
    )
    approval: str | None = Field(description="The approval state (`approval`).")
    effort_hours: float | None = Field(description="Estimated effort in hours (`effortHours`).")
    backout_plan: str | None = Field(description="How the change is undone (`backoutPlan`).")
    test_plan: str | None = Field(description="How the change is verified (`testPlan`).")
    configuration_item: str | None = Field(
        description="The configuration item the change tool names (`configurationItem`)."
    )
    attributes: dict[str, JsonValue] = Field(description="Every attribute of the change.")
    tasks: list[ChangeTask] = Field(
        default_factory=list,
        description="The tasks the change IMPLEMENTS (carries out), by key (PRODUCT.md 7).",
    )


class WarningCode(StrEnum):
    """What makes a report incomplete."""

    __hash__ = str.__hash__

    EMPTY_START_SET = "EMPTY_START_SET"
    """The change MODIFIES nothing the graph knows: no impact could be walked."""
    UNLINKED_CONFIGURATION_ITEM = "UNLINKED_CONFIGURATION_ITEM"
    """The change names a configuration item that is not among what it MODIFIES."""


class ReportWarning(_Frozen):
    """A warning shown at the top of the report.

    ``entities`` names the entity the warning is about when the graph holds
    one (for UNLINKED_CONFIGURATION_ITEM: the entity whose key is the named
    CI, when it exists now).
    """

    code: WarningCode
    message: str
    entities: list[EntityRef]


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
    whole path. ``keptUpBy`` says, for a DEGRADED entity, which redundancy
    keeps it up (see :class:`RedundancyItem`; empty for a DOWN one).
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
    kept_up_by: list[RedundancyItem]


class AffectedListing(_Frozen):
    """Every entity of the impact set, in breadth-first order (modified entities first).

    ``listed < total`` when the listing was cut (the counts stay complete).
    """

    total: int
    listed: int
    entities: list[AffectedEntity]


class ChangeReport(_Frozen):
    """The CAB change review report of one change (PRODUCT.md 4.4)."""

    report_version: Literal["2"] = REPORT_VERSION
    generated_at: datetime
    as_of: datetime | None = Field(description="The graph was read as of then; null: now.")
    warnings: list[ReportWarning] = Field(
        description="What makes the report incomplete (shown first); empty when nothing does."
    )
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
