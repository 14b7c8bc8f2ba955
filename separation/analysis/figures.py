"""The report's figures: one PNG per kind, drawn from a collected `Study`.

Colours follow the hue factor (the optimizer whenever the optimizer varies).
Optimizers get a fixed colour from the sorted optimizer registry, so adam has
the same colour in every report; other hues take colours in study order.
Every figure function returns None when it drew its file, or the reason it
could not (its data does not exist in this study).

Every figure is read beside its caption in REPORT.md, which says what the
marks mean: a figure has one short title, its legend sits outside the data,
panels and bars with nothing to show are left out, curves a reader cannot
tell apart are named together in the legend (`overlapping`), and the PNG is
at least MIN_WIDTH pixels wide, the width of a README page.

One file of about 800 lines on purpose: the eight figures share one style
(colours, line styles per hue, legend placement, overlap detection, atomic
saving) and one set of study readers (panels, quantile curves, lost seeds),
about 30 private helpers; split by figure, each file would import those
helpers from the others, and the style would no longer live in one place.
"""

from __future__ import annotations

import io
import math
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display, safe in worker processes

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.legend_handler import HandlerTuple  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import NullFormatter, ScalarFormatter  # noqa: E402
import numpy as np  # noqa: E402

from separation.analysis.cells import profile_times, select_best, seed_values  # noqa: E402
from separation.analysis.evaluation import headline_baselines  # noqa: E402
from separation.analysis.stats import performance_profile, profile_taus  # noqa: E402
from separation.analysis.study import Study, decays_every_step  # noqa: E402
from separation.atomic import write_bytes_atomic  # noqa: E402
from separation.outcomes import LOST, OUTCOMES  # noqa: E402

DPI = 150
MIN_WIDTH = 1000  # pixels: a figure is read at the width of a README page, not zoomed
PANEL = (4.8, 3.4)  # inches per panel
# Two curves closer than this share of their axis' span (at nearly every point) draw as one line at PANEL's size.
OVERLAP = 0.005
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


# --- curves a reader cannot tell apart -------------------------------------------------------------

Curve = tuple[np.ndarray, np.ndarray]  # (x, y) as drawn


def _axis_values(y, log: bool) -> np.ndarray:
    """y as the axis spaces it: log10 on a log axis (where a non-positive value is not drawn)."""
    y = np.asarray(y, dtype=float)
    if not log:
        return np.where(np.isfinite(y), y, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(np.isfinite(y) & (y > 0), np.log10(y), np.nan)


def _compare(a: Curve, b: Curve, tolerance: float) -> tuple[bool, bool]:
    """(the curves draw as one line, they are equal within float tolerance)."""
    (xa, ya), (xb, yb) = a, b
    if xa.shape != xb.shape or not np.allclose(xa, xb) or not np.array_equal(np.isnan(ya), np.isnan(yb)):
        return False, False
    drawn = ~np.isnan(ya)
    if not drawn.any():
        return False, False
    gap = np.abs(ya[drawn] - yb[drawn])
    # A sliver at a few noisy points (gradient norms) still reads as one line; a curve apart for 5% of its points does not.
    close = np.quantile(gap, 0.95) <= tolerance and gap.max() <= 5 * tolerance
    return bool(close), bool(np.allclose(ya[drawn], yb[drawn], rtol=1e-9, atol=1e-12))


def _pair_up(a: list[Curve], b: list[Curve], tolerance: float) -> tuple[bool, bool]:
    """Whether every curve of `a` overlaps its own curve of `b` (identical pairs matched first), and all pairs are identical."""
    if not a or len(a) != len(b):
        return False, False
    left, identical = list(b), True
    for curve in a:
        checks = [_compare(curve, other, tolerance) for other in left]
        match = next((i for i, (close, same) in enumerate(checks) if same), None)
        if match is None:
            match = next((i for i, (close, _) in enumerate(checks) if close), None)
        if match is None:
            return False, False
        identical &= checks[match][1]
        del left[match]
    return True, identical


def overlapping(curves: dict[str, list[Curve]], log: bool = False) -> list[tuple[list[str], bool]]:
    """Groups of two or more keys whose curves a reader cannot tell apart, each with whether they are identical.

    Each key has its curves `(x, y)` as drawn on one axis (log: a log y axis). Two keys overlap when their
    curves pair up one to one, each pair at the same x and within OVERLAP of the span of all the curves' y (in
    log10 on a log axis) at 95% of the points, and within five times that at every point; identical when every
    pair is also equal within float tolerance.
    A key joins the first group whose first key it overlaps, so a group never chains unlike curves.
    """
    spaced = {key: [(np.asarray(x, dtype=float), _axis_values(y, log)) for x, y in group] for key, group in curves.items()}
    values = np.concatenate([y[~np.isnan(y)] for group in spaced.values() for _, y in group] or [np.empty(0)])
    if not values.size:
        return []
    span = float(np.ptp(values)) or max(float(np.abs(values).max()), 1.0)
    groups: list[tuple[list[str], bool]] = []
    for key, group in spaced.items():
        for index, (members, identical) in enumerate(groups):
            close, same = _pair_up(spaced[members[0]], group, OVERLAP * span)
            if close:
                groups[index] = ([*members, key], identical and same)
                break
        else:
            groups.append(([key], True))
    return [(members, identical) for members, identical in groups if len(members) > 1]


def _group_label(labels: list[str], identical: bool) -> str:
    sign, note = ("=", "identical curves") if identical else ("≈", "curves overlap")
    if sum(map(len, labels)) <= 36:
        return f" {sign} ".join(labels) + f" ({note})"
    return f"\n{sign} ".join(labels) + f"\n({note})"


def _merged(entries: list[tuple[str, object, str]], curves: dict[str, list[Curve]], log: bool = False):
    """Legend (handles, labels) from (key, handle, label) entries: keys whose curves overlap share one entry,
    with every member's handle and a label such as 'adam = adamw (identical curves)'."""
    groups = overlapping(curves, log)
    group_of = {key: index for index, (members, _) in enumerate(groups) for key in members}
    handle_of = {key: handle for key, handle, _ in entries}
    label_of = {key: label for key, _, label in entries}
    handles, labels, done = [], [], set()
    for key, handle, label in entries:
        index = group_of.get(key)
        if index is None:
            handles.append(handle)
            labels.append(label)
        elif index not in done:
            done.add(index)
            members, identical = groups[index]
            handles.append(tuple(handle_of[m] for m in members))
            labels.append(_group_label([label_of[m] for m in members], identical))
    return handles, labels


# --- layout ------------------------------------------------------------------------------------------

_HANDLERS = {tuple: HandlerTuple(ndivide=None)}


def _grid(n: int, size=PANEL, columns: int = 2):
    cols = min(columns, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(size[0] * cols, size[1] * rows), squeeze=False, layout="constrained")
    for ax in axes.flat[n:]:
        ax.remove()
    return fig, list(axes.flat[:n])


def _label_width(labels) -> float:
    """Inches that the longest tick label needs at the default font size."""
    return 0.3 + 0.068 * max((len(str(label)) for label in labels), default=0)


def _legends(fig, axes, per_axis: list[tuple[list, list[str]]], notes: list[tuple[object, str]] = ()) -> None:
    """Legends outside the data: one right of the panels when every panel lists the same entries, else one right
    of each panel. `notes` (handle, label) say what the marks mean; they join the shared legend, or stand below."""
    notes = list(notes)
    shared = all(labels == per_axis[0][1] for _, labels in per_axis)
    if shared:
        handles, labels = per_axis[0] if per_axis else ([], [])
        entries = [*zip(handles, labels), *notes]
        if entries:
            make_room(fig, [fig.legend(*zip(*entries), loc="outside right upper", handler_map=_HANDLERS)], 1, 0)
        return
    right = [ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0, handler_map=_HANDLERS)
             for ax, (handles, labels) in zip(axes, per_axis) if handles]
    columns = len({ax.get_subplotspec().colspan.start for ax, (handles, _) in zip(axes, per_axis) if handles})
    make_room(fig, right, columns, 0)
    if notes:
        make_room(fig, [fig.legend(*zip(*notes), loc="outside lower center", ncols=min(len(notes), 3), handler_map=_HANDLERS)], 0, 1)


def make_room(fig, legends, columns: int, rows: int) -> None:
    """Widen the figure by `columns` legend widths and heighten it by `rows` legend heights, so that legends
    outside the axes take space of their own instead of squeezing the panels."""
    if not legends:
        return
    renderer = fig.canvas.get_renderer()
    boxes = [legend.get_window_extent(renderer) for legend in legends]
    pad = 0.15  # inches between a legend and what it sits beside
    if columns:
        fig.set_figwidth(fig.get_figwidth() + columns * (max(b.width for b in boxes) / fig.dpi + pad))
    if rows:
        fig.set_figheight(fig.get_figheight() + rows * (max(b.height for b in boxes) / fig.dpi + pad))


def _title(fig, axes, text: str) -> None:
    """One short title: above a lone panel, with the panel's own name in brackets; else the figure's, above its panels."""
    if len(axes) == 1:
        own = axes[0].get_title()
        axes[0].set_title(f"{text} ({own})" if own else text)
    else:
        fig.suptitle(text)


def _mark(marker: str, colour="0.3", **style) -> Line2D:
    """A legend handle for a mark that is not a data series (a seed's dot, a diverged seed's x)."""
    return Line2D([], [], marker=marker, color=colour, linestyle="none", **style)


def save(fig, path: Path) -> None:
    """Write the figure as a PNG at least MIN_WIDTH pixels wide (the resolution rises for a narrow figure), atomically."""
    fig.canvas.draw()  # runs the layout, so the width measured is the width drawn
    inches = fig.get_tightbbox().width + 2 * plt.rcParams["savefig.pad_inches"]
    dpi = max(DPI, math.ceil((MIN_WIDTH + 2) / inches))
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    write_bytes_atomic(path, buffer.getvalue())


# --- study helpers -----------------------------------------------------------------------------------


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


def _lost(study: Study, cell: str) -> int:
    """Diverged or collapsed seeds of a cell: no final value that counts."""
    return int(((study.trials["cell"] == cell) & study.trials["status"].isin(LOST)).sum())


def _hues(study: Study, cells: list[str]) -> list[str]:
    """The hue values among `cells` in study order, so that every panel lists (and styles) them alike."""
    present = set(_cells(study).loc[cells, study.hue])
    return [value for value in dict.fromkeys(study.trials[study.hue]) if value in present]


def _style_of(study: Study) -> dict[str, str]:
    """Hue value -> line style, cycling with the colours in study order; the same in every panel."""
    return {value: _line_style(index) for index, value in enumerate(dict.fromkeys(study.trials[study.hue]))}


def _representatives(study: Study, cells: list[str]) -> dict[str, str]:
    """Per hue value among `cells`: its cell at the best learning rate (selected on validation)."""
    cell_rows = _cells(study)
    chosen = {}
    for value in _hues(study, cells):
        mine = [c for c in cells if cell_rows.loc[c, study.hue] == value]
        chosen[value] = select_best(study, mine) or mine[0]
    return chosen


def _line_style(index: int) -> str:
    """Styles cycle with colours, so settings with close curves stay visible."""
    return ("-", "--", "-.", ":")[index % 4]


# --- the figures -------------------------------------------------------------------------------------


def learning_curves(study: Study, path: Path) -> str | None:
    """Validation metric over steps, median across seeds with the interquartile band; one panel per setting."""
    metric = study.headline.val
    if _missing(study, metric):
        return _missing(study, metric)
    palette = colours(study)
    swept = "lr" in study.varying
    panels = []  # (title, [(value, label, curve, last values of diverged trials)])
    for title, cells in _panels(study):
        lines = []
        for value, cell in _representatives(study, cells).items():
            trials = _trials_of(study, [cell])
            curve = _quantile_curve(study, trials, metric)
            if curve is None:
                continue
            lost = []
            for trial in _trials_of(study, [cell], ("diverged",)):
                series = study.series(trial, metric)
                series = series[np.isfinite(series["value"])]
                if len(series):
                    lost.append((series["step"].iloc[-1], series["value"].iloc[-1]))
            details = f"lr {_cells(study).loc[cell, 'lr']:g}, " if swept else ""
            lines.append((value, f"{value} ({details}n={len(trials)})", curve, lost))
        if lines:
            panels.append((title, lines))
    if not panels:
        return f"no cell's selected setting logged {metric}"
    fig, axes = _grid(len(panels))
    style = _style_of(study)
    per_axis, any_lost = [], False
    for ax, (title, lines) in zip(axes, panels):
        entries, curves = [], {}
        for value, label, (steps, median, q25, q75), lost in lines:
            colour = palette[value]
            (handle,) = ax.plot(steps, median, color=colour, lw=1.6, linestyle=style[value])
            ax.fill_between(steps, q25, q75, color=colour, alpha=0.2, lw=0)
            for step, last in lost:
                ax.plot(step, last, "x", color=colour, ms=8, mew=2)
            any_lost |= bool(lost)
            entries.append((value, handle, label))
            curves[value] = [(steps, median)]
        ax.set_title(title)
        ax.set_xlabel("optimizer step")
        ax.set_ylabel(f"validation {_unit(study)}")
        ax.grid(alpha=0.3)
        per_axis.append(_merged(entries, curves))
    notes = [(Patch(color="0.5", alpha=0.3, lw=0), "interquartile range over seeds")]
    if any_lost:
        notes.append((_mark("x", ms=8, mew=2), "diverged trial's last value"))
    _legends(fig, axes, per_axis, notes)
    _title(fig, axes, "Validation learning curves")
    save(fig, path)
    return None


def _status_note(study: Study, cell: str) -> str:
    counts = study.trials.loc[study.trials["cell"] == cell, "status"].value_counts()
    total = int(counts.sum())
    notes = [f"{int(counts[s])}/{total} {s}" for s in ("diverged", "collapsed", "failed", "interrupted", "missing") if counts.get(s, 0)]
    return f"  ({', '.join(notes)})" if notes else ""


def final_metric(study: Study, path: Path) -> str | None:
    """Box and strip plots of the final validation and test metric per cell, every seed visible."""
    if not study.trials["status"].isin(OUTCOMES).any():
        return "no trial has finished"
    palette = colours(study)
    cell_rows = _cells(study)
    columns = [("val_final", "final validation")] + ([("test", "test")] if study.trials["test"].notna().any() else [])
    # A cell with no seed to show (all failed, missing or running) is left out; the status table counts it.
    cells = [c for c in study.cells if _lost(study, c) or any(seed_values(study, c, column).size for column, _ in columns)]
    labels = [f"{c}{_status_note(study, c)}" for c in cells]
    references = headline_baselines(study)
    fig, axes = plt.subplots(1, len(columns), figsize=(_label_width(labels) + 4.2 * len(columns), 1.4 + 0.38 * len(cells)),
                             squeeze=False, sharey=True, layout="constrained")
    rng = np.random.default_rng(0)  # jitter only; fixed so figures are reproducible
    positions = np.arange(len(cells))[::-1]
    notes, any_lost = [], False
    for ax, (column, split) in zip(axes.flat, columns):
        for y, cell in zip(positions, cells):
            colour = palette[cell_rows.loc[cell, study.hue]]
            values = seed_values(study, cell, column)
            if values.size:
                ax.boxplot(values, positions=[y], orientation="horizontal", widths=0.6, showfliers=False,
                           medianprops={"color": colour, "lw": 2}, boxprops={"color": colour}, whiskerprops={"color": colour},
                           capprops={"color": colour})
                ax.scatter(values, y + rng.uniform(-0.18, 0.18, values.size), color=colour, s=18, zorder=3, edgecolor="white", lw=0.5)
            lost = _lost(study, cell)
            if lost:  # no final value that counts: an x per diverged or collapsed seed at the left edge
                any_lost = True
                ax.scatter(np.linspace(0.015, 0.015 + 0.02 * (lost - 1), lost), [y] * lost, marker="x", color=colour,
                           s=40, lw=2, transform=ax.get_yaxis_transform(), zorder=3, clip_on=False)
        ax.set_yticks(positions, labels)
        ax.set_xlabel(f"{split} {_unit(study)}")
        ax.set_title(f"{split.capitalize()} {study.headline.name}" + ("" if len(columns) > 1 else " per cell"))
        ax.grid(axis="x", alpha=0.3)
        ax.set_ylim(-0.7, len(cells) - 0.3)
        if column == "test" and references:
            for i, (label, value, other) in enumerate(references):
                line = ax.axvline(value, color="0.3", lw=1.2, ls=("--", (0, (5, 2, 1, 2)), ":", (0, (8, 3)))[i % 4])
                notes.append((line, f"{label}{' (other data)' if other else ''}: mean {study.headline.name}"))
    notes = [(_mark("o", ms=5), "seed"), (Patch(fill=False, edgecolor="0.3"), "quartiles over seeds (line: median)"),
             *([(_mark("x", ms=7, mew=2), "diverged or collapsed seed")] if any_lost else []), *notes]
    make_room(fig, [fig.legend(*zip(*notes), loc="outside lower center", ncols=min(len(notes), 3))], 0, 1)
    if len(columns) > 1:
        fig.suptitle("Final metric per cell")
    save(fig, path)
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
    hue_of = dict(zip(study.trials["trial"], study.trials[study.hue]))
    panels = []  # (title, {hue value: distinct curves})
    for title, cells in _panels(study, [f for f in ("scheduler",) if f in study.varying]):
        curves: dict[str, list[Curve]] = {}
        for trial in _trials_of(study, cells):
            series = study.series(trial, "train/lr")
            if series.empty:
                continue
            curve = (series["step"].to_numpy(), series["value"].to_numpy(dtype=float))
            mine = curves.setdefault(hue_of[trial], [])
            if not any(np.array_equal(curve[0], s) and np.array_equal(curve[1], v) for s, v in mine):  # seeds share a schedule
                mine.append(curve)
        if curves:
            rows = study.trials[study.trials["cell"].isin(cells) & study.trials["status"].isin(OUTCOMES)]
            reductions = rows["lr_reductions"].to_numpy(dtype=float)
            reductions = reductions[np.isfinite(reductions)]
            note = f"LR cuts per trial: median {np.median(reductions):g}, max {reductions.max():g}" if reductions.size else ""
            if decays_every_step(rows):
                note = "LR changes every step"  # a continuous decay: its per-epoch count is no count of cuts
            panels.append(("; ".join(filter(None, [title, note])), curves))
    if not panels:
        return "no finished trial logged train/lr"
    fig, axes = _grid(len(panels))
    style = _style_of(study)
    per_axis, any_cut = [], False
    for ax, (title, curves) in zip(axes, panels):
        entries = []
        for value in (v for v in style if v in curves):  # study order
            colour, lines = palette[value], curves[value]
            for steps, lr in lines:
                (handle,) = ax.plot(steps, lr, color=colour, lw=1.2, alpha=0.8, linestyle=style[value])
                if _is_stepwise(lr):
                    drops = np.flatnonzero(np.diff(lr) < -1e-6 * lr[:-1]) + 1
                    ax.plot(steps[drops], lr[drops], "v", color=colour, ms=6)
                    any_cut |= bool(drops.size)
            if study.hue != "scheduler":  # else the panel's title names it
                entries.append((value, handle, str(value)))
        ax.set_title(title)
        ax.set_yscale("log")
        ax.set_xlabel("optimizer step")
        ax.set_ylabel("learning rate")
        ax.grid(alpha=0.3, which="major")
        per_axis.append(_merged(entries, curves, log=True))
    notes = [(_mark("v", ms=6), "a step or plateau schedule's cut")] if any_cut else []
    _legends(fig, axes, per_axis, notes)
    _title(fig, axes, "Learning rate per trial")
    save(fig, path)
    return None


def grad_norms(study: Study, path: Path) -> str | None:
    """Gradient norm before (solid) and after (dashed) clipping per clipping setting, and the clipped fraction per cell."""
    if _missing(study, "train/grad_norm_pre_clip"):
        return _missing(study, "train/grad_norm_pre_clip")
    palette = colours(study)
    cell_rows = _cells(study)
    panels = []  # (title, clipping row, {hue value: [before, after when clipping acts]})
    panel_cells = {}  # title -> the panel's cells
    for title, members in _panels(study, [f for f in ("clipping",) if f in study.varying]):
        panel_cells[title] = members
        row = cell_rows.loc[members[0]]
        metrics = ["train/grad_norm_pre_clip"] + (["train/grad_norm_post_clip"] if row["clipping_mode"] != "none" else [])
        curves: dict[str, list[Curve]] = {}
        for value in _hues(study, members):
            trials = _trials_of(study, [c for c in members if cell_rows.loc[c, study.hue] == value])
            found = [_quantile_curve(study, trials, metric) for metric in metrics]
            if found[0] is not None:
                curves[value] = [(c[0], c[1]) for c in found if c is not None]
        if curves:
            panels.append((title, row, curves))
    # Bars only for cells whose clipping can act (without clipping the rate is 0 by construction).
    finished = study.trials[study.trials["status"].isin(OUTCOMES)]
    rates = finished.groupby("cell", sort=False)["clip_rate"].mean()
    clipped = [c for c in study.cells if cell_rows.loc[c, "clipping_mode"] != "none" and np.isfinite(rates.get(c, np.nan))]
    if not panels:
        return "no finished trial logged train/grad_norm_pre_clip"
    bars = 1.2 + 0.3 * len(clipped) if clipped else 0  # inches: the clipped-steps bars sit below the curves
    width = max(PANEL[0] * len(panels), _label_width(clipped) + 5.0 if clipped else 0)
    fig = plt.figure(figsize=(width, PANEL[1] + bars), layout="constrained")
    grid = fig.add_gridspec(2 if clipped else 1, len(panels), height_ratios=[PANEL[1], bars] if clipped else None)
    axes, per_axis, any_after, any_threshold = [], [], False, False
    for i, (title, row, curves) in enumerate(panels):
        ax = fig.add_subplot(grid[0, i])
        axes.append(ax)
        entries = []
        for value, lines in curves.items():
            colour = palette[value]
            (handle,) = ax.plot(*lines[0], "-", color=colour, lw=1.2)
            if len(lines) > 1:
                ax.plot(*lines[1], "--", color=colour, lw=1.2)
                any_after = True
            entries.append((value, handle, str(value)))
        if row["clipping_mode"] == "norm":
            ax.axhline(float(row["clipping_value"]), color="black", lw=0.8, ls=":")
            any_threshold = True
        elif row["clipping_mode"] == "autoclip":
            # AutoClip's threshold moves (a percentile of the norms so far): its logged curve, median over trials.
            threshold = _quantile_curve(study, _trials_of(study, list(panel_cells[title])), "train/clip_threshold")
            if threshold is not None:
                ax.plot(threshold[0], threshold[1], color="black", lw=0.8, ls=":")
                any_threshold = True
        ax.set_yscale("log")
        ax.set_title(title)
        ax.set_xlabel("optimizer step")
        ax.set_ylabel("global gradient norm (median over trials)")
        ax.grid(alpha=0.3, which="major")
        per_axis.append(_merged(entries, curves, log=True))
    notes = []
    if any_after:
        notes += [(Line2D([], [], color="0.3", ls="-"), "before clipping"), (Line2D([], [], color="0.3", ls="--"), "after clipping")]
    if any_threshold:
        notes.append((Line2D([], [], color="black", lw=0.8, ls=":"), "clipping threshold"))
    if clipped:
        ax = fig.add_subplot(grid[1, :])
        positions = np.arange(len(clipped))[::-1]
        ax.barh(positions, [100 * rates[c] for c in clipped], color=[palette[cell_rows.loc[c, study.hue]] for c in clipped])
        ax.set_yticks(positions, clipped)
        ax.set_xlim(0, 100)
        ax.set_xlabel("clipped steps (% of logged steps, mean over seeds)")
        ax.set_title("How often clipping acted")
        ax.grid(axis="x", alpha=0.3)
    _legends(fig, axes, per_axis, notes)
    _title(fig, axes + ([ax] if clipped else []), "Gradient norm")
    save(fig, path)
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
    cells = [c for c in study.cells if (finished["cell"] == c).any()]  # a cell with no finished seed has no row to show
    positions = np.arange(len(cells))[::-1]
    fig, axes = plt.subplots(1, len(study.targets), figsize=(_label_width(cells) + 4.6 * len(study.targets), 1.4 + 0.38 * len(cells)),
                             squeeze=False, sharey=True, layout="constrained")
    any_missed, any_median = False, False
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
                any_median = True
            missed = seconds.size - reached.size
            if missed:
                ax.scatter([right * 1.04] * missed, [y] * missed, marker="x", color=colour, s=40, lw=2, clip_on=False)
                any_missed = True
            ax.text(1.02, y, f"{reached.size}/{seconds.size}", transform=ax.get_yaxis_transform(), va="center", fontsize=8)
        ax.set_xlim(0, right * 1.08)
        ax.set_yticks(positions, cells)
        ax.set_ylim(-0.7, len(cells) - 0.3)
        ax.set_xlabel("training seconds to target (validation time excluded)")
        ax.set_title(f"Time to {key} dB")
        ax.grid(axis="x", alpha=0.3)
    notes = [(_mark("o", ms=5), "seed that reached the target"),
             *([(Line2D([], [], color="black", lw=1.5, marker="|", ms=10, ls="none"), "median over seeds")] if any_median else []),
             *([(_mark("x", ms=7, mew=2), "seed that never reached it (or diverged first)")] if any_missed else []),
             (_mark("$k/n$", ms=14), "right: seeds reached / finished")]
    make_room(fig, [fig.legend(*zip(*notes), loc="outside lower center", ncols=min(len(notes), 2))], 0, 1)
    if len(study.targets) > 1:
        fig.suptitle("Time to target")
    save(fig, path)
    return None


def performance_profiles(study: Study, path: Path) -> str | None:
    """AlgoPerf performance profiles: the fraction of problems each method reaches within a slack factor of the fastest."""
    if not study.targets:
        return "the study sets no targets"
    methods, problems, times = profile_times(study)
    if len(methods) < 2:
        return f"only one {study.hue}: a profile compares several"
    palette = colours(study)
    slack = profile_taus(times)
    profile = performance_profile(times, slack)
    fig, ax = plt.subplots(figsize=(6.4, 4.2), layout="constrained")
    entries, curves = [], {}
    style = _style_of(study)
    for method, row in zip(methods, profile):
        (handle,) = ax.step(slack, row, where="post", color=palette[method], lw=1.8, linestyle=style[method])
        entries.append((method, handle, str(method)))
        curves[method] = [(slack, row)]
    ax.set_xscale("log")
    ax.set_xticks([t for t in (1, 1.25, 1.5, 2, 3, 5, 10, 20, 50, 100, 1000) if t <= slack[-1]])
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_ylim(-0.03, 1.03)
    ax.set_xlabel("slack factor: time over the fastest time on the same problem")
    ax.set_ylabel("fraction of problems reached within the slack")
    ax.set_title(f"Performance profiles, {len(problems)} problem{'s' * (len(problems) != 1)} (setting × target)")
    ax.grid(alpha=0.3, which="major")
    _legends(fig, [ax], [_merged(entries, curves)])
    save(fig, path)
    return None


def lr_sensitivity(study: Study, path: Path) -> str | None:
    """Final validation metric against learning rate (log axis) per optimizer, one panel per other setting."""
    cell_rows = _cells(study)
    swept = cell_rows.groupby("optimizer")["lr"].nunique()
    if not (swept > 1).any():
        return "the study sweeps no learning rate (one per optimizer)"
    palette = colours(study)
    panels = []  # (title, cells) with at least one seed value or lost seed
    for title, cells in _panels(study, [f for f in study.varying if f not in ("optimizer", "lr", study.hue)]):
        if any(_lost(study, c) or seed_values(study, c, "val_final").size for c in cells):
            panels.append((title, cells))
    if not panels:
        return "no cell has a final validation value"
    fig, axes = _grid(len(panels))
    style = _style_of(study)
    per_axis, any_lost = [], False
    for ax, (title, cells) in zip(axes, panels):
        entries, curves = [], {}
        for value in _hues(study, cells):
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
                lost = _lost(study, cell)
                if lost:
                    any_lost = True
                    ax.scatter([lr], [0.03], marker="x", color=colour, s=50, lw=2, transform=ax.get_xaxis_transform(), clip_on=False)
            if lrs:
                (handle,) = ax.plot(lrs, medians, marker="o", linestyle=style[value], color=colour, lw=1.5, ms=4)
                entries.append((value, handle, str(value)))
                curves[value] = [(np.asarray(lrs, dtype=float), np.asarray(medians, dtype=float))]
            elif any(_lost(study, c) for c in mine):
                entries.append((value, _mark("x", colour, ms=7, mew=2), f"{value}: every seed lost"))
        swept_lrs = cell_rows.loc[cells, "lr"].to_numpy(dtype=float)
        ax.set_xscale("log")
        ax.set_xlim(swept_lrs.min() / 1.6, swept_lrs.max() * 1.6)  # every swept LR in view, its lost seeds' x too
        ax.set_title(title)
        ax.set_xlabel("learning rate")
        ax.set_ylabel(f"final validation {_unit(study)}")
        ax.grid(alpha=0.3, which="major")
        per_axis.append(_merged(entries, curves))
    notes = [(_mark("o", alpha=0.6, ms=4), "seed"), (Line2D([], [], color="0.3", marker="o", ms=4), "median over seeds")]
    if any_lost:
        notes.append((_mark("x", ms=7, mew=2), "diverged or collapsed seeds at that LR"))
    _legends(fig, axes, per_axis, notes)
    _title(fig, axes, "Final validation metric against learning rate")
    save(fig, path)
    return None


def ranking_over_steps(study: Study, path: Path) -> str | None:
    """Kendall tau of the early ranking against the final one, by validation metric and by training loss."""
    from separation.analysis.ranking import FIRST_LOSS_STEP, early_ranking

    analysis = early_ranking(study)
    if isinstance(analysis, str):
        return analysis
    fig, ax = plt.subplots(figsize=(6.4, 4.0), layout="constrained")
    handles, labels = [], []
    for index, (source, colour) in enumerate((("validation", "C0"), ("training loss", "C3"))):
        points = analysis.at(source)
        if not points:
            continue
        steps = [p.step for p in points]
        (handle,) = ax.plot(steps, [p.tau.estimate for p in points], marker="o", ms=4, color=colour, linestyle=_line_style(index))
        band = ax.fill_between(steps, [p.tau.low for p in points], [p.tau.high for p in points], color=colour, alpha=0.15, lw=0)
        handles.append((band, handle))
        labels.append(f"by {'validation ' + study.headline.name if source == 'validation' else 'training loss'} (band: 95% interval)")
    if analysis.stable_from is not None:
        handles.append(ax.axvline(analysis.stable_from, color="C0", lw=0.8, ls=":"))
        labels.append(f"top cell final from step {analysis.stable_from}")
    handles.append(ax.axvline(FIRST_LOSS_STEP, color="grey", lw=0.8, ls="--"))
    labels.append(f"step {FIRST_LOSS_STEP}")
    ax.axhline(0, color="black", lw=0.6)
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.set_ylim(-1.05, 1.05)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("Kendall's tau with the final ranking")
    ax.set_title("How early the ranking of cells can be read")
    ax.grid(alpha=0.3, which="major")
    make_room(fig, [fig.legend(handles, labels, loc="outside right upper", handler_map={tuple: HandlerTuple(ndivide=1)})], 1, 0)
    save(fig, path)
    return None


# (file name, function, caption) in report order: the caption says what the marks mean, so the figure need not.
FIGURES = (
    ("learning_curves.png", learning_curves,
     "Validation learning curves: median over seeds (line) and interquartile range (band); an x marks a diverged "
     "trial's last value. When the learning rate is swept, each colour is shown at its best learning rate (selected on "
     "validation). Settings whose curves draw as one line share a legend entry: `=` identical, `≈` within 0.5% of the "
     "axis."),
    ("final_metric.png", final_metric,
     "Final validation and test metric per cell: box = quartiles over seeds, dots = seeds, x at the left edge = a diverged "
     "or collapsed seed; vertical lines, when drawn, are fixed baselines' mean scores from `separation evaluate`."),
    ("learning_rate.png", learning_rate,
     "Learning rate over training per scheduler, one line per distinct schedule; a triangle marks each cut of a step or "
     "plateau schedule."),
    ("grad_norms.png", grad_norms,
     "Global gradient norm (median over trials) before (solid) and after (dashed) clipping, one panel per clipping "
     "setting, and the share of steps clipping acted on for each cell that clips."),
    ("time_to_target.png", time_to_target,
     "Training time to each target per cell: dot = a seed that reached it, bar = median (when more than half reached "
     "it), x at the right = a seed that never did (or diverged first); right margin: seeds reached / finished."),
    ("performance_profile.png", performance_profiles,
     "Performance profiles (AlgoPerf) of time to target: for each slack factor on the x axis (a time over the fastest "
     "time on the same problem; 1 = the fastest), the fraction of problems (setting × target) each method reached within "
     "that slack, in training seconds."),
    ("lr_sensitivity.png", lr_sensitivity,
     "Final validation metric against learning rate: dots = seeds, line = median over seeds, x at the bottom = "
     "diverged or collapsed seeds at that learning rate."),
    ("early_ranking.png", ranking_over_steps,
     "Kendall's tau between the ranking of cells at each point of training and the final ranking, with its 95% "
     "bootstrap interval over seeds (band)."),
)


def draw_all(study: Study, folder: Path) -> list[tuple[str, str, str | None]]:
    """Draw every figure kind into `folder`; returns (file name, caption, reason skipped or None)."""
    folder.mkdir(parents=True, exist_ok=True)
    return [(name, caption, draw(study, folder / name)) for name, draw, caption in FIGURES]
