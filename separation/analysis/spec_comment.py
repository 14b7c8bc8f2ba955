"""A grid spec's leading comment, read as the report's Question: prose paragraphs and command lines.

The committed specs state their question in the comment block that opens the file (every line up to
the first one not starting with `#`). Within it a bare `#` line separates paragraphs and a line
indented further than the prose (`#   separation grid ...`) is a command, as in Markdown, where
indentation makes code. Joining every line into one paragraph put the commands inside the question.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# "#   cmd": after the "#" and the one space prose has, a command line has at least two spaces more.
COMMAND_INDENT = 2


@dataclass(frozen=True)
class Block:
    """One paragraph of prose, or a run of consecutive command lines (kind "prose" or "commands")."""

    kind: str
    lines: tuple[str, ...]

    def text(self) -> str:
        return " ".join(self.lines) if self.kind == "prose" else "\n".join(self.lines)


def leading_comment(spec_path) -> list[Block]:
    """The blocks of the spec's opening comment, in order; [] where the file opens with no comment."""
    blocks: list[Block] = []
    kind, lines = None, []

    def close():
        nonlocal kind, lines
        if lines:
            blocks.append(Block(kind, tuple(lines)))
        kind, lines = None, []

    for raw in Path(spec_path).read_text().splitlines():
        if not raw.startswith("#"):
            break
        body = raw[1:]
        body = body[1:] if body.startswith(" ") else body
        if not body.strip():
            close()
            continue
        indented = body.startswith(" " * COMMAND_INDENT)
        # An indented line is a command where it reads as one or continues one; an indented list item stays prose.
        line_kind = "commands" if indented and (kind == "commands" or _looks_like_command(body)) else "prose"
        if line_kind != kind:
            close()
        kind = line_kind
        lines.append(body.strip() if line_kind == "prose" else body.rstrip()[COMMAND_INDENT:])
    close()
    return blocks


def _looks_like_command(body: str) -> bool:
    first = body.split()[0]
    return first.startswith((".venv/", "separation", "make", "python", "OMP_", "scripts/", "./")) or "=" in first


def prose(spec_path) -> str:
    """Every prose paragraph of the leading comment, joined into one string (the question's first sentence comes from it)."""
    return " ".join(block.text() for block in leading_comment(spec_path) if block.kind == "prose")


def question_markdown(spec_path) -> str:
    """The leading comment as Markdown: `**Question.**` before the first paragraph, commands as code blocks."""
    parts = []
    for block in leading_comment(spec_path):
        if block.kind == "prose":
            parts.append(("**Question.** " if not parts else "") + block.text())
        else:
            if not parts:
                parts.append("**Question.**")
            parts.append("```\n" + block.text() + "\n```")
    return "\n\n".join(parts)
