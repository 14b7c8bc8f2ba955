"""Did an early study's claims survive a longer budget? One row per claim: held, flipped or unresolved.

A claim names one comparison in an early study and the same comparison in a long one (`A - B`, cells
as the reports label them, or as `separation compare` names them: `optimizer=rmsprop`). Each side's
difference of medians and its 95% bootstrap interval are read from the study's `comparisons.csv` (the
row for A against B, or for B against A with the sign flipped and the interval swapped); a pair the
report did not compare is computed from the study's own tables exactly as `separation compare` does
(`compare.run_compare`), so no statistic is re-implemented here. Where a compared cell lost seeds
(diverged or collapsed), the interval counting them at the worst value is used, as the reports'
verdicts use it (`findings.decisive`).

The verdict rule (`verdict`): the claim's direction is the sign of the early difference.
- *held*: the long interval excludes 0 on the same side as the early difference;
- *flipped*: the long interval excludes 0 on the opposite side;
- *unresolved*: the long interval contains 0 (or there is none: fewer than 3 seeds).
When the early interval itself contained 0, a resolved long verdict says so: *held (now resolved)*,
*flipped (now resolved)*; the early direction was then only the sign of its point estimate. An early
difference of exactly 0 (or none: no finished seed) has no direction: a resolved long one reads
*resolved, no early direction*.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from separation.analysis.compare import load_study, run_compare
from separation.analysis.findings import decisive
from separation.analysis.stats import Interval
from separation.configuration.reading import read_yaml
from separation.errors import ConfigError, UserError

FOOTNOTE = (
    "A - B in dB: difference of medians over seeds, 95% percentile-bootstrap interval over seeds "
    "(counting diverged or collapsed seeds at the worst value where a cell lost any, as the reports do); "
    "*resolved*: the interval excludes 0. Verdict: *held* where the long interval excludes 0 on the side of "
    "the early difference, *flipped* where it excludes 0 on the other side, *unresolved* where it contains 0 "
    "or there is none (fewer than 3 seeds); *(now resolved)* marks a claim whose early interval contained 0, "
    "so its direction was only the early point estimate's sign."
)
TOP_KEYS = ("early", "long", "claims")
SIDE_KEYS = ("label", "results")
CLAIM_KEYS = ("claim", "early", "long")
PAIR_KEYS = ("study", "a", "b")


@dataclass(frozen=True)
class Budget:
    label: str  # "256 steps"
    results: Path  # the folder holding the studies' report folders


@dataclass(frozen=True)
class Pair:
    study: str  # a report folder under the budget's results folder
    a: str
    b: str


@dataclass(frozen=True)
class Claim:
    text: str
    early: Pair
    long: Pair


@dataclass(frozen=True)
class Plan:
    early: Budget
    long: Budget
    claims: tuple[Claim, ...]


# A - B on one budget: estimate and 95% interval (NaN bounds: fewer than 3 seeds), the report's own type.
Difference = Interval


def _mapping(value, keys: tuple[str, ...], where: str, strings: tuple[str, ...] = ()) -> dict:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a mapping with keys {', '.join(keys)}")
    unknown = [key for key in value if key not in keys]
    if unknown:
        raise ConfigError(f"{where}: unknown key '{unknown[0]}'; allowed: {', '.join(keys)}")
    missing = [key for key in keys if key not in value]
    if missing:
        raise ConfigError(f"{where}: missing key '{missing[0]}'")
    for key in strings:
        if not (isinstance(value[key], str) and value[key].strip()):
            raise ConfigError(f"{where}.{key}: expected a non-empty string, got {value[key]!r}")
    return value


def parse_plan(data: dict, where: str = "verdicts") -> Plan:
    """The claims file's mapping as a Plan; ConfigError naming the key on anything else."""
    data = _mapping(data, TOP_KEYS, where)
    budgets = {}
    for side in ("early", "long"):
        entry = _mapping(data[side], SIDE_KEYS, f"{where}: {side}", SIDE_KEYS)
        budgets[side] = Budget(entry["label"], Path(entry["results"]))
    if not isinstance(data["claims"], list) or not data["claims"]:
        raise ConfigError(f"{where}: claims: expected a non-empty list of claims")
    claims = []
    for i, item in enumerate(data["claims"]):
        entry = _mapping(item, CLAIM_KEYS, f"{where}: claims[{i}]", ("claim",))
        pairs = [Pair(**_mapping(entry[side], PAIR_KEYS, f"{where}: claims[{i}].{side}", PAIR_KEYS))
                 for side in ("early", "long")]
        claims.append(Claim(entry["claim"], *pairs))
    return Plan(budgets["early"], budgets["long"], tuple(claims))


def read_plan(path: str | Path) -> Plan:
    return parse_plan(read_yaml(path), str(path))


def _from_row(row: pd.Series, reversed_: bool) -> Difference:
    # The report's verdicts rest on the interval counting lost seeds where there is one; so does this table.
    conservative = "difference_conservative" in row and pd.notna(row["difference_conservative"])
    suffix = "_conservative" if conservative else ""
    estimate, low, high = (float(row[f"{name}{suffix}"]) for name in ("difference", "ci_low", "ci_high"))
    return Difference(-estimate, -high, -low) if reversed_ else Difference(estimate, low, high)


def read_difference(folder: Path, a: str, b: str, metric: str = "test", studies: dict | None = None) -> Difference:
    """A - B in the report folder `folder`: its comparisons.csv row (either order), else computed from its tables.

    `studies` keeps the studies loaded for computing, by folder, so a table loads each once.
    """
    if not folder.is_dir():
        raise UserError(f"{folder}: no such study folder (expected a report folder with comparisons.csv)")
    table_path = folder / "comparisons.csv"
    if table_path.is_file():
        table = pd.read_csv(table_path)
        missing = [column for column in ("a", "b", "metric", "difference", "ci_low", "ci_high") if column not in table]
        if missing:
            raise UserError(f"{table_path}: no column '{missing[0]}'; expected the comparisons.csv of `separation report`")
        table = table[table["metric"] == metric]
        for first, second, reversed_ in ((a, b, False), (b, a, True)):
            rows = table[(table["a"] == first) & (table["b"] == second)]
            if len(rows):
                return _from_row(rows.iloc[0], reversed_)
    if not (folder / "trials.csv").is_file():
        raise UserError(f"{folder}: comparisons.csv has no {metric} comparison of '{a}' and '{b}', "
                        "and there is no trials.csv to compute it from")
    studies = {} if studies is None else studies
    try:
        if folder not in studies:
            studies[folder] = load_study(folder)
        study = studies[folder]
        for name in (a, b):
            if "=" not in name and name not in study.by_cell:  # a label, not factors: say which labels there are
                raise UserError(f"no cell '{name}'; its cells: {'; '.join(study.cells)}")
        result = run_compare(study, a, b, column=metric)
    except UserError as error:
        raise UserError(f"{folder}: {error}") from None
    c = result.comparison
    if c.n_a == 0 or c.n_b == 0:
        lacking = a if c.n_a == 0 else b
        raise UserError(f"{folder}: '{lacking}' has no finished seed that neither diverged nor collapsed")
    return decisive(c)


def verdict(early: Difference, long: Difference) -> str:
    """held / flipped / unresolved (see the module docstring), '(now resolved)' where the early one was not."""
    if not long.resolved:
        return "unresolved"
    if not math.isfinite(early.estimate) or early.estimate == 0:
        return "resolved, no early direction"
    same = (long.low > 0) == (early.estimate > 0)
    word = "held" if same else "flipped"
    return word if early.resolved else f"{word} (now resolved)"


def _number(value: float) -> str:
    return f"{value:+.2f}" if math.isfinite(value) else "n/a"


def format_difference(d: Difference) -> str:
    bounds = f" [{_number(d.low)}, {_number(d.high)}]" if math.isfinite(d.low) else " [no interval]"
    return f"{_number(d.estimate)}{bounds}, {'resolved' if d.resolved else 'not resolved'}"


@dataclass(frozen=True)
class Row:
    claim: Claim
    early: Difference
    long: Difference
    verdict: str


def verdict_rows(plan: Plan, metric: str = "test", folders: dict[Path, Path] | None = None,
                 unavailable: list[tuple[Claim, str]] | None = None, known: dict[Path, object] | None = None) -> list[Row]:
    """Each claim's two differences and its verdict.

    `folders` maps a study folder (resolved) to the one to read instead: a report being written reads its own
    new tables from its temporary folder, not the committed ones it replaces. With `unavailable` (a list), a
    claim whose study or cells cannot be read yet (a later phase not reported) is appended there with the
    reason and left out, instead of stopping the table. `known`: studies already collected, by the folder
    they would be loaded from (the report's own study, whose REPORT.md is not written yet).
    """
    folders = {Path(k).resolve(): Path(v) for k, v in (folders or {}).items()}

    def where(results: Path, study: str) -> Path:
        folder = results / study
        return folders.get(folder.resolve(), folder)

    rows, studies = [], dict(known or {})
    for claim in plan.claims:
        try:
            early = read_difference(where(plan.early.results, claim.early.study), claim.early.a, claim.early.b,
                                    metric, studies)
            long = read_difference(where(plan.long.results, claim.long.study), claim.long.a, claim.long.b,
                                   metric, studies)
        except UserError as error:
            if unavailable is None:
                raise
            unavailable.append((claim, str(error)))
            continue
        rows.append(Row(claim, early, long, verdict(early, long)))
    return rows


def format_table(plan: Plan, rows: list[Row], metric: str = "test") -> str:
    """The Markdown table, one row per claim, and its footnote."""
    header = (f"| claim | early ({plan.early.label}): A - B [95% CI] dB | long ({plan.long.label}): A - B [95% CI] dB "
              "| verdict |")
    lines = [header, "|---|---|---|---|"]
    for row in rows:
        text = row.claim.text.replace("|", "\\|")
        lines.append(f"| {text} | {format_difference(row.early)} | {format_difference(row.long)} | {row.verdict} |")
    split = "test" if metric == "test" else "validation"
    return "\n".join([*lines, "", f"Metric: {split}. {FOOTNOTE}"]) + "\n"


def build_table(plan: Plan, metric: str = "test") -> str:
    """The Markdown table of `verdict_rows`."""
    return format_table(plan, verdict_rows(plan, metric), metric)


def format_unavailable(unavailable: list[tuple[Claim, str]]) -> str:
    """The claims `verdict_rows` could not read yet, as a Markdown list under a sentence ('' when none)."""
    if not unavailable:
        return ""
    lines = ["Not computed yet (their study or cells cannot be read):", ""]
    return "\n".join(lines + [f"- {claim.text}: {reason}" for claim, reason in unavailable]) + "\n"


def tally(rows: list[Row]) -> str:
    """'2 held, 0 flipped, 3 unresolved': the verdicts counted ('(now resolved)' ones under their word)."""
    words = ("held", "flipped", "unresolved")
    counts = [f"{sum(row.verdict.startswith(word) for row in rows)} {word}" for word in words]
    other = sum(not row.verdict.startswith(words) for row in rows)
    return ", ".join(counts + ([f"{other} resolved with no early direction"] if other else []))
