"""The report's figures are readable: wide enough for a README, legends naming curves that hide each other, no empty panel.

A small synthetic study (trial folders, no training): adam and adamw log exactly the same values, sgd_momentum
other ones; every trial with clipping failed, so the clipping panels and the clipped-steps bars have nothing to show.
"""

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from separation.analysis import figures
from separation.analysis.figures import MIN_WIDTH, overlapping
from separation.analysis.report import write_report
from separation.config import config_to_dict
from separation.grid.spec import load_spec

BASE = """
task: speech
model: {name: svoice, args: {enc_dim: 16, kernel_size: 4, hidden_size: 8, num_repeats: 1}}
data: {root: data/speech, segment_seconds: 1.0, batch_size: 4}
trainer: {max_epochs: 4, log_every_n_steps: 2}
"""

SPEC = """# Do adam and adamw differ?
study: twins
description: Synthetic study for the figure tests.
base: base.yaml
axes:
  optimizer:
    - {name: adam, lr: 1.0e-3}
    - {name: adamw, lr: 1.0e-3}
    - {name: sgd_momentum, lr: [0.01, 0.1]}
  clipping: [{mode: none}, {mode: norm, value: 5}]
  seed: [0, 1, 2]
targets: {val/si_snri: [5]}
"""

STEPS_PER_EPOCH, EPOCHS = 10, 4


def final_value(config) -> float:
    """adam and adamw end alike to the last bit; sgd_momentum lower, by its learning rate."""
    family = 6.0 if config.optimizer.name in ("adam", "adamw") else {0.01: 4.0, 0.1: 3.0}[config.optimizer.lr]
    return family + 0.25 * config.seed


def write_trial(folder, trial) -> None:
    """config.yaml, metrics.csv, meta.json and DONE of a completed trial, or of a failed one when it clips."""
    config = trial.config
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(yaml.safe_dump({**config_to_dict(config), "run_dir": str(folder)}, sort_keys=False))
    failed = config.clipping.mode != "none"
    meta = {"id": trial.id, "study": "twins", "axes": trial.overrides, "git_commit": "abc123", "versions": {"torch": "2.11.0"},
            "device": "cpu: x86_64, 1 threads", "engine": "local", "packing": 1, "start": "2026-01-01T10:00:00+00:00",
            "attempts": 1, "status": "failed" if failed else "completed", "end": "2026-01-01T10:02:00+00:00"}
    if failed:
        meta["reason"] = "RuntimeError: out of memory"
        (folder / "error.log").write_text("RuntimeError: out of memory\n")
        (folder / "meta.json").write_text(json.dumps(meta))
        (folder / "DONE").write_text(json.dumps({"status": "failed", "end": meta["end"]}))
        return
    final = final_value(config)
    val = [final * (epoch + 1) / EPOCHS for epoch in range(EPOCHS)]
    scale = 2.0 if config.optimizer.name == "sgd_momentum" else 1.0
    rows, reached = [], {}
    for epoch in range(EPOCHS):
        for step in range(epoch * STEPS_PER_EPOCH + 2, (epoch + 1) * STEPS_PER_EPOCH + 1, 2):
            norm = scale * (20 / (1 + step / 10) + config.seed)
            for metric, value in (("train/lr", config.optimizer.lr), ("train/loss_step", -val[epoch]),
                                  ("train/grad_norm_pre_clip", norm), ("train/grad_norm_post_clip", norm),
                                  ("train/clipped", 0.0), ("train/sec_per_step", 0.05), ("epoch", epoch)):
                rows.append((step, metric, value, 1000.0 + step))
        step = (epoch + 1) * STEPS_PER_EPOCH
        for metric, value in (("val/loss", -val[epoch]), ("val/si_snr", val[epoch]), ("val/si_snri", val[epoch])):
            rows.append((step, metric, value, 1000.5 + step))
        if val[epoch] >= 5 and not reached:
            reached["val/si_snri>=5"] = {"step": step, "epoch": epoch, "train_seconds": 0.05 * step, "val_seconds": 0.1 * epoch,
                                         "value": val[epoch]}
    rows += [(step, "test/si_snri", final - 0.5, 2000.0), (step, "test/si_snr", final + 2.5, 2000.0)]
    pd.DataFrame(rows, columns=["step", "metric", "value", "wall_time"]).to_csv(folder / "metrics.csv", index=False)
    metrics = {"val/si_snri": val[-1], "val/loss": -val[-1], "test/si_snri": final - 0.5, "test/si_snr": final + 2.5}
    meta.update(reason=None, result={
        "status": "completed", "reason": None, "global_step": EPOCHS * STEPS_PER_EPOCH, "epochs": EPOCHS,
        "train_seconds": 0.05 * EPOCHS * STEPS_PER_EPOCH, "val_seconds": 0.1 * EPOCHS, "metrics": metrics,
        "time_to_target": reached, "lr_reductions": 0, "final_lr": config.optimizer.lr, "skipped_steps": 0})
    (folder / "meta.json").write_text(json.dumps(meta))
    (folder / "DONE").write_text(json.dumps({"status": "completed", "end": meta["end"]}))


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """The report's folder, and every figure the figure functions drew, by file name."""
    root = tmp_path_factory.mktemp("twins")
    (root / "base.yaml").write_text(BASE)
    (root / "twins.yaml").write_text(SPEC)
    for trial in load_spec(root / "twins.yaml").trials:
        write_trial(root / "runs" / "twins" / trial.id, trial)
    drawn, save = {}, figures.save

    def keep(fig, path):
        drawn[path.name] = fig
        save(fig, path)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(figures, "save", keep)
        write_report(root / "runs" / "twins", root / "results" / "twins", root / "twins.yaml")
    return {"out": root / "results" / "twins", "drawn": drawn}


def test_every_png_of_the_report_is_readable_at_readme_width(report):
    pngs = sorted((report["out"] / "figures").glob("*.png"))
    assert {p.name for p in pngs} >= {"learning_curves.png", "grad_norms.png", "lr_sensitivity.png", "performance_profile.png",
                                       "pruning.png"}
    for png in pngs:
        width, _ = Image.open(png).size
        assert width >= MIN_WIDTH, f"{png.name} is {width} px wide"


def _legend_texts(fig) -> list[str]:
    legends = [*fig.legends, *(ax.get_legend() for ax in fig.axes)]
    return [text.get_text() for legend in legends if legend is not None for text in legend.get_texts()]


@pytest.mark.parametrize("name", ["learning_curves.png", "lr_sensitivity.png", "performance_profile.png"])
def test_identical_curves_are_named_together(report, name):
    texts = _legend_texts(report["drawn"][name])
    together = [t for t in texts if "adam" in t and "adamw" in t]
    assert len(together) == 1 and "=" in together[0] and "identical curves" in together[0], texts
    assert not any(t.startswith(("adam ", "adamw ")) and t not in together for t in texts)  # no entry of its own
    assert any("sgd_momentum" in t and "identical" not in t for t in texts)  # different curves keep their own entries


def test_no_panel_is_empty_and_failed_settings_take_no_room(report):
    for name, fig in report["drawn"].items():
        for ax in fig.axes:
            assert ax.lines or ax.collections or ax.patches, f"{name}: an empty panel titled {ax.get_title()!r}"
    # Every clipped trial failed: its panel of curves and the clipped-steps bars are left out.
    for name in ("learning_curves.png", "lr_sensitivity.png", "grad_norms.png"):
        titles = [ax.get_title() for ax in report["drawn"][name].axes]
        assert len(titles) == 1 and not any("clip norm" in t or "clipping acted" in t for t in titles), (name, titles)
    labels = [tick.get_text() for tick in report["drawn"]["final_metric.png"].axes[0].get_yticklabels()]
    assert labels and not any("clip norm" in label for label in labels)


def test_one_title_per_figure(report):
    for name, fig in report["drawn"].items():
        titles = [fig.get_suptitle()]
        if len(fig.axes) == 1:
            titles.append(fig.axes[0].get_title())
        assert len([t for t in titles if t]) == 1 and "\n" not in "".join(titles), (name, titles)


def test_overlapping_groups_identical_close_and_distinct_curves():
    x = np.arange(10.0)
    base = np.linspace(0.0, 10.0, 10)
    curves = {"a": [(x, base)], "b": [(x, base.copy())], "c": [(x, base + 0.01)], "d": [(x, base + 1.0)],
              "e": [(x[:5], base[:5])]}
    assert overlapping(curves) == [(["a", "b", "c"], False)]  # c is 0.1% of the span away: it draws on a and b
    assert overlapping({k: curves[k] for k in "abd"}) == [(["a", "b"], True)]
    # On a log axis the gap is read in decades: 1% of a value over four decades cannot be seen, 30% can.
    y = np.logspace(0, 4, 10)
    assert overlapping({"p": [(x, y)], "q": [(x, y * 1.01)], "r": [(x, y * 1.3)]}, log=True) == [(["p", "q"], False)]
    # Several curves per key (one per learning rate) pair up one to one, in any order.
    assert overlapping({"u": [(x, base), (x, base + 5)], "v": [(x, base + 5), (x, base)], "w": [(x, base)]}) == [(["u", "v"], True)]
