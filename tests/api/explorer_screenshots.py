"""Screenshots of every explorer page for ``docs/screenshots`` and the README (issue 22, 4).

    .venv/bin/python -m tests.api.explorer_screenshots [--out docs/screenshots]

Serves the demo graph (dates relative to today) as ``tests/api/test_explorer_browser.py``
does, opens each page of its :data:`~tests.api.test_explorer_browser.PAGES` table in
Debian's headless ``chromium`` (signed in, except ``/sign-in``), and writes
``explorer-<name>.png`` for each: the top of the page, at most ``--height`` pixels of
it, 1280 pixels wide. Pages whose route does not exist yet are left out (and named).
Requests to any other host are refused, as in the tests; a page that asks for one,
or logs a console error, is still shot but named on stderr.

The tests never write into ``docs/``: run this by hand after a change to a page's look
and commit the pictures.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from tests.api.test_explorer_browser import (
    PAGES,
    demo_server,
    guarded_context,
    launch,
    route_exists,
    sign_in,
)

ROOT = Path(__file__).resolve().parents[2]


def shoot(out: Path, height: int) -> list[Path]:
    """Write a PNG of every existing page of ``PAGES`` into ``out``; return the files."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with (
        tempfile.TemporaryDirectory() as home,
        demo_server(Path(home)) as server,
        sync_playwright() as playwright,
    ):
        browser = launch(playwright)
        signed, signed_watch = guarded_context(browser, server)
        anonymous, anonymous_watch = guarded_context(browser, server)
        page = signed.new_page()
        sign_in(page, server)
        for case in PAGES:
            if case.status != 200 or case.name.endswith("-signed-out"):
                continue  # error pages and variants: one look is enough
            if not route_exists(server, case.path):
                print(f"left out {case.name}: {case.path} has no route here", file=sys.stderr)
                continue
            context, watch = (
                (signed, signed_watch) if case.signed_in else (anonymous, anonymous_watch)
            )
            watch.clear()
            tab = context.new_page()
            tab.goto(server.url + case.path, wait_until="networkidle")
            if watch.blocked or watch.problems:
                print(f"{case.name}: {watch.blocked} {watch.problems}", file=sys.stderr)
            full = tab.evaluate("document.documentElement.scrollHeight")
            target = out / f"explorer-{case.name}.png"
            tab.screenshot(
                path=target,
                full_page=True,
                clip={"x": 0, "y": 0, "width": 1280, "height": min(full, height)},
            )
            tab.close()
            written.append(target)
        browser.close()
    return written


def main() -> None:
    """Parse the arguments and write the screenshots."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--height", type=int, default=1400, help="most pixels of each page")
    args = parser.parse_args()
    for path in shoot(args.out, args.height):
        print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)


if __name__ == "__main__":
    main()
