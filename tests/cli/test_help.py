"""Every command's ``--help`` is plain text, and a short option means one thing everywhere.

The commands are enumerated from the typer app itself, so a command added
later is checked without touching this file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from graphsvc.cli.main import app

_MARKUP = (
    ("``", "reST literal (double backquotes)"),
    ("`", "Markdown code (a backquote)"),
    (":mod:", "reST role"),
    (":func:", "reST role"),
    (":class:", "reST role"),
    (":meth:", "reST role"),
    ("**", "Markdown bold"),
)
_MODULE_PATH = re.compile(r"\bgraphsvc\.[a-z_]+")


def _commands(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Yield (path, command) for the app and every command and subcommand under it."""
    yield path, command
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from _commands(sub, (*path, name))


ROOT = typer.main.get_command(app)
COMMANDS = list(_commands(ROOT))


def test_the_commands_are_found() -> None:
    paths = {" ".join(p) for p, _ in COMMANDS}
    # a few known ones, to prove the walk reaches groups and their subcommands
    assert {"", "import", "report", "report change", "token create"} <= paths
    assert len(paths) >= 12


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS], ids=lambda p: " ".join(p) or "graphsvc")
def test_help_is_plain_text(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(
        app, [*path, "--help"], env={"COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}
    )
    assert result.exit_code == 0, result.output
    text = result.output
    assert "Usage:" in text
    for mark, what in _MARKUP:
        assert mark not in text, f"graphsvc {' '.join(path)} --help shows {what}:\n{text}"
    found = _MODULE_PATH.search(text)
    assert found is None, f"graphsvc {' '.join(path)} --help names a module: {found.group()}"


def _short_options() -> dict[str, set[tuple[str, str]]]:
    """Short option -> {(its long name, the command)} over every command, hidden ones too."""
    uses: dict[str, set[tuple[str, str]]] = {}
    for path, command in COMMANDS:
        for param in getattr(command, "params", []):
            names = [*getattr(param, "opts", []), *getattr(param, "secondary_opts", [])]
            shorts = [n for n in names if n.startswith("-") and not n.startswith("--")]
            longs = [n for n in names if n.startswith("--")]
            for short in shorts:
                long = longs[0] if longs else f"(no long name: {param.name})"
                uses.setdefault(short, set()).add((long, " ".join(path)))
    return uses


def test_a_short_option_means_one_thing_in_every_command() -> None:
    uses = _short_options()
    clashes = {
        short: sorted(found)
        for short, found in uses.items()
        if len({long for long, _ in found}) > 1
    }
    assert not clashes, f"short options with two meanings: {clashes}"
    # the decisions this test holds the CLI to (README, CLI section)
    assert {long for long, _ in uses["-o"]} == {"--output"}
    assert {long for long, _ in uses.get("-f", set())} <= {"--format"}


def test_importer_settings_are_given_with_set() -> None:
    (import_command,) = [c for p, c in COMMANDS if p == ("import",)]
    names = {n for p in import_command.params for n in getattr(p, "opts", [])}
    assert "--set" in names
    assert "--option" in names  # still accepted (hidden) for old scripts
    assert "-o" not in names
