"""Several workers on one study: claims, takeovers of dead claims, corrupt checkpoints, exit status."""

import csv
import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from separation.grid.claim import CLAIM, TrialClaim, read_claim, whoami
from separation.grid.runner import EXIT_TRIALS_FAILED, exit_status, run_local
from separation.grid.spec import load_spec
from separation.grid.trial import MARKER, trial_status
from test_grid_run import write_spec


def _grid(path: Path, runs: Path, *extra: str, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "separation", "grid", str(path), "-o", str(runs), *extra],
                            cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _metric_keys(trial_dir: Path) -> Counter:
    with open(trial_dir / "metrics.csv", newline="") as handle:
        return Counter((row["step"], row["metric"]) for row in csv.DictReader(handle))


def test_two_grid_processes_train_each_trial_once(speech_corpus, tmp_path):
    path = write_spec(tmp_path, speech_corpus, {"seed": [0, 1, 2, 3]}, epochs=1)
    spec = load_spec(path)
    runs = tmp_path / "runs"
    workers = [_grid(path, runs, cwd=tmp_path) for _ in range(2)]
    outputs = [w.communicate(timeout=600)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs
    trained_by = Counter()
    for trial in spec.trials:
        folder = runs / "g" / trial.id
        assert trial_status(folder) == "completed"
        # TensorBoard names event files ...<host>.<pid>.<n>: all from one process (fit and test: two files).
        writers = {p.name.split(".")[-2] for p in folder.glob("events.out.tfevents.*")}
        assert len(writers) == 1, trial.id
        meta = json.loads((folder / "meta.json").read_text())
        assert meta["attempts"] == 1 and not meta["takeovers"]
        trained_by[meta["worker"]["pid"]] += 1
        assert not (folder / CLAIM).exists()  # released
    # No (step, metric) row written twice: the same rows as one worker alone writes.
    lone = run_local(load_spec(path), tmp_path / "lone")
    assert set(lone.values()) == {"completed"}
    for trial in spec.trials:
        assert _metric_keys(runs / "g" / trial.id) == _metric_keys(tmp_path / "lone" / "g" / trial.id)
        events = [len(list((root / "g" / trial.id).glob("events.out.tfevents.*"))) for root in (runs, tmp_path / "lone")]
        assert events[0] == events[1]
    assert sum(trained_by.values()) == 4
    # The worker that ends first may leave the other's last trial running: counted, not an error.
    import re

    for output in outputs:
        counts = dict((status, int(n)) for n, status in re.findall(r"(\d+) (completed|running)", output.splitlines()[-1]))
        assert "g: 4 trials:" in output.splitlines()[-1] and sum(counts.values()) == 4, output


def test_a_live_claim_is_skipped_and_shown_by_dry_run(speech_corpus, tmp_path):
    path = write_spec(tmp_path, speech_corpus, {"seed": [0, 1]}, epochs=1)
    spec = load_spec(path)
    runs = tmp_path / "runs"
    held = TrialClaim(runs / "g" / spec.trials[0].id, timeout=60)
    assert held.acquire()
    try:
        result = run_local(spec, runs)
        assert result == {spec.trials[0].id: "running", spec.trials[1].id: "completed"}
        assert exit_status(result) == 0  # another worker's trial is not an error
        done = subprocess.run([sys.executable, "-m", "separation", "grid", str(path), "-o", str(runs), "--dry-run"],
                              capture_output=True, text=True, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        row = next(line for line in done.stdout.splitlines() if line.startswith(spec.trials[0].id))
        assert "running" in row and f"{whoami()['host']}:{os.getpid()}" in row
        assert not (runs / "g" / spec.trials[0].id / "meta.json").exists()  # untouched
    finally:
        held.release()
    assert read_claim(runs / "g" / spec.trials[0].id) is None


def _plant_claim(trial_dir: Path, owner: dict, age_seconds: float = 0.0) -> None:
    trial_dir.mkdir(parents=True, exist_ok=True)
    path = trial_dir / CLAIM
    path.write_text(json.dumps({**owner, "token": "dead", "started": time.time() - age_seconds}))
    stamp = time.time() - age_seconds
    os.utime(path, (stamp, stamp))


def test_dead_claims_are_taken_over_and_recorded(speech_corpus, tmp_path):
    path = write_spec(tmp_path, speech_corpus, {"seed": [0, 1]}, epochs=1)
    spec = load_spec(path)
    runs = tmp_path / "runs"
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    same_machine_dead = {**whoami(), "pid": int(gone.stdout)}  # a pid that has exited
    other_machine_silent = {"host": "elsewhere", "boot_id": "x", "pid": 1}
    first, second = (runs / "g" / t.id for t in spec.trials)
    _plant_claim(first, same_machine_dead)
    _plant_claim(second, other_machine_silent, age_seconds=120)
    assert not read_claim(first).alive and read_claim(second, timeout=300).alive
    assert run_local(spec, runs, claim_timeout=60) == {t.id: "completed" for t in spec.trials}
    for folder, reason in ((first, "is gone"), (second, "no heartbeat")):
        takeovers = json.loads((folder / "meta.json").read_text())["takeovers"]
        assert len(takeovers) == 1 and reason in takeovers[0]["reason"]
        assert takeovers[0]["previous_owner"]["token"] == "dead"


def test_only_one_of_many_claimants_wins():
    import tempfile
    from concurrent.futures import ThreadPoolExecutor

    with tempfile.TemporaryDirectory() as folder:
        claims = [TrialClaim(Path(folder) / "t", timeout=60) for _ in range(8)]
        with ThreadPoolExecutor(8) as pool:
            won = list(pool.map(lambda c: c.acquire(), claims))
        assert sum(won) == 1
        for claim, ok in zip(claims, won):
            if ok:
                claim.release()


def test_heartbeat_keeps_a_claim_alive(tmp_path):
    claim = TrialClaim(tmp_path / "t", timeout=2.0, interval=0.2)
    assert claim.acquire()
    try:
        time.sleep(3.0)
        state = read_claim(tmp_path / "t", timeout=2.0)
        assert state.alive and state.heartbeat_age < 1.0
    finally:
        claim.release()


def test_truncated_checkpoint_is_set_aside_and_the_trial_completes(speech_corpus, tmp_path):
    path = write_spec(tmp_path, speech_corpus, {"seed": [0]}, epochs=2)
    spec = load_spec(path)
    runs = tmp_path / "runs"
    assert run_local(spec, runs) == {spec.trials[0].id: "completed"}
    folder = runs / "g" / spec.trials[0].id
    reference = json.loads((folder / "meta.json").read_text())["result"]["metrics"]
    rows = _metric_keys(folder)
    # An interrupted trial (no DONE) whose last.ckpt was cut in half mid-write; best.ckpt still loads.
    (folder / MARKER).unlink()
    data = (folder / "last.ckpt").read_bytes()
    (folder / "last.ckpt").write_bytes(data[: len(data) // 2])
    assert run_local(spec, runs) == {spec.trials[0].id: "completed"}
    meta = json.loads((folder / "meta.json").read_text())
    sitting = meta["sittings"][-1]
    assert len(sitting["set_aside"]) == 1 and sitting["set_aside"][0].startswith("last.ckpt.corrupt-")
    assert (folder / sitting["set_aside"][0]).exists()
    assert sitting["resumed_from"] == "best.ckpt"
    assert meta["attempts"] == 2
    # best.ckpt may be the last epoch (then only the test reruns) or an earlier one (then training goes on).
    assert meta["result"]["metrics"]["test/si_snri"] == pytest.approx(reference["test/si_snri"], abs=1e-5)
    assert _metric_keys(folder) == rows  # cut back to best.ckpt's rows, then the same steps again: no duplicates


def test_no_loadable_checkpoint_restarts_from_step_zero(speech_corpus, tmp_path):
    path = write_spec(tmp_path, speech_corpus, {"seed": [0]}, epochs=1)
    spec = load_spec(path)
    runs = tmp_path / "runs"
    run_local(spec, runs)
    folder = runs / "g" / spec.trials[0].id
    first = _metric_keys(folder)
    (folder / MARKER).unlink()
    for name in ("last.ckpt", "best.ckpt"):
        (folder / name).write_bytes(os.urandom(1000))
    assert run_local(spec, runs) == {spec.trials[0].id: "completed"}
    sitting = json.loads((folder / "meta.json").read_text())["sittings"][-1]
    assert sitting["resumed_from"] is None and len(sitting["set_aside"]) == 2
    assert sitting["superseded"] and (folder / sitting["superseded"] / "metrics.csv").exists()
    assert _metric_keys(folder) == first  # trained again from step 0, old curves moved aside, not mixed in


def test_grid_exit_status_says_whether_trials_failed(speech_corpus, tmp_path):
    (tmp_path / "a").mkdir()
    good = write_spec(tmp_path / "a", speech_corpus, {"optimizer": [{"name": "adam", "lr": 1e-3}, {"name": "sgd", "lr": 1e12}]},
                      epochs=1)
    done = subprocess.run([sys.executable, "-m", "separation", "grid", str(good), "-o", str(tmp_path / "runs")],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr  # diverged is an outcome, not an error
    assert done.stdout.strip().splitlines()[-1].startswith("g: 2 trials: 1 completed, 1 diverged")
    (tmp_path / "b").mkdir()
    bad = write_spec(tmp_path / "b", speech_corpus, {"data.root": [str(speech_corpus), str(tmp_path / "no_corpus")]},
                     epochs=1, study="h")
    done = subprocess.run([sys.executable, "-m", "separation", "grid", str(bad), "-o", str(tmp_path / "runs")],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == EXIT_TRIALS_FAILED == 3, done.stderr
    assert done.stdout.strip().splitlines()[-1].startswith("h: 2 trials: 1 completed, 1 failed")
    assert exit_status({"a": "completed", "b": "interrupted"}) == 3
    assert exit_status({"a": "completed", "b": "stopped-at-target", "c": "diverged", "d": "running"}) == 0
