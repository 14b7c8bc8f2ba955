"""Numbers the README and the clipping spec quote beyond the reports, from the committed tables.

    .venv/bin/python scripts/study_numbers.py

Prints: plateau and norm-1 clipping against the unclipped constant-LR cell (difference
of test medians, 95% bootstrap interval, P(better)), the gradient-norm quantiles of the
unclipped cell, the norm at the first logged step, and where clipping at 5 acted.
Music (results/unet_optimizers_cpu): Spleeter's Adam 1e-4 against Adam at its tuned
LRs and against each optimizer's selected cell, and the phase-3 clipping and cosine
cells against their constant-LR, unclipped cell (test SDR; a collapsed seed counts at
the study's worst test SDR, the report's conservative rule, through its own code). Enhancement
(results/enhance_optimizers): step decay and clipping at 5 against each optimizer's
constant-LR, unclipped cell (test SI-SNRi, same rule).
"""

from __future__ import annotations

import argparse

import pandas as pd

from separation.analysis.cells import seed_values
from separation.analysis.collect import collect_tables
from separation.analysis.stats import bootstrap_difference, probability_of_improvement

RESULTS = "results"


def _versus(table: pd.DataFrame, column: str, a: str, b: str) -> str:
    values_a, values_b = table.loc[table[column] == a, "test"], table.loc[table[column] == b, "test"]
    interval = bootstrap_difference(values_a, values_b)
    return (f"{a} - {b}: {interval.estimate:+.2f} dB [{interval.low:.2f}, {interval.high:.2f}], "
            f"P({a} > {b}) = {probability_of_improvement(values_a, values_b):.2f}")


def main(argv: list[str] | None = None) -> None:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                            epilog="Run from the repository root: it reads results/ and experiments/.").parse_args(argv)
    schedulers = pd.read_csv(f"{RESULTS}/svoice_schedulers/trials.csv")
    clipping = pd.read_csv(f"{RESULTS}/svoice_clipping/trials.csv")
    print("schedulers:", _versus(schedulers, "scheduler_name", "plateau", "none"))
    print("clipping:", _versus(clipping, "clipping", "norm 1", "none"))

    steps = pd.read_csv(f"{RESULTS}/svoice_clipping/steps.csv")
    unclipped = set(clipping.loc[clipping["clipping"] == "none", "trial"])
    norms = steps[steps["trial"].isin(unclipped) & (steps["metric"] == "train/grad_norm_pre_clip")]["value"]
    print(f"unclipped gradient norm: median {norms.median():.1f}, 90th percentile {norms.quantile(0.9):.1f}, "
          f"max {norms.max():.0f}")
    first = steps[(steps["metric"] == "train/grad_norm_pre_clip") & (steps["step"] == steps["step"].min())]["value"]
    print(f"gradient norm at the first logged step (all clipping trials): median {first.median():.1f}")
    clip5 = set(clipping.loc[clipping["clipping"] == "norm 5", "trial"])
    acted = steps[steps["trial"].isin(clip5) & (steps["metric"] == "train/clipped") & (steps["value"] > 0)]
    print("clip norm 5 acted at logged steps:", acted.groupby("trial")["step"].apply(list).to_dict())
    music()
    enhance()


def _conservative_versus(study, a: str, b: str) -> str:
    """Difference of test medians, lost (diverged or collapsed) seeds at the study's worst value, as the report counts them."""
    values_a, values_b = (seed_values(study, cell, "test", conservative=True) for cell in (a, b))
    interval = bootstrap_difference(values_a, values_b)
    return (f"{a} - {b}: {interval.estimate:+.2f} dB [{interval.low:.2f}, {interval.high:.2f}], "
            f"P(A > B) = {probability_of_improvement(values_a, values_b):.2f} ({len(values_a)} and {len(values_b)} seeds)")


def music() -> None:
    table = collect_tables(f"{RESULTS}/unet_optimizers_cpu", "experiments/unet_optimizers_cpu.yaml")
    cell = "{}, lr {}, sched none, clip none".format
    spleeter = cell("adam", "0.0001")
    for other in [cell("adam", "0.001"), cell("adam", "0.003"), cell("adagrad", "0.01"), cell("rmsprop", "0.003"),
                  cell("adamax", "0.003"), cell("sgd_momentum", "0.1"), cell("adadelta", "3")]:
        print("music:", _conservative_versus(table, other, spleeter))
    base = cell("adagrad", "0.01")
    for variant in ["adagrad, lr 0.01, sched none, clip norm 0.6", "adagrad, lr 0.01, sched cosine_warmup, clip none"]:
        print("music:", _conservative_versus(table, variant, base))


def enhance() -> None:
    """Step decay and clipping against constant LR, unclipped, per optimizer (results/enhance_optimizers)."""
    table = collect_tables(f"{RESULTS}/enhance_optimizers", "experiments/enhance_optimizers.yaml")
    for optimizer, lr in [("adam", "0.001"), ("adamw", "0.001"), ("rmsprop", "0.0003"), ("sgd_momentum", "0.0003")]:
        base = f"{optimizer}, lr {lr}, sched none, clip none"
        for variant in [f"{optimizer}, lr {lr}, sched step, clip none", f"{optimizer}, lr {lr}, sched none, clip norm 5"]:
            print("enhance:", _conservative_versus(table, variant, base))


if __name__ == "__main__":
    main()
