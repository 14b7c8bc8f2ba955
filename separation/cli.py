"""The `separation` command: one subcommand per job, each a thin shell over a library call.

Bad input (a config key, a data folder, a file) ends with one line on stderr
naming what was wrong and exit status 2; nothing is left half-written.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _train(args) -> int:
    from separation.config import load_config, parse_set_arguments
    from separation.train import train

    config = load_config(args.config, parse_set_arguments(args.set))
    if args.run_dir:
        config.run_dir = args.run_dir
    result = train(config, resume=not args.restart)
    metrics = result.metrics
    shown = {k: round(v, 3) for k, v in metrics.items() if k.startswith(("val/", "test/"))}
    print(f"{result.status}: {result.run_dir} after {result.global_step} steps; {shown}")
    if result.reason:
        print(f"reason: {result.reason}")
    return 0


def _data_speech(args) -> int:
    from separation.data.speech_corpus import generate_speech_corpus

    generate_speech_corpus(
        args.root,
        seed=args.seed,
        sample_rate=args.sample_rate,
        force=args.force,
        log=print,
        **({"n_train": args.n_train} if args.n_train else {}),
    )
    return 0


def _data_music(args) -> int:
    from separation.data.music_corpus import generate_music_corpus

    generate_music_corpus(
        args.root, seed=args.seed, n_train=args.n_train, n_valid=args.n_valid, n_test=args.n_test,
        seconds=args.seconds, workers=args.workers, force=args.force, log=print,
    )
    return 0


def _evaluate_music(args) -> int:
    from separation.evaluation.music import evaluate_checkpoint

    result = evaluate_checkpoint(
        args.checkpoint, args.root, args.role, not args.stem_mp4, args.seconds, args.out, args.device
    )
    for stem, scores in result["aggregate"].items():
        print(f"{stem}: " + ", ".join(f"{m} {v:.2f}" for m, v in scores.items()))
    return 0


def _grid(args) -> int:
    from collections import Counter

    from separation.grid.runner import format_table, run_local, study_dir_for
    from separation.grid.spec import load_spec

    spec = load_spec(args.spec)
    study_dir = study_dir_for(spec, args.runs)
    if args.dry_run:
        print(format_table(spec, study_dir))
        return 0
    if args.engine == "ray":
        from separation.grid.ray_engine import run_ray

        result = run_ray(spec, args.runs, args.retry_failed, args.trials_per_gpu, args.cpus_per_trial, args.address, args.max_retries)
    else:
        result = run_local(spec, args.runs, args.retry_failed)
    counts = Counter(result.values())
    print(f"{spec.study}: " + ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) + f" ({study_dir})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="separation", description="Source-separation optimizer study suite.")
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train one run from a YAML config")
    train.add_argument("config", help="YAML training config (see experiments/)")
    train.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key, e.g. optimizer.lr=1e-3")
    train.add_argument("--run-dir", help="override run_dir")
    train.add_argument("--restart", action="store_true", help="ignore last.ckpt in the run directory")
    train.set_defaults(func=_train)

    grid = commands.add_parser("grid", help="train every trial of a grid spec (skips finished, resumes interrupted)")
    grid.add_argument("spec", help="grid spec YAML (see experiments/)")
    grid.add_argument("--dry-run", action="store_true", help="print the trials and their state; train nothing")
    grid.add_argument("--runs", default="runs", help="root folder of studies (default: runs)")
    grid.add_argument("--engine", choices=("local", "ray"), default="local")
    grid.add_argument("--trials-per-gpu", type=int, default=1, help="ray: pack K trials on each GPU")
    grid.add_argument("--cpus-per-trial", type=float, default=1.0, help="ray: CPUs reserved per trial")
    grid.add_argument("--address", help="ray: address of an existing cluster (default: start a local one)")
    grid.add_argument("--max-retries", type=int, default=0, help="ray: retries of a failed trial")
    grid.add_argument("--retry-failed", action="store_true", help="run trials that failed before again")
    grid.set_defaults(func=_grid)

    data = commands.add_parser("data", help="generate corpora offline")
    kinds = data.add_subparsers(dest="kind", required=True)
    speech = kinds.add_parser("speech", help="LibriMix-shaped speech mixtures from espeak-ng voices")
    speech.add_argument("root", help="output folder")
    speech.add_argument("--seed", type=int, default=0)
    speech.add_argument("--sample-rate", type=int, default=8000)
    speech.add_argument("--n-train", type=int, help="training mixtures per speaker count")
    speech.add_argument("--force", action="store_true", help="replace an existing corpus")
    speech.set_defaults(func=_data_speech)
    music = kinds.add_parser("music", help="MUSDB18-HQ-shaped songs rendered from MIDI with fluidsynth")
    music.add_argument("root", help="output folder: ROOT/{train,test}/<track>/*.wav and ROOT/musdb.yaml")
    music.add_argument("--seed", type=int, default=0)
    music.add_argument("--n-train", type=int, default=8, help="tracks in train/, validation tracks included")
    music.add_argument("--n-valid", type=int, default=2, help="the last training tracks, listed as musdb's validation split")
    music.add_argument("--n-test", type=int, default=3)
    music.add_argument("--seconds", type=float, default=24.0, help="length of every track")
    music.add_argument("--workers", type=int, default=2, help="rendering processes (the output does not depend on it)")
    music.add_argument("--force", action="store_true", help="replace an existing corpus")
    music.set_defaults(func=_data_music)

    evaluate = commands.add_parser("evaluate-music", help="museval BSSEval v4 of a music checkpoint on whole tracks")
    evaluate.add_argument("checkpoint", help="best.ckpt or last.ckpt of a music run")
    evaluate.add_argument("root", help="MUSDB18-HQ folder (or MUSDB18 with --stem-mp4)")
    evaluate.add_argument("--role", choices=("test", "valid", "train"), default="test")
    evaluate.add_argument("--stem-mp4", action="store_true", help="read .stem.mp4 files (decoded once into ROOT/decoded)")
    evaluate.add_argument("--seconds", type=float, help="centred excerpt per track instead of the whole track")
    evaluate.add_argument("--out", help="output folder (default: bsseval_<role>/ beside the checkpoint)")
    evaluate.add_argument("--device", default="cpu")
    evaluate.set_defaults(func=_evaluate_music)
    return parser


def main(argv: list[str] | None = None) -> int:
    from separation.errors import USER_ERRORS

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except USER_ERRORS as error:
        print(f"separation: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
