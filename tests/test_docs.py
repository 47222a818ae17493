"""The README must match the code: every setting, every command, every format preset."""
from __future__ import annotations

import re

import click

from pipelines.cli import cli
from pipelines.config import SETTINGS
from pipelines.formats import PRESETS

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

README = (REPO / "README.md").read_text(encoding="utf-8")


def _config_rows() -> dict[str, str]:
    rows = {}
    section = README.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    for line in section.splitlines():
        m = re.match(r"^\| `([a-z0-9_.]+)` \| (.+?) \| (.+) \|$", line)
        if m:
            rows[m.group(1)] = m.group(2)
    return rows


def _toml(value: object) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, str):
        return f'`"{value}"`'
    if isinstance(value, tuple):
        return "`[]`" if not value else "`" + str(list(value)) + "`"
    return f"`{value}`"


def test_every_setting_is_documented_with_its_default() -> None:
    rows = _config_rows()
    for setting in SETTINGS:
        assert setting.name in rows, f"README configuration table lacks {setting.name}"
        assert rows[setting.name] == _toml(setting.default), setting.name


def test_readme_documents_no_unknown_setting() -> None:
    known = {s.name for s in SETTINGS}
    documented = set(_config_rows())
    assert documented <= known, documented - known


def _commands(group: click.Group, prefix: str = "weblog") -> list[str]:
    out = []
    for name, cmd in group.commands.items():
        full = f"{prefix} {name}"
        if isinstance(cmd, click.Group):
            out.extend(_commands(cmd, full))
        else:
            out.append(full)
    return out


def test_every_command_is_in_the_cli_reference() -> None:
    for command in _commands(cli):
        assert f"`{command}" in README, f"README CLI reference lacks `{command}`"


def test_every_format_preset_is_documented() -> None:
    for name in PRESETS:
        assert f"| `{name}` |" in README, name


def test_every_format_example_is_whole_in_its_row() -> None:
    # a W3C example without its #Fields header is rejected line by line: the README row
    # shows every line of the preset's example (tabs as ⇥), header lines included
    rows = {line.split("|")[1].strip(" `"): line for line in README.splitlines()
            if line.startswith("| `")}
    for name, preset in PRESETS.items():
        for line in preset.example.split("\n"):
            assert line.replace("\t", " ⇥ ") in rows[name], (name, line)


def test_quick_start_is_the_two_make_commands() -> None:
    quick = README.split("## Quick start", 1)[1].split("##", 1)[0]
    assert "make demo" in quick and "make test" in quick
    ci = (REPO / ".ci" / "run").read_text()
    assert "make test" in ci
