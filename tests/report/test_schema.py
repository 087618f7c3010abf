"""The JSON format: the committed schema is what the model derives, and reports validate."""

from __future__ import annotations

import json

import jsonschema

from graphsvc.ingest.engine import IngestEngine
from graphsvc.report import ChangeReport, build_change_report, render_json, report_schema_json
from graphsvc.store.base import GraphStore
from tests.report.conftest import SCHEMA
from tests.report.hostile import CHANGE, load_hostile


def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


def test_committed_schema_is_what_the_model_derives() -> None:
    assert SCHEMA.read_text() == report_schema_json(), (
        "schema/change-report.schema.json drifted: run `graphsvc export-schema`"
    )


def test_demo_reports_validate_and_read_back(demo_reports: dict[str, ChangeReport]) -> None:
    check = validator()
    for key, report in demo_reports.items():
        text = render_json(report)
        document = json.loads(text)
        errors = sorted(check.iter_errors(document), key=str)
        assert not errors, f"{key}: {errors[0]}"
        assert document["change"]["change"]["key"] == key
        assert ChangeReport.model_validate_json(text) == report
    blackout = json.loads(render_json(demo_reports["CHG0041215"]))
    assert list(blackout) == [
        "reportVersion",
        "generatedAt",
        "asOf",
        "warnings",
        "change",
        "summary",
        "risk",
        "startSet",
        "conflicts",
        "services",
        "teams",
        "projects",
        "affected",
    ]
    conflict = blackout["conflicts"][0]
    assert conflict["kind"] == "BLACKOUT"
    assert conflict["otherWindow"] == {
        "start": "2025-03-23T00:00:00Z",
        "end": "2025-03-26T00:00:00Z",
    }
    assert blackout["reportVersion"] == "2"
    step = blackout["services"][0]["services"][1]["path"][0]
    assert step == {
        "type": "DEPENDS_ON",
        "from": {"kind": "Service", "key": "claims-gateway", "name": "Insurance Claims Gateway"},
        "to": {"kind": "Service", "key": "billing", "name": "Patient Billing & Revenue Cycle"},
    }


async def test_hostile_report_validates(store: GraphStore, engine: IngestEngine) -> None:
    await load_hostile(engine)
    report = await build_change_report(store, CHANGE)
    document = json.loads(render_json(report))
    validator().validate(document)
    assert document["change"]["change"]["key"] == CHANGE


def test_the_cab_fields_in_json(demo_reports: dict[str, ChangeReport]) -> None:
    document = json.loads(render_json(demo_reports["CHG0041220"]))
    change = document["change"]
    assert change["requestedBy"] == "Samir Haddad (IAM Lead)"
    assert (change["approval"], change["effortHours"]) == ("requested", 3.0)
    assert change["backoutPlan"].startswith("Revert the VM to the pre-patch snapshot")
    assert change["testPlan"].startswith("Before and after: dcdiag")
    assert change["configurationItem"] == "nbh-dc01"
    assert change["declaredRisk"] == "moderate"
    team, person = change["assignedTo"]
    assert team["assignee"] == {
        "kind": "Team",
        "key": "team-identity",
        "name": "Identity & Access Management",
    }
    assert team["contacts"] == [{"channel": "email", "value": "iam@northbridgehealth.org"}]
    assert team["memberCount"] == 2 and team["escalateTo"][0]["key"] == "dept-infrastructure"
    assert person["assignee"]["key"] == "grace.obi" and person["role"] == "IAM Engineer"
    assert document["warnings"] == []
    ad = next(e for e in document["affected"]["entities"] if e["entity"]["key"] == "identity-ad")
    assert ad["keptUpBy"] == [
        {
            "holder": {
                "kind": "Service",
                "key": "identity-ad",
                "name": "Active Directory (NBH-GROUP)",
            },
            "group": "ad-dcs",
            "members": 3,
            "failed": [
                {"kind": "ConfigurationItem", "key": "nbh-dc01", "name": "Domain controller 1"}
            ],
            "survivors": [
                {
                    "entity": {
                        "kind": "ConfigurationItem",
                        "key": "nbh-dc02",
                        "name": "Domain controller 2",
                    },
                    "degraded": False,
                },
                {
                    "entity": {
                        "kind": "ConfigurationItem",
                        "key": "sa-dc01",
                        "name": "St. Aidan's domain controller",
                    },
                    "degraded": False,
                },
            ],
        }
    ]
    unlinked = json.loads(render_json(demo_reports["CHG0041262"]))
    assert [w["code"] for w in unlinked["warnings"]] == [
        "EMPTY_START_SET",
        "UNLINKED_CONFIGURATION_ITEM",
    ]
    assert unlinked["warnings"][1]["entities"][0]["key"] == "nbh-esx-03"
