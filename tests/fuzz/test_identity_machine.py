"""The same answer before and after a restart, and the answer PRODUCT.md 2 gives.

A hypothesis ``RuleBasedStateMachine`` drives the ingest engine over a real
embedded store with random batches (keys and identifier values from small
pools, so that they collide), explicit retirements and revivals, runs that
finish complete, incomplete or are abandoned, relations whose endpoint is
given by identifiers, and keys typed in two Unicode forms. After every step
it compares every lookup of the running store with

* the same file opened afresh (read-only, beside the running writer): keys,
  aliases, each identifier value as a relation endpoint, every entity's
  status, attributes, identifiers and provenance, relations and identity
  conflicts; and
* a small reference model of the identification rule written here, apart
  from the code under test: which entity each key and each identifier value
  names, which values each entity holds, its aliases, attributes and
  explicit status, which batches are rejected, which conflicts are recorded.

Statuses that runs change (stale, retired after missed complete runs) are
not predicted by the model: it takes them from the running store after each
run ends, once the running and the reopened store agree on them.

Budget: ``GRAPHSVC_FUZZ=short`` (``make test``) or ``long`` (``make fuzz``);
every step counts as a case of target ``identity``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import shutil
import tempfile
import unicodedata
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    precondition,
    rule,
)

from graphsvc.config import Settings
from graphsvc.errors import BatchRejected
from graphsvc.ingest.engine import IngestEngine, IngestPolicy
from graphsvc.ingest.runner import resolve_refs
from graphsvc.model.batch import EntityRef, IngestBatch
from graphsvc.model.records import EntityRecord
from graphsvc.model.vocabulary import Direction, EntityKind
from graphsvc.store.base import GraphStore
from graphsvc.store.factory import store_from_settings
from tests.fuzz.campaign import LEVEL, count, outcome

T = TypeVar("T")
CI = EntityKind.CONFIGURATION_ITEM

KEYS = ["k0", "k1", "k2", "k3", "caf\u00e9", "cafe\u0301"]
"""Keys items use; the last two are one key in two Unicode forms."""
VALUES: dict[str, list[str]] = {
    "serial": ["S1", "S2", "S3"],
    "awsArn": ["arn:1", "arn:2"],
    "ipAddress": ["10.0.0.1", "10.0.0.2", "10.000.0.1".replace("000", "0")],
    "fqdn": ["h1.x", "H1.X.", "h2.x"],
}
STRONG = {"serial", "awsArn"}
LIVE = {"active", "stale"}
SOURCES = ["s1", "s2"]


def normal(id_type: str, value: str) -> str:
    """The reference normalisation: NFC, then the type's own form."""
    value = unicodedata.normalize("NFC", value).strip()
    if id_type == "fqdn":
        return value.lower().rstrip(".")
    if id_type == "ipAddress":
        return str(ipaddress.ip_address(value))
    return value


def nfc(key: str) -> str:
    return unicodedata.normalize("NFC", key)


# ------------------------------------------------------------------ the model


@dataclass
class Thing:
    """One entity as the model sees it; ``key`` is the key it was created with."""

    key: str
    status: str
    identifiers: dict[str, str] = field(default_factory=dict)
    attributes: dict[str, Any] = field(default_factory=dict)
    aliases: set[str] = field(default_factory=set)


@dataclass
class Model:
    """The identification rule of PRODUCT.md 2, written again, small."""

    things: dict[str, Thing] = field(default_factory=dict)  # by creation key
    keys: dict[str, str] = field(default_factory=dict)  # key or alias -> creation key
    clashes: set[tuple[str, str, str, str]] = field(default_factory=set)
    runs_on: set[str] = field(default_factory=set)  # CIs the service runs on (creation keys)

    def copy(self) -> Model:
        return Model(
            {
                k: Thing(t.key, t.status, dict(t.identifiers), dict(t.attributes), set(t.aliases))
                for k, t in self.things.items()
            },
            dict(self.keys),
            set(self.clashes),
            set(self.runs_on),
        )

    def holders(self, id_type: str, value: str) -> list[Thing]:
        return [t for t in self.things.values() if t.identifiers.get(id_type) == value]

    @staticmethod
    def disagree(mine: dict[str, str], theirs: dict[str, str]) -> bool:
        return any(t in STRONG and t in theirs and theirs[t] != v for t, v in mine.items())

    def candidates(self, ids: dict[str, str]) -> tuple[set[str], set[str]]:
        strong = {h.key for t, v in ids.items() if t in STRONG for h in self.holders(t, v)}
        weak = {
            h.key
            for t, v in ids.items()
            if t not in STRONG
            for h in self.holders(t, v)
            if h.status in LIVE and not self.disagree(ids, h.identifiers)
        }
        return strong, weak

    def endpoint(self, ids: dict[str, str]) -> str | tuple[str, ...] | None:
        """The thing ``{kind, identifiers}`` names; a tuple when it names several."""
        strong, weak = self.candidates(ids)
        for found in (strong, weak):
            if len(found) == 1:
                return next(iter(found))
            if len(found) > 1:
                return tuple(sorted(found))
        return None

    def entity_item(self, key: str, ids: dict[str, str], rack: int | None, retired: bool) -> None:
        known = self.keys.get(key)
        by_identifier = False
        if known is None:
            strong, weak = self.candidates(ids)
            if len(strong) == 1:
                known, by_identifier = next(iter(strong)), True
            elif len(weak) == 1:
                known, by_identifier = next(iter(weak)), True
        keep: dict[str, str] = {}
        clashed: list[tuple[str, str, str]] = []
        for t, v in ids.items():
            others = [
                h.key
                for h in self.holders(t, v)
                if h.key != known and (t in STRONG or h.status in LIVE)
            ]
            if others:
                clashed.append((t, v, min(others, key=self.created_order)))
            else:
                keep[t] = v
        if known is None:
            thing = Thing(key, "retired" if retired else "active")
            self.things[key] = thing
        else:
            thing = self.things[known]
            thing.status = "retired" if retired else "active"
            if by_identifier:
                thing.aliases.add(key)
        self.keys[key] = thing.key
        thing.identifiers.update(keep)
        if thing.status in LIVE:
            # one live holder per value: a revived thing gives up what another took
            for t, v in list(thing.identifiers.items()):
                if t in STRONG or keep.get(t) == v:
                    continue
                others = [
                    h.key for h in self.holders(t, v) if h.key != thing.key and h.status in LIVE
                ]
                if others:
                    del thing.identifiers[t]
                    clashed.append((t, v, min(others, key=self.created_order)))
        if rack is not None:
            thing.attributes["rack"] = rack
        for t, v, holder in clashed:
            self.clashes.add((t, v, thing.key, holder))

    def created_order(self, key: str) -> int:
        return list(self.things).index(key)


# ------------------------------------------------------------------ strategies

identifier_maps = st.dictionaries(st.sampled_from(sorted(VALUES)), st.none(), max_size=3).flatmap(
    lambda types: st.fixed_dictionaries({t: st.sampled_from(VALUES[t]) for t in types})
)
entity_items = st.lists(
    st.tuples(st.sampled_from(KEYS), identifier_maps, st.none() | st.integers(0, 3)),
    min_size=1,
    max_size=4,
)
retire_flags = st.lists(st.sampled_from([False, False, False, True]), min_size=4, max_size=4)
endpoints = st.lists(
    st.one_of(
        st.sampled_from(KEYS).map(lambda k: ("key", k)),
        identifier_maps.filter(bool).map(lambda ids: ("identifiers", ids)),
    ),
    max_size=2,
)


class IdentityMachine(RuleBasedStateMachine):
    """See the module docstring."""

    runs = Bundle("runs")

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.folder = Path(tempfile.mkdtemp(prefix="graphsvc-identity-"))
        self.settings = Settings(data=self.folder / "g.db", durability="normal")
        self.store = store_from_settings(self.settings)
        self.wait(self.store.open())
        self.engine = IngestEngine(self.store, IngestPolicy(retire_after_missing_runs=2))
        self.model = Model()
        self.open_runs: dict[str, str] = {}  # run id -> source

    def wait(self, work: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(work)

    def teardown(self) -> None:
        self.wait(self.store.close())
        self.loop.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    # ----------------------------------------------------------------- steps
    def _send(
        self,
        source: str,
        items: list[tuple[str, dict[str, str], int | None]],
        retire: list[bool],
        relations: list[tuple[str, Any]],
        *,
        run_id: str | None = None,
        complete: bool = False,
    ) -> None:
        count("identity")
        entities = [
            {
                "kind": CI.value,
                "key": key,
                "identifiers": ids,
                "attributes": {"ciClass": "server", **({"rack": rack} if rack is not None else {})},
                **({"status": "retired"} if retire[i % len(retire)] else {}),
            }
            for i, (key, ids, rack) in enumerate(items)
        ]
        if relations:
            entities.append({"kind": "Service", "key": "app"})
        rels = [
            {
                "type": "RUNS_ON",
                "from": {"kind": "Service", "key": "app"},
                "to": {"kind": CI.value, how: what},
            }
            for how, what in relations
        ]
        body: dict[str, Any] = {"source": source, "entities": entities, "relations": rels}
        if run_id is not None:
            body["runId"] = run_id
        if complete:
            body["complete"] = True
        expected = self.model.copy()
        for i, (key, ids, rack) in enumerate(items):
            normal_ids = {t: normal(t, v) for t, v in ids.items()}
            expected.entity_item(nfc(key), normal_ids, rack, retire[i % len(retire)])
        rejected = False
        for how, what in relations:
            if how == "key":
                target = expected.keys.get(nfc(what))
            else:
                found = expected.endpoint({t: normal(t, v) for t, v in what.items()})
                target = found if isinstance(found, str) else None
            if target is None:
                rejected = True
            else:
                expected.runs_on.add(target)
        try:
            summary = self.wait(self.engine.ingest(IngestBatch.model_validate(body)))
        except BatchRejected as exc:
            assert rejected, f"rejected, the model accepts: {exc.errors}"
            outcome("identity", "rejected")
            return
        assert not rejected, "accepted, the model rejects it"
        for what, n in (
            ("aliased", summary.merged),
            ("conflicts", summary.identity_conflicts),
            ("revived", summary.revived),
            ("created", summary.entities_created),
        ):
            if n:
                outcome("identity", what)
        self.model = expected
        if complete:
            self._statuses_from_store()

    @rule(source=st.sampled_from(SOURCES), items=entity_items, retire=retire_flags)
    def lone_batch(self, source: str, items: Any, retire: list[bool]) -> None:
        self._send(source, items, retire, [])

    @rule(
        source=st.sampled_from(SOURCES),
        items=entity_items,
        retire=retire_flags,
        relations=endpoints,
    )
    def batch_with_relations(
        self, source: str, items: Any, retire: list[bool], relations: Any
    ) -> None:
        self._send(source, items, retire, relations)

    @rule(source=st.sampled_from(SOURCES), items=entity_items)
    def complete_lone_batch(self, source: str, items: Any) -> None:
        self._send(source, items, [False], [], complete=True)

    @rule(target=runs, source=st.sampled_from(SOURCES))
    def start_run(self, source: str) -> str:
        count("identity")
        run = self.wait(self.engine.start_run(source, "default"))
        self.open_runs[run.run_id] = source
        return run.run_id

    @precondition(lambda self: bool(self.open_runs))
    @rule(run=runs, items=entity_items, retire=retire_flags)
    def batch_in_run(self, run: str, items: Any, retire: list[bool]) -> None:
        if run in self.open_runs:
            self._send(self.open_runs[run], items, retire, [], run_id=run)

    @rule(run=consumes(runs), complete=st.booleans())
    def finish_run(self, run: str, complete: bool) -> None:
        count("identity")
        if self.open_runs.pop(run, None) is None:
            return
        self.wait(self.engine.finish_run(run, complete=complete))
        self._statuses_from_store()
        # an abandoned run is one this machine never finishes

    def _statuses_from_store(self) -> None:
        """Take the statuses runs gave (see the module docstring), once both stores agree."""
        self.same_before_and_after_a_restart()
        for thing in self.model.things.values():
            record = self._record(self.store, thing.key)
            thing.status = record.status.value

    # ------------------------------------------------------------ lookups
    def _record(self, store: GraphStore, key: str) -> EntityRecord:
        found = self.wait(store.resolve([(CI, key)]))[0]
        assert found is not None, f"{key!r} names nothing"
        record = self.wait(store.entities([found]))[0]
        assert record is not None
        return record

    def _lookups(self, store: GraphStore) -> dict[str, Any]:
        keys = dict(zip(KEYS, self.wait(store.resolve([(CI, k) for k in KEYS])), strict=True))
        ids = sorted({i for i in keys.values() if i is not None})
        records = {r.id: r for r in self.wait(store.entities(ids)) if r is not None}
        refs = [EntityRef(kind=CI, identifiers={t: v}) for t in VALUES for v in VALUES[t]]
        by_value = self.wait(resolve_refs(store, refs))
        relations = {
            r.id: sorted(
                (x.type.value, x.from_id, x.status.value)
                for x in self.wait(store.relations(r.id, Direction.IN, first=50)).items
            )
            for r in records.values()
        }
        conflicts = self.wait(store.identity_conflicts(first=1000)).items
        return {
            "keys": keys,
            "records": {
                i: (
                    r.key,
                    r.status.value,
                    dict(r.identifiers),
                    dict(r.attributes),
                    r.aliases,
                    dict(r.provenance),
                )
                for i, r in records.items()
            },
            "by_value": by_value,
            "relations": relations,
            "conflicts": [
                (c.id_type, c.value, c.entity_id, c.holder_id, c.item_key, c.source)
                for c in conflicts
            ],
            "entities": self.wait(store.stats()).entities,
        }

    @invariant()
    def same_before_and_after_a_restart(self) -> None:
        running = self._lookups(self.store)
        fresh = store_from_settings(self.settings, read_only=True)
        self.wait(fresh.open())
        try:
            reopened = self._lookups(fresh)
        finally:
            self.wait(fresh.close())
        assert running == reopened

    @invariant()
    def as_the_rule_says(self) -> None:
        store, model = self.store, self.model
        ids = {key: self._record(store, key).id for key in model.things}
        for key in KEYS:
            expected = model.keys.get(nfc(key))
            found = self.wait(store.resolve([(CI, key)]))[0]
            assert found == (ids[expected] if expected is not None else None), key
        for key, thing in model.things.items():
            record = self._record(store, key)
            assert record.key == key
            assert dict(record.identifiers) == thing.identifiers, key
            assert set(record.aliases) == thing.aliases, key
            assert record.status.value == thing.status, key
            assert record.attributes.get("rack") == thing.attributes.get("rack"), key
        for t, values in VALUES.items():
            for v in values:
                expected_end = model.endpoint({t: normal(t, v)})
                found = self.wait(resolve_refs(store, [EntityRef(kind=CI, identifiers={t: v})]))[0]
                want = ids[expected_end] if isinstance(expected_end, str) else None
                assert found == want, (t, v, expected_end)
        recorded = {
            (c.id_type, c.value, c.entity_id, c.holder_id)
            for c in self.wait(store.identity_conflicts(first=1000)).items
        }
        assert recorded == {(t, v, ids[e], ids[h]) for t, v, e, h in model.clashes}
        stats = self.wait(store.stats())
        service = 1 if self.wait(store.resolve([(EntityKind.SERVICE, "app")]))[0] else 0
        assert stats.entities == len(model.things) + service
        if service:
            app = self.wait(store.resolve([(EntityKind.SERVICE, "app")]))[0]
            assert app is not None
            out = self.wait(store.relations(app, Direction.OUT, first=100)).items
            assert {x.to_id for x in out} == {ids[k] for k in model.runs_on}


_BUDGET = {"short": (60, 30), "long": (1500, 50)}[LEVEL]

TestIdentity = IdentityMachine.TestCase
TestIdentity.settings = settings(
    max_examples=_BUDGET[0],
    stateful_step_count=_BUDGET[1],
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
