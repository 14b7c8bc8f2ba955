"""The report's "Did the earlier claims hold?" section, for a study whose spec names a claims file.

A spec's `claims:` (separation.grid.spec) names the claims file of `scripts/verdict_table.py`:
each claim an earlier study made, beside the same comparison at a longer budget. The report
then carries that table (`analysis.verdict_table`, the same rows the script prints) and one
line of its verdict box counting held, flipped and unresolved claims. A claim whose study is
not reported yet (a later phase of a multi-phase study) is listed under the table with the
reason, so a report written between phases says what it cannot answer yet. Under the table, the
study's own answer to "from which step was the final ranking readable?" (`analysis.ranking`, as its
early-ranking section computes it).
"""

from __future__ import annotations

from pathlib import Path

from separation.analysis.ranking import early_ranking
from separation.analysis.report_results import tau_text
from separation.analysis.study import Study
from separation.analysis.verdict_table import format_table, format_unavailable, read_plan, tally, verdict_rows

TITLE = "Did the earlier claims hold?"


def _readable_from(study: Study) -> str | None:
    """This study's answer to "from which step was the final ranking readable?" (its early-ranking section's)."""
    analysis = early_ranking(study)
    validation = analysis.at("validation") if not isinstance(analysis, str) else []
    if not validation:
        return None
    first = validation[0]
    stable = (f"the top cell by validation is the final one (`{analysis.final_top}`) from step {analysis.stable_from} of "
              f"{validation[-1].step} on" if analysis.stable_from is not None
              else f"the top cell by validation is never stably the final one (`{analysis.final_top}`)")
    at_first = (f"at its first validation (step {first.step}) the top cell was `{first.top}`"
                f"{' (the final one)' if first.agrees(analysis.final_top) else ''}, Kendall tau with the final ranking {tau_text(first.tau)}")
    return (f"**From which step was this study's final ranking readable?** {stable[0].upper()}{stable[1:]}; "
            f"{at_first} (section 'How early can the ranking be read?').")


def claims_parts(study: Study, out_dir: Path, written: Path, metric: str = "test") -> tuple[str, str] | None:
    """(verdict-box line, section) when the spec names a claims file, else None.

    `written`: the folder holding this report's new tables, read in place of `out_dir` where a claim names
    this study's own report folder (its committed tables are the ones being replaced).
    """
    if study.spec is None or study.spec.claims is None:
        return None
    path = study.spec.claims
    plan = read_plan(path)
    unavailable = []
    rows = verdict_rows(plan, metric, {Path(out_dir): Path(written)}, unavailable, known={Path(written): study})
    counted = "; ".join(filter(None, [tally(rows) if rows else "",
                                      f"{len(unavailable)} not computed yet" if unavailable else ""]))
    # No link to the section: results/README.md quotes this line, where an in-page anchor would be broken.
    line = f"> - **Earlier claims at this budget ({plan.early.label} -> {plan.long.label}):** {counted} (section '{TITLE}')"
    lines = [f"## {TITLE}", "",
             f"Each claim an earlier study made ({plan.early.label}) beside the same comparison at "
             f"{plan.long.label}, from the claims file `{path}` (the spec's `claims`); the same table as "
             f"`.venv/bin/python scripts/verdict_table.py {path} --pending`.", ""]
    if rows:
        lines += [format_table(plan, rows, metric).rstrip("\n"), ""]
    readable = _readable_from(study)
    if readable:
        lines += [readable, ""]
    if unavailable:
        lines.append(format_unavailable(unavailable))
    return line, "\n".join(lines)
