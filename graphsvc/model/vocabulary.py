"""The graph vocabulary, declared once (PRODUCT.md section 1).

Everything else is derived from the declarations in this module: ingest
validation (:mod:`graphsvc.model.validation`), the JSON Schema of the batch
format (:mod:`graphsvc.model.schema_export`), the store's integer codes and
constraints, the traversal steps of the analyses and the GraphQL types.

The integer ``code`` of every kind, relation type and status is what the stores
persist. Codes are part of the on-disk format: never renumber one, only add.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from functools import cached_property

__all__ = [
    "ALL_KINDS",
    "IDENTIFIERS",
    "IMPACT_KINDS",
    "KINDS",
    "RELATION_TYPES",
    "VOCABULARY",
    "AttributeSpec",
    "AttributeType",
    "Direction",
    "EntityKind",
    "IdentifierSpec",
    "IdentifierStrength",
    "ImpactFlow",
    "KindSpec",
    "RelationRule",
    "RelationType",
    "RelationTypeSpec",
    "Status",
    "TraversalStep",
    "Vocabulary",
    "normalize_key",
]


class EntityKind(StrEnum):
    """The kinds of entity the graph holds."""

    __hash__ = str.__hash__  # C-level hashing: members are dict keys in hot loops

    TEAM = "Team"
    PERSON = "Person"
    SERVICE = "Service"
    CONFIGURATION_ITEM = "ConfigurationItem"
    CHANGE = "Change"
    PROJECT = "Project"
    WINDOW = "Window"
    TASK = "Task"


class RelationType(StrEnum):
    """The types of relation the graph holds."""

    __hash__ = str.__hash__  # C-level hashing: members are dict keys in hot loops

    DEPENDS_ON = "DEPENDS_ON"
    RUNS_ON = "RUNS_ON"
    PART_OF = "PART_OF"
    OWNS = "OWNS"
    SUPPORTS = "SUPPORTS"
    MEMBER_OF = "MEMBER_OF"
    MODIFIES = "MODIFIES"
    IMPLEMENTS = "IMPLEMENTS"
    DELIVERS = "DELIVERS"
    CONSOLIDATES = "CONSOLIDATES"
    REPLACED_BY = "REPLACED_BY"
    APPLIES_TO = "APPLIES_TO"
    ASSIGNED_TO = "ASSIGNED_TO"
    REQUIRES = "REQUIRES"


class Status(StrEnum):
    """Lifecycle status of an entity or relation as the graph sees it.

    ``active``: some source asserts it. ``stale``: no source asserts it any more
    after a complete run (it is still walked by impact analysis, and flagged).
    ``retired``: explicitly retired by a source, or stale for too many complete
    runs; never walked, kept in the history.
    """

    __hash__ = str.__hash__  # C-level hashing: members are dict keys in hot loops

    ACTIVE = "active"
    STALE = "stale"
    RETIRED = "retired"

    @property
    def code(self) -> int:
        """The persisted integer code (0, 1, 2)."""
        return _STATUS_CODES[self]

    @classmethod
    def from_code(cls, code: int) -> Status:
        """Return the status persisted as ``code``."""
        return _STATUS_BY_CODE[code]


_STATUS_CODES: dict[Status, int] = {Status.ACTIVE: 0, Status.STALE: 1, Status.RETIRED: 2}
_STATUS_BY_CODE: dict[int, Status] = {v: k for k, v in _STATUS_CODES.items()}


class ImpactFlow(Enum):
    """In which direction a failure or a change propagates along a relation."""

    TO_FROM = "to -> from"
    """A failure of the relation's ``to`` affects its ``from``.

    ``X DEPENDS_ON Y``: Y fails, X is hit.
    """
    FROM_TO = "from -> to"
    """A failure of the relation's ``from`` affects its ``to`` (a component hits the whole)."""
    NONE = "none"
    """The relation carries no impact."""
    START_SET = "start set"
    """The relation names what a change touches: the change's start set, not a propagation."""


class Direction(StrEnum):
    """Which way a traversal follows a relation."""

    OUT = "out"
    """From the relation's ``from`` to its ``to``."""
    IN = "in"
    """From the relation's ``to`` to its ``from``."""

    def reverse(self) -> Direction:
        """Return the other direction."""
        return Direction.IN if self is Direction.OUT else Direction.OUT


class AttributeType(StrEnum):
    """Value types a well-known attribute may declare."""

    STRING = "string"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    DATETIME = "datetime"
    """An ISO 8601 date-time string with a time zone (``Z`` or ``±hh:mm``)."""
    ENUM = "enum"
    """A string from :attr:`AttributeSpec.choices`."""
    EMAIL = "email"


@dataclass(frozen=True, slots=True)
class AttributeSpec:
    """A well-known attribute of a kind or relation type.

    Attributes:
        name: The attribute's name in ``attributes``.
        type: Its value type; a value of another type is a validation error.
        description: What it means.
        required: Whether an entity of the kind must carry it when it is created.
            Later batches may omit it (they update only the attributes they send),
            but may not remove it.
        choices: Allowed values for :attr:`AttributeType.ENUM`.
        minimum: Smallest allowed value for numbers and integers.
        maximum: Largest allowed value for numbers and integers.
        indexed: Whether stores keep the attribute ready for analyses and filters
            (the embedded store holds indexed attributes in memory).
    """

    name: str
    type: AttributeType
    description: str
    required: bool = False
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    indexed: bool = False


@dataclass(frozen=True, slots=True)
class KindSpec:
    """One entity kind and its well-known attributes.

    Attributes:
        kind: The kind.
        code: Persisted integer code (stable forever).
        description: What an entity of this kind is.
        attributes: Well-known attributes; other attributes are free-form JSON.
        noun: The kind in running text, singular and plural ("configuration item",
            "configuration items").
        short_name: The kind in table cells and diagram labels ("CI").
        report_order: Where the kind's entities are listed in a change report
            (lower first).
    """

    kind: EntityKind
    code: int
    description: str
    attributes: tuple[AttributeSpec, ...] = ()
    noun: tuple[str, str] = ("", "")
    short_name: str = ""
    report_order: int = 0

    @property
    def required_attributes(self) -> tuple[str, ...]:
        """Names of the attributes an entity of this kind must carry when created."""
        return tuple(a.name for a in self.attributes if a.required)

    def attribute(self, name: str) -> AttributeSpec | None:
        """Return the well-known attribute ``name``, or ``None`` for a free-form one."""
        for spec in self.attributes:
            if spec.name == name:
                return spec
        return None


@dataclass(frozen=True, slots=True)
class RelationRule:
    """One allowed ``(type, from kind, to kind)`` shape of a relation.

    Attributes:
        type: The relation type.
        from_kinds: Kinds allowed at the ``from`` end.
        to_kinds: Kinds allowed at the ``to`` end.
        meaning: What the relation says, in words.
        impact: How failure propagates along relations of this shape.
    """

    type: RelationType
    from_kinds: frozenset[EntityKind]
    to_kinds: frozenset[EntityKind]
    meaning: str
    impact: ImpactFlow

    def allows(self, from_kind: EntityKind, to_kind: EntityKind) -> bool:
        """Return whether a relation from ``from_kind`` to ``to_kind`` fits this rule."""
        return from_kind in self.from_kinds and to_kind in self.to_kinds


@dataclass(frozen=True, slots=True)
class RelationTypeSpec:
    """A relation type: its persisted code, its rules and its well-known attributes."""

    type: RelationType
    code: int
    rules: tuple[RelationRule, ...]
    attributes: tuple[AttributeSpec, ...] = ()

    def rule_for(self, from_kind: EntityKind, to_kind: EntityKind) -> RelationRule | None:
        """Return the rule a relation between these kinds falls under, or ``None``."""
        for rule in self.rules:
            if rule.allows(from_kind, to_kind):
                return rule
        return None

    def attribute(self, name: str) -> AttributeSpec | None:
        """Return the well-known relation attribute ``name``, or ``None``."""
        for spec in self.attributes:
            if spec.name == name:
                return spec
        return None


def normalize_key(key: str) -> str:
    """Return ``key`` as keys are stored and compared: Unicode NFC.

    ``café`` typed with a combining accent and with the precomposed letter is
    one key. Nothing else changes (case and spaces are part of a key).
    """
    return unicodedata.normalize("NFC", key)


class IdentifierStrength(StrEnum):
    """How firmly an identifier value names one thing (PRODUCT.md 2, "Identification")."""

    STRONG = "strong"
    """Names one thing for its whole life (a serial number, an ARN, a Kubernetes
    UID): a match identifies the entity whatever its status, a retired one included."""
    WEAK = "weak"
    """Can pass to another thing (an IP address, a host name): a match counts
    only on an active or stale entity whose strong identifiers do not disagree."""


@dataclass(frozen=True, slots=True)
class IdentifierSpec:
    """A well-known identifier type: how firmly it names a thing and how its values compare.

    Values are compared after Unicode NFC normalisation and the type's own
    ``normalize``. Identifier types not declared here are allowed
    (``^[a-z][A-Za-z0-9]*$``), compared after NFC and trimming, and are weak.
    """

    name: str
    description: str
    strength: IdentifierStrength
    normalize: Callable[[str], str] = field(default=str.strip)


@dataclass(frozen=True, slots=True)
class TraversalStep:
    """One way a traversal may leave an entity.

    Follow relations of ``type`` in ``direction``, only from entities whose kind
    is in ``from_kinds`` to entities whose kind is in ``to_kinds`` (kinds of the
    entity being left and of the entity being reached, whatever the relation's
    own direction).
    """

    type: RelationType
    direction: Direction
    from_kinds: frozenset[EntityKind]
    to_kinds: frozenset[EntityKind]


def _lower(value: str) -> str:
    return value.strip().lower()


def _fqdn(value: str) -> str:
    return value.strip().lower().rstrip(".")


_MAC_DIGITS = re.compile(r"[^0-9a-f]")


def _mac(value: str) -> str:
    digits = _MAC_DIGITS.sub("", value.strip().lower())
    if len(digits) != 12:
        return value.strip().lower()
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))


def _ip(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return value.strip().lower()


_IMPACT_KINDS = frozenset({EntityKind.SERVICE, EntityKind.CONFIGURATION_ITEM})
_ALL_KINDS = frozenset(EntityKind)


class Vocabulary:
    """The whole vocabulary: kinds, relation types, statuses and identifier types.

    Use the module constant :data:`VOCABULARY`; build another instance only in tests.
    """

    def __init__(
        self,
        kinds: tuple[KindSpec, ...],
        relation_types: tuple[RelationTypeSpec, ...],
        identifiers: tuple[IdentifierSpec, ...],
    ) -> None:
        self.kinds: Mapping[EntityKind, KindSpec] = {k.kind: k for k in kinds}
        self.relation_types: Mapping[RelationType, RelationTypeSpec] = {
            r.type: r for r in relation_types
        }
        self.identifiers: Mapping[str, IdentifierSpec] = {i.name: i for i in identifiers}
        self._kind_by_code = {k.code: k.kind for k in kinds}
        self._type_by_code = {r.code: r.type for r in relation_types}
        if len(self._kind_by_code) != len(kinds) or len(self._type_by_code) != len(relation_types):
            msg = "duplicate persisted code in the vocabulary"
            raise ValueError(msg)

    # ----------------------------------------------------------------- codes
    def kind_code(self, kind: EntityKind) -> int:
        """Return the persisted code of ``kind``."""
        return self.kinds[kind].code

    def kind_from_code(self, code: int) -> EntityKind:
        """Return the kind persisted as ``code``."""
        return self._kind_by_code[code]

    def type_code(self, type_: RelationType) -> int:
        """Return the persisted code of relation type ``type_``."""
        return self.relation_types[type_].code

    def type_from_code(self, code: int) -> RelationType:
        """Return the relation type persisted as ``code``."""
        return self._type_by_code[code]

    @property
    def kinds_in_report_order(self) -> tuple[EntityKind, ...]:
        """Every kind, in the order a change report lists their entities."""
        return tuple(k.kind for k in sorted(self.kinds.values(), key=lambda k: k.report_order))

    def noun(self, kind: EntityKind, count: int = 1) -> str:
        """The kind in running text: "configuration item", or its plural when ``count != 1``."""
        singular, plural = self.kinds[kind].noun
        return singular if count == 1 else plural

    def short_name(self, kind: EntityKind) -> str:
        """The kind in a table cell or a diagram label ("CI")."""
        return self.kinds[kind].short_name

    @property
    def max_kind_code(self) -> int:
        """The largest kind code (for sizing lookup tables)."""
        return max(self._kind_by_code)

    @property
    def max_type_code(self) -> int:
        """The largest relation type code (for sizing lookup tables)."""
        return max(self._type_by_code)

    # ----------------------------------------------------------------- rules
    def rule_for(
        self, type_: RelationType, from_kind: EntityKind, to_kind: EntityKind
    ) -> RelationRule | None:
        """Return the rule a relation falls under, or ``None`` when the shape is not allowed."""
        return self.relation_types[type_].rule_for(from_kind, to_kind)

    def normalize_identifier(self, id_type: str, value: str) -> str:
        """Return ``value`` normalised the way identifiers of ``id_type`` are compared.

        Unicode NFC first (``café`` typed two ways is one value), then the
        type's own normalisation (undeclared types: surrounding space trimmed).
        """
        value = unicodedata.normalize("NFC", value)
        spec = self.identifiers.get(id_type)
        return spec.normalize(value) if spec else value.strip()

    def identifier_strength(self, id_type: str) -> IdentifierStrength:
        """Return how firmly ``id_type`` names a thing (undeclared types are weak)."""
        spec = self.identifiers.get(id_type)
        return spec.strength if spec else IdentifierStrength.WEAK

    def steps(
        self,
        type_: RelationType,
        direction: Direction,
        *,
        leaving: Iterable[EntityKind] | None = None,
        reaching: Iterable[EntityKind] | None = None,
    ) -> tuple[TraversalStep, ...]:
        """The steps that walk ``type_`` in ``direction``, their kinds taken from its rules.

        One step per rule of the type: ``OUT`` leaves the rule's from kinds for
        its to kinds, ``IN`` the other way round. Analyses name the steps they walk
        this way, so that a kind added to a rule is walked without a second table.

        Args:
            type_: The relation type.
            direction: ``OUT`` follows relations from their ``from``; ``IN`` from their ``to``.
            leaving: Only the rules whose side being left holds one of these kinds,
                narrowed to them (``PART_OF`` from teams is the team hierarchy).
            reaching: Only the rules whose side being reached holds one of these
                kinds, narrowed to them (what a *change* ``MODIFIES``, not a task).
        """
        wanted = frozenset(leaving) if leaving is not None else None
        reached = frozenset(reaching) if reaching is not None else None
        out: list[TraversalStep] = []
        for rule in self.relation_types[type_].rules:
            start, end = (
                (rule.from_kinds, rule.to_kinds)
                if direction is Direction.OUT
                else (rule.to_kinds, rule.from_kinds)
            )
            if wanted is not None:
                start = start & wanted
            if reached is not None:
                end = end & reached
            if start and end:
                out.append(TraversalStep(type_, direction, start, end))
        return tuple(out)

    @cached_property
    def impact_steps(self) -> tuple[TraversalStep, ...]:
        """How impact propagates: the steps of an ``impact`` walk (PRODUCT.md 4.2)."""
        steps: list[TraversalStep] = []
        for spec in self.relation_types.values():
            for rule in spec.rules:
                if rule.impact is ImpactFlow.TO_FROM:
                    steps.append(
                        TraversalStep(spec.type, Direction.IN, rule.to_kinds, rule.from_kinds)
                    )
                elif rule.impact is ImpactFlow.FROM_TO:
                    steps.append(
                        TraversalStep(spec.type, Direction.OUT, rule.from_kinds, rule.to_kinds)
                    )
        return tuple(steps)

    @cached_property
    def dependency_steps(self) -> tuple[TraversalStep, ...]:
        """The reverse of :attr:`impact_steps`: what entities need (``dependencies``)."""
        return tuple(
            TraversalStep(s.type, s.direction.reverse(), s.to_kinds, s.from_kinds)
            for s in self.impact_steps
        )

    @cached_property
    def indexed_attributes(self) -> tuple[str, ...]:
        """Names of the attributes stores keep ready in bulk (``indexed`` on any kind), sorted."""
        return tuple(
            sorted({a.name for spec in self.kinds.values() for a in spec.attributes if a.indexed})
        )

    @cached_property
    def redundancy_types(self) -> frozenset[RelationType]:
        """Relation types on which ``redundancyGroup`` declares redundant alternatives."""
        return frozenset(
            t for t, spec in self.relation_types.items() if spec.attribute("redundancyGroup")
        )


_attr = AttributeSpec


_S, _I, _N, _D, _E, _M = (
    AttributeType.STRING,
    AttributeType.INTEGER,
    AttributeType.NUMBER,
    AttributeType.DATETIME,
    AttributeType.ENUM,
    AttributeType.EMAIL,
)

_CAPACITY = _attr("capacity", _N, "What it can carry, in a unit shared with `load`.", minimum=0)
_LOAD = _attr("load", _N, "What it carries now, in the unit of `capacity`.", minimum=0)

_K = EntityKind

KINDS: tuple[KindSpec, ...] = (
    KindSpec(
        _K.TEAM,
        1,
        "An owning or support group.",
        (
            _attr("email", _M, "Contact address of the team."),
            _attr("capacityHoursPerWeek", _N, "Hours per week the team can give.", minimum=0),
            _attr(
                "projectShare",
                _N,
                "Share of the team's time project work may take (0 to 1; 0.4 when absent).",
                minimum=0,
                maximum=1,
            ),
        ),
        noun=("team", "teams"),
        short_name="Team",
        report_order=6,
    ),
    KindSpec(
        _K.PERSON,
        2,
        "A member of a team.",
        (
            _attr("email", _M, "Contact address."),
            _attr("role", _S, "Role in the team."),
            _attr("hoursPerWeek", _N, "Hours the person works a week (40 when absent).", minimum=0),
        ),
        noun=("person", "people"),
        short_name="Person",
        report_order=7,
    ),
    KindSpec(
        _K.SERVICE,
        3,
        "A business, technical or application service.",
        (
            _attr(
                "tier",
                _I,
                "Criticality: 1 = most critical … 4.",
                minimum=1,
                maximum=4,
                indexed=True,
            ),
            _attr("serviceType", _S, "Business, technical, application …"),
            _attr(
                "lifecycle",
                _E,
                "Where the service is in its life.",
                choices=("planned", "live", "retiring", "retired"),
                indexed=True,
            ),
            _attr("capability", _S, "The business capability it provides.", indexed=True),
            _CAPACITY,
            _LOAD,
        ),
        noun=("service", "services"),
        short_name="Service",
        report_order=1,
    ),
    KindSpec(
        _K.CONFIGURATION_ITEM,
        4,
        "Anything configured that can fail: server, VM, workload, database, device, cloud "
        "resource.",
        (
            _attr(
                "ciClass",
                _S,
                "What sort of CI it is (server, database, k8s_deployment …).",
                required=True,
                indexed=True,
            ),
            _attr("environment", _S, "prod, staging, dev …", indexed=True),
            _CAPACITY,
            _LOAD,
        ),
        noun=("configuration item", "configuration items"),
        short_name="CI",
        report_order=2,
    ),
    KindSpec(
        _K.CHANGE,
        5,
        "A change request.",
        (
            _attr(
                "state",
                _E,
                "Where the change is; open unless closed or cancelled.",
                choices=(
                    "new",
                    "assess",
                    "scheduled",
                    "implement",
                    "review",
                    "closed",
                    "cancelled",
                ),
                indexed=True,
            ),
            _attr("changeType", _E, "Kind of change.", choices=("standard", "normal", "emergency")),
            _attr("plannedStart", _D, "Start of the planned window (inclusive).", indexed=True),
            _attr("plannedEnd", _D, "End of the planned window (exclusive).", indexed=True),
            _attr("risk", _S, "Risk as the change tool states it."),
            _attr("effortHours", _N, "Estimated effort in hours.", minimum=0, indexed=True),
            _attr("requestedBy", _S, "Who asked for the change (a name or e-mail address)."),
            _attr(
                "approval",
                _S,
                "Approval state as the change tool states it (e.g. requested, approved).",
            ),
            _attr("backoutPlan", _S, "How the change is undone if it fails."),
            _attr("testPlan", _S, "How the change is verified."),
            _attr(
                "configurationItem",
                _S,
                "The CI the change tool names (kept when the graph lacks it).",
            ),
        ),
        noun=("change", "changes"),
        short_name="Change",
        report_order=4,
    ),
    KindSpec(
        _K.PROJECT,
        6,
        "A PPM project, programme or initiative.",
        (
            _attr("status", _S, "Project status as the PPM tool states it."),
            _attr("priority", _S, "Priority as the PPM tool states it."),
            _attr("projectType", _S, "For example `consolidation`.", indexed=True),
            _attr("plannedStart", _D, "Planned start."),
            _attr("plannedEnd", _D, "Planned end."),
            _attr("sponsor", _S, "Who sponsors it."),
        ),
        noun=("project", "projects"),
        short_name="Project",
        report_order=3,
    ),
    KindSpec(
        _K.WINDOW,
        7,
        "A blackout or maintenance window.",
        (
            _attr(
                "windowType",
                _E,
                "blackout: no change may run; maintenance: when changes are allowed.",
                choices=("blackout", "maintenance"),
                required=True,
                indexed=True,
            ),
            _attr("start", _D, "Start of the window (inclusive).", required=True),
            _attr("end", _D, "End of the window (exclusive).", required=True),
        ),
        noun=("window", "windows"),
        short_name="Window",
        report_order=5,
    ),
    KindSpec(
        _K.TASK,
        8,
        "A unit of IT work, planned in a PPM tool or raised in an ITSM tool: an IT task a "
        "project needs before it can start, a change task, a request.",
        (
            _attr(
                "status",
                _E,
                "Where the work is; open unless done or cancelled.",
                choices=("open", "in_progress", "blocked", "done", "cancelled"),
                indexed=True,
            ),
            _attr("effortHours", _N, "Estimated effort in hours.", minimum=0, indexed=True),
            _attr("plannedStart", _D, "When the work is planned to start.", indexed=True),
            _attr("due", _D, "When the work must be done.", indexed=True),
            _attr(
                "origin",
                _E,
                "Which side raised it: ppm or itsm.",
                choices=("ppm", "itsm"),
                indexed=True,
            ),
            _attr("externalUrl", _S, "The task in the tool it comes from."),
        ),
        noun=("task", "tasks"),
        short_name="Task",
        report_order=8,
    ),
)

_REDUNDANCY = _attr(
    "redundancyGroup",
    _S,
    "Relations from one entity that share a group name are redundant alternatives.",
)
_CRITICALITY = _attr("criticality", _S, "How critical the relation is, as the source states it.")
_CONFIDENCE = _attr("confidence", _N, "How sure the source is (0 to 1).", minimum=0, maximum=1)
_ALLOCATION = _attr(
    "allocation",
    _N,
    "Share of the person's time this team has (0 to 1; 1 when absent).",
    minimum=0,
    maximum=1,
)
_COMMON = (_CRITICALITY, _CONFIDENCE)

_T = RelationType
_SVC_CI = frozenset({_K.SERVICE, _K.CONFIGURATION_ITEM})
_TF, _FT, _NO, _SS = ImpactFlow.TO_FROM, ImpactFlow.FROM_TO, ImpactFlow.NONE, ImpactFlow.START_SET


def _rule(
    type_: RelationType,
    from_kinds: frozenset[EntityKind],
    to_kinds: frozenset[EntityKind],
    meaning: str,
    impact: ImpactFlow,
) -> RelationRule:
    return RelationRule(type_, from_kinds, to_kinds, meaning, impact)


def _one(kind: EntityKind) -> frozenset[EntityKind]:
    return frozenset({kind})


RELATION_TYPES: tuple[RelationTypeSpec, ...] = (
    RelationTypeSpec(
        _T.DEPENDS_ON,
        1,
        (
            _rule(
                _T.DEPENDS_ON,
                _SVC_CI | {_K.PROJECT},
                _SVC_CI,
                "from needs to to work",
                _TF,
            ),
        ),
        (_REDUNDANCY, *_COMMON),
    ),
    RelationTypeSpec(
        _T.RUNS_ON,
        2,
        (_rule(_T.RUNS_ON, _SVC_CI, _one(_K.CONFIGURATION_ITEM), "from is hosted on to", _TF),),
        (_REDUNDANCY, *_COMMON),
    ),
    RelationTypeSpec(
        _T.PART_OF,
        3,
        (
            _rule(_T.PART_OF, _SVC_CI, _SVC_CI, "from is a component of to", _FT),
            _rule(_T.PART_OF, _one(_K.TEAM), _one(_K.TEAM), "team hierarchy", _NO),
            _rule(
                _T.PART_OF,
                _one(_K.TASK),
                _one(_K.PROJECT),
                "the task is in the project's plan",
                _NO,
            ),
        ),
        _COMMON,
    ),
    RelationTypeSpec(
        _T.OWNS,
        4,
        (_rule(_T.OWNS, _one(_K.TEAM), _SVC_CI | {_K.PROJECT}, "accountable owner", _NO),),
        _COMMON,
    ),
    RelationTypeSpec(
        _T.SUPPORTS,
        5,
        (_rule(_T.SUPPORTS, _one(_K.TEAM), _SVC_CI, "operational support group", _NO),),
        _COMMON,
    ),
    RelationTypeSpec(
        _T.MEMBER_OF,
        6,
        (_rule(_T.MEMBER_OF, _one(_K.PERSON), _one(_K.TEAM), "membership", _NO),),
        (_ALLOCATION, *_COMMON),
    ),
    RelationTypeSpec(
        _T.MODIFIES,
        7,
        (
            _rule(_T.MODIFIES, _one(_K.CHANGE), _SVC_CI, "what the change touches", _SS),
            _rule(_T.MODIFIES, _one(_K.TASK), _SVC_CI, "what the task will touch", _NO),
        ),
        _COMMON,
    ),
    RelationTypeSpec(
        _T.IMPLEMENTS,
        8,
        (
            _rule(
                _T.IMPLEMENTS,
                _one(_K.CHANGE),
                _one(_K.PROJECT),
                "the change is work of the project",
                _NO,
            ),
            _rule(
                _T.IMPLEMENTS,
                _one(_K.CHANGE),
                _one(_K.TASK),
                "the change carries the task out",
                _NO,
            ),
        ),
        _COMMON,
    ),
    RelationTypeSpec(
        _T.DELIVERS,
        9,
        (
            _rule(
                _T.DELIVERS,
                _one(_K.PROJECT),
                _one(_K.SERVICE),
                "the project builds or changes the service",
                _NO,
            ),
        ),
        _COMMON,
    ),
    RelationTypeSpec(
        _T.CONSOLIDATES,
        10,
        (
            _rule(
                _T.CONSOLIDATES,
                _one(_K.PROJECT),
                _SVC_CI,
                "the project retires this source",
                _NO,
            ),
        ),
        _COMMON,
    ),
    RelationTypeSpec(
        _T.REPLACED_BY,
        11,
        (
            _rule(
                _T.REPLACED_BY,
                _SVC_CI,
                _SVC_CI,
                "the source is consolidated into the target",
                _NO,
            ),
        ),
        _COMMON,
    ),
    RelationTypeSpec(
        _T.APPLIES_TO,
        12,
        (_rule(_T.APPLIES_TO, _one(_K.WINDOW), _SVC_CI, "the window covers this entity", _NO),),
        _COMMON,
    ),
    RelationTypeSpec(
        _T.ASSIGNED_TO,
        13,
        (
            _rule(
                _T.ASSIGNED_TO,
                frozenset({_K.TASK, _K.CHANGE}),
                frozenset({_K.TEAM, _K.PERSON}),
                "who does the work",
                _NO,
            ),
        ),
        _COMMON,
    ),
    RelationTypeSpec(
        _T.REQUIRES,
        14,
        (
            _rule(
                _T.REQUIRES,
                frozenset({_K.PROJECT, _K.TASK}),
                _one(_K.TASK),
                "from cannot start before to is done (a prerequisite)",
                _NO,
            ),
        ),
        _COMMON,
    ),
)

_STRONG = IdentifierStrength.STRONG
_WEAK = IdentifierStrength.WEAK

IDENTIFIERS: tuple[IdentifierSpec, ...] = (
    IdentifierSpec("serial", "Hardware or VM serial number.", _STRONG),
    IdentifierSpec(
        "fqdn",
        "Fully qualified domain name (case-insensitive, trailing dot ignored).",
        _WEAK,
        _fqdn,
    ),
    IdentifierSpec("hostname", "Host name as a tool reports it (case-insensitive).", _WEAK, _lower),
    IdentifierSpec("ipAddress", "IPv4 or IPv6 address (canonical form).", _WEAK, _ip),
    IdentifierSpec("macAddress", "MAC address (lower case, colon separated).", _WEAK, _mac),
    IdentifierSpec("email", "E-mail address (case-insensitive).", _WEAK, _lower),
    IdentifierSpec("k8sUid", "Kubernetes metadata.uid.", _STRONG),
    IdentifierSpec("awsArn", "Amazon Resource Name.", _STRONG),
    IdentifierSpec(
        "cloudResourceId",
        "A cloud provider's id of the resource (i-…, vpc-…, subnet-…).",
        _STRONG,
    ),
    IdentifierSpec("servicenowSysId", "ServiceNow sys_id.", _STRONG),
    IdentifierSpec(
        "backstageRef",
        "Backstage entity ref kind:namespace/name (case-insensitive).",
        _STRONG,
        _lower,
    ),
    IdentifierSpec("jiraKey", "Jira project or issue key.", _STRONG),
    IdentifierSpec("purl", "Package URL of a software component.", _STRONG),
    IdentifierSpec(
        "bomRef", "CycloneDX bom-ref or SPDX id, prefixed by its document's id.", _STRONG
    ),
)

VOCABULARY = Vocabulary(KINDS, RELATION_TYPES, IDENTIFIERS)
"""The vocabulary graphsvc speaks."""

ALL_KINDS: frozenset[EntityKind] = _ALL_KINDS
"""Every entity kind."""
IMPACT_KINDS: frozenset[EntityKind] = _IMPACT_KINDS
"""The kinds impact propagates through: services and configuration items."""
