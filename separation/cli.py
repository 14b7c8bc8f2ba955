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


def _int_list(text: str) -> list[int]:
    """`2,3` -> [2, 3]; argparse turns the ValueError into a usage error."""
    return [int(part) for part in text.split(",")]


def _data_speech(args) -> int:
    from separation.data.speech_corpus import generate_speech_corpus

    options = {"n_train": args.n_train, "n_dev": args.n_dev, "n_test": args.n_test, "workers": args.workers,
               "families": args.families.split(",") if args.families else None,
               "n_src_list": args.n_src}
    generate_speech_corpus(
        args.root,
        seed=args.seed,
        sample_rate=args.sample_rate,
        holdout_family=args.holdout_family,
        speakers_dir=args.speakers,
        reverb=args.reverb,
        force=args.force,
        log=print,
        **{key: value for key, value in options.items() if value is not None},
    )
    return 0


def _data_music(args) -> int:
    from separation.data.music_corpus import generate_music_corpus

    generate_music_corpus(
        args.root, seed=args.seed, n_train=args.n_train, n_valid=args.n_valid, n_test=args.n_test,
        seconds=args.seconds, workers=args.workers, force=args.force, log=print,
    )
    return 0


def _separate(args) -> int:
    from separation.inference.separate import separate_files

    separate_files(
        args.checkpoint,
        args.inputs,
        args.output,
        force=args.force,
        device=args.device,
        chunk_seconds=args.chunk_seconds,
        overlap=args.overlap,
        batch_size=args.batch_size,
    )
    return 0


def _evaluate(args) -> int:
    from separation.errors import UserError
    from separation.inference.checkpoint import load_checkpoint

    loaded = load_checkpoint(args.checkpoint)
    if loaded.task == "music":
        return _evaluate_music(loaded, args)
    if loaded.task != "speech":
        raise UserError(f"{loaded.path}: no evaluation for task '{loaded.task}'")
    from separation.evaluation.speech import evaluate_speech_checkpoint

    summary, out_dir = evaluate_speech_checkpoint(
        loaded, args.data, args.split, args.output, args.max_items, args.examples,
        args.device, args.chunk_seconds, args.overlap, args.batch_size,
    )
    means = {name: summary["metrics"][name]["mean"] for name in ("si_snr", "si_snri", "sdr", "sdri")}
    shown = ", ".join(f"{name} {'n/a' if mean is None else f'{mean:.2f}'}" for name, mean in means.items())
    print(f"{summary['items']} utterances of {summary['data']['split']}, means in dB: {shown} ({out_dir})")
    return 0


def _evaluate_music(loaded, args) -> int:
    from separation.evaluation.music import evaluate_checkpoint

    data = loaded.config["data"]
    result = evaluate_checkpoint(
        loaded.path, args.data or data["root"], args.split or "test", data.get("is_wav", True) and not args.stem_mp4,
        args.seconds, args.output, args.device or "cpu",
    )
    for stem, scores in result["aggregate"].items():
        print(f"{stem}: " + ", ".join(f"{m} {v:.2f}" for m, v in scores.items()))
    return 0


def _add_chunk_options(command: argparse.ArgumentParser) -> None:
    command.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda when available)")
    command.add_argument("--chunk-seconds", type=float, help="chunk length in seconds (default: the task's; 8 for speech)")
    command.add_argument("--overlap", type=float, help="overlap of neighbouring chunks as a fraction, at most 0.5 (default 0.25)")
    command.add_argument("--batch-size", type=int, help="chunks per model call (default: 4 for speech)")


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


def _report(args) -> int:
    from separation.analysis.report import write_report

    study_dir = Path(args.study_dir)
    out_dir = Path(args.output) if args.output else Path("results") / study_dir.resolve().name
    report = write_report(study_dir, out_dir, args.spec)
    print(f"{report} (tables and figures beside it)")
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

    report = commands.add_parser("report", help="tables, figures and REPORT.md of a study folder (runs/<study> -> results/<study>)")
    report.add_argument("study_dir", help="a study folder written by `separation grid`, e.g. runs/quick")
    report.add_argument("-o", "--output", help="output folder (default: results/<study folder name>)")
    report.add_argument("--spec", help="the study's grid spec: lists the trials never started (missing cells) and the study's question")
    report.set_defaults(func=_report)

    separate = commands.add_parser("separate", help="separate audio files of any length with a trained checkpoint")
    separate.add_argument("checkpoint", help="checkpoint written by `separation train` (best.ckpt, last.ckpt)")
    separate.add_argument("inputs", nargs="+", metavar="INPUT", help="audio files (any sample rate, mono or stereo)")
    separate.add_argument("-o", "--output", required=True, help="writes OUTPUT/<input name>/<source>.wav")
    separate.add_argument("--force", action="store_true", help="overwrite existing outputs")
    _add_chunk_options(separate)
    separate.set_defaults(func=_separate)

    evaluation = commands.add_parser("evaluate", help="score a checkpoint on a test split (metrics.csv, summary.json)")
    evaluation.add_argument("checkpoint", help="checkpoint written by `separation train`")
    evaluation.add_argument("--data", help="data root (default: the one in the checkpoint's config)")
    evaluation.add_argument("--split", help="split folder (default: the config's test split; music: test, valid or train)")
    evaluation.add_argument("-o", "--output", help="output folder (default: <checkpoint folder>/eval_<split>)")
    evaluation.add_argument("--max-items", type=int, help="score only the first N items")
    evaluation.add_argument("--examples", type=int, default=3, help="speech: example separations written as wav (default 3)")
    evaluation.add_argument("--seconds", type=float, help="music: centred excerpt per track instead of the whole track")
    evaluation.add_argument("--stem-mp4", action="store_true", help="music: read MUSDB18 .stem.mp4 files")
    _add_chunk_options(evaluation)
    evaluation.set_defaults(func=_evaluate)

    data = commands.add_parser("data", help="generate corpora offline")
    kinds = data.add_subparsers(dest="kind", required=True)
    speech = kinds.add_parser(
        "speech", help="LibriMix-shaped speech mixtures from espeak-ng, Flite, Festival and recorded prompts"
    )
    speech.add_argument("root", help="output folder")
    speech.add_argument("--seed", type=int, default=0)
    speech.add_argument("--sample-rate", type=int, default=8000)
    speech.add_argument("--n-src", type=_int_list, help="speakers per mixture, comma-separated (default 2,3)")
    speech.add_argument("--n-train", type=int, help="training mixtures per speaker count (default 800)")
    speech.add_argument("--n-dev", type=int, help="dev mixtures per speaker count (default 100)")
    speech.add_argument("--n-test", type=int, help="test mixtures per speaker count (default 100)")
    speech.add_argument("--families", help="voice families, comma-separated (default espeak,flite,festival,prompts)")
    speech.add_argument("--holdout-family", help="keep this family out of train and dev; it becomes split test-FAMILY")
    speech.add_argument("--speakers", metavar="DIR", help="use your recordings: DIR/<speaker>/*.wav instead of voices")
    speech.add_argument("--reverb", type=float, default=0.0, help="fraction of mixtures in a room (dry targets)")
    speech.add_argument("--workers", type=int, help="threads (the output does not depend on it; default 2)")
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
