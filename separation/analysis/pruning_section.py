"""The report's pruning section: what pruning would have cost this study, or what it pruned.

A study that ran every trial to its full budget gets the replay of a ladder of
rules (`separation.analysis.pruning`): a table, `pruning.csv` and a figure of
compute saved against regret. A study run with `pruning` in its spec says where
its trials stopped and the compute that saved.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from matplotlib.lines import Line2D
from matplotlib.patches import Patch
import numpy as np

from separation.analysis.figures import make_room, plt, save
from separation.analysis.pruning import FILE, GLOBAL, Outcome, replay_ladder, table
from separation.analysis.stats import LEVEL, MIN_SEEDS, RESAMPLES
from separation.analysis.study import Study
from separation.outcomes import OUTCOMES, Status

FIGURE = "pruning.png"
TITLE = "## What would pruning have cost?"
_MARKERS = {("halving", False): ("o", "halving within"), ("halving", True): ("s", "halving, global"),
            ("one short budget", True): ("^", "top-k after one short budget (global)")}


def safe(o: Outcome) -> bool:
    """The pruned study selects the full study's cell, and every optimizer keeps its final-best setting."""
    return o.selected == o.full_selected and all(survived for *_, survived in o.per_group.values())


def _regret_text(interval) -> str:
    if interval is None:
        return "gone"
    if not math.isfinite(interval.estimate):
        return "n/a"
    if interval.estimate == 0 and interval.low == 0 and interval.high == 0:
        return "0"
    bounds = f" [{interval.low:+.2f}, {interval.high:+.2f}]" if math.isfinite(interval.low) else ""
    return f"{interval.estimate:+.2f}{bounds}"


def _table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows])


def draw(outcomes: list[Outcome], path: Path, unit: str) -> None:
    """Compute saved against overall regret, one point per rule (bars: the bootstrap interval); below it, when
    the study compares optimizers (or another hue), how many kept their final-best setting under each rule."""
    groups = len(outcomes[0].per_group)
    fig, axes = plt.subplots(2 if groups else 1, 1, figsize=(6.4, 6.0 if groups else 4.2), sharex=True, squeeze=False,
                             gridspec_kw={"height_ratios": [2, 1]} if groups else None, layout="constrained")
    top = axes[0][0]
    shown = {}  # marker label -> a handle, for the legend of rule families
    for o in outcomes:
        marker, label = _MARKERS[(o.rule.family, o.rule.within == GLOBAL)]
        colour = "C0" if safe(o) else "C3"
        r = o.regret
        if math.isfinite(r.estimate):
            errors = [[r.estimate - r.low], [r.high - r.estimate]] if math.isfinite(r.low) else None
            top.errorbar(100 * o.saved, r.estimate, yerr=errors, fmt=marker, color=colour, capsize=3, markersize=6, alpha=0.85)
            shown.setdefault(label, Line2D([], [], marker=marker, color="0.3", linestyle="none", markersize=6))
        if groups:
            kept = sum(survived for *_, survived in o.per_group.values())
            axes[1][0].plot(100 * o.saved, kept, marker, color=colour, markersize=6, alpha=0.85)
    top.axhline(0, color="grey", linewidth=0.8)
    top.set_ylabel(f"regret of the selected cell\n({unit}, final validation)")
    top.set_title("Pruning rules replayed on this study's curves")
    colours = [(Patch(color="C0"), "same selection" + (", every final-best setting kept" if groups else "")),
               (Patch(color="C3"), "otherwise")]
    entries = [*((handle, label) for label, handle in shown.items()), *colours]
    make_room(fig, [fig.legend(*zip(*entries), loc="outside right upper")], 1, 0)
    if groups:
        axes[1][0].set_ylim(-0.3, groups + 0.3)
        axes[1][0].set_ylabel("final-best settings\nkept (of %d)" % groups)
    axes[-1][0].set_xlabel("compute saved (% of the study's optimizer steps)")
    save(fig, path)


def section(study: Study, out_dir: Path) -> str:
    """The section's markdown; writes pruning.csv and figures/pruning.png into `out_dir` when it replays."""
    if (study.trials["status"] == Status.PRUNED).any():
        return _pruned_study(study)
    outcomes = replay_ladder(study)
    lines = [TITLE, ""]
    if isinstance(outcomes, str):
        return "\n".join(lines + [f"Not replayed: {outcomes}.", ""])
    table(outcomes).to_csv(out_dir / FILE, index=False)
    (out_dir / "figures").mkdir(parents=True, exist_ok=True)
    draw(outcomes, out_dir / "figures" / FIGURE, "dB")
    groups = list(outcomes[0].per_group)
    pruning = [o for o in outcomes if o.saved > 0]  # a rule within groups of one cell prunes nothing
    safe_rules = [o for o in pruning if safe(o)]
    best = max(safe_rules, key=lambda o: o.saved) if safe_rules else None
    riskiest = max((o for o in pruning if not safe(o)), key=lambda o: o.saved, default=None)
    kept = f", every {study.hue}'s final-best setting kept" if groups else ""
    if best is not None:
        lines.append(f"**{len(safe_rules)} of the {len(pruning)} rules that prune anything would have been safe on this "
                     f"study** (same selected cell{kept}); the one saving the most, *{best.rule.name}*, saves "
                     f"{100 * best.saved:.0f}% of the optimizer steps.")
    else:
        lines.append(f"**None of the {len(pruning)} rules that prune anything would have been safe on this study**: "
                     f"each changes the selected cell" + (f" or drops some {study.hue}'s final-best setting" if groups else "") + ".")
    if riskiest is not None:
        lost = [g for g, (*_, survived) in riskiest.per_group.items() if not survived]
        lines.append(f"The rule saving the most among the unsafe ones, *{riskiest.rule.name}* "
                     f"({100 * riskiest.saved:.0f}% saved), selects `{riskiest.selected}` (regret "
                     f"{_regret_text(riskiest.regret)} dB)" + (f" and loses the final-best setting of {', '.join(lost)}" if lost else "") + ".")
    lines += ["", f"Each rule is replayed on this study's validation curves (`steps.csv`) as a pruned grid would have run "
              f"it: at each rung (optimizer steps, at validation points), within each group the cells are ranked by the "
              f"median over seeds of the last validation {study.headline.name} before the rung, and the best fraction "
              f"`keep` goes on; the survivors are selected among as the study selects. Compute saved: the share of "
              f"optimizer steps not trained. Regret: the selected cell's conservative median final validation "
              f"{study.headline.name} below the full study's (dB; {LEVEL:.0%} percentile bootstrap over seeds, "
              f"{RESAMPLES:,} resamples, none under {MIN_SEEDS} seeds; 0: the same cell; negative: a cell with a higher median "
              f"over fewer seeds, where the full study selects among cells run over {MIN_SEEDS} or more)"
              + (f"; per {study.hue}: its best surviving cell against its final-best one ('gone': none of its cells "
                 f"survived)" if groups else "") + ". `separation.analysis.pruning` states the rules; every row is in "
              f"`{FILE}`.", ""]
    header = ["rule", "compute saved", "selected", "regret (dB) [95% CI]"]
    if groups:
        header += ["final-best kept", *groups]
    rows = []
    for o in outcomes:
        row = [o.rule.name, f"{100 * o.saved:.0f}%", f"`{o.selected}`", _regret_text(o.regret)]
        if groups:
            kept = sum(survived for *_, survived in o.per_group.values())
            row += [f"{kept}/{len(groups)}", *(_regret_text(o.per_group[g][2]) for g in groups)]
        rows.append(row)
    lines += [_table(header, rows), "", f"Full study's selection: `{outcomes[0].full_selected}`.", "",
              f"![Compute saved against regret](figures/{FIGURE})", ""]
    return "\n".join(lines)


def _pruned_study(study: Study) -> str:
    trials = study.trials
    pruned = trials[trials["status"] == Status.PRUNED]
    lines = ["## Pruning", ""]
    finished = trials[trials["status"].isin(OUTCOMES)]
    budget = float(np.nanmax(finished["steps"].to_numpy(dtype=float))) if len(finished) else float("nan")
    spent = trials.loc[trials["status"].isin((*OUTCOMES, Status.PRUNED)), "steps"].to_numpy(dtype=float)
    counted = len(spent)
    saved = 1 - np.nansum(spent) / (counted * budget) if counted and math.isfinite(budget) else float("nan")
    rungs = study.spec.pruning if study.spec is not None else None
    rule = (f" (rungs {', '.join(map(str, rungs.steps))} steps, keep {rungs.keep:g} of the cells within each "
            f"{rungs.within} by the median {rungs.metric} over seeds)") if rungs is not None else ""
    lines.append(f"This study was pruned{rule}: {len(pruned)} of {len(trials)} trials stopped at a rung; "
                 f"{len(finished)} trained to the full budget ({budget:g} steps). It trained "
                 f"{100 * (1 - saved):.0f}% of the optimizer steps the unpruned grid would have (saved "
                 f"{100 * saved:.0f}%). Pruned trials count in the status table only; no statistic above uses them, and "
                 "the replay of pruning rules needs a full-budget study.")
    lines.append("")
    rows = []
    for (steps, hue), group in pruned.groupby([pruned["steps"].astype(int), study.hue], sort=True):
        medians = [re.search(r"cell median \S+ (\S+),", str(r)) for r in group["reason"]]
        cells = list(dict.fromkeys(group["cell"]))
        values = {c: m.group(1) for c, m in zip(group["cell"], medians) if m}
        rows.append([steps, hue, len(group), "; ".join(f"`{c}` ({values.get(c, 'n/a')})" for c in cells)])
    lines += [_table(["rung (steps)", study.hue, "trials", "cells pruned (cell median at the rung)"], rows), ""]
    return "\n".join(lines)
