"""The report's Question: a spec's leading comment split into prose paragraphs and command blocks."""

from pathlib import Path

from separation.analysis.spec_comment import leading_comment, prose, question_markdown

SPEC = """\
# Which optimizer is best? Second sentence,
# continued here.
#   schedules: an indented list item
#     that wraps.
#
#   OMP_NUM_THREADS=1 separation grid x.yaml   # two terminals
#     --dry-run
#   separation report runs/x
#
# After the commands.
study: x
# not part of the leading comment
"""


def _spec(tmp_path: Path, text: str = SPEC) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    return path


def test_paragraphs_commands_and_indented_prose_are_told_apart(tmp_path):
    blocks = leading_comment(_spec(tmp_path))
    assert [block.kind for block in blocks] == ["prose", "commands", "prose"]
    assert blocks[0].text() == ("Which optimizer is best? Second sentence, continued here. "
                                "schedules: an indented list item that wraps.")
    # A command's continuation line keeps its indentation relative to the command.
    assert blocks[1].lines == ("OMP_NUM_THREADS=1 separation grid x.yaml   # two terminals", "  --dry-run",
                               "separation report runs/x")
    assert blocks[2].text() == "After the commands."


def test_the_question_keeps_commands_out_of_the_prose(tmp_path):
    spec = _spec(tmp_path)
    assert "separation grid" not in prose(spec)
    markdown = question_markdown(spec)
    assert markdown.startswith("**Question.** Which optimizer is best?")
    assert "```\nOMP_NUM_THREADS=1 separation grid x.yaml" in markdown
    assert markdown.endswith("After the commands.")
    # The comment after the first YAML line is not read.
    assert "not part" not in markdown


def test_a_spec_without_a_leading_comment_has_no_question(tmp_path):
    spec = _spec(tmp_path, "study: x\n# later comment\n")
    assert leading_comment(spec) == []
    assert question_markdown(spec) == ""
