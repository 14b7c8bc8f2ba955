"""The Ray Tune engine: the same trials as the local engine, spread over a cluster.

Ray only schedules: each Tune trial calls `run_trial` on one grid trial, which
writes the same directory the local engine would (so the runs folder must be
on storage every node sees). A FIFO scheduler runs every trial to its budget:
early-stopping schedulers such as ASHA would bias an optimizer comparison. A spec's
own `pruning` runs here as in the local engine, not through Ray's ASHA: one Tune run
per wave of segments (every trial to its next rung), the rung decisions taken and
recorded in the study folder by the trials themselves (`separation.grid.pruning`),
so the study folder looks the same whichever engine or mix of engines ran it.
`trials_per_gpu` packs K trials on each GPU through fractional GPU resources.
Every Tune trial goes through the same trial claims as the local engine, so Ray
runs and local workers can share one study folder.
"""

from __future__ import annotations

import sys
from pathlib import Path

from separation.grid.claim import DEFAULT_TIMEOUT
from separation.grid.runner import check_writable, pending_trials, run_one, statuses, study_dir_for
from separation.grid.spec import GridSpec, load_spec
from separation.grid.trial_folder import clear_marker
from separation.outcomes import Status


def _trainable(params: dict) -> None:
    from pytorch_lightning.plugins.environments import LightningEnvironment
    from ray import tune

    spec = load_spec(params["spec_path"])
    trial = next(t for t in spec.trials if t.id == params["trial_id"])
    study_dir = Path(params["study_dir"])
    # Each Tune trial is a single-process Lightning run, even inside a Slurm allocation.
    plugins = [LightningEnvironment()]
    timeout = params.get("claim_timeout", DEFAULT_TIMEOUT)
    for attempt in range(params["max_retries"] + 1):
        status = run_one(trial, study_dir, params["retry_failed"], timeout, spec=spec, packing=params["packing"],
                         plugins=plugins, engine="ray")
        if status != Status.FAILED or attempt == params["max_retries"]:
            break
        clear_marker(study_dir / trial.id)
    tune.report({"finished": 1, "status": status})


def run_ray(
    spec: GridSpec,
    runs_root: str | Path = "runs",
    retry_failed: bool = False,
    trials_per_gpu: int = 1,
    cpus_per_trial: float = 1.0,
    address: str | None = None,
    max_retries: int = 0,
    out=sys.stderr,
    claim_timeout: float = DEFAULT_TIMEOUT,
) -> dict[str, str]:
    import ray
    from ray import tune

    study_dir = study_dir_for(spec, runs_root).resolve()
    check_writable(study_dir)
    todo = pending_trials(spec, study_dir, retry_failed, claim_timeout)
    waves = 0
    # A pruned study needs one wave per rung and one to the full budget; more would mean no progress.
    while todo and waves < (len(spec.pruning.steps) + 1 if spec.pruning is not None else 1):
        waves += 1
        if not ray.is_initialized():
            ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False)
        has_gpu = ray.cluster_resources().get("GPU", 0) > 0
        resources = {"cpu": cpus_per_trial, **({"gpu": 1.0 / trials_per_gpu} if has_gpu else {})}
        param_space = {
            "trial_id": tune.grid_search([t.id for t in todo]),
            "spec_path": str(spec.path.resolve()),
            "study_dir": str(study_dir),
            "packing": trials_per_gpu if has_gpu else 1,
            "max_retries": max_retries,
            "retry_failed": retry_failed,
            "claim_timeout": claim_timeout,
        }
        print(f"[grid {spec.study}] ray: {len(todo)} trials, resources per trial {resources}", file=out, flush=True)
        tuner = tune.Tuner(
            tune.with_resources(_trainable, resources),
            param_space=param_space,
            tune_config=tune.TuneConfig(scheduler=tune.schedulers.FIFOScheduler(), max_concurrent_trials=None),
            run_config=tune.RunConfig(
                name=spec.study if waves == 1 else f"{spec.study}-wave{waves}",
                storage_path=str(study_dir / ".ray"),
                failure_config=tune.FailureConfig(max_failures=max_retries),
                verbose=0,
            ),
        )
        tuner.fit()
        todo = pending_trials(spec, study_dir, retry_failed, claim_timeout)
    return statuses(spec, study_dir, claim_timeout)
