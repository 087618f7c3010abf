"""The HTML report as a person sees it: rendered by headless Chromium (Debian's ``chromium``)."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from graphsvc.report import ChangeReport, ReportFormat, render_report
from tests.report.conftest import needs_dot

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = [
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="Chromium is not installed (make test installs the Debian package chromium)",
    ),
    needs_dot,
]


def chromium(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            "--enable-logging=stderr",
            "--v=0",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def page_errors(stderr: str) -> list[str]:
    """Console messages, script errors and refused loads Chromium logged for the page."""
    return [
        line
        for line in stderr.splitlines()
        if re.search(r"CONSOLE|Uncaught|Refused to|net::ERR_|Failed to load resource", line)
    ]


def test_the_demo_report_renders_in_chromium(
    demo_reports: dict[str, ChangeReport], tmp_path: Path
) -> None:
    page = tmp_path / "CHG0041215.html"
    page.write_text(render_report(demo_reports["CHG0041215"], ReportFormat.HTML), encoding="utf-8")
    url = page.as_uri()

    shot = tmp_path / "shot.png"
    done = chromium(
        tmp_path / "profile-shot", f"--screenshot={shot}", "--window-size=1280,2000", url
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert not page_errors(done.stderr), page_errors(done.stderr)
    assert shot.exists()
    assert png_size(shot) == (1280, 2000)
    assert shot.stat().st_size > 40_000, "a blank page compresses to a few kilobytes"

    dom = chromium(tmp_path / "profile-dom", "--dump-dom", "--virtual-time-budget=2000", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert not page_errors(dom.stderr), page_errors(dom.stderr)
    html = dom.stdout
    assert '<section id="conflicts">' in html
    assert "BLACKOUT" in html and "blackout-billing-month-end-close" in html
    assert '<svg viewBox="' in html and 'class="impact-diagram"' in html
    assert html.count('class="node"') >= 3, "the diagram's nodes are in the DOM"
    assert "<script" not in html


def test_survivors_warnings_and_whole_labels_in_chromium(
    demo_reports: dict[str, ChangeReport], tmp_path: Path
) -> None:
    pages = {}
    for key in ("CHG0041220", "CHG0041262"):
        page = tmp_path / f"{key}.html"
        page.write_text(render_report(demo_reports[key], ReportFormat.HTML), encoding="utf-8")
        dom = chromium(
            tmp_path / f"profile-{key}", "--dump-dom", "--virtual-time-budget=2000", page.as_uri()
        )
        assert dom.returncode == 0, dom.stderr[-2000:]
        assert not page_errors(dom.stderr), page_errors(dom.stderr)
        pages[key] = dom.stdout
    patching = pages["CHG0041220"]
    # the surviving domain controllers are drawn, boxed with the failed one as their group
    for text in ("nbh-dc02", "sa-dc01", "redundancy group ad-dcs", "1 of 3 DOWN"):
        assert f">{text}</text>" in patching, text
    # the change's name is wrapped in the diagram, not cut
    assert ">Monthly patching of domain</text>" in patching
    assert ">controller nbh-dc01</text>" in patching
    assert "…" not in patching
    assert "survive in group ad-dcs" in patching
    assert 'class="alert"' not in patching
    unlinked = pages["CHG0041262"]
    alert = unlinked.index('class="alert"')
    assert alert < unlinked.index('class="verdict')
    assert "nbh-esx-03" in unlinked[alert : unlinked.index("</div>", alert)]
