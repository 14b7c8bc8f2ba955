"""The command line explains itself: every option has help, every default shows in it, every
subcommand says what it writes, and `--version` prints the package's version."""

import argparse
import subprocess
import sys
from importlib.metadata import version

import pytest

from separation.cli import build_parser


def _subcommands(parser: argparse.ArgumentParser, prefix=()):
    """(name path, parser) for every leaf subcommand, e.g. (("data", "speech"), <parser>)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _subcommands(sub, prefix + (name,))
            return
    yield prefix, parser


LEAVES = list(_subcommands(build_parser()))


def test_every_subcommand_is_covered():
    names = {" ".join(path) for path, _ in LEAVES}
    assert {"train", "grid", "report", "separate", "evaluate", "data speech", "data music", "data noisy"} <= names


@pytest.mark.parametrize("path,parser", LEAVES, ids=[" ".join(p) for p, _ in LEAVES])
def test_help_shows_every_default_and_what_is_written(path, parser):
    text = " ".join(parser.format_help().split())  # undo line wrapping
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        assert action.help, f"separation {' '.join(path)} {action.option_strings or action.dest}: no help"
        has_default = action.default not in (None, [], argparse.SUPPRESS) and action.nargs != 0
        if has_default and action.option_strings:
            shown = action.default
            shown = " ".join(map(str, shown)) if isinstance(shown, list) else str(shown)
            assert f"(default: {shown.split()[0]}" in text.replace("[", "").replace(",", ""), \
                f"separation {' '.join(path)} {action.option_strings[0]}: default {action.default!r} not shown"
    assert parser.description, f"separation {' '.join(path)}: no description"
    assert "writ" in parser.description.lower(), f"separation {' '.join(path)}: does not say what it writes"


def test_version_prints_the_package_version():
    result = subprocess.run([sys.executable, "-m", "separation.cli", "--version"], capture_output=True, text=True)
    assert result.returncode == 0
    assert result.stdout.strip() == f"separation {version('separation')}"
