"""Every `separation` command line the README and docs/ show parses with today's command line, and none
uses an option's old spelling: a reader who copies one gets no usage error and no deprecation line."""

import re
import shlex
from pathlib import Path

import pytest

from separation.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
PROGRAM = re.compile(r"(?:\.venv/bin/)?separation ((?:data |)[a-z][a-z-]+\b.*)")


def _command_lines() -> list[tuple[str, str]]:
    """(page, arguments) of each code-block line and each `inline` command that starts with the program."""
    found = []
    for page in PAGES:
        text = page.read_text()
        candidates = [line.strip() for line in text.splitlines() if line.startswith("    ")]
        candidates += [" ".join(span.split()) for span in re.findall(r"`([^`]+)`", text)]
        for candidate in candidates:
            candidate = re.sub(r"^\S+=\S+ ", "", candidate)  # CUDA_VISIBLE_DEVICES=0 ...
            match = PROGRAM.match(candidate)
            if not match:
                continue
            arguments = match.group(1).split(" # ")[0].split("  #")[0].rstrip(" &")
            # Prose naming a subcommand (`separation report`), placeholders and elisions ([--snr MIN MAX], ...,
            # <study>, KIND, N) are not command lines.
            if len(arguments.split()) == 1 + arguments.startswith("data ") or re.search(r"\[|\.\.\.|<|\||\b[A-Z]+\b", arguments):
                continue
            found.append((page.name, arguments))
    return found


COMMANDS = _command_lines()


def test_the_pages_show_commands():
    assert len(COMMANDS) >= 25
    assert {args.split()[0] for _, args in COMMANDS} >= {"data", "train", "grid", "report", "separate", "evaluate",
                                                         "compare", "evaluate-study", "summarize"}


@pytest.mark.parametrize("page,arguments", COMMANDS, ids=[f"{p}: {a[:60]}" for p, a in COMMANDS])
def test_a_documented_command_parses_without_old_spellings(page, arguments, capsys):
    try:
        build_parser().parse_args(shlex.split(arguments))
    except SystemExit as exit_:
        pytest.fail(f"{page}: `separation {arguments}` does not parse (exit {exit_.code}): {capsys.readouterr().err}")
    said = capsys.readouterr().err
    assert "deprecated" not in said, f"{page}: `separation {arguments}`: {said}"
