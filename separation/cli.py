"""The `separation` command: one subcommand per job, each a thin shell over a library call.

Exit status: 0 done; 2 bad input (one line on stderr naming the file or key and
what was expected; nothing is left half-written); 3 `grid` finished with a planned
trial failed or left interrupted, `evaluate-study` with an evaluation failed; 130 / 143 stopped by SIGINT / SIGTERM after
saving a checkpoint (rerun to resume).

One file of about 550 lines on purpose: each subcommand's parser sits beside its
handler, and the options shared across subcommands (chunking, deprecated
spellings, the runs root) are defined once here; every handler is a few lines
over a library call, so the length is the command line's own surface.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from separation.data.voice_families import DEFAULT_FAMILIES, FAMILIES  # standard library only, as is the next
from separation.grid.claim import DEFAULT_TIMEOUT as CLAIM_TIMEOUT  # standard library only: --help stays fast

# Where `train` and `grid` write when no -o names a folder: $SEPARATION_RUNS, else runs/.
RUNS_ENV = "SEPARATION_RUNS"


def _runs_root() -> str:
    return os.environ.get(RUNS_ENV) or "runs"


def _train(args) -> int:
    from separation.config import load_config, parse_set_arguments
    from separation.train import train
    from separation.training.interrupt import handle_signals
    from separation.training.quiet import quiet_run

    config = load_config(args.config, parse_set_arguments(args.set))
    if args.run_dir:
        config.run_dir = args.run_dir
    elif not config.run_dir:
        config.run_dir = str(Path(_runs_root()) / Path(args.config).stem)  # one folder per config, none shared
    # Ctrl-C / kill: finish the step, save it, exit 130 / 143; Lightning's banners and warnings go to RUN/train.log
    with handle_signals(), quiet_run(config.run_dir):
        result = train(config, restart=args.restart)
    if result.moved_aside:
        print(f"previous run moved to {result.moved_aside}")
    metrics = result.metrics
    shown = {k: round(v, 3) for k, v in metrics.items() if k.startswith(("val/", "test/"))}
    print(f"{result.status}: {result.run_dir} after {result.global_step} steps; {shown}")
    if result.reason:
        print(f"reason: {result.reason}")
    return 0


def _check_not_a_file(path, what: str) -> None:
    from separation.errors import UserError

    if path is not None and Path(path).exists() and not Path(path).is_dir():
        raise UserError(f"{path}: is a file; expected a {what} (a folder)")


def _int_list(text: str) -> list[int]:
    """`2,3` -> [2, 3]; argparse turns the ValueError into a usage error."""
    return [int(part) for part in text.split(",")]


def _data_speech(args) -> int:
    from separation.data.speech_corpus import generate_speech_corpus

    _check_not_a_file(args.root, "corpus folder")
    options = {"n_train": args.n_train, "n_dev": args.n_dev, "n_test": args.n_test, "workers": args.workers,
               "utterances_per_speaker": args.utterances_per_speaker,
               "families": args.families.split(",") if args.families else None,
               "n_src_list": args.n_src}
    generate_speech_corpus(
        args.root,
        seed=args.seed,
        sample_rate=args.sample_rate,
        holdout_family=args.holdout_family,
        speakers_dir=args.speakers,
        reverb=args.reverb,
        codec=args.codec,
        force=args.force,
        log=print,
        **{key: value for key, value in options.items() if value is not None},
    )
    return 0


def _data_music(args) -> int:
    from separation.data.music_corpus import generate_music_corpus

    _check_not_a_file(args.root, "corpus folder")
    generate_music_corpus(
        args.root, seed=args.seed, n_train=args.n_train, n_valid=args.n_valid, n_test=args.n_test,
        seconds=args.seconds, workers=args.workers, force=args.force, log=print,
    )
    return 0


def _data_noisy(args) -> int:
    from separation.data.noisy_corpus import data_noisy

    _check_not_a_file(args.root, "corpus folder")
    data_noisy(args.root, sample_rate=args.sample_rate, snr=args.snr, speech=args.speech, noise=args.noise,
               music=args.music, seed=args.seed, kinds=args.kinds, force=args.force, log=print)
    return 0


def _data_realmix(args) -> int:
    from separation.data.realmix_corpus import generate_realmix

    _check_not_a_file(args.root, "corpus folder")
    generate_realmix(args.root, prompts=args.prompts, speakers_dir=args.speakers, mixtures=args.mixtures,
                     seed=args.seed, sample_rate=args.sample_rate, level_range=args.level_range,
                     min_seconds=args.min_seconds, force=args.force)
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
    from separation.tasks import TASKS

    if (args.checkpoint is None) == (args.baseline is None):
        raise UserError("separation evaluate takes a checkpoint or --baseline NAME (one of the two)")
    if args.baseline is not None:
        with_baselines = [name for name, task in TASKS.items() if task.baseline is not None]
        task = args.task or (with_baselines[0] if len(with_baselines) == 1 else None)
        if task not in with_baselines:
            raise UserError(f"--baseline needs --task, one of: {', '.join(with_baselines)} (the tasks with fixed baselines)")
        print(TASKS[task].baseline(args))
        return 0
    loaded = load_checkpoint(args.checkpoint)
    if loaded.task not in TASKS:
        raise UserError(f"{loaded.path}: no evaluation for task '{loaded.task}'; known: {', '.join(TASKS)}")
    print(TASKS[loaded.task].evaluate(loaded, args))
    return 0


def _add_evaluate_options(command: argparse.ArgumentParser) -> None:
    """What scores a checkpoint: shared by `evaluate` and `evaluate-study` (which passes them on)."""
    command.add_argument("--data", help="data root (default: the one in the checkpoint's config; --baseline: data/noisy)")
    command.add_argument("--max-items", type=int, help="score only the first N items (default: all)")
    command.add_argument("--examples", type=int, default=3, help="speech: example separations written as wav")
    command.add_argument("--excerpt-seconds", dest="seconds", type=float,
                         help="music: score a centred excerpt of this length per track (default: the whole track)")
    _renamed(command, "--seconds", "--excerpt-seconds", "seconds", type=float)
    command.add_argument("--stem-mp4", action="store_true", help="music: read MUSDB18 .stem.mp4 files")
    command.add_argument("--mos", action="store_true", help="enhance: also DNSMOS P.835 (speechmos' bundled models; seconds per item)")
    _add_chunk_options(command)


def _add_chunk_options(command: argparse.ArgumentParser) -> None:
    command.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda when available)")
    from separation.tasks import TASKS  # standard library only, as the other imports of this file

    def defaults(field: str, unit: str = "") -> str:
        return "the task's: " + ", ".join(f"{getattr(t.chunking, field):g}{unit} for {name}" for name, t in TASKS.items())

    command.add_argument("--chunk-seconds", type=float, help=f"chunk length in seconds (default: {defaults('seconds', ' s')})")
    command.add_argument("--overlap", type=float,
                         help=f"overlap of neighbouring chunks as a fraction, at most 0.5 (default: {defaults('overlap')})")
    command.add_argument("--batch-size", type=int, help=f"chunks per model call (default: {defaults('batch_size')})")


def _grid(args) -> int:
    from separation.grid.runner import count_line, exit_status, format_table, run_local, study_dir_for
    from separation.training.interrupt import handle_signals
    from separation.grid.spec import load_spec

    spec = load_spec(args.spec)
    _check_not_a_file(args.runs, "runs folder")
    study_dir = study_dir_for(spec, args.runs)
    if args.dry_run:
        print(format_table(spec, study_dir, args.claim_timeout))
        return 0
    if args.engine == "ray":
        from separation.grid.ray_engine import run_ray

        # Ray handles Ctrl-C itself (its trials resume from their last checkpoint next time).
        result = run_ray(spec, args.runs, args.retry_failed, args.trials_per_gpu, args.cpus_per_trial, args.address,
                         args.max_retries, claim_timeout=args.claim_timeout)
    else:
        with handle_signals():
            result = run_local(spec, args.runs, args.retry_failed, claim_timeout=args.claim_timeout)
    print(f"{spec.study}: {count_line(result)} ({study_dir})")
    return exit_status(result)


def _report(args) -> int:
    from separation.analysis.report import write_report

    study_dir = Path(args.study_dir)
    # Default: inside the study folder (runs/ is git-ignored), so no committed results/ folder changes unless named.
    out_dir = Path(args.output) if args.output else study_dir / "report"
    report = write_report(study_dir, out_dir, args.spec, force=args.force)
    print(f"{report} (tables and figures beside it)")
    return 0


def _compare(args) -> int:
    from separation.analysis.compare import format_result, load_study, run_compare
    from separation.errors import UserError

    if len(args.studies) > 2:
        raise UserError(f"separation compare takes one study (two cells of it) or two (a cell of each); got {len(args.studies)}")
    if args.cell is not None and (args.a is not None or args.b is not None):
        raise UserError("separation compare: give --cell (the same cell in both studies) or --a and --b, not both")
    if args.cell is not None and len(args.studies) == 1:
        raise UserError("separation compare: --cell compares one cell across two studies; name two, or give --a and --b")
    a, b = (args.cell, args.cell) if args.cell is not None else (args.a, args.b)
    if a is None or b is None:
        raise UserError("separation compare: give the cells as --a KEY=VALUE[,...] and --b KEY=VALUE[,...]"
                        + (" (or --cell for the same cell in both studies)" if len(args.studies) == 2 else ""))
    specs = args.spec or []
    if len(specs) > len(args.studies):
        raise UserError(f"separation compare: {len(specs)} --spec for {len(args.studies)} stud{'ies' if len(args.studies) > 1 else 'y'}")
    specs = [*specs, *[None] * (len(args.studies) - len(specs))]
    studies = [load_study(path, spec) for path, spec in zip(args.studies, specs)]
    result = run_compare(studies[0], a, b, studies[1] if len(studies) == 2 else None, args.metric)
    print(format_result(result))
    return 0


def _summarize(args) -> int:
    from separation.analysis.summarize_run import summarize_run

    print(summarize_run(args.run_dir, args.metric or _selection_metric(Path(args.run_dir))))
    return 0


def _selection_metric(run_dir: Path) -> str:
    """The selection metric of the run's task (its config.yaml; a config without `task` trains the default one)."""
    import yaml

    from separation.config import Config
    from separation.tasks import get_task

    try:
        config = yaml.safe_load((run_dir / "config.yaml").read_text())
    except (OSError, yaml.YAMLError):
        config = None  # summarize_run says what the folder lacks
    task = config.get("task", Config.task) if isinstance(config, dict) else Config.task
    return get_task(task).headline.val


# (dest, option) of the `evaluate` options that `evaluate-study` passes on to every trial's evaluation.
FORWARDED = (("data", "--data"), ("max_items", "--max-items"), ("examples", "--examples"),
             ("seconds", "--excerpt-seconds"), ("stem_mp4", "--stem-mp4"), ("mos", "--mos"), ("device", "--device"),
             ("chunk_seconds", "--chunk-seconds"), ("overlap", "--overlap"), ("batch_size", "--batch-size"))


def _evaluate_study(args) -> int:
    from separation.evaluation.study import evaluate_study

    extra = []
    for dest, option in FORWARDED:
        value = getattr(args, dest)
        if value is True:
            extra.append(option)
        elif value is not None and value is not False:
            extra += [option, str(value)]
    trials = None
    if args.spec:
        from separation.grid.spec import load_spec

        trials = {trial.id for trial in load_spec(args.spec).trials}
    failed = evaluate_study(args.study_dir, args.split, extra, args.processes, args.only_missing, args.include_lost,
                            log=lambda line: print(line, flush=True), trials=trials)
    return 3 if failed else 0


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


class _Deprecated(argparse.Action):
    """An old spelling of an option, kept for one release: it sets the new option's value and says
    so in one line on stderr. Hidden from --help, which shows only the spelling to use."""

    def __init__(self, option_strings, dest, use: str = "", **kwargs):
        self.use = use
        kwargs.setdefault("default", argparse.SUPPRESS)  # the new option's default stands
        super().__init__(option_strings, dest, help=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"separation: {option_string} is deprecated and goes in the next release; use {self.use}",
              file=sys.stderr)
        setattr(namespace, self.dest, True if self.nargs == 0 else values)


def _renamed(command: argparse.ArgumentParser, old: str, new: str, dest: str, **kwargs) -> None:
    """Keep `old` working as a deprecated spelling of `new` (same destination, same type)."""
    command.add_argument(old, dest=dest, action=_Deprecated, use=new, **kwargs)


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows `(default: X)` after every option that has a default; flags (store_true) and
    options whose default is computed at run time (None, said in their help) are left alone."""

    def _get_help_string(self, action):
        if action.default is None or action.nargs == 0 or action.default == []:
            return action.help
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    """A parser whose subcommands (argparse builds them with the parent's class) show their defaults."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("separation")
    except PackageNotFoundError:  # run from a source tree that is not installed
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="separation",
                                     description="Source-separation optimizer study suite. "
                                     "`separation COMMAND --help` says what each writes and where.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = commands.add_parser(
        "train", help="train one run from a YAML config",
        description="Train one run from a YAML config. Writes into the run folder (-o, else the config's "
        "run_dir, else ROOT/<config file name> with ROOT $SEPARATION_RUNS or runs): config.yaml, metrics.csv, TensorBoard events, last.ckpt, best.ckpt, "
        "summary.json and train.log. Run again, it resumes from last.ckpt.")
    train.add_argument("config", help="YAML training config (see experiments/)")
    train.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key, e.g. optimizer.lr=1e-3")
    train.add_argument("-o", "--output", dest="run_dir", metavar="RUN_DIR",
                       help="the run folder (default: the config's run_dir, else ROOT/<config file name>, "
                       "ROOT being $SEPARATION_RUNS when set, else runs)")
    _renamed(train, "--run-dir", "-o/--output", "run_dir")
    train.add_argument("--restart", action="store_true",
                       help="move a run already in the run folder aside (renamed <folder>.restarted-<UTC time>, never "
                       "deleted) and train from step 0; without it, a folder holding a run of another config is refused")
    train.set_defaults(func=_train)

    grid = commands.add_parser(
        "grid", help="train every trial of a grid spec (skips finished, resumes interrupted)",
        description="Train every trial of a grid spec. Writes ROOT/<study>/<trial id>/ per trial (ROOT: -o, else $SEPARATION_RUNS, else runs): config.yaml, "
        "meta.json (commit, versions, device, status and why), metrics.csv, TensorBoard events, last.ckpt, train.log "
        "and DONE last. Skips finished trials, resumes interrupted ones; any number of workers may share a study.")
    grid.add_argument("spec", help="grid spec YAML (see experiments/)")
    grid.add_argument("--dry-run", action="store_true", help="print the trials and their state; train nothing")
    grid.add_argument("-o", "--output", dest="runs", default=_runs_root(), metavar="ROOT",
                      help="root folder of studies: trials go to ROOT/<study>/<trial id>/; the default is "
                      "$SEPARATION_RUNS when set")
    _renamed(grid, "--runs", "-o/--output", "runs")
    grid.add_argument("--engine", choices=("local", "ray"), default="local",
                      help="local: trials one after another in this process; ray: trials as Ray tasks")
    grid.add_argument("--trials-per-gpu", type=int, default=1, help="ray: pack K trials on each GPU")
    grid.add_argument("--cpus-per-trial", type=float, default=1.0, help="ray: CPUs reserved per trial")
    grid.add_argument("--address", help="ray: address of an existing cluster (default: start a local one)")
    grid.add_argument("--max-retries", type=int, default=0, help="ray: retries of a failed trial")
    grid.add_argument("--retry-failed", action="store_true", help="run trials that failed before again")
    grid.add_argument("--claim-timeout", type=_positive_seconds, default=CLAIM_TIMEOUT, metavar="SECONDS",
                      help="a trial claimed by a worker on another machine whose heartbeat is older than this is "
                           "taken over (same machine: as soon as its process is gone)")
    grid.set_defaults(func=_grid)

    report = commands.add_parser(
        "report", help="tables, figures and REPORT.md of a study folder (runs/<study> -> runs/<study>/report)",
        description="Turn a study folder into REPORT.md, tables (trials.csv, cells.csv, comparisons.csv, steps.csv, "
        "evaluation.csv when evaluated) and figures/, written to -o (default STUDY_DIR/report).")
    report.add_argument("study_dir", help="a study folder written by `separation grid`, e.g. runs/quick")
    report.add_argument("-o", "--output", help="output folder (default: STUDY_DIR/report; name results/<study> to update a committed report)")
    report.add_argument("--spec", help="the study's grid spec: lists the trials never started (missing cells) and the study's question")
    report.add_argument("--force", action="store_true",
                        help="write into a non-empty folder that is not a report (its other files are kept)")
    report.set_defaults(func=_report)

    separate = commands.add_parser(
        "separate", help="separate audio files of any length with a trained checkpoint",
        description="Separate audio files of any length in overlapping chunks. Writes OUTPUT/<input name>/<source>.wav.")
    separate.add_argument("checkpoint", help="checkpoint written by `separation train` (best.ckpt, last.ckpt)")
    separate.add_argument("inputs", nargs="+", metavar="INPUT", help="audio files (any sample rate, mono or stereo)")
    separate.add_argument("-o", "--output", required=True, help="writes OUTPUT/<input name>/<source>.wav")
    separate.add_argument("--force", action="store_true", help="overwrite existing outputs")
    _add_chunk_options(separate)
    separate.set_defaults(func=_separate)

    evaluation = commands.add_parser(
        "evaluate", help="score a checkpoint, or an enhancement baseline, on a test split (metrics.csv, summary.json)",
        description="Score a checkpoint (or, for enhancement, a fixed baseline) on a split. Writes -o (default "
        "<checkpoint folder>/eval_<split>): metrics.csv (one row per item), summary.json and example wavs.")
    evaluation.add_argument("checkpoint", nargs="?", help="checkpoint written by `separation train` (or use --baseline)")
    evaluation.add_argument("--baseline", metavar="NAME",
                            help="score a fixed baseline of the task instead of a checkpoint (enhance: noisy, rnnoise, "
                            "noisereduce, deepfilternet)")
    evaluation.add_argument("--task", help="--baseline: the task whose baseline (default: the one task that has baselines)")
    evaluation.add_argument("--layout", choices=("noisy", "voicebank"), default="noisy",
                            help="--baseline: the data folder's layout (noisy: from `separation data noisy`)")
    evaluation.add_argument("--split", help="split folder (default: the config's test split; music: test, valid or train)")
    evaluation.add_argument("-o", "--output", help="output folder (default: <checkpoint folder>/eval_<split>)")
    _add_evaluate_options(evaluation)
    evaluation.set_defaults(func=_evaluate)

    study_evaluation = commands.add_parser(
        "evaluate-study", help="`evaluate` the final weights of every finished trial of a study (for its report)",
        description="Run `separation evaluate` on last.ckpt of every trial of a study folder that finished well, "
        "one process per trial. Writes <trial>/eval_<split>/ (metrics.csv, summary.json, example wavs), each "
        "swapped in only once complete; `separation report` then reads them. One line per trial; exit 3 if any "
        "evaluation failed.")
    study_evaluation.add_argument("study_dir", help="a study folder written by `separation grid`, e.g. runs/enhance_optimizers")
    study_evaluation.add_argument("--split", default="test", help="split to score; writes <trial>/eval_<split>/")
    study_evaluation.add_argument("--processes", type=int, default=1, metavar="N", help="evaluations (processes) at a time")
    _renamed(study_evaluation, "--jobs", "--processes", "processes", type=int)
    study_evaluation.add_argument("--only-missing", action="store_true", help="skip trials that already have eval_<split>/")
    study_evaluation.add_argument("--include-lost", action="store_true",
                                  help="also evaluate diverged and collapsed trials (the report never scores them)")
    study_evaluation.add_argument("--spec", help="evaluate only this grid spec's trials (a study folder several specs share)")
    _add_evaluate_options(study_evaluation)
    study_evaluation.set_defaults(func=_evaluate_study)

    comparison = commands.add_parser(
        "compare", help="is cell A better than cell B? two cells of a study, or one cell across two studies",
        description="Compare two cells of a study (--a, --b), or the same cell across two studies (--cell), as the "
        "reports do: difference of the medians over seeds of the headline metric, its 95% bootstrap interval, "
        "P(A > B), and the same counting diverged or collapsed seeds at the worst value. A cell is KEY=VALUE[,KEY=VALUE] "
        "over the study's factors (optimizer, lr, scheduler, clipping, optimizer_name ...) or its label as the report "
        "prints it; factors matching several cells name their best on validation, as the report selects. "
        "Writes nothing: prints a few lines.",
        epilog="e.g. separation compare results/svoice_optimizers --a optimizer=rmsprop --b optimizer=adam; "
        "separation compare results/svoice_schedulers results/svoice_schedulers_v2 --cell scheduler=plateau")
    comparison.add_argument("studies", nargs="+", metavar="STUDY",
                            help="a report folder (results/<study>: trials.csv, steps.csv) or a study's trial folders "
                            "(runs/<study>); two for a cell across studies")
    comparison.add_argument("--a", metavar="CELL", help="cell A (of the first study)")
    comparison.add_argument("--b", metavar="CELL", help="cell B (of the second study when two are given)")
    comparison.add_argument("--cell", metavar="CELL", help="with two studies: this cell of the first against it in the second")
    comparison.add_argument("--spec", action="append", metavar="SPEC",
                            help="a study's grid spec, once per study in order (default: the spec its REPORT.md's "
                            "Reproduce block names; runs/<study> folders need none)")
    comparison.add_argument("--metric", choices=("test", "val_final"),
                            help="the headline metric on test or at the final validation (default: test when every "
                            "study has it, as the reports)")
    comparison.set_defaults(func=_compare)

    summarize = commands.add_parser(
        "summarize", help="one training run folder as markdown: outcome, validation curve, final metrics",
        description="Summarize a run folder written by `separation train` (its summary.json and metrics.csv) as "
        "markdown: status and budget, the validation metric and loss at every validation, the final metrics. "
        "Writes nothing: prints to stdout.")
    summarize.add_argument("run_dir", metavar="RUN", help="a run folder, e.g. runs/svoice_cpu")
    summarize.add_argument("--metric", help="the validation metric to tabulate (default: the selection metric of the run's "
                           "task, e.g. val/si_snri, val/sdr for music)")
    summarize.set_defaults(func=_summarize)

    data = commands.add_parser("data", help="generate corpora offline",
                               description="Generate a corpus offline into ROOT (speech, music, noisy or realmix).")
    kinds = data.add_subparsers(dest="kind", required=True)
    speech = kinds.add_parser(
        "speech", help="LibriMix-shaped speech mixtures from espeak-ng, Flite, Festival and recorded prompts",
        description="Write a LibriMix-shaped corpus to ROOT: Libri{N}Mix/wav{8k|16k}/min/{train-100,dev,test}/ "
        "(mix_clean, mix_both, s1.., noise) and metadata/ beside the splits (LibriMix's csv files, "
        "mixture_info_<split>.csv, speakers.csv, utterances.csv).",
    )
    speech.add_argument("root", help="output folder (the corpus root)")
    speech.add_argument("--seed", type=int, default=0, help="random seed of every draw")
    speech.add_argument("--sample-rate", type=int, default=8000, help="sample rate of the written wavs (Hz)")
    speech.add_argument("--n-src", type=_int_list, help="speakers per mixture, comma-separated (default: 2,3)")
    speech.add_argument("--n-train", type=int, help="training mixtures per speaker count (default: 800)")
    speech.add_argument("--n-valid", dest="n_dev", type=int, metavar="N_VALID",
                        help="validation mixtures per speaker count, written as LibriMix's dev/ split (default: 100)")
    _renamed(speech, "--n-dev", "--n-valid", "n_dev", type=int)
    speech.add_argument("--n-test", type=int, help="test mixtures per speaker count (default: 100)")
    speech.add_argument("--utterances-per-speaker", type=int,
                        help="each speaker's pool of utterances, which mixtures reuse (default: 12)")
    speech.add_argument("--families", help=f"voice families, comma-separated, of {','.join(FAMILIES)} (default: "
                        f"{','.join(DEFAULT_FAMILIES)}; festvox and ktuberling add recorded speakers of other languages)")
    speech.add_argument("--holdout-family", help="keep this family out of train and validation; it becomes split test-FAMILY")
    speech.add_argument("--speakers", metavar="DIR", help="use your recordings: DIR/<speaker>/*.wav instead of voices")
    speech.add_argument("--reverb", type=float, default=0.0, help="fraction of mixtures in a room (dry targets)")
    speech.add_argument("--codec", type=float, default=0.0,
                        help="fraction of utterances through a telephone codec (GSM, A-law, mu-law; not the "
                        "held-out family's)")
    speech.add_argument("--threads", dest="workers", type=int, metavar="N", help="threads (the output does not depend on it) (default: 2)")
    _renamed(speech, "--workers", "--threads", "workers", type=int)
    speech.add_argument("--force", action="store_true", help="replace an existing corpus")
    speech.set_defaults(func=_data_speech)
    music = kinds.add_parser("music", help="MUSDB18-HQ-shaped songs rendered from MIDI with fluidsynth",
                             description="Write MUSDB18-HQ-shaped songs to ROOT/{train,test}/<track>/*.wav and ROOT/musdb.yaml.")
    music.add_argument("root", help="output folder: ROOT/{train,test}/<track>/*.wav and ROOT/musdb.yaml")
    music.add_argument("--seed", type=int, default=0, help="random seed of every draw")
    music.add_argument("--n-train", type=int, default=8, help="tracks in train/, validation tracks included")
    music.add_argument("--n-valid", type=int, default=2, help="the last training tracks, listed as musdb's validation split")
    music.add_argument("--n-test", type=int, default=3, help="tracks in test/")
    music.add_argument("--track-seconds", dest="seconds", type=float, default=24.0, help="length of every track in seconds")
    _renamed(music, "--seconds", "--track-seconds", "seconds", type=float)
    music.add_argument("--processes", dest="workers", type=int, default=2, metavar="N",
                       help="rendering processes (the output does not depend on it)")
    _renamed(music, "--workers", "--processes", "workers", type=int)
    music.add_argument("--force", action="store_true", help="replace an existing corpus")
    music.set_defaults(func=_data_music)
    noisy = kinds.add_parser("noisy", help="noisy speech for enhancement: clean utterances plus noise at a drawn SNR",
                             description="Write ROOT/{train,valid,test}/{clean,noise,noisy}/*.wav, metadata.csv (every "
                             "draw) and corpus.json (SNR quartiles per split).")
    noisy.add_argument("root", help="output folder: ROOT/{train,valid,test}/{clean,noise,noisy}/*.wav, metadata.csv")
    noisy.add_argument("--sample-rate", type=int, default=16000, help="sample rate of the written wavs (Hz)")
    noisy.add_argument("--snr", type=float, nargs=2, default=[-5.0, 20.0], metavar=("MIN", "MAX"),
                       help="SNR range in dB, drawn uniformly per item")
    noisy.add_argument("--speech", help="clean speech: a generated speech corpus or any folder of wavs (default: data/speech)")
    noisy.add_argument("--noise", help="folder of noise recordings at the corpus rate (noise kind 'recorded')")
    noisy.add_argument("--music", help="generated music corpus (noise kind 'music')")
    noisy.add_argument("--kinds", nargs="+", metavar="KIND",
                       help="noise kinds (default: white pink brown hum babble ambient, plus music/recorded when given)")
    noisy.add_argument("--seed", type=int, default=0, help="random seed of every draw")
    noisy.add_argument("--force", action="store_true", help="replace an existing corpus")
    noisy.set_defaults(func=_data_noisy)
    realmix = kinds.add_parser(
        "realmix", help="a held-out test split of real two-speaker mixtures, mixed by LibriMix's recipe",
        description="Write ROOT/Libri2Mix/wav{8k|16k}/min/test/{mix_clean,s1,s2} and metadata/ (LibriMix's csv with "
        "speakers, files and levels; realmix.json) from unperturbed recordings: BS.1770 loudness, min mode, "
        "no warp or channel effects. Score it with `separation evaluate CKPT --data ROOT --split test`.")
    realmix.add_argument("root", help="output folder (the corpus root)")
    voices = realmix.add_mutually_exclusive_group(required=True)
    voices.add_argument("--prompts", action="store_true",
                        help="the three Asterisk prompt speakers (es-co, fr-armelle, it-menardi), 8 kHz")
    voices.add_argument("--speakers", metavar="DIR", help="your recordings: DIR/<speaker>/*.wav|*.flac, 2 speakers or more")
    realmix.add_argument("--mixtures", type=int, default=100, help="number of mixtures")
    realmix.add_argument("--seed", type=int, default=0, help="random seed of every draw")
    realmix.add_argument("--sample-rate", type=int, default=8000, help="sample rate of the written wavs (Hz)")
    realmix.add_argument("--level-range", type=float, nargs=2, default=[0.0, 5.0], metavar=("LOW", "HIGH"),
                         help="speaker 2's loudness relative to speaker 1's in dB: its size drawn uniformly in "
                         "[LOW, HIGH], its sign at random (0 5: up to 5 dB louder or quieter, LibriMix's usual spread)")
    realmix.add_argument("--min-seconds", type=float, default=3.0, metavar="S",
                         help="each source joins its speaker's next recordings, 0.15 s of silence apart, until it "
                         "lasts at least S seconds, so every mixture does (0: one recording each)")
    realmix.add_argument("--force", action="store_true", help="replace an existing corpus")
    realmix.set_defaults(func=_data_realmix)
    return parser


def main(argv: list[str] | None = None) -> int:
    from separation.errors import USER_ERRORS, TrainingInterrupted

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except TrainingInterrupted as interruption:
        print(f"separation: {interruption}; rerun the same command to resume", file=sys.stderr)
        return interruption.exit_code
    except USER_ERRORS as error:
        print(f"separation: error: {_one_line(error)}", file=sys.stderr)
        return 2
    except OSError as error:
        # A path the user gave that cannot be read or written: name it, no traceback.
        if error.filename is None:
            raise
        print(f"separation: error: {error.filename}: {error.strerror or error}", file=sys.stderr)
        return 2


def _one_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


if __name__ == "__main__":
    sys.exit(main())
