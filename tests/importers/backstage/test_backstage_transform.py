"""Backstage importer: parse + transform of the real sample descriptors (pure, no store)."""

from __future__ import annotations

from pathlib import Path

import pytest

from graphsvc.ingest.importer import ImporterOptions, ImportResult
from graphsvc.model.batch import EntityItem, IngestBatch
from graphsvc.model.validation import validate_batch
from importers.backstage import BackstageImporter
from importers.backstage.model import EntityName
from importers.backstage.parse import parse_entity_ref

DATA = Path(__file__).parents[2] / "data" / "backstage"
ACME = DATA / "backstage-catalog-model-examples"
CREATE_APP = DATA / "backstage-create-app-examples"
JANUS = DATA / "janus-idp-showcase"
EXTRA = DATA / "extra" / "ref-forms.yaml"


def run(*paths: Path) -> ImportResult:
    importer = BackstageImporter()
    options = ImporterOptions()
    return importer.transform([(p, importer.parse(p, options)) for p in paths], options)


def files(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.yaml"))


def by_key(result: ImportResult) -> dict[str, EntityItem]:
    return {e.key: e for e in result.entities}


def triples(result: ImportResult) -> set[tuple[str, str, str]]:
    return {(r.type.value, r.from_.key or "", r.to.key or "") for r in result.relations}


def messages(result: ImportResult) -> list[str]:
    return [w.describe() for w in result.warnings]


def assert_valid(result: ImportResult) -> None:
    batch = IngestBatch(
        source="backstage", entities=list(result.entities), relations=list(result.relations)
    )
    assert validate_batch(batch) == []


# --------------------------------------------------------------------------- references


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("team-a", EntityName(None, None, "team-a")),
        ("group:team-a", EntityName("group", None, "team-a")),
        ("default/team-a", EntityName(None, "default", "team-a")),
        ("group:default/team-a", EntityName("group", "default", "team-a")),
        ("Resource:infra/billing-db", EntityName("Resource", "infra", "billing-db")),
        ("ns/a:b", EntityName(None, "ns", "a:b")),  # a / before the : means no kind
        ("  user:guest ", EntityName("user", None, "guest")),
    ],
)
def test_parse_entity_ref_forms(text: str, expected: EntityName) -> None:
    assert parse_entity_ref(text) == expected


@pytest.mark.parametrize("text", ["", "group:", ":x", "ns/", "group:/x"])
def test_parse_entity_ref_rejects_empty_parts(text: str) -> None:
    with pytest.raises(ValueError, match="not of the form"):
        parse_entity_ref(text)


# --------------------------------------------------------------------------- catalog-model examples


def test_acme_examples_entities() -> None:
    result = run(*files(ACME))
    entities = by_key(result)
    assert set(entities) == {
        "api:default/wayback-archive",
        "component:default/artist-lookup",
        "component:default/petstore",
        "component:default/wayback-archive-storage",
        "group:default/acme-corp",
        "group:default/team-a",
        "resource:default/artists-db",
        "system:default/artist-engagement-portal",
        "user:default/breanna.davison",
        "user:default/guest",
        "user:default/janelle.dawe",
        "user:default/nigel.manning",
        "user:development/guest",  # same name, other namespace: another person
    }
    lookup = entities["component:default/artist-lookup"]
    assert lookup.kind.value == "Service"
    assert lookup.name == "artist-lookup"
    assert lookup.identifiers == {"backstageRef": "component:default/artist-lookup"}
    assert lookup.attributes == {
        "serviceType": "service",
        "lifecycle": "planned",
        "backstageLifecycle": "experimental",
        "backstageKind": "Component",
        "backstageNamespace": "default",
        "description": "Artist Lookup",
        "tags": ["java", "data"],
    }
    api = entities["api:default/wayback-archive"]
    assert api.attributes["serviceType"] == "openapi"
    assert api.attributes["lifecycle"] == "live"
    system = entities["system:default/artist-engagement-portal"]
    assert system.attributes["serviceType"] == "system"
    assert system.attributes["domain"] == "domain:default/artists"
    db = entities["resource:default/artists-db"]
    assert db.kind.value == "ConfigurationItem"
    assert db.attributes["ciClass"] == "database"
    team = entities["group:default/team-a"]
    assert team.kind.value == "Team"
    assert team.attributes["email"] == "team-a@example.com"
    assert team.attributes["groupType"] == "team"
    janelle = entities["user:default/janelle.dawe"]
    assert janelle.kind.value == "Person"
    assert janelle.name == "Janelle Dawe"
    assert janelle.attributes["email"] == "janelle-dawe@example.com"
    assert entities["user:default/breanna.davison"].name == "breanna.davison"  # no displayName
    assert_valid(result)


def test_acme_examples_relations() -> None:
    result = run(*files(ACME))
    assert triples(result) == {
        ("OWNS", "group:default/team-a", "api:default/wayback-archive"),
        ("OWNS", "group:default/team-a", "component:default/artist-lookup"),
        ("OWNS", "group:default/team-a", "component:default/wayback-archive-storage"),
        ("OWNS", "group:default/team-a", "resource:default/artists-db"),
        ("OWNS", "group:default/team-a", "system:default/artist-engagement-portal"),
        ("PART_OF", "component:default/artist-lookup", "system:default/artist-engagement-portal"),
        ("PART_OF", "resource:default/artists-db", "system:default/artist-engagement-portal"),
        ("MEMBER_OF", "user:default/breanna.davison", "group:default/team-a"),
        ("MEMBER_OF", "user:default/janelle.dawe", "group:default/team-a"),
        ("MEMBER_OF", "user:default/nigel.manning", "group:default/team-a"),
        ("MEMBER_OF", "user:default/guest", "group:default/team-a"),
        # memberOf: [group:default/team-a] from namespace development
        ("MEMBER_OF", "user:development/guest", "group:default/team-a"),
    }
    by_type = {r.type.value: r for r in result.relations}
    assert by_type["OWNS"].from_.kind.value == "Team"
    text = "\n".join(messages(result))
    for dangling in (
        "spec.owner: group:default/team-c is not in this import (dangling)",
        "spec.providesApis: api:default/streetlights is not in this import (dangling)",
        "spec.providesApis: api:default/hello-world is not in this import (dangling)",
        "spec.parent: group:default/backstage is not in this import (dangling)",
        "spec.children: group:default/infrastructure is not in this import (dangling)",
        # subcomponentOf defaults to Component: the API of that name does not count
        "spec.subcomponentOf: component:default/wayback-archive is not in this import",
    ):
        assert dangling in text
    assert "acme-org.yaml: document 2 (line 19): location:default/example-groups: " in text
    assert "Location entities are not imported; skipped" in text
    assert "artists-domain.yaml: document 1 (line 1): domain:default/artists: Domain" in text


# --------------------------------------------------------------------------- janus-idp showcase


def test_janus_showcase() -> None:
    result = run(*files(JANUS))
    entities = by_key(result)
    assert sorted(entities) == [
        "api:default/nexus-repo-manager3",
        "api:default/petstore",
        "component:default/backstage-showcase",
        "component:default/rhdh",
        "group:default/janus-authors",
        "group:default/rhdh-team",
        "resource:default/argocd",
        "resource:default/github",
        "resource:default/keycloak",
        "resource:default/obc",
        "resource:default/pgdb",
        "system:default/janus-idp",
        "system:default/rhdh",
    ]
    pgdb = entities["resource:default/pgdb"]
    assert pgdb.name == "PostgreSQL cluster"
    assert pgdb.attributes["ciClass"] == "database"
    assert pgdb.attributes["backstageLifecycle"] == "production"
    assert "lifecycle" not in pgdb.attributes  # not a well-known CI attribute
    assert entities["resource:default/obc"].attributes["ciClass"] == "s3-bucket"
    assert entities["system:default/rhdh"].attributes["serviceType"] == "product"
    assert entities["component:default/backstage-showcase"].name == "Backstage Showcase"
    relations = triples(result)
    for resource in ("pgdb", "argocd", "obc", "keycloak", "github"):
        assert (
            "DEPENDS_ON",
            "component:default/backstage-showcase",
            f"resource:default/{resource}",
        ) in relations
        assert ("OWNS", "group:default/janus-authors", f"resource:default/{resource}") in relations
        assert (
            "PART_OF",
            f"resource:default/{resource}",
            "system:default/janus-idp",
        ) in relations
    assert ("OWNS", "group:default/rhdh-team", "system:default/rhdh") in relations
    assert ("PART_OF", "component:default/rhdh", "system:default/rhdh") in relations
    assert ("PART_OF", "api:default/petstore", "system:default/janus-idp") in relations
    assert len(relations) == 25  # 5 DEPENDS_ON, 11 OWNS, 9 PART_OF
    skipped = [w for w in result.warnings if "Location entities are not imported" in w.message]
    assert len(skipped) == 6
    assert len(result.warnings) == 6  # nothing dangles in the showcase
    assert_valid(result)


# --------------------------------------------------------------------------- create-app examples


def test_create_app_examples() -> None:
    result = run(CREATE_APP / "entities.yaml", CREATE_APP / "org.yaml")
    assert triples(result) == {
        ("OWNS", "group:default/guests", "system:default/examples"),
        ("OWNS", "group:default/guests", "component:default/example-website"),
        ("OWNS", "group:default/guests", "api:default/example-grpc-api"),
        ("PART_OF", "component:default/example-website", "system:default/examples"),
        ("PART_OF", "api:default/example-grpc-api", "system:default/examples"),
        # providesApis: the API depends on the component that provides it
        ("DEPENDS_ON", "api:default/example-grpc-api", "component:default/example-website"),
        ("MEMBER_OF", "user:default/guest", "group:default/guests"),
    }
    entities = by_key(result)
    assert entities["api:default/example-grpc-api"].attributes["serviceType"] == "grpc"
    assert entities["user:default/guest"].attributes == {
        "backstageKind": "User",
        "backstageNamespace": "default",
    }
    assert result.warnings == ()
    assert_valid(result)


# --------------------------------------------------------------------------- reference forms


def test_every_reference_form_resolves() -> None:
    result = run(EXTRA)
    assert triples(result) == {
        # children: [sre] and parent: group:platform state the same edge once
        ("PART_OF", "group:infra/sre", "group:infra/platform"),
        # members: [alice] and memberOf: [Group:infra/platform] likewise
        ("MEMBER_OF", "user:infra/alice", "group:infra/platform"),
        ("MEMBER_OF", "user:infra/alice", "group:infra/sre"),  # memberOf: infra/sre
        ("OWNS", "group:infra/sre", "component:infra/billing"),  # group:infra/sre
        ("OWNS", "group:infra/sre", "system:infra/payments"),  # short, namespace of payments
        ("OWNS", "group:infra/platform", "api:default/ledger-api"),
        ("OWNS", "group:infra/platform", "component:default/ledger"),
        ("PART_OF", "component:infra/billing", "system:infra/payments"),  # compound ref
        ("DEPENDS_ON", "component:infra/billing", "api:default/ledger-api"),  # consumesApis
        ("DEPENDS_ON", "component:infra/billing", "resource:infra/billing-db"),
        ("DEPENDS_ON", "api:default/ledger-api", "component:default/ledger"),  # providesApis
        ("DEPENDS_ON", "component:default/ledger", "resource:infra/billing-db"),
        ("PART_OF", "component:default/ledger", "component:infra/billing"),  # subcomponentOf
    }
    entities = by_key(result)
    assert entities["component:infra/billing"].attributes["lifecycle"] == "retiring"
    ledger = entities["component:default/ledger"].attributes
    assert "lifecycle" not in ledger  # "beta" has no well-known equivalent
    assert ledger["backstageLifecycle"] == "beta"
    assert entities["system:infra/payments"].attributes["domain"] == "domain:infra/finance"
    assert entities["group:infra/platform"].name == "Platform Department"
    assert "email" not in entities["group:infra/sre"].attributes
    assert [(w.element, w.message) for w in result.warnings] == [
        (
            "document 8 (line 83): component:default/ledger",
            "spec.dependsOn: 42 is not an entity reference; relation not emitted",
        ),
        (
            "document 2 (line 17): group:infra/sre",
            "spec.profile.email 'not-an-address' is not an e-mail address; dropped",
        ),
        (
            "document 4 (line 39): component:infra/billing",
            "spec.dependsOn: 'ledger' has no kind and dependsOn has no default kind "
            "(write it as kind:name); relation not emitted",
        ),
        (
            "document 5 (line 54): resource:infra/billing-db",
            "spec.owner: user:infra/alice is a User; only a Group (Team) can own in graphsvc; "
            "relation not emitted",
        ),
        (
            "document 5 (line 54): resource:infra/billing-db",
            "spec.dependencyOf: component:infra/ledger-worker is not in this import (dangling); "
            "relation not emitted",
        ),
    ]
    assert_valid(result)


def test_duplicate_entity_ref_keeps_the_first_definition() -> None:
    result = run(ACME / "acme-team-a-group.yaml", CREATE_APP / "org.yaml")
    guest = by_key(result)["user:default/guest"]
    assert guest.name == "Guest User"  # from acme-team-a-group.yaml, given first
    assert ("MEMBER_OF", "user:default/guest", "group:default/guests") not in triples(result)
    duplicate = [w for w in result.warnings if "duplicate entity" in w.message]
    assert len(duplicate) == 1
    assert duplicate[0].path.endswith("org.yaml")
    assert "acme-team-a-group.yaml document 5 (line 51) is used" in duplicate[0].message


def test_output_is_sorted_and_independent_of_file_order() -> None:
    paths = files(JANUS) + files(ACME)
    first = run(*paths)
    second = run(*reversed(paths))
    assert first.entities == second.entities
    assert first.relations == second.relations
    assert [e.key for e in first.entities] == sorted(
        (e.key for e in first.entities),
        key=lambda k: (by_key(first)[k].kind.value, k),
    )
    assert run(*paths) == first
