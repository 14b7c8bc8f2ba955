"""PULSE's table of an enhancement objectives study: per objective, its selected cell's full test evaluation over seeds.

    .venv/bin/python scripts/objectives_table.py results/enhance_objectives_field_{supervised,pu,mixit} --baseline results/enhance_baselines_field/noisy --baseline results/enhance_baselines_field/deepfilternet

Each folder is one committed report of one objective's LR sweep (REPORT.md naming its spec, trials.csv,
steps.csv, and the evaluation.csv that `separation evaluate-study` then `separation report` write). Per
folder, one row: the objective (every trial's resolved `objective.name`, from the spec the report names;
the folder's name where the configs have none), the cell the report selects (`cells.select_best`: best
conservative validation median), and that cell's SI-SNRi, PESQ, STOI (and SDRi where scored) from
evaluation.csv: mean over its evaluated seeds that finished without diverging or collapsing, with a 95%
percentile-bootstrap interval over those seeds (`stats.bootstrap_mean`). The row counts the cell's seeds
that have no evaluation and those it lost: diverged, collapsed, and "wrong source" (a MixIT run whose speech
estimate is the noise, recorded as collapsed with a reason `wrong source on ...`,
separation/evaluation/collapse.py). Beneath the table: per row, whether it beats the noisy input (the
`--baseline` folder named `noisy`; interval of the mean of each seed's SI-SNRi minus the noisy input's),
each later row against the first (difference of the seeds' means per score, 95% percentile bootstrap over
seeds, unpaired), and per study the lost trials over every LR with one of their reasons.

`--baseline DIR` (repeatable): a fixed method's `separation evaluate --baseline` folder, read from its
summary.json as a report reads a spec's baseline (the task's `evaluation_scores`) into a reference row; it
must have scored the items the studies' evaluations scored (item count, data root, split and sample rate
where it says them, compared as a report compares them: separation.analysis.evaluation.differences).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout's package, not an installed one

from separation.analysis.cells import select_best  # noqa: E402
from separation.analysis.compare import load_study, spec_named_by_report  # noqa: E402
from separation.analysis.evaluation import DATA_KEYS, differences, normalized, ok_rows  # noqa: E402
from separation.analysis.report_verdict import relation_to_input  # noqa: E402
from separation.analysis.stats import MIN_SEEDS, Interval, bootstrap_difference, bootstrap_mean  # noqa: E402
from separation.errors import UserError  # noqa: E402
from separation.outcomes import OK, Status  # noqa: E402
from separation.tasks import get_task  # noqa: E402

# (score name in evaluation.csv and a baseline's Evaluation, header, decimals, signed); SDRi only where scored.
SCORES = (("SI-SNRi", "SI-SNRi (dB)", 2, True), ("PESQ", "PESQ (wb)", 2, False),
          ("STOI", "STOI", 3, False), ("SDRi", "SDRi (dB)", 2, True))
REQUIRED = ("SI-SNRi", "PESQ", "STOI")
# WrongSourceProbe.reason's opening: a MixIT trial whose speech estimate is the noise is recorded as collapsed.
WRONG_SOURCE = "wrong source on "
NOISY = "noisy"
TASK = "enhance"  # whose baseline folders these are: the reader of their summary.json
LOST_KINDS = ("wrong source", "collapsed", "diverged")


class Row(NamedTuple):  # not a dataclass: tests load scripts without a sys.modules entry, which dataclasses need
    folder: Path
    study: str  # the report folder's name (a second phase's report may hold the first phase's study)
    objective: str
    cell: str
    scores: pd.DataFrame  # the cell's evaluation rows of seeds that finished well
    not_evaluated: int  # the cell's seeds that finished well with no evaluation row
    lost: dict[str, int]  # the cell's seeds by how they were lost (and any that did not finish)
    study_lost: dict[str, int]  # every trial of the study, the same way
    reason: str  # one lost trial's reason, for the note beneath the table
    trials: int


def _kind(status: str, reason: str) -> str | None:
    """How a trial was lost: 'wrong source', 'collapsed', 'diverged'; its status when it did not finish; None when it did well."""
    if status in OK or status == Status.PRUNED:
        return None
    if status == Status.COLLAPSED and reason.startswith(WRONG_SOURCE):
        return "wrong source"
    return str(status)


def _losses(trials: pd.DataFrame) -> dict[str, int]:
    kinds = [_kind(s, r) for s, r in zip(trials["status"], trials["reason"])]
    counts = {kind: kinds.count(kind) for kind in LOST_KINDS}
    counts.update({kind: kinds.count(kind) for kind in dict.fromkeys(kinds) if kind is not None and kind not in counts})
    return counts


def _example_reason(trials: pd.DataFrame) -> str:
    """The reason of the first wrong-source trial, else of the first collapsed, else diverged one ("" when none)."""
    kinds = [_kind(s, r) for s, r in zip(trials["status"], trials["reason"])]
    for wanted in LOST_KINDS:
        reasons = [r for kind, r in zip(kinds, trials["reason"]) if kind == wanted and r]
        if reasons:
            return reasons[0]
    return ""


def _objective(study, folder: Path) -> str:
    names = sorted({str((config.get("objective") or {}).get("name")) for config in study.configs.values()
                    if (config.get("objective") or {}).get("name")})
    if len(names) > 1:
        raise SystemExit(f"{folder / 'trials.csv'}: trials of several objectives ({', '.join(names)}); expected one study per objective")
    return names[0] if names else folder.name


def study_row(folder: Path) -> Row:
    """One report folder's row: its objective, selected cell, and that cell's evaluated and lost seeds."""
    try:
        spec = spec_named_by_report(folder)
    except UserError as error:  # its own text offers a --spec option this script has not
        raise SystemExit(f"{folder / 'REPORT.md'}: {str(error).split(': ', 1)[-1].split('; give it')[0]}; expected a "
                         "report whose Reproduce block names its spec (`separation grid experiments/<study>.yaml`)")
    try:
        study = load_study(folder, spec)
    except UserError as error:
        raise SystemExit(str(error))
    except (OSError, ValueError, KeyError) as error:  # pandas' parser and empty-file errors are ValueErrors
        raise SystemExit(f"{folder}: unreadable report tables ({type(error).__name__}: {error}); expected a folder written by `separation report`")
    path = folder / "evaluation.csv"
    if not path.is_file():  # the study's name, not the folder's, names its runs (a second phase may share the first's)
        raise SystemExit(f"{path}: no such file; run `separation evaluate-study runs/{study.name}` then `separation report`")
    missing = [name for name in REQUIRED if name not in study.evaluations]
    if missing:
        raise SystemExit(f"{path}: no {missing[0]} column; expected an enhancement study's evaluation.csv")
    cell = select_best(study, study.cells)
    if cell is None:
        raise SystemExit(f"{folder / 'trials.csv'}: no cell has a finished trial that neither diverged nor collapsed")
    scores = ok_rows(study, cell)
    trials = study.by_cell[cell]
    finished_well = trials[trials["status"].isin(OK)]
    if scores.empty:
        raise SystemExit(f"{path}: the selected cell `{cell}` has no evaluated seed; run `separation evaluate-study "
                         f"runs/{study.name} --only-missing` then `separation report`")
    return Row(folder, folder.name, _objective(study, folder), cell, scores,
               not_evaluated=int((~finished_well["trial"].isin(scores["trial"])).sum()), lost=_losses(trials),
               study_lost=_losses(study.trials), reason=_example_reason(study.trials), trials=len(study.trials))


def _data(rows: list[Row]) -> dict[str, str]:
    """What the studies' evaluations scored (root, split, items, sample rate); they must agree."""
    records = [record for row in rows
               for record in row.scores.rename(columns={"data_root": "root", "data_split": "split"}).to_dict("records")]
    scored = [{key: normalized(key, record[key]) for key in DATA_KEYS} for record in records]
    data = {}
    for key in DATA_KEYS:
        values = {d[key] for d in scored if d[key] is not None}
        if len(values) > 1:
            raise SystemExit(f"{', '.join(str(r.folder / 'evaluation.csv') for r in rows)}: the selected cells were scored "
                             f"on different {key.replace('_', ' ')}s ({' / '.join(sorted(values))}): not the same items")
        if values:
            data[key] = values.pop()
    return data


def read_baseline(folder: Path, data: dict[str, str]) -> dict[str, float]:
    """A fixed baseline's scores over all items (summary.json), checked to have scored the studies' items."""
    task = get_task(TASK)
    path = folder / task.evaluation_file
    try:
        evaluation = task.evaluation_scores(folder)
    except UserError as error:
        raise SystemExit(str(error))
    if evaluation is None:
        raise SystemExit(f"{path}: no such file; expected the {task.evaluation_file} of `separation evaluate --baseline`")
    found = differences({key: normalized(key, evaluation.data.get(key)) for key in DATA_KEYS}, [data])
    if found:
        raise SystemExit(f"{path}: {'; '.join(found)}: not the same items")  # "items 105 vs the trials' 106"
    return {name: value for name, value in evaluation.scores.items() if math.isfinite(value)}


def _number(value: float, digits: int, signed: bool) -> str:
    return f"{value:{'+' if signed else ''}.{digits}f}"


def _interval(interval: Interval, digits: int, signed: bool) -> str:
    """`+4.49 [+4.26, +4.58]`; the mean alone under MIN_SEEDS seeds (no interval)."""
    if not np.isfinite(interval.estimate):
        return "n/a"
    text = _number(interval.estimate, digits, signed)
    if np.isfinite(interval.low):
        text += f" [{_number(interval.low, digits, signed)}, {_number(interval.high, digits, signed)}]"
    return text


def _values(row: Row, name: str) -> np.ndarray:
    values = row.scores[name].to_numpy(dtype=float) if name in row.scores else np.array([])
    return values[np.isfinite(values)]


def _counted(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {kind}" for kind, n in counts.items() if n) or "none"


def _beats(row: Row, noisy: float) -> str:
    """The sentence on the noisy input: the mean over seeds of (seed SI-SNRi - the noisy input's), with its interval."""
    gain = bootstrap_mean(_values(row, "SI-SNRi") - noisy)
    text = f"{gain.estimate:+.2f} dB SI-SNRi " + (f"[95% CI {gain.low:+.2f}, {gain.high:+.2f}]" if np.isfinite(gain.low)
                                                 else f"(no interval: fewer than {MIN_SEEDS} seeds)")
    relation = relation_to_input(gain)  # the verdict's rule, pass-through included
    if relation == "beats":
        return f"beats the noisy input by {text}"
    if relation == "pass-through":
        return f"the same as the noisy input, a pass-through ({text})"
    return f"does not beat the noisy input ({text})"


def _against_first(rows: list[Row], shown) -> list[str]:
    """Each later row against the first (the reference objective): difference of means over seeds, per score,
    with a 95% percentile-bootstrap interval (`stats.bootstrap_difference`, unpaired, statistic the mean)."""
    first = rows[0]
    lines = []
    for row in rows[1:]:
        parts = []
        for name, _, digits, _ in shown:
            a, b = _values(first, name), _values(row, name)
            if min(a.size, b.size) < MIN_SEEDS:
                continue
            d = bootstrap_difference(a, b, statistic=np.mean)
            parts.append(f"{name} {d.estimate:+.{digits}f} [{d.low:+.{digits}f}, {d.high:+.{digits}f}]"
                         + (" resolved" if d.resolved else ""))
        text = "; ".join(parts) if parts else f"no interval (fewer than {MIN_SEEDS} scored seeds)"
        lines.append(f"- {first.objective} ({first.study}) minus {row.objective} ({row.study}): {text}.")
    if not lines:
        return []
    return ["Each objective against the first row (mean over seeds of the first minus the other's, 95% percentile "
            "bootstrap over seeds; resolved: the interval excludes 0):"] + lines + [""]


def table(folders: list[Path], baselines: list[Path] = ()) -> str:
    rows = [study_row(folder) for folder in folders]
    data = _data(rows)
    references = {folder.name: read_baseline(folder, data) for folder in baselines}
    shown = [s for s in SCORES if s[0] in REQUIRED or any(s[0] in r.scores for r in rows)]
    lines = ["| objective | study | selected cell (on validation) | seeds scored | lost seeds | "
             + " | ".join(f"{header} mean [95% CI]" for _, header, _, _ in shown) + " |",
             "|---|---|---|---:|---|" + "---:|" * len(shown)]
    for row in rows:
        seeds = f"{len(row.scores)}" + (f" ({row.not_evaluated} not evaluated)" if row.not_evaluated else "")
        lines.append(f"| {row.objective} | {row.study} | `{row.cell}` | {seeds} | {_counted(row.lost)} | "
                     + " | ".join(_interval(bootstrap_mean(_values(row, name)), digits, signed)
                                  for name, _, digits, signed in shown) + " |")
    for name, scores in references.items():
        lines.append(f"| {name} (baseline) | | | | | " + " | ".join(
            _number(scores[key], digits, signed) if key in scores else "n/a" for key, _, digits, signed in shown) + " |")
    described = ", ".join(f"{key.replace('_', ' ')} {value}" for key, value in data.items())
    lines += ["", f"Scores: `separation evaluate` on {described}; per objective, the mean over the selected cell's seeds "
              "that finished without diverging or collapsing, 95% percentile-bootstrap interval over those seeds "
              f"(none under {MIN_SEEDS}); baselines are fixed methods scored once on the same items.", ""]
    if NOISY in references:
        if "SI-SNRi" not in references[NOISY]:
            raise SystemExit(f"{baselines[[f.name for f in baselines].index(NOISY)] / get_task(TASK).evaluation_file}: no SI-SNRi mean")
        lines += [f"- {row.objective} (`{row.cell}`): {_beats(row, references[NOISY]['SI-SNRi'])}." for row in rows] + [""]
    lines += _against_first(rows, shown)
    lines.append("Lost trials over every LR of each study (wrong source: MixIT's speech estimate is the noise, recorded as collapsed):")
    for row in rows:
        quoted = f"; e.g. \"{row.reason}\"" if row.reason else ""
        lines.append(f"- {row.study} ({row.objective}): {row.trials} trials, {row.study_lost['wrong source']} wrong source, "
                     f"{row.study_lost['collapsed']} collapsed, {row.study_lost['diverged']} diverged"
                     + "".join(f", {n} {kind}" for kind, n in list(row.study_lost.items())[3:] if n) + quoted)
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="+", type=Path, help="report folders, one per objective (results/<study>)")
    parser.add_argument("--baseline", action="append", default=[], type=Path,
                        help="a fixed baseline's evaluation folder (summary.json); repeatable; one named `noisy` adds the sentence on the noisy input")
    args = parser.parse_args(argv)
    sys.stdout.write(table(args.folders, args.baseline))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
