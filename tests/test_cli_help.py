"""The command line explains itself: every option has help, every default shows in it, every
subcommand says what it writes, `--version` prints the package's version, and an option renamed
for consistency still works under its old spelling for one release, saying so in one line."""

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
    assert {"train", "grid", "report", "separate", "evaluate", "evaluate-study", "compare", "summarize",
            "data speech", "data music", "data noisy"} <= names


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


# (subcommand and one positional, old spelling, new spelling, a value): one idea, one name across subcommands.
RENAMED = [
    (["train", "c.yaml"], "--run-dir", "-o", "runs/x"),
    (["train", "c.yaml"], "--run-dir", "--output", "runs/x"),
    (["grid", "s.yaml"], "--runs", "--output", "elsewhere"),
    (["evaluate", "c.ckpt"], "--seconds", "--excerpt-seconds", "5"),
    (["evaluate-study", "runs/s"], "--seconds", "--excerpt-seconds", "5"),
    (["evaluate-study", "runs/s"], "--jobs", "--processes", "2"),
    (["data", "speech", "d"], "--n-dev", "--n-valid", "7"),
    (["data", "speech", "d"], "--workers", "--threads", "3"),
    (["data", "music", "d"], "--seconds", "--track-seconds", "5"),
    (["data", "music", "d"], "--workers", "--processes", "3"),
]


@pytest.mark.parametrize("before,old,new,value", RENAMED, ids=[f"{' '.join(b[:2])} {o}" for b, o, _, _ in RENAMED])
def test_old_spellings_still_work_with_one_deprecation_line(before, old, new, value, capsys):
    parser = build_parser()
    renamed = vars(parser.parse_args([*before, old, value]))
    said = capsys.readouterr().err.splitlines()
    current = vars(parser.parse_args([*before, new, value]))
    assert capsys.readouterr().err == ""  # the new spelling says nothing
    assert renamed == current
    assert len(said) == 1 and said[0].startswith(f"separation: {old} is deprecated") and new.split("/")[0] in said[0]
    default = vars(parser.parse_args(before))
    assert default != current, "the value given did not reach the option"


@pytest.mark.parametrize("before,old,new,value", RENAMED, ids=[f"{' '.join(b[:2])} {o}" for b, o, _, _ in RENAMED])
def test_help_shows_only_the_new_spelling(before, old, new, value):
    text = dict(LEAVES)[tuple(before[:-1])].format_help()  # `before`: the subcommand, then one positional
    assert new in text and f"{old} " not in text and f"{old}\n" not in text
