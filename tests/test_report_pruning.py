"""The pruning replay of a full-budget study, checked by hand on the committed SVoice optimizer study."""

import math
from pathlib import Path

import numpy as np
import pytest

from separation.analysis.collect import collect_tables
from separation.analysis.pruning import GLOBAL, Rule, ladder, replay, replay_ladder
from separation.analysis.cells import select_best

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def study():
    return collect_tables(REPO / "results" / "svoice_optimizers", REPO / "experiments" / "svoice_optimizers.yaml")


def _at(study, rung: int) -> dict[str, float]:
    """Each cell's median over seeds of the last validation logged before `rung` optimizer steps."""
    rows = study.steps[(study.steps["metric"] == "val/si_snri") & (study.steps["step"] <= rung - 1)]
    last = rows.sort_values("step").groupby("trial")["value"].last()
    cells = study.trials.set_index("trial")["cell"]
    return {cell: float(np.median([last[t] for t in cells.index[cells == cell]])) for cell in dict.fromkeys(cells)}


def test_one_rung_global_rule_keeps_the_hand_ranked_half_and_saves_their_steps(study):
    rule = Rule("halving", (64,), 0.5, GLOBAL)
    outcome = replay(study, rule, study.trials)
    medians = _at(study, 64)
    ranked = sorted(medians, key=lambda c: -medians[c])
    assert set(outcome.survivors) == set(ranked[:len(ranked) // 2])
    steps = study.trials.set_index("cell")["steps"]
    full = study.trials["steps"].sum()
    expected = 1 - sum(min(64, s) if c not in outcome.survivors else s for c, s in steps.items()) / full
    assert outcome.saved == pytest.approx(expected)
    # Regret is measured against the full study's choice: zero when it survived.
    assert outcome.full_selected == select_best(study, study.cells)
    if outcome.full_selected in outcome.survivors:
        assert outcome.selected == outcome.full_selected and outcome.regret.estimate == 0


def test_within_optimizer_keeps_every_optimizer_and_reports_whether_its_best_lr_survived(study):
    outcome = replay(study, Rule("halving", (32, 64, 128), 0.5, "optimizer"), study.trials)
    optimizers = set(study.trials["optimizer"])
    optimizer_of = study.trials.drop_duplicates("cell").set_index("cell")["optimizer"]
    assert {optimizer_of[c] for c in outcome.survivors} == optimizers
    for optimizer, (best, chosen, regret, survived) in outcome.per_group.items():
        assert survived == (best in outcome.survivors) and chosen in outcome.survivors
        assert (regret.estimate == 0) == (chosen == best)
        assert math.isnan(regret.estimate) or regret.estimate >= 0  # selection picks the best survivor on validation


def test_the_ladder_has_halving_both_ways_and_the_short_budget_baseline(study):
    rules = ladder(study, 256)
    assert {r.within for r in rules} == {"optimizer", GLOBAL}
    assert any(r.family == "one short budget" and r.rungs == (32,) for r in rules)
    assert all(all(s % 32 == 0 and s < 256 for s in r.rungs) for r in rules)  # at validation points
    outcomes = replay_ladder(study)
    assert len(outcomes) == len(rules) and all(0 < o.saved < 1 for o in outcomes)


def test_every_committed_study_report_has_its_pruning_replay():
    """An unpruned study replays pruning rules on its curves; a pruned one (its spec has `pruning`) reports
    what its pruning did instead, since the replay needs every trial at the full budget."""
    from separation.grid.spec import load_spec

    for spec in sorted((REPO / "experiments").glob("*.yaml")):
        folder = REPO / "results" / spec.stem
        if (folder / "trials.csv").is_file():
            report = (folder / "REPORT.md").read_text()
            if load_spec(spec).pruning is not None:
                assert "## Pruning" in report and "needs a full-budget study" in report, folder
            else:
                assert "## What would pruning have cost?" in report, folder


def test_a_group_named_by_a_dotted_axis_replays_as_the_same_plain_column(study):
    """An `other` axis such as `trainer.max_epochs` is a column whose name is no Python identifier."""
    import dataclasses

    dotted = dataclasses.replace(study, trials=study.trials.assign(**{"optimizer.name": study.trials["optimizer"]}))
    plain = replay(study, Rule("halving", (32, 64), 0.5, "optimizer"), study.trials)
    renamed = replay(dotted, Rule("halving", (32, 64), 0.5, "optimizer.name"), dotted.trials)
    assert renamed.survivors == plain.survivors and renamed.saved == plain.saved
    assert set(renamed.per_group) == set(plain.per_group) == set(study.trials["optimizer"])
