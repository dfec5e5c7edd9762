"""Docs stay true: every `gll-mail …` command named in README or docs/ exists, every setting is documented."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from gll_mail.cli import main
from gll_mail.settings import SETTINGS_HELP

REPO = Path(__file__).resolve().parent.parent
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
COMMAND = re.compile(r"gll-mail((?: [a-z][a-z-]*)+)")


def documented_commands() -> set[tuple[str, ...]]:
    found = set()
    for doc in DOCS:
        for match in COMMAND.finditer(doc.read_text(encoding="utf-8")):
            words = tuple(match.group(1).split())
            found.add(words)
    return found


def resolve(words: tuple[str, ...]) -> tuple[str, ...]:
    """Follow the words down the command tree; return what is left once a group has no such command.

    Words after a leaf command are its arguments, so they are not checked.
    """
    command: click.Command = main
    for i, word in enumerate(words):
        if not isinstance(command, click.Group):
            return ()
        if word not in command.commands:
            return words[i:]
        command = command.commands[word]
    return ()


def test_readme_has_the_two_commands():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert "make demo" in text and "make test" in text


@pytest.mark.parametrize("words", sorted(documented_commands()), ids=lambda w: " ".join(w))
def test_documented_command_exists(words):
    missing = resolve(words)
    assert not missing, f"docs mention `gll-mail {' '.join(words)}` but `{missing[0]}` is not a command there"


def test_every_setting_is_in_readme():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    undocumented = [name for name in SETTINGS_HELP if name not in text]
    assert not undocumented, f"README does not document {undocumented}"
