"""The verdict box that opens REPORT.md: the answer in the first minute, before the status, setup and tables.

At most ten lines of a Markdown blockquote, each a `**Label:** text` item:

    > **Verdict.** <the study's question>
    > - **Selected setting:** the best cell on validation, its test median [IQR], and its gain over the input with its interval
    > - **Each <hue> against it:** the findings' differences from the best (95% bootstrap interval), resolved or not
    > - **<factor>:** whether the best optimizer changes with it (when one added axis groups the cells)
    > - **<claim>:** supported / contradicted / not resolved, with the interval it rests on (testable claims only)
    > - **Earlier claims at this budget:** held / flipped / unresolved counts (when the spec names `claims`)
    > - **Budget:** model and parameters, steps, seeds, trials, hours
    > - **Caveat:** when the best cell has barely begun to separate, or does not beat its input

Every number is the one the later sections print: the selection of `select_best`, the
comparisons of `findings.hue_comparisons` and `findings.claims` (their decisive,
lost-seeds-aware interval), `within.verdict`. `scripts/results_index.py` reads these lines
back for results/README.md, so the index and the reports cannot disagree.
"""

from __future__ import annotations

import re

import numpy as np

from separation.analysis import within
from separation.analysis.cells import Comparison, lost_seeds, seed_values, select_best
from separation.analysis.findings import claims, decisive, hue_comparisons
from separation.analysis.report_setup import own_seconds, provenance_lines
from separation.analysis.spec_comment import prose
from separation.analysis.stats import MIN_SEEDS, Interval, bootstrap_difference, median_iqr
from separation.analysis.study import Study
from separation.outcomes import LOST, OK
from separation.tasks import get_task

TITLE = "> **Verdict.**"
# Below this gain over the input (dB) a best cell has only begun to separate or enhance: its ranking says
# which optimizer starts fastest, not which trains the better model.
SMALL_GAIN_DB = 3.0
# A gain interval inside +-0.005 dB prints as +0.00 and is a model that passes its input through (an
# identity-initialised denoiser that never moved): floating-point noise above 0 is not "beats the input".
SAME_AS_INPUT_DB = 0.005
MAX_LINES = 10


def first_sentence(text: str) -> str:
    """The text up to the first `.`, `?` or `!` followed by a space (a decimal point or "e.g." does not end it)."""
    text = " ".join(text.split())
    match = re.search(r"(?<!\be\.g)(?<!\bi\.e)(?<!\bvs)[.?!](\s|$)", text)
    return text[: match.start() + 1] if match else text


def study_question(study: Study, spec_path) -> str:
    """The first sentence of the spec's leading comment (the committed specs ask their question there), else its description."""
    question = prose(spec_path).strip() if spec_path is not None else ""
    if question:
        return first_sentence(question)
    if study.spec is not None and study.spec.description:
        return first_sentence(study.spec.description)
    return "not stated (no spec was given)"


def _signed(value: float) -> str:
    return f"{value:+.2f}"


def _interval(interval: Interval) -> str:
    """`+0.12 dB [95% CI -0.10, +0.30]`, or the estimate alone where too few seeds give no interval."""
    if not np.isfinite(interval.estimate):
        return "n/a"
    if not np.isfinite(interval.low):
        return f"{_signed(interval.estimate)} dB (no interval: fewer than {MIN_SEEDS} seeds)"
    return f"{_signed(interval.estimate)} dB [95% CI {_signed(interval.low)}, {_signed(interval.high)}]"


def _gain(study: Study, cell: str, column: str) -> tuple[str, str]:
    """The column holding the gain over the input, and its name: the test improvement where the headline is not one."""
    headline = study.headline
    if column == "test" and headline.improvement and "test_improvement" in study.trials \
            and np.isfinite(seed_values(study, cell, "test_improvement")).any():
        return "test_improvement", headline.improvement_name
    return column, headline.name


def _gain_interval(study: Study, cell: str, column: str) -> Interval:
    """The cell's median gain over the input with its bootstrap interval (lost seeds at the study's worst, as verdicts count them)."""
    values = seed_values(study, cell, column, conservative=lost_seeds(study, cell) > 0)
    # The difference from a constant 0 is the bootstrap of the median itself, drawn as every comparison is.
    return bootstrap_difference(values, np.zeros(max(values.size, MIN_SEEDS)))


def _selected_line(study: Study, best: str, column: str) -> tuple[str, Interval, str]:
    split = "test" if column == "test" else "validation"
    values = seed_values(study, best, column)
    median = _median_text(median_iqr(values))
    line = (f"> - **Selected setting:** `{best}` (best on validation): {split} {study.headline.name} {median} dB "
            f"(median [IQR] of {values.size} seed{'s' if values.size != 1 else ''}{_lost_text(study, best)})")
    gain_column, gain_name = _gain(study, best, column)
    gain = _gain_interval(study, best, gain_column)
    source = get_task(study.task).input_name
    line += f"; {gain_name} against the {source} (0 dB): {_interval(gain)}, {_relation_text(gain, source)}."
    return line, gain, gain_name


def relation_to_input(gain: Interval) -> str:
    """How a gain over the input reads: `pass-through` (the interval inside +-SAME_AS_INPUT_DB), `beats`,
    `worse`, `unresolved`, or `above`/`below` with no interval. One rule for every table that says it
    (the verdict here, scripts/objectives_table.py)."""
    if np.isfinite(gain.low) and max(abs(gain.low), abs(gain.high)) < SAME_AS_INPUT_DB:
        return "pass-through"
    if np.isfinite(gain.low):
        return "beats" if gain.low > 0 else "worse" if gain.high < 0 else "unresolved"
    return "above" if gain.estimate > 0 else "below"


def _relation_text(gain: Interval, source: str) -> str:
    return {"pass-through": f"the same as the {source} (a pass-through)", "beats": f"beats the {source}",
            "worse": f"worse than the {source}", "unresolved": f"not resolved against the {source}",
            "above": f"above the {source}, not resolved", "below": f"below the {source}, not resolved"}[relation_to_input(gain)]


def _lost_text(study: Study, cell: str) -> str:
    """`; 1 of 3 seeds lost (collapsed)`: the selected cell's lost seeds, beside its median, not only in the tables."""
    statuses = study.by_cell[cell]["status"]
    counts = [(int((statuses == status).sum()), str(status)) for status in LOST]
    counts = [(n, status) for n, status in counts if n]
    if not counts:
        return ""
    kinds = counts[0][1] if len(counts) == 1 else ", ".join(f"{n} {status}" for n, status in counts)
    return f"; {sum(n for n, _ in counts)} of {len(statuses)} seeds lost ({kinds})"


def _median_text(values: tuple[float, float, float]) -> str:
    median, q25, q75 = values
    return "n/a" if not np.isfinite(median) else f"{median:+.2f} [{q25:+.2f}, {q75:+.2f}]"


def _resolved(c: Comparison) -> str:
    interval = decisive(c)
    return _interval(interval) + (" resolved" if interval.resolved else "")


def _hue_line(study: Study, column: str) -> str | None:
    overall, comparisons = hue_comparisons(study, column)
    if overall is None or not comparisons:
        return None
    split = "test" if column == "test" else "validation"
    resolved = [value for value, c in comparisons if decisive(c).resolved]
    parts = "; ".join(f"`{value}` {_resolved(c)}" for value, c in comparisons)
    tally = f"{len(resolved)} of {len(comparisons)} resolved" if resolved else "none resolved"
    return (f"> - **Each {study.hue} against it** (best minus each at its best, {split} {study.headline.name}): "
            f"{parts}: {tally}.")


def _deciding(claim) -> tuple[str, str, Comparison] | None:
    """The comparison a claim's verdict turns on: the clearest contradiction, the weakest support, else the nearest rival."""
    if not claim.evidence:
        return None
    if claim.verdict == "contradicted":
        pool = [e for e in claim.evidence if decisive(e[2]).resolved and decisive(e[2]).estimate < 0]
        return min(pool, key=lambda e: decisive(e[2]).estimate)
    if claim.verdict == "supported":
        return min(claim.evidence, key=lambda e: decisive(e[2]).low)
    pool = [e for e in claim.evidence if not decisive(e[2]).resolved] or list(claim.evidence)
    return min(pool, key=lambda e: np.nan_to_num(decisive(e[2]).estimate, nan=np.inf))


def _claim_lines(study: Study, column: str) -> list[str]:
    lines = []
    for claim in claims(study, column):
        if claim.verdict == "not testable":
            continue  # the study's axes do not ask it; the Findings section says why
        deciding = _deciding(claim)
        evidence = ""
        if deciding is not None:
            a, b, c = deciding
            evidence = f": {a} minus {b} {_interval(decisive(c))}"
        lines.append(f"> - **{claim.statement}:** {claim.verdict}{evidence}.")
    return lines


def _within_line(study: Study, ranked: dict | None) -> str | None:
    if ranked is None:
        return None
    factor = within.grouping_factor(study)
    winners = "; ".join(f"{entries[0].optimizer} under {value}" for value, entries in ranked.items() if entries)
    return f"> - **Does the best optimizer change with `{factor}`?** {within.verdict(ranked)} (best on validation: {winners})."


def _parameters(config: dict) -> int | None:
    try:
        # Imported here, as Setup does: the count builds a torch model, and importing the report must not load torch.
        from separation.systems.model_size import parameter_count

        return parameter_count(config)
    except Exception:  # the count is a courtesy; the box then names the model alone
        return None


def _budget(study: Study, best: str) -> tuple[str, float, int | None]:
    """The budget line, the median steps of the finished trials, and the best cell's parameter count."""
    done = study.trials[study.trials["status"].isin(OK)]
    steps = float(np.nanmedian(done["steps"].to_numpy(dtype=float))) if len(done) and done["steps"].notna().any() else float("nan")
    config = study.configs.get(study.trials.loc[study.trials["cell"] == best, "trial"].iloc[0])
    parameters = _parameters(config) if config else None
    model = config["model"]["name"] if config else "model"
    seeds = len(set(study.trials["seed"]))
    seconds = own_seconds(study.trials, "train_seconds") + own_seconds(study.trials, "val_seconds")
    devices = next((line for line in provenance_lines(study) if line.startswith("- Devices:")), "")
    on_cpu = bool(devices) and all(part.strip().startswith("cpu") for part in devices.removeprefix("- Devices:").split(";"))
    text = (f"> - **Budget:** {model}" + (f", {parameters:,} parameters" if parameters else "")
            + (f"; {steps:g} steps per trial (median)" if np.isfinite(steps) else "")
            + f"; {seeds} seed{'s' if seeds != 1 else ''}; {len(study.trials)} trials; "
            + f"{seconds / 3600:.1f} {'CPU-hours' if on_cpu else 'hours'} of training and validation.")
    return text, steps, parameters


def _caveat(study: Study, steps: float, parameters: int | None, gain: Interval, gain_name: str) -> str | None:
    if not np.isfinite(gain.estimate):
        return None
    source = get_task(study.task).input_name
    worse = np.isfinite(gain.high) and gain.high < 0
    if gain.estimate >= SMALL_GAIN_DB and not worse:
        return None
    size = f"a {parameters / 1e6:.2g} M model" if parameters else "the model"
    run = f"{steps:g} steps of {size}" if np.isfinite(steps) else size.capitalize()
    if gain.estimate < 0:
        what = f"does not beat the {source} ({gain_name} {gain.estimate:+.2f} dB)"
    else:
        what = f"reaches {gain.estimate:+.2f} dB {gain_name}"
    return (f"> - **Caveat:** {run} whose best cell {what}: early training only, so the ranking is of how the "
            f"settings start, not of trained models.")


def verdict_box(study: Study, spec_path, column: str, ranked: dict | None, claims_line: str | None = None) -> str:
    """The box's Markdown, ending in a blank line. `column`: `findings.report_column`; `ranked`: `within.rank_within`'s
    result or None; `claims_line`: the earlier claims' tally (`report_claims`), when the spec names a claims file."""
    lines = [f"{TITLE} {study_question(study, spec_path)}"]
    best = select_best(study, study.cells)
    if best is None:
        lines.append("> - **Selected setting:** none: no cell has a finished trial that neither diverged nor collapsed.")
        return "\n".join(lines) + "\n"
    selected, gain, gain_name = _selected_line(study, best, column)
    lines.append(selected)
    lines += filter(None, [_hue_line(study, column), _within_line(study, ranked)])
    lines += _claim_lines(study, column)
    lines += filter(None, [claims_line])
    budget, steps, parameters = _budget(study, best)
    lines.append(budget)
    lines += filter(None, [_caveat(study, steps, parameters, gain, gain_name)])
    assert len(lines) <= MAX_LINES, lines  # one title, at most nine items: the layout above
    return "\n".join(lines) + "\n"
