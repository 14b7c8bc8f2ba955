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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="separation", description="Source-separation optimizer study suite.")
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train one run from a YAML config")
    train.add_argument("config", help="YAML training config (see experiments/)")
    train.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key, e.g. optimizer.lr=1e-3")
    train.add_argument("--run-dir", help="override run_dir")
    train.add_argument("--restart", action="store_true", help="ignore last.ckpt in the run directory")
    train.set_defaults(func=_train)

    data = commands.add_parser("data", help="generate corpora offline")
    kinds = data.add_subparsers(dest="kind", required=True)
    speech = kinds.add_parser("speech", help="LibriMix-shaped speech mixtures from espeak-ng voices")
    speech.add_argument("root", help="output folder")
    speech.add_argument("--seed", type=int, default=0)
    speech.add_argument("--sample-rate", type=int, default=8000)
    speech.add_argument("--n-train", type=int, help="training mixtures per speaker count")
    speech.add_argument("--force", action="store_true", help="replace an existing corpus")
    speech.set_defaults(func=_data_speech)
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
