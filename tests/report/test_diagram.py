"""The impact diagram: escaping, grouping of large blast radii, and life without Graphviz."""

from __future__ import annotations

import re
import shutil
import stat
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from graphsvc.ingest.engine import IngestEngine
from graphsvc.model.batch import IngestBatch
from graphsvc.report import ChangeReport, ReportFormat, build_change_report, render_report
from graphsvc.report.diagram import (
    dot_label_text,
    draw,
    impact_diagram,
    render_svg,
    wrap_label,
)
from graphsvc.store.base import GraphStore
from tests.report.conftest import needs_dot

SVG = "{http://www.w3.org/2000/svg}"


def node_lines(dot: str) -> list[str]:
    return [line for line in dot.splitlines() if re.match(r"\s+(n\d+|g\d+|u\d+|change) \[", line)]


def test_dot_label_text_escapes_for_html_like_labels() -> None:
    assert dot_label_text('a"b<c>&d') == "a&quot;b&lt;c&gt;&amp;d"
    assert dot_label_text("x\\N\\") == "x\\\\N\\\\", "Graphviz escapes are neutralised"
    assert dot_label_text("one\ntwo\tthree\r") == "one two three "
    assert dot_label_text("bell\x07 and \ufffe") == "bell and "
    assert dot_label_text("ü日本'") == "ü日本&#x27;"
    assert dot_label_text("x" * 50) == "x" * 50, "nothing is cut"


def test_labels_wrap_and_keep_every_character() -> None:
    name = "Monthly patching of domain controller nbh-dc01"
    assert wrap_label(name, 26) == ["Monthly patching of domain", "controller nbh-dc01"]
    assert " ".join(wrap_label(name, 26)) == name
    # a long key breaks after / - _ . : where it can, else anywhere
    key = "k8s/prod-nbh/deploy/keycloak-operator-controller-manager"
    lines = wrap_label(key, 26)
    assert "".join(lines) == key and all(len(line) <= 26 for line in lines)
    assert lines[0] == "k8s/prod-nbh/deploy/"
    assert wrap_label("x" * 60, 26) == ["x" * 26, "x" * 26, "x" * 8]
    assert wrap_label("", 26) == [""]
    assert wrap_label("a\nb  c", 26) == ["a b c"]


@needs_dot
def test_small_impact_sets_are_drawn_whole(demo_reports: dict[str, ChangeReport]) -> None:
    report = demo_reports["CHG0041220"]
    drawn = draw(report)
    assert drawn.svg is not None and drawn.note is None
    assert drawn.diagram.collapsed == 0
    # the change, its 16 entities and the 2 surviving members of group ad-dcs
    assert drawn.diagram.nodes == 19
    assert drawn.diagram.caption.startswith("Every entity of the impact set (16). Green boxes")
    root = ET.fromstring(drawn.svg)
    assert root.get("width") is None and root.get("viewBox"), "scales with the page"
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert {"CHG0041220", "nbh-dc01", "identity-sso", "claims-gateway"} <= set(texts)
    # the change's name is wrapped, not cut
    assert "Monthly patching of domain" in texts and "controller nbh-dc01" in texts
    assert not any("…" in (t or "") for t in texts)
    # coloured by state: the modified CI is DOWN, the rest DEGRADED
    assert 'fillcolor="#fdecea"' in drawn.diagram.dot and 'fillcolor="#fff4d6"' in drawn.diagram.dot
    assert "<!DOCTYPE" not in drawn.svg and "<?xml" not in drawn.svg


@needs_dot
def test_survivors_keep_their_degraded_entity_up_in_the_diagram(
    demo_reports: dict[str, ChangeReport],
) -> None:
    drawn = draw(demo_reports["CHG0041220"])
    dot = drawn.diagram.dot
    # nbh-dc02 and sa-dc01 are drawn (green, not in the impact set) with an arrow to identity-ad
    nodes = {m[1]: m[0] for m in re.findall(r"\s+(\w+) \[label=<<B>([^<]+)</B>", dot)}
    for key in ("nbh-dc02", "sa-dc01"):
        line = next(x for x in dot.splitlines() if x.strip().startswith(f"{nodes[key]} ["))
        assert 'fillcolor="#e7f5ec"' in line, key
        assert f"{nodes[key]} -> {nodes['identity-ad']} " in dot
    # the failed member and the survivors are boxed as the group, with its count
    assert re.search(
        r"subgraph cluster_\w+ \{\n\s+label=<redundancy group ad-dcs<BR/>1 of 3 DOWN>", dot
    )
    box = dot[dot.index("subgraph cluster_") :]
    members = box[box.index("\n", box.index("label=")) : box.index("}")]
    assert {nodes["nbh-dc01"], nodes["nbh-dc02"], nodes["sa-dc01"]} == {
        m.strip() for m in members.replace(";", " ").split()
    }
    root = ET.fromstring(drawn.svg or "")
    titles = [t.text or "" for t in root.iter(f"{SVG}title")]
    assert any(
        t.startswith(
            "Service/identity-ad (Active Directory (NBH-GROUP)): Service · tier 1 · "
            "DEGRADED; nbh-dc02, sa-dc01 survive in group ad-dcs"
        )
        for t in titles
    )
    assert "surviving member" in (drawn.svg or "")


async def test_survivors_beyond_the_node_cap_are_counted_in_the_caption(
    store: GraphStore, engine: IngestEngine
) -> None:
    # 12 services each on a pair of VMs (one shared, failing; one of its own, surviving)
    ents: list[dict[str, Any]] = [
        {"kind": "ConfigurationItem", "key": "vm-shared", "attributes": {"ciClass": "vm"}},
        {"kind": "Change", "key": "CHG-VM", "attributes": {"state": "new"}},
    ]
    rels: list[dict[str, Any]] = [
        {
            "type": "MODIFIES",
            "from": {"kind": "Change", "key": "CHG-VM"},
            "to": {"kind": "ConfigurationItem", "key": "vm-shared"},
        }
    ]
    for i in range(12):
        ents.append({"kind": "Service", "key": f"svc-{i}", "attributes": {"tier": 1}})
        ents.append(
            {"kind": "ConfigurationItem", "key": f"vm-{i}", "attributes": {"ciClass": "vm"}}
        )
        for vm in ("vm-shared", f"vm-{i}"):
            rels.append(
                {
                    "type": "RUNS_ON",
                    "from": {"kind": "Service", "key": f"svc-{i}"},
                    "to": {"kind": "ConfigurationItem", "key": vm},
                    "attributes": {"redundancyGroup": "pair"},
                }
            )
    await engine.ingest(
        IngestBatch.model_validate({"source": "vms", "entities": ents, "relations": rels})
    )
    report = await build_change_report(store, "CHG-VM")
    diagram = impact_diagram(report, max_nodes=20)
    assert diagram.nodes <= 20
    survivors = [line for line in node_lines(diagram.dot) if "surviving member" in line]
    # at least a fifth of the nodes are kept for them, and the rest is said
    assert 20 // 5 <= len(survivors) < 12
    left = 12 - len(survivors)
    assert f"{left} surviving members of redundancy groups are not drawn" in diagram.caption
    whole = impact_diagram(report)
    assert len([x for x in node_lines(whole.dot) if "surviving member" in x]) == 12
    assert "not drawn" not in whole.caption


async def big_graph(engine: IngestEngine, services: int = 1500, cis: int = 400) -> None:
    """A core switch that ``CHG-BIG`` modifies; CIs of four classes and services on top."""
    rng = np.random.default_rng(5)
    classes = ["database", "vm", "container", "middleware"]
    ents: list[dict[str, Any]] = [
        {"kind": "ConfigurationItem", "key": "core", "attributes": {"ciClass": "network_switch"}},
        {"kind": "Change", "key": "CHG-BIG", "attributes": {"state": "new"}},
    ]
    rels: list[dict[str, Any]] = [
        {
            "type": "MODIFIES",
            "from": {"kind": "Change", "key": "CHG-BIG"},
            "to": {"kind": "ConfigurationItem", "key": "core"},
        }
    ]
    for i in range(cis):
        ents.append(
            {
                "kind": "ConfigurationItem",
                "key": f"ci-{i}",
                "attributes": {"ciClass": classes[i % 4]},
            }
        )
        target = "core" if i < 20 else f"ci-{int(rng.integers(i))}"
        rels.append(
            {
                "type": "DEPENDS_ON",
                "from": {"kind": "ConfigurationItem", "key": f"ci-{i}"},
                "to": {"kind": "ConfigurationItem", "key": target},
            }
        )
    for i in range(services):
        ents.append({"kind": "Service", "key": f"svc-{i}", "attributes": {"tier": 1 + i % 4}})
        on = (
            ("ConfigurationItem", f"ci-{int(rng.integers(cis))}")
            if i < 300
            else ("Service", f"svc-{int(rng.integers(i))}")
        )
        rels.append(
            {
                "type": "DEPENDS_ON",
                "from": {"kind": "Service", "key": f"svc-{i}"},
                "to": {"kind": on[0], "key": on[1]},
            }
        )
    await engine.ingest(
        IngestBatch.model_validate({"source": "big", "entities": ents, "relations": rels})
    )


async def test_large_impact_sets_are_grouped_under_the_node_cap(
    store: GraphStore, engine: IngestEngine
) -> None:
    await big_graph(engine)
    report = await build_change_report(store, "CHG-BIG")
    assert report.summary.impact_set == 1 + 400 + 1500
    for cap in (60, 25, 8):
        diagram = impact_diagram(report, max_nodes=cap)
        nodes = node_lines(diagram.dot)
        assert len(nodes) == diagram.nodes <= cap
        assert diagram.collapsed > 0
        assert "grouped in the dashed boxes" in diagram.caption
        groups = [n for n in nodes if "dashed" in n]
        assert groups, "folded entities are drawn as dashed group nodes"
        # every folded entity is counted in exactly one group
        counts = [
            sum(int(x.replace(",", "")) for x in re.findall(r"([\d,]+) (?:DOWN|DEGRADED)", g))
            for g in groups
        ]
        assert sum(counts) == diagram.collapsed
        assert diagram.collapsed + (diagram.nodes - 1 - len(groups)) == 1901
    diagram = impact_diagram(report)
    # the most critical services are drawn one by one, with the services on their paths
    assert "svc-0" in diagram.dot
    assert re.search(r"configuration items.*database", diagram.dot)
    assert re.search(r"more tier 4 services", diagram.dot)


@needs_dot
async def test_large_impact_set_renders_legibly(store: GraphStore, engine: IngestEngine) -> None:
    await big_graph(engine)
    report = await build_change_report(store, "CHG-BIG")
    html = render_report(report, ReportFormat.HTML)
    svg = html[html.index("<svg") : html.index("</svg>") + 6]
    root = ET.fromstring(svg)
    assert len(list(root.iter(f"{SVG}g"))) < 400
    box = [float(v) for v in (root.get("viewBox") or "").split()]
    assert box[2] < 4000, "not a hairball: the drawing stays a few pages wide at most"


def test_without_graphviz_the_html_says_so(
    demo_reports: dict[str, ChangeReport], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    report = demo_reports["CHG0041215"]
    html = render_report(report, ReportFormat.HTML)
    assert "<svg" not in html
    assert "needs Graphviz, which is not installed here" in html
    assert 'id="conflicts"' in html and 'id="diagram"' in html
    # markdown and JSON never need it
    assert render_report(report, ReportFormat.MARKDOWN).startswith("# Change review")
    assert render_report(report, ReportFormat.JSON).startswith("{")


def test_a_slow_or_broken_graphviz_leaves_a_note(tmp_path: Path) -> None:
    slow = tmp_path / "slow-dot"
    slow.write_text("#!/bin/sh\nsleep 5\n")
    slow.chmod(slow.stat().st_mode | stat.S_IXUSR)
    svg, note = render_svg("digraph { a }", timeout=0.3, dot_binary=str(slow))
    assert svg is None and note is not None and "longer than 0.3 s" in note
    broken = tmp_path / "broken-dot"
    broken.write_text("#!/bin/sh\necho 'Error: syntax error in line 1' >&2\nexit 1\n")
    broken.chmod(broken.stat().st_mode | stat.S_IXUSR)
    svg, note = render_svg("digraph { a }", dot_binary=str(broken))
    assert svg is None and note is not None and "syntax error in line 1" in note
    svg, note = render_svg("digraph { a }", dot_binary=str(tmp_path / "missing"))
    assert svg is None and note is not None and "could not be run" in note
