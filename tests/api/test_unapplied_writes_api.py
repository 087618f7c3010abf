"""Every ingest answer lists the writes a higher-priority source overruled (PRODUCT.md 8).

REST (JSON batch, NDJSON stream, runs) and the GraphQL mutations, on both
stores: ``itsm`` (priority 10) holds fields that ``ppm`` (priority 5) writes.
"""

from __future__ import annotations

import json
from typing import Any

from graphsvc.ingest.results import UNAPPLIED_LIMIT
from tests.api.conftest import Api, MakeApi

PRIORITIES = {"itsm": 10, "ppm": 5, "wiki": 5}
ITSM_BILLING = {
    "kind": "Service",
    "key": "billing",
    "name": "Billing",
    "attributes": {"tier": 1, "window": {"days": ["sat"], "hours": 4}},
}
RUNS_ON = {
    "type": "RUNS_ON",
    "from": {"kind": "Service", "key": "billing"},
    "to": {"kind": "ConfigurationItem", "key": "web-1"},
    "attributes": {"redundancyGroup": "web"},
}
WEB_1 = {"kind": "ConfigurationItem", "key": "web-1", "attributes": {"ciClass": "server"}}

UNAPPLIED_FIELDS = (
    "item section index label field sent kept holder holderPriority sender senderPriority reason"
)


async def itsm_api(make_api: MakeApi) -> Api:
    api: Api = await make_api(source_priorities=PRIORITIES)
    r = await api.client.post(
        "/api/v1/ingest",
        json={"source": "itsm", "entities": [ITSM_BILLING, WEB_1], "relations": [RUNS_ON]},
    )
    assert r.status_code == 200, r.text
    assert (r.json()["unapplied"], r.json()["unappliedTotal"]) == ([], 0)
    return api


def ppm_billing(**attributes: Any) -> dict[str, Any]:
    return {"kind": "Service", "key": "billing", "attributes": attributes}


async def test_rest_batch_lists_each_unapplied_write_with_its_holder(make_api: MakeApi) -> None:
    api = await itsm_api(make_api)
    r = await api.client.post(
        "/api/v1/ingest",
        json={
            "source": "ppm",
            "entities": [
                ppm_billing(tier=1, window={"days": ["sun"], "hours": 4}, budget=3),
                {"kind": "Service", "key": "billing", "name": "Billing (PPM)"},
            ],
            "relations": [{**RUNS_ON, "attributes": {"redundancyGroup": None}}],
        },
    )
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["unappliedTotal"] == 3
    assert answer["unapplied"][0] == {
        "item": "entity",
        "section": "entities",
        "index": 0,
        "label": "Service/billing",
        "field": "attributes.window",
        "sent": {"days": ["sun"], "hours": 4},
        "kept": {"days": ["sat"], "hours": 4},
        "holder": "itsm",
        "holderPriority": 10,
        "sender": "ppm",
        "senderPriority": 5,
        "reason": "source 'itsm' (priority 10) holds attributes.window; source 'ppm' "
        "(priority 5) may not change it",
    }
    assert [(w["section"], w["index"], w["field"], w["sent"], w["kept"]) for w in answer["unapplied"][1:]] == [
        ("entities", 1, "name", "Billing (PPM)", "Billing"),
        ("relations", 0, "attributes.redundancyGroup", None, "web"),
    ]  # fmt: skip
    # tier (the same value) is no conflict; budget (nobody's) was applied
    entity = (await api.client.get("/api/v1/entities/Service/billing")).json()
    assert entity["name"] == "Billing"
    assert entity["attributes"] == {**ITSM_BILLING["attributes"], "budget": 3}
    # a dry run lists them too
    dry = await api.client.post(
        "/api/v1/ingest", json={"source": "ppm", "dryRun": True, "entities": [ppm_billing(tier=2)]}
    )
    assert dry.json()["dryRun"] is True
    assert [(w["field"], w["sent"], w["kept"]) for w in dry.json()["unapplied"]] == [
        ("attributes.tier", 2, 1)
    ]


async def test_ndjson_stream_names_the_lines_and_sums_its_batches(make_api: MakeApi) -> None:
    api = await itsm_api(make_api)
    lines = [
        json.dumps({"kind": "Team", "key": "pmo"}),
        json.dumps(ppm_billing(tier=2)),
        json.dumps({**RUNS_ON, "attributes": {"redundancyGroup": "web-eu"}}),
        json.dumps({"kind": "Team", "key": "finance"}),
        json.dumps(ppm_billing(tier=3)),
    ]
    r = await api.client.post(
        "/api/v1/ingest?source=ppm&batchSize=2",
        content=("\n".join(lines) + "\n").encode(),
        headers={"content-type": "application/x-ndjson"},
    )
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["batches"] == 3
    assert answer["unappliedTotal"] == 3
    assert [(w["index"], w["field"], w["sent"]) for w in answer["unapplied"]] == [
        (2, "attributes.tier", 2),
        (3, "attributes.redundancyGroup", "web-eu"),
        (5, "attributes.tier", 3),
    ]


async def test_run_batches_list_them_and_the_finish_lists_none(make_api: MakeApi) -> None:
    api = await itsm_api(make_api)
    run = (await api.client.post("/api/v1/runs", json={"source": "ppm"})).json()
    sent = await api.client.post(
        "/api/v1/ingest",
        json={"source": "ppm", "runId": run["runId"], "entities": [ppm_billing(tier=4)]},
    )
    assert sent.json()["unappliedTotal"] == 1
    assert sent.json()["unapplied"][0]["holder"] == "itsm"
    done = await api.client.post(f"/api/v1/runs/{run['runId']}/finish", json={"complete": True})
    assert done.status_code == 200, done.text
    assert (done.json()["unapplied"], done.json()["unappliedTotal"]) == ([], 0)


async def test_graphql_ingest_answers_them(make_api: MakeApi) -> None:
    api = await itsm_api(make_api)
    body = await api.gql(
        'mutation($e: [EntityInput!]!) { ingest(input: {source: "ppm", entities: $e}) {'
        f" summary {{ entitiesUpdated unappliedTotal unapplied {{ {UNAPPLIED_FIELDS} }} }}"
        " userErrors { message } } }",
        {
            "e": [
                {
                    "kind": "SERVICE",
                    "key": "billing",
                    "name": "Billing (PPM)",
                    "attributes": {"window": None, "tier": 1, "budget": 3},
                },
            ]
        },
    )
    assert "errors" not in body, body
    summary = body["data"]["ingest"]["summary"]
    assert summary["entitiesUpdated"] == 1
    assert summary["unappliedTotal"] == 2
    assert summary["unapplied"] == [
        {
            "item": "entity",
            "section": "entities",
            "index": 0,
            "label": "Service/billing",
            "field": "name",
            "sent": "Billing (PPM)",
            "kept": "Billing",
            "holder": "itsm",
            "holderPriority": 10,
            "sender": "ppm",
            "senderPriority": 5,
            "reason": "source 'itsm' (priority 10) holds name; source 'ppm' (priority 5) "
            "may not change it",
        },
        {
            "item": "entity",
            "section": "entities",
            "index": 0,
            "label": "Service/billing",
            "field": "attributes.window",
            "sent": None,
            "kept": {"days": ["sat"], "hours": 4},
            "holder": "itsm",
            "holderPriority": 10,
            "sender": "ppm",
            "senderPriority": 5,
            "reason": "source 'itsm' (priority 10) holds attributes.window; source 'ppm' "
            "(priority 5) may not remove it",
        },
    ]
    run = await api.gql('mutation { startRun(input: {source: "ppm"}) { run { runId } } }')
    run_id = run["data"]["startRun"]["run"]["runId"]
    finished = await api.gql(
        "mutation($r: String!) { finishRun(input: {runId: $r, complete: true}) {"
        " summary { unappliedTotal unapplied { field } } } }",
        {"r": run_id},
    )
    assert finished["data"]["finishRun"]["summary"] == {"unappliedTotal": 0, "unapplied": []}


async def test_equal_priority_and_the_same_value_are_not_listed(make_api: MakeApi) -> None:
    api: Api = await make_api(source_priorities=PRIORITIES)
    for source, tier in (("ppm", 2), ("wiki", 3), ("ppm", 2)):  # equal priorities
        r = await api.client.post(
            "/api/v1/ingest", json={"source": source, "entities": [ppm_billing(tier=tier)]}
        )
        assert r.json()["unappliedTotal"] == 0, (source, r.json())
    same = await api.client.post(
        "/api/v1/ingest",
        json={"source": "itsm", "entities": [ppm_billing(tier=2)]},  # takes the field over
    )
    assert same.json()["unappliedTotal"] == 0
    again = await api.client.post(
        "/api/v1/ingest", json={"source": "ppm", "entities": [ppm_billing(tier=2)]}
    )
    assert again.json()["unappliedTotal"] == 0  # the same value: no conflict
    lower = await api.client.post(
        "/api/v1/ingest", json={"source": "wiki", "entities": [ppm_billing(tier=4)]}
    )
    assert [w["holder"] for w in lower.json()["unapplied"]] == ["itsm"]


async def test_a_hundred_thousand_overruled_writes_give_a_bounded_answer(
    make_api: MakeApi,
) -> None:
    """A careless tool sends 1,000 items of 100 services, 100 attributes each, all overruled."""
    api: Api = await make_api(source_priorities=PRIORITIES)
    held = {f"a{n:02}": n for n in range(100)}
    services = [{"kind": "Service", "key": f"s{i:03}", "attributes": held} for i in range(100)]
    r = await api.client.post("/api/v1/ingest", json={"source": "itsm", "entities": services})
    assert r.status_code == 200, r.text
    changed = {name: -value for name, value in held.items() if value} | {"a00": "x"}
    items = [{**s, "attributes": changed} for s in services] * 10
    r = await api.client.post("/api/v1/ingest", json={"source": "ppm", "entities": items})
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["unappliedTotal"] == 100_000
    assert len(answer["unapplied"]) == UNAPPLIED_LIMIT
    assert answer["unapplied"][-1]["index"] == UNAPPLIED_LIMIT // 100 - 1
    assert len(r.content) < 400_000
    assert answer["entitiesUnchanged"] == 100
