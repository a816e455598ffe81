"""`octoc --help` and docs/cli.md in step, read from the parser itself (cli/main.py's build_parser).

docs/cli.md documents a command when its synopsis (the first code block) has a
line `octoc COMMAND ...` listing exactly the command's flags (with exactly its
choices, `--format text|json`), and a section whose heading names `octoc COMMAND`
says what each flag does. The other way round: no synopsis line names a command
that does not exist, and no `--flag` anywhere in docs/cli.md is a flag no
command has. A new command or flag without docs fails here, naming it.
"""

from __future__ import annotations

import argparse
import re

import pytest

from conftest import ROOT
from octo.cli.main import build_parser

DOC = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
PROSE = re.sub(r"\]\([^)]*\)", "]", DOC)  # without link targets (`run.md#octoc-report---format-json` is no flag)
FLAG = re.compile(r"--[a-z][a-z0-9-]*")
GLOBAL_FLAGS = {"--help", "--version"}


def _commands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


COMMANDS = _commands()


def flags_of(parser: argparse.ArgumentParser) -> dict[str, tuple | None]:
    """Each long flag of a command (but --help) → its choices (None: any value, or none)."""
    out = {}
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        for flag in action.option_strings:
            if flag.startswith("--"):
                out[flag] = tuple(action.choices) if action.choices else None
    return out


def synopsis() -> dict[str, str]:
    """The first code block: each command → its lines (an indented line continues the one above)."""
    block = DOC.split("```", 2)[1]
    out: dict[str, str] = {}
    command = None
    for line in block.splitlines():
        words = line.split()
        if line.startswith("octoc ") and len(words) > 1:
            command = None if words[1].startswith(("[", "-")) else words[1]  # `octoc [--version] ...` is octoc's own
            if command is not None:
                out[command] = out.get(command, "") + " " + line
        elif line.startswith(" ") and command is not None:
            out[command] += " " + line
    return out


def section(command: str) -> str | None:
    """The text under the heading that names `octoc COMMAND`, up to the next heading of its level or above."""
    lines = PROSE.splitlines()
    for i, line in enumerate(lines):
        heading = re.match(r"(#+) ", line)
        if heading and re.search(rf"`octoc {re.escape(command)}\b", line):
            level = len(heading.group(1))
            end = next((j for j in range(i + 1, len(lines)) if (m := re.match(r"(#+) ", lines[j]))
                        and len(m.group(1)) <= level), len(lines))
            return "\n".join(lines[i + 1:end])
    return None


SYNOPSIS = synopsis()


def test_the_synopsis_names_every_command_and_no_other():
    assert sorted(set(COMMANDS) - set(SYNOPSIS)) == [], "commands missing from docs/cli.md's synopsis"
    assert sorted(set(SYNOPSIS) - set(COMMANDS)) == [], "docs/cli.md's synopsis names commands octoc does not have"


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_the_synopsis_lists_exactly_the_flags_of_the_command(command):
    listed = set(FLAG.findall(SYNOPSIS.get(command, "")))
    flags = set(flags_of(COMMANDS[command]))
    assert sorted(flags - listed) == [], f"flags of `octoc {command}` missing from its synopsis in docs/cli.md"
    assert sorted(listed - flags - {"--help"}) == [], f"the synopsis of `octoc {command}` names flags it does not have"


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_the_synopsis_gives_each_flag_its_choices(command):
    text = SYNOPSIS.get(command, "")
    for flag, choices in flags_of(COMMANDS[command]).items():
        shown = re.search(rf"{re.escape(flag)} ([A-Za-z0-9_-]+(?:\|[A-Za-z0-9_-]+)+)", text)
        if choices is None:
            assert shown is None, f"`octoc {command} {flag}` takes any value; the synopsis lists choices"
        else:
            assert shown is not None and set(shown.group(1).split("|")) == set(choices), \
                f"`octoc {command} {flag}` takes {'|'.join(choices)}; the synopsis says {shown and shown.group(1)}"


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_each_command_has_a_section_that_describes_each_of_its_flags(command):
    text = section(command)
    assert text is not None, f"docs/cli.md has no section whose heading names `octoc {command}`"
    described = set(FLAG.findall(text))
    missing = sorted(set(flags_of(COMMANDS[command])) - described)
    assert missing == [], f"flags of `octoc {command}` its section in docs/cli.md does not describe"


def test_docs_cli_md_names_no_flag_that_octoc_does_not_have():
    every = set(GLOBAL_FLAGS).union(*(flags_of(p) for p in COMMANDS.values()))
    assert sorted(set(FLAG.findall(PROSE)) - every) == []


def test_the_help_of_each_command_is_what_the_test_reads(capsys):
    """The parser read above is the one `octoc CMD --help` prints: every flag appears in the help text."""
    for command, parser in COMMANDS.items():
        help_text = parser.format_help()
        for flag in flags_of(parser):
            assert flag in help_text, (command, flag)
