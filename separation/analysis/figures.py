"""The report's figures: one PNG per kind, drawn from a collected `Study`.

Colours follow the hue factor (the optimizer whenever the optimizer varies).
Optimizers get a fixed colour from the sorted optimizer registry, so adam has
the same colour in every report; other hues take colours in study order.
Every figure function returns None when it drew its file, or the reason it
could not (its data does not exist in this study).
"""

from __future__ import annotations

import math
import textwrap
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display, safe in worker processes

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import NullFormatter, ScalarFormatter  # noqa: E402
import numpy as np  # noqa: E402

from separation.analysis.cells import profile_times, select_best, seed_values  # noqa: E402
from separation.analysis.collect import LOST, OUTCOMES, Study  # noqa: E402
from separation.analysis.evaluation import headline_baselines  # noqa: E402
from separation.analysis.stats import performance_profile, profile_taus  # noqa: E402

DPI = 120
PANEL = (4.8, 3.4)  # inches per panel
_OPTIMIZER_PALETTE = [*plt.get_cmap("tab10").colors, *plt.get_cmap("tab20b").colors[0::4]]
_OTHER_PALETTE = plt.get_cmap("Dark2").colors

plt.rcParams.update({"font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9, "legend.fontsize": 8})


def colours(study: Study) -> dict[str, tuple]:
    """Hue value -> colour."""
    values = list(dict.fromkeys(study.trials[study.hue]))
    if study.hue != "optimizer":
        return {v: _OTHER_PALETTE[i % len(_OTHER_PALETTE)] for i, v in enumerate(values)}
    from separation.optim import OPTIMIZERS

    order = sorted(set(OPTIMIZERS) | set(study.trials["optimizer_name"]))
    name_of = study.trials.drop_duplicates("optimizer").set_index("optimizer")["optimizer_name"]
    mapping, used = {}, set()
    spare = iter(range(len(order), 10_000))
    for value in values:
        index = order.index(name_of[value])
        if index in used:  # a second variant of one optimizer (other args): the next free colour
            index = next(spare)
        used.add(index)
        mapping[value] = _OPTIMIZER_PALETTE[index % len(_OPTIMIZER_PALETTE)]
    return mapping


def _unit(study: Study) -> str:
    return f"{study.headline.name} (dB)"


def _grid(n: int, size=PANEL, columns: int = 3):
    cols = min(columns, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(size[0] * cols, size[1] * rows), squeeze=False, layout="constrained")
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:n])


def _label_width(labels) -> float:
    """Inches that the longest tick label needs at the default font size."""
    return 0.3 + 0.068 * max((len(str(label)) for label in labels), default=0)


def _title(fig, text: str) -> None:
    fig.suptitle(textwrap.fill(text, max(40, int(fig.get_figwidth() / 0.075))))


def _save(fig, path: Path) -> None:
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)


def _cells(study: Study):
    return study.trials.drop_duplicates("cell").set_index("cell")


def _panels(study: Study, factors: list[str] | None = None) -> list[tuple[str, list[str]]]:
    """(title, cells) for every combination of the panel factors, in study order."""
    factors = study.panels if factors is None else factors
    cells = _cells(study)
    if not factors:
        return [("", list(cells.index))]
    panels: dict[str, list[str]] = {}
    for cell, row in cells.iterrows():
        title = " · ".join(f"{'sched' if f == 'scheduler' else 'clip' if f == 'clipping' else f} {row[f]}" for f in factors)
        panels.setdefault(title, []).append(cell)
    return list(panels.items())


def _quantile_curve(study: Study, trials: list[str], metric: str):
    """Steps and the median / 25th / 75th percentile across trials of one logged metric."""
    rows = study.steps[study.steps["trial"].isin(trials) & (study.steps["metric"] == metric)]
    if rows.empty:
        return None
    table = rows.pivot_table(index="step", columns="trial", values="value", aggfunc="last")
    values = table.to_numpy(dtype=float, copy=True)
    values[~np.isfinite(values)] = np.nan
    keep = np.isfinite(values).any(axis=1)
    if not keep.any():
        return None
    values = values[keep]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        q25, median, q75 = np.nanpercentile(values, [25, 50, 75], axis=1)
    return table.index.to_numpy()[keep], median, q25, q75


def _missing(study: Study, metric: str) -> str | None:
    """Why a figure of `metric` over steps cannot be drawn, or None when a finished trial logged it."""
    finished = study.trials.loc[study.trials["status"].isin(OUTCOMES), "trial"]
    if finished.empty:
        return "no trial has finished"
    if not study.steps.loc[study.steps["trial"].isin(finished), "metric"].eq(metric).any():
        return f"no finished trial logged {metric}"
    return None


def _trials_of(study: Study, cells: list[str], statuses=OUTCOMES) -> list[str]:
    rows = study.trials[study.trials["cell"].isin(cells) & study.trials["status"].isin(statuses)]
    return list(rows["trial"])


def _representatives(study: Study, cells: list[str]) -> dict[str, str]:
    """Per hue value among `cells`: its cell at the best learning rate (selected on validation)."""
    cell_rows = _cells(study)
    chosen = {}
    for value in dict.fromkeys(cell_rows.loc[cells, study.hue]):
        mine = [c for c in cells if cell_rows.loc[c, study.hue] == value]
        chosen[value] = select_best(study, mine) or mine[0]
    return chosen


def _legend_name(study: Study, value: str, cell: str) -> str:
    if "lr" in study.varying:
        return f"{value} (lr {_cells(study).loc[cell, 'lr']:g})"
    return str(value)


def _line_style(index: int) -> str:
    """Styles cycle with colours, so settings with identical curves (Adam and AdamW early on) stay visible."""
    return ("-", "--", "-.", ":")[index % 4]


def learning_curves(study: Study, path: Path) -> str | None:
    """Validation metric over steps, median across seeds with the interquartile band; one panel per setting."""
    metric = study.headline.val
    if _missing(study, metric):
        return _missing(study, metric)
    palette = colours(study)
    panels = _panels(study)
    fig, axes = _grid(len(panels))
    for ax, (title, cells) in zip(axes, panels):
        for index, (value, cell) in enumerate(_representatives(study, cells).items()):
            trials = _trials_of(study, [cell])
            curve = _quantile_curve(study, trials, metric)
            if curve is None:
                continue
            steps, median, q25, q75 = curve
            colour = palette[value]
            ax.plot(steps, median, color=colour, lw=1.6, linestyle=_line_style(index),
                    label=f"{_legend_name(study, value, cell)}, n={len(trials)}")
            ax.fill_between(steps, q25, q75, color=colour, alpha=0.2, lw=0)
            for trial in _trials_of(study, [cell], ("diverged",)):
                series = study.series(trial, metric)
                series = series[np.isfinite(series["value"])]
                if len(series):
                    ax.plot(series["step"].iloc[-1], series["value"].iloc[-1], "x", color=colour, ms=8, mew=2)
        ax.set_title(title or study.name)
        ax.set_xlabel("optimizer step")
        ax.set_ylabel(f"validation {_unit(study)}")
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right")
    suffix = " at its best learning rate (on validation)" if "lr" in study.varying else ""
    _title(fig, f"Learning curves: median over seeds, band = interquartile range, x = diverged trial's last value; each {study.hue}{suffix}")
    _save(fig, path)
    return None


def _status_note(study: Study, cell: str) -> str:
    counts = study.trials.loc[study.trials["cell"] == cell, "status"].value_counts()
    total = int(counts.sum())
    notes = [f"{int(counts[s])}/{total} {s}" for s in ("diverged", "collapsed", "failed", "interrupted", "missing") if counts.get(s, 0)]
    return f"  ({', '.join(notes)})" if notes else ""


def final_metric(study: Study, path: Path) -> str | None:
    """Box and strip plots of the final validation and test metric per cell, every seed visible."""
    palette = colours(study)
    cells = study.cells
    cell_rows = _cells(study)
    columns = [("val_final", "final validation")] + ([("test", "test")] if study.trials["test"].notna().any() else [])
    if not study.trials["status"].isin(OUTCOMES).any():
        return "no trial has finished"
    labels = [f"{c}{_status_note(study, c)}" for c in cells]
    references = headline_baselines(study)
    fig, axes = plt.subplots(1, len(columns), figsize=(_label_width(labels) + 4.2 * len(columns), 1.4 + 0.38 * len(cells)),
                             squeeze=False, sharey=True, layout="constrained")
    rng = np.random.default_rng(0)  # jitter only; fixed so figures are reproducible
    positions = np.arange(len(cells))[::-1]
    for ax, (column, split) in zip(axes.flat, columns):
        for y, cell in zip(positions, cells):
            colour = palette[cell_rows.loc[cell, study.hue]]
            values = seed_values(study, cell, column)
            if values.size:
                ax.boxplot(values, positions=[y], orientation="horizontal", widths=0.6, showfliers=False,
                           medianprops={"color": colour, "lw": 2}, boxprops={"color": colour}, whiskerprops={"color": colour},
                           capprops={"color": colour})
                ax.scatter(values, y + rng.uniform(-0.18, 0.18, values.size), color=colour, s=18, zorder=3, edgecolor="white", lw=0.5)
            diverged = int(((study.trials["cell"] == cell) & study.trials["status"].isin(LOST)).sum())
            if diverged:  # no final value that counts: an x per diverged or collapsed seed at the left edge
                ax.scatter(np.linspace(0.015, 0.015 + 0.02 * (diverged - 1), diverged), [y] * diverged, marker="x", color=colour,
                           s=40, lw=2, transform=ax.get_yaxis_transform(), zorder=3, clip_on=False)
        ax.set_yticks(positions, labels)
        ax.set_xlabel(f"{split} {_unit(study)}")
        ax.set_title(f"{split.capitalize()} {study.headline.name} per cell")
        ax.grid(axis="x", alpha=0.3)
        ax.set_ylim(-0.7, len(cells) - 0.3)
        if column == "test" and references:
            for i, (label, value, other) in enumerate(references):
                ax.axvline(value, color="0.3", lw=1.2, ls=("--", (0, (5, 2, 1, 2)), ":", (0, (8, 3)))[i % 4],
                           label=f"{label}{' (other data)' if other else ''}")
            ax.legend(loc="best", fontsize=7, framealpha=0.85)
    lines = ("; dashed = fixed baselines' mean " + study.headline.name + " from `separation evaluate`") if references and len(columns) > 1 else ""
    _title(fig, "Final metric per cell: box = quartiles over seeds, dots = seeds, x at the left = diverged or collapsed seed" + lines)
    _save(fig, path)
    return None


def _is_stepwise(lr: np.ndarray) -> bool:
    """Piecewise-constant schedules (step, plateau) change between few logged points; cosine changes at most."""
    if lr.size < 3:
        return True
    changed = np.abs(np.diff(lr)) > 1e-9 * np.abs(lr[:-1])
    return changed.mean() < 0.5


def learning_rate(study: Study, path: Path) -> str | None:
    """The learning rate over steps per scheduler, with a marker wherever a piecewise-constant schedule cut it."""
    if _missing(study, "train/lr"):
        return _missing(study, "train/lr")
    palette = colours(study)
    panels = _panels(study, ["scheduler"])
    fig, axes = _grid(len(panels))
    hue_of = dict(zip(study.trials["trial"], study.trials[study.hue]))
    for ax, (title, cells) in zip(axes, panels):
        seen = set()
        for trial in _trials_of(study, cells):
            series = study.series(trial, "train/lr")
            if series.empty:
                continue
            value = hue_of[trial]
            steps, lr = series["step"].to_numpy(), series["value"].to_numpy(dtype=float)
            ax.plot(steps, lr, color=palette[value], lw=1.2, alpha=0.7, label=None if value in seen else str(value))
            seen.add(value)
            if _is_stepwise(lr):
                drops = np.flatnonzero(np.diff(lr) < -1e-6 * lr[:-1]) + 1
                ax.plot(steps[drops], lr[drops], "v", color=palette[value], ms=6)
        rows = study.trials[study.trials["cell"].isin(cells) & study.trials["status"].isin(OUTCOMES)]
        reductions = rows["lr_reductions"].to_numpy(dtype=float)
        reductions = reductions[np.isfinite(reductions)]
        note = f"; LR cuts per trial: median {np.median(reductions):g}, max {reductions.max():g}" if reductions.size else ""
        ax.set_title(f"{title}{note}")
        ax.set_yscale("log")
        ax.set_xlabel("optimizer step")
        ax.set_ylabel("learning rate")
        ax.grid(alpha=0.3, which="major")
        if seen:
            ax.legend(loc="lower left")
    _title(fig, "Learning rate per trial; v = a reduction of a step or plateau schedule")
    _save(fig, path)
    return None


def grad_norms(study: Study, path: Path) -> str | None:
    """Gradient norm before (solid) and after (dashed) clipping per clipping setting, and the clipped fraction per cell."""
    if _missing(study, "train/grad_norm_pre_clip"):
        return _missing(study, "train/grad_norm_pre_clip")
    palette = colours(study)
    cell_rows = _cells(study)
    panels = _panels(study, ["clipping"])
    cells = study.cells
    fig = plt.figure(figsize=(PANEL[0] * len(panels) + _label_width(cells) + 4.0, max(PANEL[1], 1.0 + 0.3 * len(cells))), layout="constrained")
    grid = fig.add_gridspec(1, len(panels) + 1, width_ratios=[1] * len(panels) + [1.2])
    for i, (title, members) in enumerate(panels):
        ax = fig.add_subplot(grid[0, i])
        for value in dict.fromkeys(cell_rows.loc[members, study.hue]):
            trials = _trials_of(study, [c for c in members if cell_rows.loc[c, study.hue] == value], OUTCOMES)
            for metric, style in (("train/grad_norm_pre_clip", "-"), ("train/grad_norm_post_clip", "--")):
                curve = _quantile_curve(study, trials, metric)
                if curve is not None:
                    label = f"{value} {'before' if style == '-' else 'after'}"
                    ax.plot(curve[0], curve[1], style, color=palette[value], lw=1.2, label=label)
        row = cell_rows.loc[members[0]]
        if row["clipping_mode"] == "norm":
            ax.axhline(float(row["clipping_value"]), color="black", lw=0.8, ls=":", label="threshold")
        ax.set_yscale("log")
        ax.set_title(title or "gradient norm")
        ax.set_xlabel("optimizer step")
        ax.set_ylabel("global gradient norm (median over trials)")
        ax.grid(alpha=0.3, which="major")
        ax.legend(loc="upper right")
    ax = fig.add_subplot(grid[0, -1])
    table = study.trials[study.trials["status"].isin(OUTCOMES)].groupby("cell", sort=False)["clip_rate"].mean()
    positions = np.arange(len(cells))[::-1]
    rates = [100 * table.get(c, np.nan) for c in cells]
    ax.barh(positions, np.nan_to_num(rates), color=[palette[cell_rows.loc[c, study.hue]] for c in cells])
    ax.set_yticks(positions, cells)
    ax.yaxis.tick_right()
    ax.set_xlabel("clipped steps (% of logged steps, mean over seeds)")
    ax.set_title("How often clipping acted")
    ax.grid(axis="x", alpha=0.3)
    _title(fig, "Gradient norm before (solid) and after (dashed) clipping")
    _save(fig, path)
    return None


def time_to_target(study: Study, path: Path) -> str | None:
    """Training seconds to each target per cell: a dot per seed that reached it, x for those that did not."""
    if not study.targets:
        return "the study sets no targets"
    finished = study.trials[study.trials["status"].isin(OUTCOMES)]
    if finished.empty:
        return "no trial has finished"
    palette = colours(study)
    cell_rows = _cells(study)
    cells = study.cells
    positions = np.arange(len(cells))[::-1]
    fig, axes = plt.subplots(1, len(study.targets), figsize=(_label_width(cells) + 4.6 * len(study.targets), 1.4 + 0.38 * len(cells)),
                             squeeze=False, sharey=True, layout="constrained")
    for ax, key in zip(axes.flat, study.targets):
        column = finished[f"seconds_to[{key}]"].to_numpy(dtype=float)
        finite = column[np.isfinite(column)]
        right = 1.15 * finite.max() if finite.size else 1.0
        for y, cell in zip(positions, cells):
            colour = palette[cell_rows.loc[cell, study.hue]]
            seconds = finished.loc[finished["cell"] == cell, f"seconds_to[{key}]"].to_numpy(dtype=float)
            reached = seconds[np.isfinite(seconds)]
            ax.scatter(reached, [y] * reached.size, color=colour, s=22, zorder=3)
            if reached.size * 2 > seconds.size:  # a finite median: more than half the seeds reached it
                ax.plot([np.median(seconds)] * 2, [y - 0.3, y + 0.3], color="black", lw=1.5)
            missed = seconds.size - reached.size
            if missed:
                ax.scatter([right * 1.04] * missed, [y] * missed, marker="x", color=colour, s=40, lw=2, clip_on=False)
            ax.text(1.02, y, f"{reached.size}/{seconds.size}", transform=ax.get_yaxis_transform(), va="center", fontsize=8)
        ax.set_xlim(0, right * 1.08)
        ax.set_yticks(positions, cells)
        ax.set_ylim(-0.7, len(cells) - 0.3)
        ax.set_xlabel("training seconds to target (validation time excluded)")
        ax.set_title(f"Time to {key} dB (right: seeds reached / finished)")
        ax.grid(axis="x", alpha=0.3)
    _title(fig, "Time to target: dot = seed, bar = median, x at the right = never reached (or diverged first)")
    _save(fig, path)
    return None


def performance_profiles(study: Study, path: Path) -> str | None:
    """AlgoPerf performance profiles: fraction of problems solved within a factor tau of the fastest."""
    if not study.targets:
        return "the study sets no targets"
    methods, problems, times = profile_times(study)
    if len(methods) < 2:
        return f"only one {study.hue}: a profile compares several"
    palette = colours(study)
    taus = profile_taus(times)
    profile = performance_profile(times, taus)
    fig, ax = plt.subplots(figsize=(6.4, 4.2), layout="constrained")
    for method, row in zip(methods, profile):
        ax.step(taus, row, where="post", color=palette[method], lw=1.8, label=str(method))
    ax.set_xscale("log")
    ax.set_xticks([t for t in (1, 1.25, 1.5, 2, 3, 5, 10, 20, 50, 100, 1000) if t <= taus[-1]])
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_ylim(-0.03, 1.03)
    ax.set_xlabel("tau: time relative to the fastest on each problem")
    ax.set_ylabel("fraction of problems reached within tau")
    ax.set_title(f"Performance profiles over {len(problems)} problem(s) (setting x target), training seconds")
    ax.grid(alpha=0.3, which="major")
    ax.legend(loc="lower right")
    _save(fig, path)
    return None


def lr_sensitivity(study: Study, path: Path) -> str | None:
    """Final validation metric against learning rate (log axis) per optimizer, one panel per other setting."""
    cell_rows = _cells(study)
    swept = cell_rows.groupby("optimizer")["lr"].nunique()
    if not (swept > 1).any():
        return "the study sweeps no learning rate (one per optimizer)"
    palette = colours(study)
    panels = _panels(study, [f for f in study.varying if f not in ("optimizer", "lr", study.hue)])
    fig, axes = _grid(len(panels))
    for ax, (title, cells) in zip(axes, panels):
        for index, value in enumerate(dict.fromkeys(cell_rows.loc[cells, study.hue])):
            mine = sorted((c for c in cells if cell_rows.loc[c, study.hue] == value), key=lambda c: cell_rows.loc[c, "lr"])
            colour = palette[value]
            lrs, medians = [], []
            for cell in mine:
                lr = cell_rows.loc[cell, "lr"]
                values = seed_values(study, cell, "val_final")
                ax.scatter([lr] * values.size, values, color=colour, s=16, alpha=0.6)
                if values.size:
                    lrs.append(lr)
                    medians.append(np.median(values))
                diverged = int(((study.trials["cell"] == cell) & study.trials["status"].isin(LOST)).sum())
                if diverged:
                    ax.scatter([lr], [0.03], marker="x", color=colour, s=50, lw=2, transform=ax.get_xaxis_transform(), clip_on=False)
            ax.plot(lrs, medians, marker="o", linestyle=_line_style(index), color=colour, lw=1.5, ms=4, label=str(value))
        ax.set_xscale("log")
        ax.set_title(title or "LR sensitivity")
        ax.set_xlabel("learning rate")
        ax.set_ylabel(f"final validation {_unit(study)}")
        ax.grid(alpha=0.3, which="major")
        ax.legend(loc="best")
    _title(fig, "LR sensitivity: dots = seeds, line = median, x at the bottom = diverged or collapsed seeds at that LR")
    _save(fig, path)
    return None


def ranking_over_steps(study: Study, path: Path) -> str | None:
    """Kendall tau of the early ranking against the final one, by validation metric and by training loss."""
    from separation.analysis.ranking import FIRST_LOSS_STEP, early_ranking

    analysis = early_ranking(study)
    if isinstance(analysis, str):
        return analysis
    fig, ax = plt.subplots(figsize=(6.4, 4.0), layout="constrained")
    for index, (source, colour) in enumerate((("validation", "C0"), ("training loss", "C3"))):
        points = analysis.at(source)
        if not points:
            continue
        steps = [p.step for p in points]
        ax.plot(steps, [p.tau.estimate for p in points], marker="o", ms=4, color=colour, linestyle=_line_style(index),
                label=f"by {'validation ' + study.headline.name if source == 'validation' else 'training loss'}")
        ax.fill_between(steps, [p.tau.low for p in points], [p.tau.high for p in points], color=colour, alpha=0.15, lw=0)
    if analysis.stable_from is not None:
        ax.axvline(analysis.stable_from, color="C0", lw=0.8, ls=":", label=f"top cell final from step {analysis.stable_from}")
    ax.axvline(FIRST_LOSS_STEP, color="grey", lw=0.8, ls="--", label=f"step {FIRST_LOSS_STEP}")
    ax.axhline(0, color="black", lw=0.6)
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.set_ylim(-1.05, 1.05)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("Kendall tau with the final ranking")
    ax.set_title(f"{len(analysis.cells)} cells, up to {analysis.seeds} seeds each; band = 95% bootstrap over seeds")
    ax.grid(alpha=0.3, which="major")
    ax.legend(loc="lower right")
    _save(fig, path)
    return None


# (file name, function, caption) in report order.
FIGURES = (
    ("learning_curves.png", learning_curves, "Validation learning curves (median over seeds, interquartile band)."),
    ("final_metric.png", final_metric, "Final validation and test metric per cell, every seed shown."),
    ("learning_rate.png", learning_rate, "Learning rate over training per scheduler; markers where a reduction fired."),
    ("grad_norms.png", grad_norms, "Gradient norm before and after clipping, and the fraction of clipped steps."),
    ("time_to_target.png", time_to_target, "Training time to each target per cell."),
    ("performance_profile.png", performance_profiles, "Performance profiles (AlgoPerf) of time to target."),
    ("lr_sensitivity.png", lr_sensitivity, "Final validation metric against learning rate."),
    ("early_ranking.png", ranking_over_steps, "Kendall tau between the ranking of cells at each point of training and the final ranking."),
)


def draw_all(study: Study, folder: Path) -> list[tuple[str, str, str | None]]:
    """Draw every figure kind into `folder`; returns (file name, caption, reason skipped or None)."""
    folder.mkdir(parents=True, exist_ok=True)
    return [(name, caption, draw(study, folder / name)) for name, draw, caption in FIGURES]
