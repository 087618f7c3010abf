"""The impact page of a hub stays one bounded page (issue 22, "fast on the big graph").

A hub whose dependents are owned by more teams than a page lists names the
first 25 teams (the most affected first) and says how many more the API's
answer holds; the counts are the API's.
"""

from __future__ import annotations

import re

from tests.api.conftest import Api, MakeApi

TEAMS = 30


def _hub_batch() -> dict[str, object]:
    entities: list[dict[str, object]] = [
        {"kind": "ConfigurationItem", "key": "hub", "attributes": {"ciClass": "server"}}
    ]
    relations: list[dict[str, object]] = []
    for i in range(TEAMS):
        entities += [{"kind": "Team", "key": f"t{i:02}"}, {"kind": "Service", "key": f"s{i:02}"}]
        relations += [
            {
                "type": "DEPENDS_ON",
                "from": {"kind": "Service", "key": f"s{i:02}"},
                "to": {"kind": "ConfigurationItem", "key": "hub"},
            },
            {
                "type": "OWNS",
                "from": {"kind": "Team", "key": f"t{i:02}"},
                "to": {"kind": "Service", "key": f"s{i:02}"},
            },
        ]
    return {"source": "cmdb", "entities": entities, "relations": relations}


async def test_a_hub_page_names_25_teams_and_counts_the_others(make_api: MakeApi) -> None:
    api: Api = await make_api()
    assert (await api.client.post("/api/v1/ingest", json=_hub_batch())).status_code == 200
    r = await api.client.get("/impact", params={"ref": "ConfigurationItem/hub"})
    assert r.status_code == 200, r.text[-500:]
    teams = r.text[r.text.index('<section id="teams">') : r.text.index('<section id="projects">')]
    assert f'<span class="n">{TEAMS}</span>' in teams
    assert len(re.findall(r'href="/team/t\d\d"', teams)) == 25
    assert f"and {TEAMS - 25} more" in teams
    answer = await api.client.get("/api/v1/impact", params={"ref": "ConfigurationItem/hub"})
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["teamsToNotify"]) == TEAMS
