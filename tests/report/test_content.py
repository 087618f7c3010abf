"""What the change report says about the demo's showcase changes (PRODUCT.md 4.4)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from graphsvc.analysis.changes import ConflictKind, change_impact
from graphsvc.analysis.impact import ImpactState, NoticeRole
from graphsvc.errors import NotFound
from graphsvc.ingest.engine import IngestEngine
from graphsvc.model.batch import IngestBatch
from graphsvc.model.vocabulary import Direction, EntityKind, RelationType
from graphsvc.report import ChangeReport, build_change_report, report_from_change_impact
from graphsvc.report.build import contacts_of, read_team_directory, verdict_line
from graphsvc.report.model import AffectedEntity, RiskBand, TimeWindow
from graphsvc.report.render_html import render_html, render_html_body
from graphsvc.report.render_markdown import render_markdown
from graphsvc.report.wording import inheritance_text, walk, window_text
from graphsvc.store.base import GraphStore
from tests.report.conftest import GENERATED


def at(day: int, hour: int = 0) -> datetime:
    """A demo time: ``@+{day}d {hour}:00`` with today = 2025-03-10."""
    return datetime(2025, 3, 10, hour, tzinfo=UTC) + timedelta(days=day)


def keys(entities: list[AffectedEntity]) -> list[str]:
    return [e.entity.key for e in entities]


def test_blackout_conflict_with_its_window(demo_reports: dict[str, ChangeReport]) -> None:
    report = demo_reports["CHG0041215"]
    assert report.change.change.key == "CHG0041215"
    assert report.change.window == TimeWindow(start=at(14, 19), end=at(14, 21))
    assert (report.change.change_type, report.change.state) == ("standard", "scheduled")
    [conflict] = report.conflicts
    assert conflict.kind is ConflictKind.BLACKOUT
    assert conflict.other.key == "blackout-billing-month-end-close"
    assert conflict.other_state == "blackout"
    assert conflict.other_window == TimeWindow(start=at(13), end=at(16))
    assert conflict.overlap == report.change.window
    assert conflict.reason == "Month-end close and claims run"
    assert [e.key for e in conflict.entities] == ["billing", "claims-gateway"]
    assert conflict.total_entities == 2
    assert report.summary.verdict == (
        "1 conflict (BLACKOUT), no tier-1 service affected, 2 services down, "
        "2 entities in the impact set"
    )
    assert [(c.kind, c.count) for c in report.summary.conflicts] == [
        (ConflictKind.COLLISION, 0),
        (ConflictKind.BLACKOUT, 1),
        (ConflictKind.OUTSIDE_MAINTENANCE, 0),
    ]
    # both formats show the conflict, the blackout's window and the overlap
    window = "2025-03-23 00:00 → 2025-03-26 00:00 UTC (3 d)"
    assert window_text(conflict.other_window) == window
    for text in (render_markdown(report), render_html(report, None)):
        assert "BLACKOUT" in text and "blackout-billing-month-end-close" in text
        assert window in text
        assert "2025-03-24 19:00 → 21:00 UTC (2 h)" in text
        assert "Month-end close and claims run" in text


def test_collision_names_the_other_change_and_the_overlap(
    demo_reports: dict[str, ChangeReport],
) -> None:
    report = demo_reports["CHG0041220"]
    [conflict] = report.conflicts
    assert conflict.kind is ConflictKind.COLLISION
    assert conflict.other.key == "CHG0041221"
    assert conflict.other_state == "scheduled"
    assert conflict.other_window == TimeWindow(start=at(6, 22), end=at(7, 1))
    assert conflict.overlap == TimeWindow(start=at(6, 22), end=at(6, 23))
    assert "identity-sso" in [e.key for e in conflict.entities]
    assert report.summary.verdict.startswith("1 conflict (COLLISION), 6 tier-1 services degraded")
    # the other side sees the same collision
    other = demo_reports["CHG0041221"]
    assert [(c.kind, c.other.key) for c in other.conflicts] == [
        (ConflictKind.COLLISION, "CHG0041220")
    ]
    markdown = render_markdown(report)
    assert "Collides with change CHG0041221 (scheduled)" in markdown
    assert "**Overlap:** 2025-03-16 22:00 → 23:00 UTC (1 h)" in markdown


def test_outside_maintenance_and_touching_windows(demo_reports: dict[str, ChangeReport]) -> None:
    [conflict] = demo_reports["CHG0041207"].conflicts
    assert conflict.kind is ConflictKind.OUTSIDE_MAINTENANCE
    assert conflict.other.key.startswith("maint-billing-week-")
    assert conflict.other_state == "maintenance"
    assert conflict.overlap is None
    assert [e.key for e in conflict.entities] == ["billing"]
    # CHG0041230 and CHG0041231 only touch at @+5d 00:00: no conflict
    touching = demo_reports["CHG0041230"]
    assert touching.conflicts == []
    assert touching.summary.verdict.startswith("no conflicts, ")
    assert "No conflicts" in render_html(touching, None)


def test_risk_score_and_its_factors(demo_reports: dict[str, ChangeReport]) -> None:
    report = demo_reports["CHG0041220"]
    risk = report.risk
    assert sum(f.points for f in risk.factors) == risk.score == 51
    assert risk.band is RiskBand.MEDIUM
    points = [f.points for f in risk.factors]
    assert points == sorted(points, reverse=True), "most points first"
    assert {f.name for f in risk.factors} >= {"blastRadius", "criticalServices", "conflicts"}
    assert demo_reports["CHG0041221"].risk.band is RiskBand.HIGH


def test_services_grouped_by_tier_with_state_and_path(
    demo_reports: dict[str, ChangeReport],
) -> None:
    report = demo_reports["CHG0041220"]
    tiers = [(g.tier, g.count, g.down, g.degraded, g.listed) for g in report.services]
    assert tiers == [(1, 6, 0, 6, 6), (2, 5, 0, 5, 5), (3, 3, 0, 3, 3)]
    for group in report.services:
        for service in group.services:
            assert service.tier == group.tier
            assert service.state is ImpactState.DEGRADED
            chain = walk(service.path, service.service)
            assert chain[0][0].key == "nbh-dc01", "every path leaves the modified entity"
            assert chain[-1][0] == service.service
            assert len(chain) == service.depth + 1
    claims = next(
        s for g in report.services for s in g.services if s.service.key == "claims-gateway"
    )
    assert [ref.key for ref, _ in walk(claims.path, claims.service)] == [
        "nbh-dc01",
        "identity-ad",
        "identity-sso",
        "billing",
        "claims-gateway",
    ]
    assert [phrase for _, phrase in walk(claims.path, claims.service)] == [
        None,
        "needed by",
        "needed by",
        "needed by",
        "needed by",
    ]
    # a DOWN service: billing is modified by CHG0041215 and DOWN, with an empty path
    blackout = demo_reports["CHG0041215"]
    [tier2] = blackout.services
    assert [(s.service.key, s.state, s.depth) for s in tier2.services] == [
        ("billing", ImpactState.DOWN, 0),
        ("claims-gateway", ImpactState.DOWN, 1),
    ]
    html = render_html(report, None)
    assert "Tier 1 · 6 services" in html and "Tier 3 · 3 services" in html


def test_teams_with_contacts_members_and_inherited_marked(
    demo_reports: dict[str, ChangeReport],
) -> None:
    report = demo_reports["CHG0041201"]
    teams = {t.team.key: t for t in report.teams}
    desk = teams["team-service-desk"]
    [support] = [r for r in desk.roles if r.role is NoticeRole.SUPPORT]
    assert not support.inherited
    assert {v.key for v in support.via} == {"ehr-nbh", "ehr-unified"}
    assert inheritance_text(support) == "direct; also inherited via ehr-nbh, ehr-unified"
    assert [(c.channel, c.value) for c in desk.contacts] == [
        ("email", "servicedesk@northbridgehealth.org")
    ]
    assert desk.member_count == len(desk.members) > 0
    assert all(m.email and m.email.endswith("@northbridgehealth.org") for m in desk.members)
    assert [p.key for p in desk.escalate_to] == ["dept-infrastructure"]
    assert desk.warnings == []
    # owners first (most affected first), then support teams
    roles = [r.role for t in report.teams for r in t.roles[:1]]
    assert roles[0] is NoticeRole.OWNER
    for text in (render_markdown(report), render_html(report, None)):
        assert "direct; also inherited via ehr-nbh, ehr-unified" in text
        assert "servicedesk@northbridgehealth.org" in text


async def test_a_purely_inherited_team_is_marked_and_a_ghost_team_warned(
    demo_store: GraphStore,
) -> None:
    # PART_OF carries impact upwards, so the owner of an ancestor is normally a
    # direct owner of the impact set too; the marking is checked on a notice
    # flagged inherited, as impact() answers it for a depth-limited walk.
    answer = await change_impact(demo_store, "CHG0041207", first=1000)
    [owner, *rest] = answer.impact.teams_to_notify
    billing = answer.start_set[0]
    inherited = dataclasses.replace(owner, inherited=True, via=(billing,), via_count=3)
    answer = dataclasses.replace(
        answer, impact=dataclasses.replace(answer.impact, teams_to_notify=(inherited, *rest))
    )
    directory = await read_team_directory(
        demo_store, [t.team.id for t in answer.impact.teams_to_notify]
    )
    report = report_from_change_impact(answer, directory, generated_at=GENERATED)
    notice = report.teams[0].roles[0]
    assert (notice.inherited, [v.key for v in notice.via], notice.via_count) == (
        True,
        ["billing"],
        3,
    )
    assert inheritance_text(notice) == "inherited via billing and 2 more"
    assert "inherited via billing and 2 more" in render_html(report, None)
    assert "inherited via billing and 2 more" in render_markdown(report)

    # a team with no members is flagged, with where to escalate
    engine = IngestEngine(demo_store)
    await engine.ingest(
        IngestBatch.model_validate(
            {
                "source": "test",
                "entities": [
                    {"kind": "Change", "key": "CHG-HL7", "attributes": {"state": "new"}},
                ],
                "relations": [
                    {
                        "type": "MODIFIES",
                        "from": {"kind": "Change", "key": "CHG-HL7"},
                        "to": {"kind": "ConfigurationItem", "key": "sa-hl7-gw"},
                    }
                ],
            }
        )
    )
    ghost = await build_change_report(demo_store, "CHG-HL7")
    team = next(t for t in ghost.teams if t.team.key == "team-sa-interfaces")
    assert team.member_count == 0
    assert any(w.startswith("no members") for w in team.warnings)
    assert ghost.change.window is None
    assert "no planned window" in render_markdown(ghost)


def test_projects_with_their_reasons(demo_reports: dict[str, ChangeReport]) -> None:
    report = demo_reports["CHG0041220"]
    projects = {p.project.key: p for p in report.projects}
    assert set(projects) == {"PRJ-0101", "PRJ-0130"}
    reasons = {r.relation: r for r in projects["PRJ-0101"].reasons}
    assert set(reasons) == {
        RelationType.CONSOLIDATES,
        RelationType.DELIVERS,
        RelationType.IMPLEMENTS,
    }
    assert [c.key for c in reasons[RelationType.IMPLEMENTS].changes] == [
        "CHG0041240",
        "CHG0041241",
    ]
    assert "its open changes CHG0041240, CHG0041241 modify 3 affected entities" in (
        render_markdown(report)
    )


def test_every_affected_entity_is_listed_with_how_it_was_reached(
    demo_reports: dict[str, ChangeReport],
) -> None:
    report = demo_reports["CHG0041201"]
    listing = report.affected
    assert listing.total == listing.listed == report.summary.impact_set == 97
    entities = listing.entities
    assert len({(e.entity.kind, e.entity.key) for e in entities}) == 97
    assert keys(entities[:1]) == ["nbh-dc1-core-sw-a"] and entities[0].depth == 0
    assert [e.depth for e in entities] == sorted(e.depth for e in entities)
    by_key = {(e.entity.kind, e.entity.key): e for e in entities}
    for e in entities[1:]:
        # following reachedFrom leads back to the modified entity in depth steps
        steps, current = 0, e
        while current.reached_from is not None:
            current = by_key[(current.reached_from.kind, current.reached_from.key)]
            steps += 1
        assert (current.entity.key, steps) == ("nbh-dc1-core-sw-a", e.depth)
        assert e.relation is not None and e.walked in (Direction.IN, Direction.OUT)
    kinds = {k.kind: k.count for k in report.summary.by_kind}
    assert sum(kinds.values()) == 97
    assert kinds[EntityKind.SERVICE] == sum(g.count for g in report.services)


async def test_listing_limit_and_as_of_and_unknown_change(demo_store: GraphStore) -> None:
    cut = await build_change_report(demo_store, "CHG0041201", max_entities=10)
    assert (cut.affected.listed, cut.affected.total, cut.summary.impact_set) == (10, 97, 97)
    assert "The listing stops after 10 of 97 entities" in render_html(cut, None)
    assert "The listing stops after 10 of 97 entities" in render_markdown(cut)
    few = await build_change_report(demo_store, "CHG0041220", max_services_per_tier=2)
    assert [(g.count, g.listed) for g in few.services] == [(6, 2), (5, 2), (3, 2)]
    assert "The first 2 of 6 are listed" in render_html(few, None)

    with pytest.raises(NotFound):
        await build_change_report(demo_store, "CHG-NOPE")
    # as of a time before the demo was loaded the change did not exist yet
    with pytest.raises(NotFound):
        await build_change_report(demo_store, "CHG0041215", as_of=datetime(2000, 1, 1, tzinfo=UTC))
    now = datetime.now(UTC)
    then = await build_change_report(demo_store, "CHG0041215", as_of=now)
    assert then.as_of == now
    assert then.summary == (await build_change_report(demo_store, "CHG0041215")).summary


def test_verdict_line_words() -> None:
    from graphsvc.analysis.impact import TierCount

    assert (
        verdict_line([], [], 1)
        == "no conflicts, no tier-1 service affected, 1 entity in the impact set"
    )
    assert verdict_line(
        [ConflictKind.COLLISION, ConflictKind.BLACKOUT, ConflictKind.COLLISION],
        [TierCount(1, 3, 1, 2), TierCount(2, 4, 4, 0), TierCount(None, 2, 1, 1)],
        1234,
    ) == (
        "3 conflicts (2 COLLISION, BLACKOUT), 1 tier-1 service down, 2 tier-1 services "
        "degraded, 5 other services down, 1,234 entities in the impact set"
    )


def test_contacts_come_from_contact_like_attributes() -> None:
    from graphsvc.model.records import EntityRecord
    from graphsvc.model.vocabulary import Status

    now = datetime.now(UTC)
    team = EntityRecord(
        1,
        EntityKind.TEAM,
        "t",
        "T",
        Status.ACTIVE,
        {
            "slackChannel": "#ops",
            "email": "ops@example.org",
            "capacityHoursPerWeek": 40,
            "oncall": ["+44 1", "+44 2"],
            "pagerEnabled": True,
            "phone": "",
        },
        {},
        now,
        now,
    )
    assert [(c.channel, c.value) for c in contacts_of(team)] == [
        ("email", "ops@example.org"),
        ("oncall", "+44 1, +44 2"),
        ("slackChannel", "#ops"),
    ]


def test_gc_paused_nests_and_restores_the_collector() -> None:
    import gc

    from graphsvc.report.build import gc_paused

    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled(), "the outer use still holds it"
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled(), "a collector that was off stays off"
    finally:
        gc.enable()


def page_text(html: str) -> str:
    """The text a reader of the HTML sees (tags dropped, entities decoded)."""
    from tests.report.test_formats import parse

    return "".join(parse(html).text)


def test_the_cab_decides_on_requester_assignees_approval_and_plans(
    demo_reports: dict[str, ChangeReport],
) -> None:
    report = demo_reports["CHG0041220"]
    info = report.change
    assert info.requested_by == "Samir Haddad (IAM Lead)"
    assert (info.approval, info.effort_hours, info.declared_risk) == ("requested", 3.0, "moderate")
    assert info.backout_plan is not None and info.backout_plan.startswith("Revert the VM")
    assert info.test_plan is not None and "dcdiag /v" in info.test_plan
    assert [(a.assignee.kind, a.assignee.key) for a in info.assigned_to] == [
        (EntityKind.TEAM, "team-identity"),
        (EntityKind.PERSON, "grace.obi"),
    ]
    team, person = info.assigned_to
    assert [m.person.name for m in team.members] == ["Grace Obi", "Samir Haddad"]
    assert [(c.channel, c.value) for c in person.contacts] == [
        ("email", "grace.obi@northbridgehealth.org")
    ]
    assert report.warnings == []
    html = render_html(report, None)
    text = page_text(html)
    markdown = render_markdown(report)
    for shown in (text, markdown):
        assert "Samir Haddad (IAM Lead)" in shown
        assert "requested" in shown and "3 h" in shown
        assert info.backout_plan in shown.replace("\\", "")
        assert "iam@northbridgehealth.org" in shown and "grace.obi@northbridgehealth.org" in shown
    # the declared risk next to the computed score
    assert "declared: moderate" in text
    assert "**Risk score: 51 of 100 (medium risk; declared: moderate)**" in markdown
    assert "moderate · computed 51 of 100, medium" in text
    # a change that states none of it says so
    blackout = render_markdown(demo_reports["CHG0041215"])
    assert "- **Back-out plan:** ⚠ not stated" in blackout
    assert "- **Assigned to:** ⚠ not stated" in blackout


def test_every_degraded_entity_names_what_keeps_it_up(
    demo_reports: dict[str, ChangeReport],
) -> None:
    report = demo_reports["CHG0041220"]
    by_key = {e.entity.key: e for e in report.affected.entities}
    assert by_key["nbh-dc01"].kept_up_by == []  # modified: DOWN
    [own] = by_key["identity-ad"].kept_up_by
    assert (own.holder.key, own.group, own.members) == ("identity-ad", "ad-dcs", 3)
    assert [f.key for f in own.failed] == ["nbh-dc01"]
    assert [(s.entity.key, s.degraded) for s in own.survivors] == [
        ("nbh-dc02", False),
        ("sa-dc01", False),
    ]
    # every other entity is DEGRADED only through identity-ad, and says so
    for e in report.affected.entities:
        if e.state is ImpactState.DEGRADED:
            assert e.kept_up_by == [own], e.entity.key
    for group in report.services:
        for service in group.services:
            assert service.kept_up_by == [own]
    line = "nbh-dc02, sa-dc01 survive in group ad-dcs (1 of 3 members DOWN: nbh-dc01)"
    text = page_text(render_html(report, None))
    assert line in text and f"through identity-ad: {line}" in text
    markdown = render_markdown(report)
    assert (
        "**nbh-dc02**, **sa-dc01** survive in group ad-dcs (1 of 3 members DOWN: **nbh-dc01**)"
        in markdown
    )
    assert "through **identity-ad**: **nbh-dc02**" in markdown
    # a DOWN service says there is no surviving alternative
    blackout = render_markdown(demo_reports["CHG0041215"])
    assert "| DOWN | 1 | billing *needed by →* claims-gateway | no surviving alternative |" in (
        blackout
    )
    assert "| *depends on* billing | no surviving alternative |" in blackout


def test_a_survivor_that_is_degraded_itself_is_marked(
    demo_reports: dict[str, ChangeReport],
) -> None:
    # the core switch's impact reaches redundancy groups whose survivors are reached too
    report = demo_reports["CHG0041201"]
    items = [i for e in report.affected.entities for i in e.kept_up_by]
    assert items, "the core switch leaves redundancy groups holding"
    for e in report.affected.entities:
        assert (e.state is ImpactState.DEGRADED) == bool(e.kept_up_by), e.entity.key
    impact_set = {(e.entity.kind, e.entity.key) for e in report.affected.entities}
    for item in items:
        assert item.failed and item.survivors
        for s in item.survivors:
            assert s.degraded == ((s.entity.kind, s.entity.key) in impact_set)


def test_warnings_at_the_top_for_an_unlinked_configuration_item(
    demo_reports: dict[str, ChangeReport],
) -> None:
    from graphsvc.report.model import WarningCode

    report = demo_reports["CHG0041262"]
    assert report.start_set == [] and report.summary.impact_set == 0
    assert report.change.configuration_item == "nbh-esx-03"
    assert [w.code for w in report.warnings] == [
        WarningCode.EMPTY_START_SET,
        WarningCode.UNLINKED_CONFIGURATION_ITEM,
    ]
    empty, unlinked = report.warnings
    assert "MODIFIES nothing the graph knows" in empty.message
    assert "'nbh-esx-03', which is not among what this change MODIFIES" in unlinked.message
    assert "The graph holds ConfigurationItem nbh-esx-03 now" in unlinked.message
    assert [e.key for e in unlinked.entities] == ["nbh-esx-03"]
    risk = {f.name: f.explanation for f in report.risk.factors}
    assert "MODIFIES nothing the graph knows" in risk["blastRadius"]
    html = render_html(report, None)
    assert html.index('class="alert"') < html.index('class="verdict')
    assert html.count("Warning:</strong>") == 2
    markdown = render_markdown(report)
    assert markdown.index("> **⚠ Warning:** This change MODIFIES nothing") < markdown.index(
        "## Summary"
    )
    assert "- **Modifies:** ⚠ nothing the graph knows" in markdown
    assert report.summary.verdict.startswith(
        "impact unknown: the change modifies nothing the graph knows; no conflicts"
    )
    assert "Nothing to draw: the change modifies nothing the graph knows" in html
    # no warning for a change whose named CI is what it modifies
    assert demo_reports["CHG0041220"].change.configuration_item == "nbh-dc01"
    assert demo_reports["CHG0041220"].warnings == []


def test_reached_from_reads_as_a_sentence_and_nothing_dangles(
    demo_reports: dict[str, ChangeReport],
) -> None:
    report = demo_reports["CHG0041201"]
    markdown = render_markdown(report)
    html = render_html(report, None)
    assert "→* |" not in markdown and "→</span></td>" not in html
    rows = {line.split(" | ")[0]: line for line in markdown.splitlines() if line.startswith("| ")}
    assert "| *depends on* nbh-dc1-core-sw-a |" in rows["| nbh-dc1-fabric"]
    text = page_text(render_html(demo_reports["CHG0041220"], None))
    assert "depends on nbh-dc01" in text


def test_labels_are_whole_and_the_footer_names_no_module(
    demo_reports: dict[str, ChangeReport],
) -> None:
    for key, report in demo_reports.items():
        html = render_html(report, None)
        markdown = render_markdown(report)
        for text in (html, markdown):
            assert "graphsvc." not in text, key
            assert "…" not in text, f"{key}: something was cut"
        assert "text-overflow" not in html
    report = demo_reports["CHG0041220"]
    assert "Monthly patching of domain controller nbh-dc01" in render_html(report, None)


def test_the_report_names_the_tasks_a_change_carries_out_and_an_overbooked_team(
    demo_reports: dict[str, ChangeReport],
) -> None:
    keycloak = demo_reports["CHG0041221"]
    [task] = keycloak.change.tasks
    assert (task.task.key, task.status, task.effort_hours) == ("TASK-EHR-102", "in_progress", 36)
    markdown = render_markdown(keycloak)
    [line] = [x for x in markdown.splitlines() if x.startswith("- **Carries out:** Task **")]
    assert "EHR" in line and "102" in line and "36 h" in line
    assert "in_progress" in page_text(render_html(keycloak, None))
    assert demo_reports["CHG0041220"].change.tasks == []

    clearing = demo_reports["CHG0041266"]
    [factor] = [f for f in clearing.risk.factors if f.name == "assigneeOverbooked"]
    assert factor.points == 10
    assert "team-integration" in factor.explanation
    assert (
        "assigneeOverbooked" in render_markdown(clearing)
        or "overbooked" in render_markdown(clearing).lower()
    )


def test_the_body_can_list_fewer_conflicts_teams_and_projects(
    demo_reports: dict[str, ChangeReport],
) -> None:
    """The explorer's change page cuts its lists; the headings still count them all."""
    report = max(
        demo_reports.values(), key=lambda r: min(len(r.teams), len(r.projects), len(r.conflicts))
    )
    assert report.teams and report.projects and report.conflicts
    whole = render_html_body(report, None)
    assert whole == render_html_body(report, None, most_rows=10_000)
    assert "more teams are in the whole report" not in whole
    cut = render_html_body(report, None, most_rows=0)
    for section, total, what in (
        ("teams", len(report.teams), "teams"),
        ("projects", len(report.projects), "projects"),
        ("conflicts", len(report.conflicts), "conflicts"),
    ):
        part = cut.split(f'<section id="{section}">')[1].split("</section>")[0]
        assert f'<span class="n">{total:,}</span>' in part, section
        assert f"{total:,} more {what} are in the whole report." in part, section
    assert '<article class="conflict' not in cut
