"""`separation report`: a synthetic study folder (no training) in, tables, figures and REPORT.md out."""

import json
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from separation.analysis.cells import best_per
from separation.analysis.collect import collect_study
from separation.analysis.report import write_report
from separation.analysis.stats import bootstrap_difference, median_iqr, performance_profile, probability_of_improvement
from separation.config import config_to_dict
from separation.errors import ConfigError, UserError
from separation.grid.spec import load_spec

BASE = """
task: speech
model: {name: svoice, args: {enc_dim: 16, kernel_size: 4, hidden_size: 8, num_repeats: 1}}
data: {root: data/speech, segment_seconds: 1.0, batch_size: 4}
trainer: {max_epochs: 4, log_every_n_steps: 2}
"""

SPEC = """# Which optimizer wins, and do plateau decay and clipping help?
study: synth
description: Synthetic study for the report tests.
base: base.yaml
axes:
  optimizer:
    - {name: adam, lr: 1.0e-3}
    - {name: sgd_momentum, lr: [0.01, 0.1]}
  scheduler: [{name: none}, {name: plateau, args: {patience: 0, factor: 0.5}}]
  clipping: [{mode: none}, {mode: norm, value: 5}]
  seed: [0, 1, 2]
targets: {val/si_snri: [5]}
"""

STEPS_PER_EPOCH, EPOCHS = 10, 4
SEED_OFFSET = {0: -0.2, 1: 0.0, 2: 0.3}


def known_test(config) -> float:
    """The test SI-SNRi every synthetic trial ends with: a cell effect plus a seed offset."""
    base = {("adam", 1e-3): 6.0, ("sgd_momentum", 0.01): 4.0, ("sgd_momentum", 0.1): 3.0}[(config.optimizer.name, config.optimizer.lr)]
    base += 0.5 * (config.scheduler.name == "plateau") + 0.2 * (config.clipping.mode == "norm")
    return base + SEED_OFFSET[config.seed]


def val_curve(final: float) -> list[float]:
    return [final * (epoch + 1) / EPOCHS for epoch in range(EPOCHS)]


def write_trial(folder, trial, status, last_epoch=EPOCHS):
    """config.yaml, metrics.csv (per-step lr, grad norms, clipped flags; per-epoch validation), meta.json, DONE."""
    config = trial.config
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(yaml.safe_dump({**config_to_dict(config), "run_dir": str(folder)}, sort_keys=False))
    test = known_test(config)
    val = val_curve(test + 0.5)
    rows, lr, reductions, reached = [], config.optimizer.lr, 0, {}
    clip = config.clipping.value if config.clipping.mode == "norm" else None
    for epoch in range(last_epoch):
        if config.scheduler.name == "plateau" and epoch >= 2:
            lr, reductions = lr * 0.5, reductions + 1
        for step in range(epoch * STEPS_PER_EPOCH + 2, (epoch + 1) * STEPS_PER_EPOCH + 1, 2):
            pre = 20 / (1 + step / 10) + config.seed
            post = min(pre, clip) if clip else pre
            for metric, value in (("train/lr", lr), ("train/loss_step", -val[epoch]), ("train/grad_norm_pre_clip", pre),
                                  ("train/grad_norm_post_clip", post), ("train/clipped", float(post < pre)),
                                  ("train/sec_per_step", 0.05), ("epoch", epoch)):
                rows.append((step, metric, value, 1000.0 + step))
        step = (epoch + 1) * STEPS_PER_EPOCH
        diverging = status == "diverged" and epoch == last_epoch - 1
        value = math.nan if diverging else val[epoch]
        for metric, v in (("val/loss", -value), ("val/si_snr", value), ("val/si_snri", value), ("train/loss_epoch", -value)):
            rows.append((step, metric, v, 1000.5 + step))
        if not diverging and value >= 5 and "val/si_snri>=5" not in reached:
            reached["val/si_snri>=5"] = {"step": step, "epoch": epoch, "train_seconds": 0.05 * step, "val_seconds": 0.1 * epoch, "value": value}
    metrics = {"val/si_snri": val[-1], "val/loss": -val[-1]}
    if status in ("completed", "collapsed"):
        metrics.update({"test/si_snri": test, "test/si_snr": test + 3})
        rows += [(step, "test/si_snri", test, 2000.0), (step, "test/si_snr", test + 3, 2000.0)]
    else:
        metrics["val/si_snri"] = math.nan
    pd.DataFrame(rows, columns=["step", "metric", "value", "wall_time"]).to_csv(folder / "metrics.csv", index=False)
    meta = {"id": trial.id, "study": "synth", "axes": trial.overrides, "git_commit": "abc123", "versions": {"torch": "2.11.0"},
            "device": "cpu: x86_64, 1 threads", "engine": "local", "packing": 1, "start": "2026-01-01T10:00:00+00:00",
            "attempts": 1, "status": status}
    if status == "failed":
        meta.update(reason="RuntimeError: out of memory", end="2026-01-01T10:01:00+00:00")
        (folder / "error.log").write_text("Traceback ...\nRuntimeError: out of memory\n")
    elif status in ("completed", "diverged", "collapsed"):
        reason = {"diverged": "non-finite training loss (nan) at step 20",
                  "collapsed": "collapsed on all 3 test items: every source estimate is one signal up to scale"}.get(status)
        meta.update(reason=reason, end="2026-01-01T10:02:00+00:00", result={
            "status": status, "reason": reason, "global_step": last_epoch * STEPS_PER_EPOCH, "epochs": last_epoch,
            "train_seconds": 0.05 * last_epoch * STEPS_PER_EPOCH, "val_seconds": 0.1 * last_epoch, "metrics": metrics,
            "time_to_target": reached, "lr_reductions": reductions, "final_lr": lr, "skipped_steps": 0})
    (folder / "meta.json").write_text(json.dumps(meta))
    if status != "running":
        (folder / "DONE").write_text(json.dumps({"status": status, "end": meta["end"]}))


def find(spec, optimizer, lr, scheduler, clipping, seed):
    return next(t for t in spec.trials if (t.config.optimizer.name, t.config.optimizer.lr, t.config.scheduler.name,
                                           t.config.clipping.mode, t.config.seed) == (optimizer, lr, scheduler, clipping, seed))


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    (root / "base.yaml").write_text(BASE)
    (root / "synth.yaml").write_text(SPEC)
    spec = load_spec(root / "synth.yaml")
    special = {
        find(spec, "sgd_momentum", 0.1, "none", "none", 2).id: "diverged",
        find(spec, "adam", 1e-3, "plateau", "norm", 1).id: "failed",
        find(spec, "adam", 1e-3, "none", "none", 2).id: "missing",
        find(spec, "sgd_momentum", 0.01, "plateau", "norm", 0).id: "running",
        find(spec, "sgd_momentum", 0.01, "none", "norm", 1).id: "collapsed",
    }
    for trial in spec.trials:
        status = special.get(trial.id, "completed")
        if status != "missing":
            write_trial(root / "runs" / "synth" / trial.id, trial, status, last_epoch={"diverged": 2, "running": 2}.get(status, EPOCHS))
    out = root / "results" / "synth"
    out.mkdir(parents=True)
    (out / "provenance.json").write_text('{"lines": []}')  # the folder of an older report,
    (out / "evaluation.csv").write_text("from an older report\n")  # with a table this one does not write,
    (out / "README.md").write_text("hand-written\n")  # and a file no report writes
    report = write_report(root / "runs" / "synth", out, root / "synth.yaml")
    return {"root": root, "spec": spec, "special": special, "report": report, "out": out}


def test_trial_table_has_one_row_per_planned_trial(study):
    trials = pd.read_csv(study["out"] / "trials.csv").set_index("trial")
    spec = study["spec"]
    assert len(trials) == len(spec.trials) == 36
    expected = {t.id: {"running": "interrupted"}.get(study["special"].get(t.id), study["special"].get(t.id, "completed")) for t in spec.trials}
    assert trials["status"].to_dict() == expected
    for trial in spec.trials:
        if expected[trial.id] == "completed":
            row = trials.loc[trial.id]
            assert row["test"] == pytest.approx(known_test(trial.config))
            assert row["val_final"] == pytest.approx(known_test(trial.config) + 0.5)
            assert row["lr_reductions"] == (2 if trial.config.scheduler.name == "plateau" else 0)
            assert row["sec_per_step"] == pytest.approx(0.05)
            assert (row["clip_rate"] > 0) == (trial.config.clipping.mode == "norm")
    diverged = trials.loc[find(spec, "sgd_momentum", 0.1, "none", "none", 2).id]
    assert math.isinf(diverged["seconds_to[val/si_snri>=5]"]) and "non-finite" in diverged["reason"]
    steps = pd.read_csv(study["out"] / "steps.csv")
    assert set(steps["trial"]) == {t.id for t in spec.trials if expected[t.id] != "missing"}


def test_cell_statistics(study):
    cells = pd.read_csv(study["out"] / "cells.csv")
    assert len(cells) == 12
    spec = study["spec"]

    def cell(optimizer, lr, scheduler, clipping):
        trials = pd.read_csv(study["out"] / "trials.csv").set_index("trial")
        label = trials.loc[find(spec, optimizer, lr, scheduler, clipping, 0).id, "cell"]
        return cells.set_index("cell").loc[label]

    # adam, no schedule, no clipping: seed 2 missing, so seeds 0 and 1 (5.8, 6.0).
    adam = cell("adam", 1e-3, "none", "none")
    assert (adam["n_completed"], adam["n_missing"]) == (2, 1)
    assert (adam["test_median"], adam["test_q25"], adam["test_q75"]) == pytest.approx((5.9, 5.85, 5.95))
    # sgd lr 0.1, no schedule, no clipping: seed 2 diverged; survivors 2.8 and 3.0; the worst test value in the study is 2.8.
    sgd = cell("sgd_momentum", 0.1, "none", "none")
    assert (sgd["n_completed"], sgd["n_diverged"]) == (2, 1)
    assert sgd["test_median"] == pytest.approx(2.9)
    assert sgd["test_median_conservative"] == pytest.approx(2.8)
    assert math.isinf(sgd["seconds_to[val/si_snri>=5]_median"]) and sgd["reached[val/si_snri>=5]"] == 0
    # adam with plateau: val 6.3 / 6.5 / 6.8 + 0.5 reach 5 dB at the third validation (step 30, 1.5 training seconds).
    plateau = cell("adam", 1e-3, "plateau", "none")
    assert plateau["seconds_to[val/si_snri>=5]_median"] == pytest.approx(1.5)
    failed = cell("adam", 1e-3, "plateau", "norm")
    assert (failed["n_completed"], failed["n_failed"]) == (2, 1)
    # A collapsed seed is counted like a diverged one: out of the primary median, at the worst value in the conservative one.
    collapsed = cell("sgd_momentum", 0.01, "none", "norm")
    assert (collapsed["n_completed"], collapsed["n_collapsed"]) == (2, 1)
    assert collapsed["test_median"] == pytest.approx((4.0 + 4.5) / 2)  # seeds 0 and 2
    assert collapsed["test_median_conservative"] == pytest.approx(4.0)  # 2.8 (the worst), 4.0, 4.5


def test_every_figure_is_a_png(study):
    figures = sorted(p.name for p in (study["out"] / "figures").iterdir())
    assert figures == sorted(["learning_curves.png", "final_metric.png", "learning_rate.png", "grad_norms.png",
                              "time_to_target.png", "performance_profile.png", "lr_sensitivity.png", "early_ranking.png",
                              "pruning.png"])  # the pruning section's figure (#27)
    for name in figures:
        data = (study["out"] / "figures" / name).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 10_000, name
    report = study["report"].read_text()
    assert all(f"figures/{name}" in report for name in figures) and "Skipped" not in report


def test_report_lists_missing_diverged_and_failed_and_answers_the_claims(study):
    report = study["report"].read_text()
    special = study["special"]
    by_status = {status: trial_id for trial_id, status in special.items()}
    assert "Incomplete grid" in report
    assert "seed 2 (missing)" in report and "seed 0 (interrupted)" in report
    assert by_status["diverged"] in report and "non-finite training loss" in report
    assert by_status["failed"] in report and "out of memory" in report
    assert by_status["collapsed"] in report and "one signal up to scale" in report and "| collapsed | 1 |" in report
    assert "## How early can the ranking be read?" in report and "training loss at step 8" in report
    assert "Which optimizer wins" in report and "separation grid" in report
    assert "svoice (enc_dim=16, kernel_size=4, hidden_size=8, num_repeats=1): " in report and " parameters." in report
    # adam beats sgd by about 2 dB on every seed, but its selected cell kept two seeds (one is missing):
    # too few for an interval, so the claim stays open; clipping's 0.2 dB is not resolved either.
    assert "**Adam is the best optimizer:** *not resolved*" in report
    assert "fewer than 3 seeds per cell give no confidence interval" in report
    assert "**ReduceLROnPlateau beats StepLR:** *not testable*" in report
    assert "**Gradient clipping improves results:** *not resolved*" in report


def test_report_replaces_an_old_one_and_needs_a_study(study, tmp_path):
    out = study["out"]
    assert not (out / "evaluation.csv").exists() and (out / "REPORT.md").exists()
    assert (out / "README.md").read_text() == "hand-written\n"
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no temporary folder left behind
    with pytest.raises(UserError, match="no such study folder"):
        write_report(tmp_path / "nowhere", tmp_path / "out")


def test_without_spec_reports_what_exists(study, tmp_path):
    """Only the folders are known: the missing trial cannot be, and the report says why."""
    runs = study["root"] / "runs" / "synth"
    subset = [t.id for t in study["spec"].trials if t.config.optimizer.lr == 0.1 and t.config.clipping.mode == "none"]
    for trial_id in subset:
        shutil.copytree(runs / trial_id, tmp_path / "synth" / trial_id)
    report = write_report(tmp_path / "synth", tmp_path / "nospec").read_text()
    assert "No spec was given" in report and "diverged" in report
    trials = pd.read_csv(tmp_path / "nospec" / "trials.csv")
    assert sorted(trials["trial"]) == sorted(subset) and (trials["status"] == "diverged").sum() == 1


def test_bootstrap_interval_covers_a_known_difference():
    rng = np.random.default_rng(1)
    a, b = rng.normal(1.0, 1.0, 200), rng.normal(0.0, 1.0, 200)
    interval = bootstrap_difference(a, b)
    assert interval.low < 1.0 < interval.high and interval.low > 0 and interval.resolved
    # Coverage over many simulated studies is near the nominal 95%.
    covered = [bootstrap_difference(rng.normal(1.0, 1.0, 30), rng.normal(0.0, 1.0, 30), resamples=2000) for _ in range(100)]
    assert 0.85 <= np.mean([c.low <= 1.0 <= c.high for c in covered]) <= 1.0
    # Same inputs, same interval: reports are reproducible.
    assert bootstrap_difference(a, b) == interval
    one = bootstrap_difference([1.0], [0.0, 0.5])
    assert one.estimate == 0.75 and math.isnan(one.low) and not one.resolved


def test_probability_of_improvement_by_hand():
    assert probability_of_improvement([1, 2, 3], [2, 2]) == pytest.approx(0.5)  # pairs: 0, 0, .5, .5, 1, 1
    assert probability_of_improvement([3, 4], [1, 2]) == 1.0
    a, b = [0.3, 1.2, 2.0], [1.0, 1.2, 0.1, 5.0]
    assert probability_of_improvement(a, b) + probability_of_improvement(b, a) == pytest.approx(1.0)


def test_median_iqr_and_performance_profile():
    assert median_iqr([4, 1, 3, 2, math.nan]) == pytest.approx((2.5, 1.75, 3.25))
    times = np.array([[1.0, 2.0, np.inf], [2.0, 2.0, 3.0]])
    profile = performance_profile(times, np.array([1.0, 2.0]))
    assert profile == pytest.approx(np.array([[2 / 3, 2 / 3], [2 / 3, 1.0]]))


def test_intervals_need_three_seeds_per_cell():
    from separation.analysis.stats import bootstrap_difference

    two = bootstrap_difference([5.0, 6.0], [1.0, 2.0])
    assert two.estimate == 4.0 and not two.resolved and np.isnan(two.low)
    three = bootstrap_difference([5.0, 6.0, 5.5], [1.0, 2.0, 1.5])
    assert three.resolved and three.low > 0


def test_two_phase_study_selects_the_replicated_setting(tmp_path):
    """An LR sweep on seed 0, then the chosen LR over seeds 0-2: one lucky sweep seed must not win selection."""
    sweep = SPEC.replace("seed: [0, 1, 2]", "seed: [0]").replace("  scheduler: [{name: none}, {name: plateau, args: {patience: 0, factor: 0.5}}]\n", "") \
        .replace("  clipping: [{mode: none}, {mode: norm, value: 5}]\n", "")
    phase2 = sweep + "include:\n  - {optimizer.name: sgd_momentum, optimizer.lr: 0.01, seed: [0, 1, 2]}\n"
    (tmp_path / "base.yaml").write_text(BASE)
    (tmp_path / "synth.yaml").write_text(phase2)
    spec = load_spec(tmp_path / "synth.yaml")
    assert sorted((t.config.optimizer.lr, t.config.seed) for t in spec.trials if t.config.optimizer.name == "sgd_momentum") == \
        [(0.01, 0), (0.01, 1), (0.01, 2), (0.1, 0)]
    for trial in spec.trials:
        write_trial(tmp_path / "runs" / "synth" / trial.id, trial, "completed")
    # Make the unreplicated sgd lr 0.1 the best single sgd value on validation (and on test).
    lucky = find(spec, "sgd_momentum", 0.1, "none", "none", 0).id
    metrics = pd.read_csv(tmp_path / "runs" / "synth" / lucky / "metrics.csv")
    metrics.loc[metrics["metric"].isin(["val/si_snri", "val/si_snr", "test/si_snri"]), "value"] += 10
    metrics.to_csv(tmp_path / "runs" / "synth" / lucky / "metrics.csv", index=False)
    meta_path = tmp_path / "runs" / "synth" / lucky / "meta.json"
    meta = json.loads(meta_path.read_text())
    for key in ("val/si_snri", "test/si_snri"):
        meta["result"]["metrics"][key] += 10
    meta_path.write_text(json.dumps(meta))
    study = collect_study(tmp_path / "runs" / "synth", tmp_path / "synth.yaml")
    chosen = best_per(study, "optimizer_name")
    assert study.trials.set_index("trial").loc[lucky, "val_final"] > 10
    assert "0.01" in chosen["sgd_momentum"] and "0.1" not in chosen["sgd_momentum"]


def test_headline_figure_from_committed_tables(study, tmp_path, capsys):
    """scripts/headline_figure.py redraws the README figure from results/<study>/trials.csv alone."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "scripts" / "headline_figure.py"
    module_spec = importlib.util.spec_from_file_location("headline_figure", path)
    headline = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(headline)
    out = tmp_path / "headline.png"
    assert headline.main([str(study["out"]), str(study["out"]), "-o", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and not list(tmp_path.glob("*.png.*"))
    assert headline.main([str(tmp_path / "nowhere"), "-o", str(tmp_path / "x.png")]) == 2
    assert "nowhere/trials.csv: no such file" in capsys.readouterr().err and not (tmp_path / "x.png").exists()


def test_report_regenerates_from_its_own_tables(study, tmp_path):
    """No runs needed: trials.csv, steps.csv and the spec give the same tables and sections again."""
    from separation.analysis.report import write_report_from_tables

    original = study["out"]
    copy = tmp_path / "synth"
    shutil.copytree(original, copy)
    (copy / "provenance.json").unlink()  # an older report: its provenance comes from REPORT.md's Setup lines
    report = write_report_from_tables(copy, study["root"] / "synth.yaml").read_text()
    for name in ("trials.csv", "steps.csv", "cells.csv", "comparisons.csv"):
        pd.testing.assert_frame_equal(pd.read_csv(copy / name), pd.read_csv(original / name), check_dtype=False)
    old = (original / "REPORT.md").read_text()
    assert "regenerated from its committed tables" in report and "regenerated from its committed tables" not in old
    for section in ("## Results per cell", "## Findings", "## How early can the ranking be read?"):
        assert report[report.index(section):].split("\n## ")[0] == old[old.index(section):].split("\n## ")[0]
    assert [l for l in report.splitlines() if l.startswith("- Engine:")] == [l for l in old.splitlines() if l.startswith("- Engine:")]
    other = tmp_path / "other.yaml"
    other.write_text((study["root"] / "synth.yaml").read_text().replace("seed: [0, 1, 2]", "seed: [7]"))
    (tmp_path / "base.yaml").write_text(BASE)
    with pytest.raises(UserError, match="not trials of"):
        write_report_from_tables(copy, other)


def test_report_opens_with_its_verdict_box(study):
    """Under the title and before Status: at most 10 lines naming the question, the selected cell and an interval."""
    lines = study["report"].read_text().splitlines()
    assert lines[0] == "# Study report: synth" and lines[1] == ""
    box = []
    for line in lines[2:]:
        if not line.startswith(">"):
            break
        box.append(line)
    assert box[0] == "> **Verdict.** Which optimizer wins, and do plateau decay and clipping help?"
    assert 4 <= len(box) <= 10
    assert lines.index("## Status") > 2 + len(box)
    best = re.search(r"Best cell on validation: \*\*`(.+?)`\*\*", "\n".join(lines)).group(1)
    assert box[1].startswith(f"> - **Selected setting:** `{best}` (best on validation)")
    # Its best cell kept two seeds (one failed): the gain over the mixture is an estimate without an interval,
    # said as such (the committed studies' boxes, with intervals, are tested in test_report_verdict.py).
    assert "SI-SNRi against the mixture (0 dB): +" in box[1] and "dB (no interval: fewer than 3 seeds)" in box[1]
    # Each testable claim is answered as the Findings answer it; the untestable one is left to them.
    assert "> - **Adam is the best optimizer:** not resolved: adam minus sgd_momentum" in "\n".join(box)
    assert "> - **Gradient clipping improves results:** not resolved: clipped minus unclipped" in "\n".join(box)
    assert not any("StepLR" in line for line in box)
    assert any(line.startswith("> - **Budget:** svoice, ") and " trials; " in line for line in box)
    assert not any("Caveat" in line for line in box)  # the best cell gains about 6.5 dB: no early-training caveat


def test_continuous_schedules_are_registered_and_reported_as_every_step(tmp_path):
    """A schedule that decays every step has no LR reductions to count: its cells say so (#30)."""
    from separation.analysis.report import write_report_from_tables
    from separation.analysis.study import CONTINUOUS_SCHEDULES
    from separation.optim import SCHEDULERS

    assert set(CONTINUOUS_SCHEDULES) <= set(SCHEDULERS)
    repo = Path(__file__).resolve().parent.parent
    results = repo / "results" / "svoice_schedulers_v2"
    for name in ("trials.csv", "steps.csv"):
        (tmp_path / "tables").mkdir(exist_ok=True)
        shutil.copy(results / name, tmp_path / "tables" / name)
    write_report_from_tables(tmp_path / "tables", repo / "experiments" / "svoice_schedulers_v2.yaml", tmp_path / "out")
    text = (tmp_path / "out" / "REPORT.md").read_text()
    row = next(line for line in text.splitlines() if line.startswith("| sched cosine_warmup |"))
    assert row.split("|")[-4].strip() == "every step"
    assert "- Scheduler cosine_warmup: the LR changes at every step" in text
    assert re.search(r"- Scheduler step: \d+ LR reductions per trial", text)


def test_a_spec_naming_claims_gets_the_earlier_claims_table(study, tmp_path):
    """The report of a spec with `claims:` carries the verdict table and a box line counting its verdicts;
    a claim on this study reads the report's new tables (its folder holds none yet), and a claim whose study
    is not reported yet is listed as not computed, not an error."""
    root = study["root"]
    early = tmp_path / "early" / "short"
    early.mkdir(parents=True)
    pd.DataFrame([{"a": "adam", "b": "sgd", "metric": "test", "difference": 0.5, "ci_low": 0.2, "ci_high": 0.8}]
                 ).to_csv(early / "comparisons.csv", index=False)
    (root / "claims.yaml").write_text(yaml.safe_dump({
        "early": {"label": "few steps", "results": str(tmp_path / "early")},
        "long": {"label": "this budget", "results": str(root / "results_claims")},
        "claims": [{"claim": "Adam beats SGD", "early": {"study": "short", "a": "adam", "b": "sgd"},
                    "long": {"study": "synth", "a": "optimizer=adam", "b": "optimizer=sgd_momentum"}},
                   {"claim": "a later phase's claim", "early": {"study": "short", "a": "adam", "b": "sgd"},
                    "long": {"study": "not_yet", "a": "x", "b": "y"}}]}, sort_keys=False))
    (root / "synth_claims.yaml").write_text(SPEC + "claims: claims.yaml\n")
    report = write_report(root / "runs" / "synth", root / "results_claims" / "synth", root / "synth_claims.yaml").read_text()
    box = report.split("\n\n")[1]
    assert ("**Earlier claims at this budget (few steps -> this budget):** 0 held, 0 flipped, 1 unresolved; "
            "1 not computed yet") in box
    section = report.split("## Did the earlier claims hold?")[1].split("\n## ")[0]
    row = next(line for line in section.splitlines() if line.startswith("| Adam beats SGD |"))
    assert row.startswith("| Adam beats SGD | +0.50 [+0.20, +0.80], resolved | +") and row.endswith("| unresolved |")
    assert "- a later phase's claim: " in section and "not_yet: no such study folder" in section
    assert "**From which step was this study's final ranking readable?** The top cell by validation" in section
    # Without `claims` there is no such section (the module's report).
    assert "Did the earlier claims hold?" not in study["report"].read_text()


def test_a_spec_naming_a_missing_claims_file_is_refused(study, tmp_path):
    (tmp_path / "base.yaml").write_text(BASE)
    (tmp_path / "spec.yaml").write_text(SPEC + "claims: claims/none.yaml\n")
    with pytest.raises(ConfigError, match=r"spec.yaml: claims 'claims/none.yaml': no such file .*relative to the spec file"):
        load_spec(tmp_path / "spec.yaml")
