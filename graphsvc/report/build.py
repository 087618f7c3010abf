"""Build the :class:`~graphsvc.report.model.ChangeReport` of a change from the store.

:func:`build_change_report` asks :func:`~graphsvc.analysis.changes.change_impact`
once (with a page large enough for every affected entity, so each comes with its
path) and reads the teams' members and parent teams in one more store call;
:func:`report_from_change_impact` is the pure part that turns those answers into
the report.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pydantic import JsonValue

from graphsvc.analysis.changes import ChangeImpact, Conflict, ConflictKind, change_impact
from graphsvc.analysis.impact import (
    Affected,
    Analysis,
    ImpactState,
    RedundancyCover,
    TierCount,
    redundancy_covers,
)
from graphsvc.collector import gc_paused
from graphsvc.model.records import EntityRecord
from graphsvc.model.validation import parse_datetime
from graphsvc.model.vocabulary import (
    VOCABULARY,
    Direction,
    EntityKind,
    RelationType,
    Status,
    TraversalStep,
)
from graphsvc.report.model import (
    AffectedEntity,
    AffectedListing,
    AffectedProject,
    AffectedService,
    Assignee,
    ChangeInfo,
    ChangeReport,
    ChangeTask,
    ConflictItem,
    ConflictTally,
    Contact,
    EntityRef,
    KindTally,
    PathStepItem,
    ProjectReasonItem,
    RedundancyItem,
    ReportWarning,
    RiskAssessment,
    RiskBand,
    RiskFactorItem,
    ServiceTierGroup,
    Summary,
    SurvivorItem,
    TeamMember,
    TeamRoleNotice,
    TeamToNotify,
    TierTally,
    TimeWindow,
    WarningCode,
)
from graphsvc.store.base import GraphStore

__all__ = [
    "DEFAULT_MAX_ENTITIES",
    "DEFAULT_MAX_SERVICES_PER_TIER",
    "PICTURE_ENTITIES",
    "TeamDirectory",
    "affected_from_analysis",
    "build_change_report",
    "contacts_of",
    "gc_paused",
    "read_team_directory",
    "report_from_change_impact",
    "risk_band",
    "verdict_line",
]

DEFAULT_MAX_ENTITIES = 100_000
"""The affected-entity listing stops after this many entities (counts stay complete)."""
DEFAULT_MAX_SERVICES_PER_TIER = 500
"""At most this many services of one tier are listed with their paths."""
PICTURE_ENTITIES = 1_000
"""An impact picture is drawn from at most this many entities (the nearest, breadth-first)."""
MEMBERS_SHOWN = 10
"""At most this many members are named per team (``memberCount`` gives the total)."""

CONTACT_ATTRIBUTE = re.compile(
    r"mail|slack|on-?call|pager|phone|chat|contact|escalat|channel|rota|teams?url", re.IGNORECASE
)
"""Team attributes whose names match are contacts (``email``, ``slack``, ``oncall`` …)."""

_MEMBERS = TraversalStep(
    RelationType.MEMBER_OF,
    Direction.IN,
    frozenset({EntityKind.TEAM}),
    frozenset({EntityKind.PERSON}),
)
_PARENTS = TraversalStep(
    RelationType.PART_OF, Direction.OUT, frozenset({EntityKind.TEAM}), frozenset({EntityKind.TEAM})
)


@dataclass(frozen=True, slots=True)
class TeamDirectory:
    """Members and parent teams of the teams to notify, by team id.

    Members and parents are live (not retired) entities, sorted by name.
    """

    members: Mapping[int, tuple[EntityRecord, ...]] = field(default_factory=dict)
    parents: Mapping[int, tuple[EntityRecord, ...]] = field(default_factory=dict)


async def read_team_directory(
    store: GraphStore, team_ids: Sequence[int], *, as_of: datetime | None = None
) -> TeamDirectory:
    """Read the members (``MEMBER_OF``) and parent teams (``PART_OF``) of ``team_ids``.

    Two store calls whatever the number of teams: one ``neighbours`` over both
    relation types and one ``entities`` for the people and parent teams found.
    """
    ids = sorted(set(team_ids))
    if not ids:
        return TeamDirectory()
    hop = await store.neighbours(ids, (_MEMBERS, _PARENTS), as_of=as_of)
    member_code = VOCABULARY.type_code(RelationType.MEMBER_OF)
    origins = hop.origin.tolist()
    reached = hop.entity.tolist()
    types = hop.type.tolist()
    wanted = sorted(set(reached))
    found = await store.entities(wanted, as_of=as_of) if wanted else []
    records = {i: r for i, r in zip(wanted, found, strict=True) if r is not None}
    members: dict[int, list[EntityRecord]] = defaultdict(list)
    parents: dict[int, list[EntityRecord]] = defaultdict(list)
    for origin, other, type_code in zip(origins, reached, types, strict=True):
        record = records.get(other)
        if record is None:
            continue
        target = members if type_code == member_code else parents
        target[ids[origin]].append(record)

    def by_name(found: list[EntityRecord]) -> tuple[EntityRecord, ...]:
        unique = {r.id: r for r in found}
        return tuple(sorted(unique.values(), key=lambda r: (r.name.casefold(), r.key)))

    return TeamDirectory(
        members={t: by_name(v) for t, v in members.items()},
        parents={t: by_name(v) for t, v in parents.items()},
    )


async def build_change_report(
    store: GraphStore,
    key: str,
    *,
    as_of: datetime | None = None,
    max_entities: int = DEFAULT_MAX_ENTITIES,
    max_services_per_tier: int = DEFAULT_MAX_SERVICES_PER_TIER,
    generated_at: datetime | None = None,
) -> ChangeReport:
    """Return the CAB report of the change ``key`` (PRODUCT.md 4.4).

    Args:
        store: The store (read only).
        key: The change's key or an alias.
        as_of: Read the graph as it was then (``None``: now).
        max_entities: List at most this many affected entities (breadth-first,
            modified entities first); the counts stay complete either way.
        max_services_per_tier: List at most this many services of each tier
            with their paths.
        generated_at: The report's time stamp (default: now, to the second); also *now*
            for the assignee teams' load.

    Raises:
        NotFound: when no change has this key (at ``as_of``).
        InvalidInput: for a negative ``max_entities``.
    """
    with gc_paused():
        answer = await change_impact(store, key, as_of=as_of, first=max_entities, now=generated_at)
        teams = [t.team.id for t in answer.impact.teams_to_notify]
        teams += [a.id for a in answer.assigned_to if a.kind is EntityKind.TEAM]
        directory = await read_team_directory(store, teams, as_of=as_of)
        return report_from_change_impact(
            answer,
            directory,
            as_of=as_of,
            generated_at=generated_at,
            max_services_per_tier=max_services_per_tier,
        )


def risk_band(score: int) -> RiskBand:
    """Return the band of a risk score: low below 30, medium below 60, high from 60."""
    if score < 30:
        return RiskBand.LOW
    if score < 60:
        return RiskBand.MEDIUM
    return RiskBand.HIGH


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else plural or word + 's'}"


def verdict_line(
    conflicts: Sequence[ConflictKind], tiers: Sequence[TierCount], impact_set: int
) -> str:
    """Return the verdict: conflicts, tier-1 services down or degraded, others down, size.

    For example ``"2 conflicts (1 COLLISION, 1 BLACKOUT), 1 tier-1 service down,
    3 other services down, 16 entities in the impact set"``. Modified services
    count as down (they are, if the change fails).
    """
    parts: list[str] = []
    if conflicts:
        counts = Counter(conflicts)
        detail = ", ".join(
            f"{counts[k]} {k.value}" if counts[k] > 1 else k.value
            for k in ConflictKind
            if counts[k]
        )
        parts.append(f"{_plural(len(conflicts), 'conflict')} ({detail})")
    else:
        parts.append("no conflicts")
    tier1 = next((t for t in tiers if t.tier == 1), None)
    t1_down = tier1.down if tier1 else 0
    if tier1 is None or tier1.count == 0:
        parts.append("no tier-1 service affected")
    else:
        if tier1.down:
            parts.append(f"{_plural(tier1.down, 'tier-1 service')} down")
        if tier1.degraded:
            parts.append(f"{_plural(tier1.degraded, 'tier-1 service')} degraded")
    other_down = sum(t.down for t in tiers) - t1_down
    if other_down:
        other = "other service" if t1_down else "service"
        parts.append(f"{_plural(other_down, other)} down")
    parts.append(f"{_plural(impact_set, 'entity', 'entities')} in the impact set")
    return ", ".join(parts)


def contacts_of(team: EntityRecord) -> list[Contact]:
    """Return a team's contact attributes (see :data:`CONTACT_ATTRIBUTE`), ``email`` first.

    Strings and numbers are kept as they are, lists of them joined with commas;
    other values (objects, booleans, nulls, empty strings) are left out.
    """
    found: list[Contact] = []
    for name in sorted(team.attributes, key=lambda n: (n != "email", n.casefold())):
        if not CONTACT_ATTRIBUTE.search(name):
            continue
        text = _contact_text(team.attributes[name])
        if text:
            found.append(Contact(channel=name, value=text))
    return found


def _contact_text(value: JsonValue) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str | int | float):
        return str(value).strip() or None
    if isinstance(value, list):
        items = [_contact_text(v) for v in value]
        return ", ".join(i for i in items if i) or None
    return None


def _tier(record: EntityRecord) -> int | None:
    value = record.attributes.get("tier")
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return None


def _text(record: EntityRecord, name: str) -> str | None:
    value = record.attributes.get(name)
    return value if isinstance(value, str) and value else None


def _interval(record: EntityRecord, start: str, end: str) -> TimeWindow | None:
    a = parse_datetime(v) if isinstance(v := record.attributes.get(start), str) else None
    b = parse_datetime(v) if isinstance(v := record.attributes.get(end), str) else None
    if a is None or b is None or b <= a:
        return None
    return TimeWindow(start=a, end=b)


def _overlap(a: TimeWindow | None, b: TimeWindow | None) -> TimeWindow | None:
    if a is None or b is None:
        return None
    start, end = max(a.start, b.start), min(a.end, b.end)
    return TimeWindow(start=start, end=end) if start < end else None


class _Refs:
    """One :class:`EntityRef` per entity id, shared by every place that names it."""

    def __init__(self) -> None:
        self._refs: dict[int, EntityRef] = {}

    def __call__(self, record: EntityRecord) -> EntityRef:
        ref = self._refs.get(record.id)
        if ref is None:
            ref = self._refs[record.id] = EntityRef(
                kind=record.kind, key=record.key, name=record.name or record.key
            )
        return ref

    def all(self, records: Iterable[EntityRecord]) -> list[EntityRef]:
        return [self(r) for r in records]


def report_from_change_impact(
    answer: ChangeImpact,
    directory: TeamDirectory | None = None,
    *,
    as_of: datetime | None = None,
    generated_at: datetime | None = None,
    max_services_per_tier: int = DEFAULT_MAX_SERVICES_PER_TIER,
) -> ChangeReport:
    """Turn a change-impact answer into the report (pure; no store access).

    Warnings (at the top of every format): the start set is empty (the change
    MODIFIES nothing the graph knows), or the change names a
    ``configurationItem`` that is not among what it modifies
    (:attr:`~graphsvc.analysis.changes.ChangeImpact.unlinked_ci`).

    What keeps each DEGRADED entity up (``keptUpBy``): its own redundancy
    groups with a DOWN member (``Affected.saved_by``), or, when it has none,
    those of the entity it was reached from (which is then DEGRADED too),
    and so on back along its path. Entities are read in breadth-first order,
    so the one it was reached from is always listed before it.

    The affected-entity listing and the services' paths come from the answer's
    page of affected entities (``answer.impact.affected``): ask
    :func:`~graphsvc.analysis.changes.change_impact` with a ``first`` large
    enough for the whole impact set to get them all. Counts come from the
    answer's summary and are complete whatever the page holds.

    Args:
        answer: The change's impact.
        directory: Members and parent teams of the teams to notify (none: no
            members are named).
        as_of: The time the graph was read at, shown in the report.
        generated_at: The report's time stamp (default: now, to the second).
        max_services_per_tier: List at most this many services per tier.
    """
    directory = directory or TeamDirectory()
    ref = _Refs()
    impact = answer.impact
    change = answer.change
    window = TimeWindow(start=answer.window.start, end=answer.window.end) if answer.window else None

    effort = change.attributes.get("effortHours")
    info = ChangeInfo(
        change=ref(change),
        status=change.status.value,
        state=_text(change, "state"),
        change_type=_text(change, "changeType"),
        declared_risk=_text(change, "risk"),
        window=window,
        requested_by=_text(change, "requestedBy"),
        assigned_to=[_assignee(a, directory, ref) for a in answer.assigned_to],
        approval=_text(change, "approval"),
        effort_hours=float(effort)
        if isinstance(effort, int | float) and not isinstance(effort, bool)
        else None,
        backout_plan=_text(change, "backoutPlan"),
        test_plan=_text(change, "testPlan"),
        configuration_item=_text(change, "configurationItem"),
        attributes=dict(change.attributes),
        tasks=[_task(t, ref) for t in answer.tasks],
    )

    conflicts = [_conflict(c, window, ref) for c in answer.conflicts]

    page = [edge.node for edge in impact.affected.edges]
    down_by_kind: Counter[EntityKind] = Counter(
        a.entity.kind for a in page if a.state is ImpactState.DOWN
    )
    by_state = {s.state: s.count for s in impact.summary.by_state}
    verdict = verdict_line(
        [c.kind for c in answer.conflicts], impact.summary.services_by_tier, impact.summary.total
    )
    if not answer.start_set:
        verdict = "impact unknown: the change modifies nothing the graph knows; " + verdict
    summary = Summary(
        verdict=verdict,
        conflicts=[
            ConflictTally(kind=k, count=sum(1 for c in answer.conflicts if c.kind is k))
            for k in ConflictKind
        ],
        modified=len(answer.start_set),
        impact_set=impact.summary.total,
        down=by_state.get(ImpactState.DOWN, 0),
        degraded=by_state.get(ImpactState.DEGRADED, 0),
        stale=impact.summary.stale,
        deepest=impact.summary.deepest,
        by_kind=[
            KindTally(kind=k.kind, count=k.count, down=down_by_kind[k.kind])
            for k in impact.summary.by_kind
        ],
        services_by_tier=[
            TierTally(tier=t.tier, count=t.count, down=t.down, degraded=t.degraded)
            for t in impact.summary.services_by_tier
        ],
        teams=len({t.team.id for t in impact.teams_to_notify}),
        projects=len(impact.affected_projects),
    )

    ordered = sorted(enumerate(answer.risk_factors), key=lambda item: (-item[1].points, item[0]))
    risk = RiskAssessment(
        score=answer.risk_score,
        band=risk_band(answer.risk_score),
        factors=[
            RiskFactorItem(name=f.name, value=f.value, points=f.points, explanation=f.explanation)
            for _, f in ordered
        ],
    )

    kept = _kept_up(page, ref)
    listing = [_affected_entity(a, ref, kept) for a in page]
    return ChangeReport(
        generated_at=generated_at or datetime.now(UTC).replace(microsecond=0),
        as_of=as_of,
        warnings=_warnings(answer, ref),
        change=info,
        summary=summary,
        risk=risk,
        start_set=ref.all(answer.start_set),
        conflicts=conflicts,
        services=_services(page, impact.summary.services_by_tier, ref, max_services_per_tier, kept),
        teams=_teams(answer, directory, ref),
        projects=_projects(answer, ref),
        affected=AffectedListing(
            total=impact.affected.total_count, listed=len(listing), entities=listing
        ),
    )


def _conflict(conflict: Conflict, window: TimeWindow | None, ref: _Refs) -> ConflictItem:
    other = conflict.other
    if conflict.kind is ConflictKind.COLLISION:
        other_window = _interval(other, "plannedStart", "plannedEnd")
        other_state = _text(other, "state")
    else:
        other_window = _interval(other, "start", "end")
        other_state = _text(other, "windowType")
    overlap = (
        None
        if conflict.kind is ConflictKind.OUTSIDE_MAINTENANCE
        else _overlap(window, other_window)
    )
    return ConflictItem(
        kind=conflict.kind,
        other=ref(other),
        other_state=other_state,
        other_window=other_window,
        overlap=overlap,
        reason=_text(other, "reason"),
        entities=ref.all(conflict.entities),
        total_entities=conflict.total_entities,
        explanation=conflict.explanation,
    )


def _reached_from(node: Affected) -> tuple[EntityRecord, RelationType, Direction] | None:
    """Return the entity the walk reached ``node`` from, the relation's type, and the direction."""
    if not node.path:
        return None
    last = node.path[-1]
    if last.from_.id == node.entity.id:
        return last.to, last.type, Direction.IN
    return last.from_, last.type, Direction.OUT


def _warnings(answer: ChangeImpact, ref: _Refs) -> list[ReportWarning]:
    """Return what makes the report incomplete (see :func:`report_from_change_impact`)."""
    out: list[ReportWarning] = []
    named = answer.unlinked_ci
    if not answer.start_set:
        message = (
            "This change MODIFIES nothing the graph knows: its start set is empty, so no "
            "impact could be worked out. The empty sections below do not mean the change is "
            "harmless; they mean the graph does not know what it touches."
        )
        if named:
            message += f" The change tool names the configuration item {named!r}."
        out.append(ReportWarning(code=WarningCode.EMPTY_START_SET, message=message, entities=[]))
    if named:
        found = answer.unlinked_ci_entity
        modified = ", ".join(r.key for r in answer.start_set[:5])
        message = (
            f"The change tool names the configuration item {named!r}, which is not among what "
            "this change MODIFIES"
            + (f" ({modified})" if modified else "")
            + ": it was not in the graph when the change was imported, so its impact is "
            "missing from this report."
        )
        if found is not None:
            message += (
                f" The graph holds {found.kind.value} {found.key} now: link the change to it "
                "(import the change again) and generate the report again."
            )
        else:
            message += " The graph holds no entity with that key now either."
        out.append(
            ReportWarning(
                code=WarningCode.UNLINKED_CONFIGURATION_ITEM,
                message=message,
                entities=[ref(found)] if found is not None else [],
            )
        )
    return out


def _task(record: EntityRecord, ref: _Refs) -> ChangeTask:
    effort = record.attributes.get("effortHours")
    due = record.attributes.get("due")
    return ChangeTask(
        task=ref(record),
        status=_text(record, "status"),
        due=parse_datetime(due) if isinstance(due, str) else None,
        effort_hours=float(effort)
        if isinstance(effort, int | float) and not isinstance(effort, bool)
        else None,
    )


def _assignee(record: EntityRecord, directory: TeamDirectory, ref: _Refs) -> Assignee:
    members = directory.members.get(record.id, ()) if record.kind is EntityKind.TEAM else ()
    parents = directory.parents.get(record.id, ()) if record.kind is EntityKind.TEAM else ()
    return Assignee(
        assignee=ref(record),
        status=record.status.value,
        contacts=contacts_of(record),
        role=_text(record, "role") if record.kind is EntityKind.PERSON else None,
        members=[_member(p, ref) for p in members[:MEMBERS_SHOWN]],
        member_count=len(members),
        escalate_to=ref.all(parents),
    )


def _member(person: EntityRecord, ref: _Refs) -> TeamMember:
    return TeamMember(
        person=ref(person),
        email=_text(person, "email") or person.identifiers.get("email"),
        role=_text(person, "role"),
    )


def _redundancy(holder: EntityRecord, cover: RedundancyCover, ref: _Refs) -> RedundancyItem:
    return RedundancyItem(
        holder=ref(holder),
        group=cover.group,
        members=cover.members,
        failed=ref.all(cover.failed),
        survivors=[
            SurvivorItem(entity=ref(s.entity), degraded=s.degraded) for s in cover.survivors
        ],
    )


def _kept_up(page: Sequence[Affected], ref: _Refs) -> dict[int, list[RedundancyItem]]:
    """Return, by entity id, what keeps each DEGRADED entity of ``page`` up.

    Its own groups (``saved_by``), else those of the entity it was reached
    from; ``page`` is in breadth-first order, so that one comes first.
    """
    kept: dict[int, list[RedundancyItem]] = {}
    for node in page:
        if node.state is not ImpactState.DEGRADED:
            continue
        if node.saved_by:
            kept[node.entity.id] = [_redundancy(node.entity, c, ref) for c in node.saved_by]
            continue
        came = _reached_from(node)
        if came is not None and came[0].id in kept:
            kept[node.entity.id] = kept[came[0].id]
    return kept


def _affected_entity(
    node: Affected, ref: _Refs, kept: Mapping[int, list[RedundancyItem]]
) -> AffectedEntity:
    entity = node.entity
    came = _reached_from(node)
    kind = entity.kind
    return AffectedEntity(
        entity=ref(entity),
        tier=_tier(entity) if kind is EntityKind.SERVICE else None,
        ci_class=_text(entity, "ciClass") if kind is EntityKind.CONFIGURATION_ITEM else None,
        state=node.state,
        depth=node.depth,
        stale=node.stale,
        reached_from=ref(came[0]) if came else None,
        relation=came[1] if came else None,
        walked=came[2] if came else None,
        kept_up_by=kept.get(entity.id, []),
    )


def _services(
    page: Sequence[Affected],
    tiers: Sequence[TierCount],
    ref: _Refs,
    limit: int,
    kept: Mapping[int, list[RedundancyItem]],
) -> list[ServiceTierGroup]:
    by_tier: dict[int | None, list[Affected]] = defaultdict(list)
    for node in page:
        if node.entity.kind is EntityKind.SERVICE:
            by_tier[_tier(node.entity)].append(node)
    groups = []
    for tally in tiers:
        nodes = sorted(
            by_tier.get(tally.tier, []),
            key=lambda a: (a.state is not ImpactState.DOWN, a.depth, a.entity.key),
        )[: max(0, limit)]
        services = [
            AffectedService(
                service=ref(a.entity),
                tier=tally.tier,
                state=a.state,
                depth=a.depth,
                stale=a.stale,
                path=[PathStepItem(type=s.type, from_=ref(s.from_), to=ref(s.to)) for s in a.path],
                kept_up_by=kept.get(a.entity.id, []),
            )
            for a in nodes
        ]
        groups.append(
            ServiceTierGroup(
                tier=tally.tier,
                count=tally.count,
                down=tally.down,
                degraded=tally.degraded,
                listed=len(services),
                services=services,
            )
        )
    return groups


def _teams(answer: ChangeImpact, directory: TeamDirectory, ref: _Refs) -> list[TeamToNotify]:
    roles: dict[int, list[TeamRoleNotice]] = defaultdict(list)
    teams: dict[int, EntityRecord] = {}
    for notice in answer.impact.teams_to_notify:
        teams.setdefault(notice.team.id, notice.team)
        roles[notice.team.id].append(
            TeamRoleNotice(
                role=notice.role,
                inherited=notice.inherited,
                via=ref.all(notice.via),
                via_count=max(notice.via_count, len(notice.via)),
                affected=notice.affected,
            )
        )
    out = []
    for team_id, team in teams.items():
        members = directory.members.get(team_id, ())
        parents = directory.parents.get(team_id, ())
        contacts = contacts_of(team)
        warnings = []
        if team.status is Status.RETIRED:
            warnings.append("the team is retired")
        elif team.status is Status.STALE:
            warnings.append("the team is stale: no source asserts it any more")
        if not members:
            escalate = ", ".join(p.key for p in parents)
            warnings.append(f"no members: escalate to {escalate}" if escalate else "no members")
        if not contacts and not members:
            warnings.append("no contact: the team states no email, chat or on-call address")
        out.append(
            TeamToNotify(
                team=ref(team),
                status=team.status.value,
                roles=roles[team_id],
                contacts=contacts,
                members=[_member(p, ref) for p in members[:MEMBERS_SHOWN]],
                member_count=len(members),
                escalate_to=ref.all(parents),
                warnings=warnings,
            )
        )
    return out


def _projects(answer: ChangeImpact, ref: _Refs) -> list[AffectedProject]:
    reasons: dict[int, list[ProjectReasonItem]] = defaultdict(list)
    for r in answer.impact.project_reasons:
        reasons[r.project.id].append(
            ProjectReasonItem(
                relation=r.relation,
                count=r.count,
                entities=ref.all(r.entities),
                changes=ref.all(r.changes),
            )
        )
    return [
        AffectedProject(project=ref(p), reasons=reasons.get(p.id, []))
        for p in answer.impact.affected_projects
    ]


async def affected_from_analysis(
    store: GraphStore,
    analysis: Analysis,
    *,
    limit: int = PICTURE_ENTITIES,
    as_of: datetime | None = None,
) -> list[AffectedEntity]:
    """Return the first ``limit`` entities of an impact walk as the report names them.

    What the impact picture of the explorer draws (with
    :func:`graphsvc.report.diagram.affected_diagram`), shaped like a change
    report's ``affected.entities``: breadth-first (start entities first, then
    nearest first), each with the entity it was reached from, the relation
    walked, its tier or ciClass, and, for a DEGRADED one, what keeps it up (its
    own redundancy groups, else those of the entity it was reached from).

    The cost is bounded by ``limit`` whatever the size of the walk: three
    store calls for the records, the relations walked and the redundancy
    groups. Breadth-first order keeps every entity's parent among the first
    ``limit`` too, so each entity drawn has its arrow.

    Args:
        store: The store the analysis read.
        analysis: An impact analysis (:func:`graphsvc.analysis.impact.impact_analysis`).
        limit: At most this many entities (``0``: none).
        as_of: The analysis' time.
    """
    walk = analysis.walk
    count = max(0, min(len(walk), limit))
    if count == 0:
        return []
    ids = [int(i) for i in walk.entities[:count]]
    parents = [int(p) for p in walk.parent[:count]]
    vias = [int(v) for v in walk.via[:count]]
    found = await store.entities(ids, as_of=as_of)
    walked = sorted({v for v in vias if v >= 0})
    relations = dict(zip(walked, await store.relations_by_id(walked, as_of=as_of), strict=True))
    degraded = [i for i in range(count) if not analysis.down[i]]
    covers = await redundancy_covers(store, analysis, degraded, as_of=as_of)
    ref = _Refs()
    kept: dict[int, list[RedundancyItem]] = {}
    out: list[AffectedEntity] = []
    for index in range(count):
        record = found[index]
        if record is None:  # pragma: no cover - the walk only reaches existing entities
            continue
        parent = found[parents[index]] if parents[index] >= 0 else None
        relation = relations.get(vias[index])
        is_down = bool(analysis.down[index])
        if not is_down:
            own = covers.get(index, ())
            if own:
                kept[index] = [_redundancy(record, c, ref) for c in own]
            elif parents[index] in kept:
                kept[index] = kept[parents[index]]
        kind = record.kind
        ci = kind is EntityKind.CONFIGURATION_ITEM
        out.append(
            AffectedEntity(
                entity=ref(record),
                tier=_tier(record) if kind is EntityKind.SERVICE else None,
                ci_class=_text(record, "ciClass") if ci else None,
                state=ImpactState.DOWN if is_down else ImpactState.DEGRADED,
                depth=int(walk.depth[index]),
                stale=bool(walk.stale[index]),
                reached_from=ref(parent) if parent is not None else None,
                relation=relation.type if relation is not None and parent is not None else None,
                walked=(
                    (Direction.IN if relation.from_id == record.id else Direction.OUT)
                    if relation is not None and parent is not None
                    else None
                ),
                kept_up_by=kept.get(index, []),
            )
        )
    return out
