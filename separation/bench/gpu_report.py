"""The GPU check's write-up: `benchmarks/results/gpu_<device>.md` and a one-screen summary.

Every figure comes from the results mapping that `gpu_check` measured (also
written beside the report as JSON); nothing here measures anything.
"""

from __future__ import annotations

import math

from separation.tasks import get_task

# bf16 "tracks" fp32 when its loss after the same steps is within this many dB (a task
# whose loss is a negative SI-SNR: `Task.loss_in_db`) or this fraction of the fp32 loss
# (the others): a loose bound for 50 steps from the same weights on the same batches,
# which separates "tracks" from "diverges or stalls" rather than ranking the precisions.
TRACK_DB = 1.0
TRACK_FRACTION = 0.05

SECTIONS = ("## Machine", "## 1. SVoice training step", "## 2. Spleeter U-Net training step",
            "## 3. Packing curve", "## 4. Full-size studies: projected GPU-hours")


def _f(value, digits: int = 3, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{value:,.{digits}f}{unit}"


def _memory(row: dict) -> str:
    if "peak_gpu_mib" in row:
        return f"{row['peak_gpu_mib']:,.0f} MiB (GPU, peak allocated)"
    if "peak_rss_mib" in row:
        return f"{row['peak_rss_mib']:,.0f} MiB (process peak RSS so far)"
    return "n/a"


LOSS_WINDOW = 4  # steps averaged for "the loss after N steps": one pass over the distinct batches


def _loss_after(losses: list[float], steps: int) -> float | None:
    window = losses[max(0, steps - LOSS_WINDOW):steps]
    return sum(window) / len(window) if window else None


def precision_verdict(part: dict) -> dict:
    """fp32 vs bf16-mixed of one model: speed-up, memory ratio, loss difference and whether bf16 tracks.

    The losses are compared after the same number of steps: the fewer that both
    precisions completed, should the time budget have stopped one early.
    """
    rows = {r["precision"]: r for r in part.get("rows", []) if "precision" in r and "error" not in r}
    full, half = rows.get("32"), rows.get("bf16-mixed")
    if not full or not half or not full.get("losses") or not half.get("losses"):
        return {"verdict": "not measured"}
    steps = min(len(full["losses"]), len(half["losses"]))
    full_loss, half_loss = _loss_after(full["losses"], steps), _loss_after(half["losses"], steps)
    if full_loss is None or half_loss is None or not math.isfinite(full_loss) or not math.isfinite(half_loss):
        return {"verdict": "does NOT track fp32 (non-finite loss)", "tracks": False, "steps": steps}
    difference = half_loss - full_loss
    if get_task(part["task"]).loss_in_db:
        tracks = abs(difference) <= TRACK_DB
        bound = f"|difference| <= {TRACK_DB:g} dB"
    else:
        tracks = abs(difference) <= TRACK_FRACTION * abs(full_loss)
        bound = f"|difference| <= {TRACK_FRACTION:.0%} of the fp32 loss"
    speedup = None
    if full.get("sec_per_step_median") and half.get("sec_per_step_median"):
        speedup = full["sec_per_step_median"] / half["sec_per_step_median"]
    memory = None
    if full.get("peak_gpu_mib") and half.get("peak_gpu_mib"):
        memory = half["peak_gpu_mib"] / full["peak_gpu_mib"]
    return {"loss_difference": difference, "steps": steps, "tracks": tracks, "bound": bound, "speedup": speedup,
            "memory_ratio": memory, "verdict": "tracks fp32" if tracks else "does NOT track fp32"}


def _step_section(title: str, part: dict) -> list[str]:
    lines = [title, ""]
    if part.get("error"):
        return lines + [f"Not measured: {part['error']}", ""]
    if part.get("note"):
        lines += [f"Note: {part['note']}.", ""]
    lines += [f"Command: `{part['command']}`", "",
              "| precision | parameters | batch | steps | s / step (median) | s / step (p90) | peak memory | loss after the steps |",
              "|---|---:|---|---:|---:|---:|---|---:|"]
    for r in part["rows"]:
        if "error" in r:
            lines.append(f"| {r['precision']} | failed: {r['error']} | | | | | | |")
            continue
        batch = f"{r['batch_size']} x {r['segment_seconds']:g} s"
        steps = f"{r['steps_done']}" + ("" if r["steps_done"] == r["steps_asked"] else f" of {r['steps_asked']} (time budget)")
        lines.append(f"| {r['precision']} | {r['parameters']:,} | {batch} | {steps} | {_f(r['sec_per_step_median'], 4)} | "
                     f"{_f(r['sec_per_step_p90'], 4)} | {_memory(r)} | {_f(r['final_loss'])} |")
    verdict = precision_verdict(part)
    lines.append("")
    if part.get("gpu"):
        gpu = part["gpu"]
        lines += [f"GPU utilisation over this part (both precisions, start-up included; nvidia-smi every 0.5 s): "
                  f"mean {gpu['gpu_util_mean']:.0f}%, max {gpu['gpu_util_max']:.0f}%; "
                  f"memory used at most {gpu['gpu_memory_max_mib']:,.0f} MiB.", ""]
    if "loss_difference" in verdict:
        lines.append(
            f"bf16-mixed vs 32: speed-up x{_f(verdict['speedup'], 2)} (fp32 s/step over bf16 s/step), "
            f"peak memory ratio {_f(verdict['memory_ratio'], 2)} (bf16 over fp32), "
            f"loss difference after {verdict['steps']} steps {verdict['loss_difference']:+.3f} ({verdict['bound']}): "
            f"**bf16 {verdict['verdict']}**.")
        lines.append("")
        lines.append("Loss every 10 steps (32 / bf16-mixed): " + _loss_trace(part))
    else:
        lines.append("bf16-mixed vs 32: not compared (a precision is missing).")
    lines.append("")
    return lines


def _loss_trace(part: dict) -> str:
    rows = {r["precision"]: r.get("losses", []) for r in part["rows"]}
    full, half = rows.get("32", []), rows.get("bf16-mixed", [])
    marks = sorted({i for i in range(9, max(len(full), len(half)), 10)} | {min(len(full), len(half)) - 1})
    return ", ".join(f"step {i + 1}: {_f(full[i] if i < len(full) else None, 2)} / {_f(half[i] if i < len(half) else None, 2)}"
                     for i in marks if i >= 0)


def _packing_section(part: dict) -> list[str]:
    lines = [SECTIONS[3], ""]
    if part.get("error"):
        return lines + [f"Not measured: {part['error']}", ""]
    lines += [
        f"{part['trials']} small-SVoice trials ({part['size']}), the same trials at every K, each K in its own runs folder; "
        f"engine **{part['engine']}**{part.get('engine_note', '')}. Trials per hour (wall) counts the K's whole run, "
        "start-up included; the in-trial rate is K / mean trial seconds (what long trials approach).",
        "",
        "| K per GPU | status | trials done | wall s | trials / hour (wall) | mean trial s | trials / hour (in-trial) | GPU util mean / max | GPU memory max |",
        "|---:|---|---:|---:|---:|---:|---:|---|---:|",
    ]
    for r in part["rows"]:
        if "trials_completed" not in r:
            lines.append(f"| {r['k']} | {r['status']} | | | | | | | |")
            continue
        util = (f"{r['gpu_util_mean']:.0f}% / {r['gpu_util_max']:.0f}%" if "gpu_util_mean" in r
                else "n/a" if not part.get("gpu_sampler") else "no samples")
        memory = f"{r['gpu_memory_max_mib']:,.0f} MiB" if "gpu_memory_max_mib" in r else "n/a"
        lines.append(f"| {r['k']} | {r['status']} | {r['trials_completed']} | {_f(r['wall_seconds'], 1)} | "
                     f"{_f(r['trials_per_hour'], 0)} | {_f(r['mean_trial_seconds'], 2)} | {_f(r['trials_per_hour_in_trial'], 0)} | "
                     f"{util} | {memory} |")
    lines.append("")
    ratio = packing_ratio(part)
    if ratio:
        lines.append(f"Packing throughput K={ratio['k']} over K={ratio['base']}: **x{_f(ratio['wall'], 2)}** (wall), "
                     f"x{_f(ratio['in_trial'], 2)} (in-trial).")
    else:
        lines.append("Packing throughput ratio: not available (a K is missing).")
    recorded = ", ".join(f"K={r['k']}: {r['packing_recorded']}" for r in part["rows"] if "packing_recorded" in r)
    lines.append(f"Packing recorded in the trials' meta.json: {recorded or 'n/a'}.")
    check = part.get("metric_check", {})
    differences = check.get("max_abs_difference", {})
    if check.get("pairs"):
        shown = ", ".join(f"{name} {value:.2g}" for name, value in differences.items())
        same = differences and all(value == 0 for value in differences.values())
        verdict = ("**identical: packing changed no result**" if same else
                   "**not identical** (the trials are deterministic, so packing or a nondeterministic kernel changed them)")
        lines.append(f"Packed vs alone: {check['pairs']} trials compared with the same trial at K={check['reference_k']}; "
                     f"largest absolute differences of the final metrics: {shown or 'n/a'}: {verdict}.")
    else:
        lines.append("Packing vs alone: no trial finished at two values of K, nothing compared.")
    if part.get("first_failure"):
        lines.append(f"First failed trial: {part['first_failure']}")
    if part.get("child_log_tail"):
        lines += ["", "End of the packing run's log:", "", "```", *part["child_log_tail"], "```"]
    lines.append("")
    return lines


def packing_ratio(part: dict) -> dict | None:
    """Throughput at K=4 (else the largest K measured) over K=1."""
    rows = {r["k"]: r for r in part.get("rows", []) if r.get("trials_per_hour")}
    if 1 not in rows or len(rows) < 2:
        return None
    k = 4 if 4 in rows else max(rows)
    in_trial = None
    if rows[k].get("trials_per_hour_in_trial") and rows[1].get("trials_per_hour_in_trial"):
        in_trial = rows[k]["trials_per_hour_in_trial"] / rows[1]["trials_per_hour_in_trial"]
    return {"k": k, "base": 1, "wall": rows[k]["trials_per_hour"] / rows[1]["trials_per_hour"], "in_trial": in_trial}


def _projection_section(part: dict, tiny: bool) -> list[str]:
    lines = [SECTIONS[4], ""]
    if tiny:
        lines += ["Tiny sizes: the step time below is the tiny model's, so these hours project nothing; the rows show the "
                  "arithmetic a full run fills in.", ""]
    lines += ["Training steps only (validation and test add to it), one trial per GPU, at the step time measured in "
              "section 1 for the spec's precision (its base config is the one timed there):", "",
              "| spec | trials | steps per trial | precision | s / step | GPU-hours |", "|---|---:|---:|---|---:|---:|"]
    for row in part.get("rows", []):
        if "error" in row:
            lines.append(f"| {row['spec']} | {row['error']} | | | | |")
            continue
        lines.append(f"| {row['spec']} | {row['trials']} | {row['steps_per_trial']:,} | {row['precision']} | "
                     f"{_f(row['sec_per_step'], 4)} | {_f(row['gpu_hours'], 1)} |")
    lines.append("")
    return lines


def render(results: dict) -> str:
    machine = results["machine"]
    tiny = results["tiny"]
    lines = [
        f"# GPU check on {machine['device_name']}" + (" (tiny sizes: a dry run of the code paths)" if tiny else ""),
        "",
        f"Command: `{results['command']}`  ",
        f"Finished {results['finished']}, {results['wall_seconds']:.0f} s of wall clock (budget {results['budget_seconds']:.0f} s).",
        "",
        SECTIONS[0],
        "",
        *[f"- {'device' if key == 'device_name' else key}: {value}" for key, value in machine.items()],
        "",
        *_step_section(SECTIONS[1] + " (reference size)" if not tiny else SECTIONS[1] + " (tiny)", results["svoice"]),
        *_step_section(SECTIONS[2] + (" (2 stems, 512-frame patches)" if not tiny else " (tiny)"), results["unet"]),
        *_packing_section(results["packing"]),
        *_projection_section(results["projection"], tiny),
    ]
    if results.get("notes"):
        lines += ["## Notes", "", *[f"- {note}" for note in results["notes"]], ""]
    return "\n".join(lines)


def summary(results: dict) -> str:
    """One screen: the headline figure of every part."""
    out = [f"GPU check: {results['machine']['device_name']}" + (" [tiny]" if results["tiny"] else "")
           + f", {results['wall_seconds']:.0f} s"]
    for key, label in (("svoice", "SVoice"), ("unet", "U-Net")):
        part = results[key]
        if part.get("error"):
            out.append(f"  {label}: not measured ({part['error']})")
            continue
        for r in part["rows"]:
            if "error" in r:
                out.append(f"  {label} {r['precision']:>10}: failed ({r['error']})")
            else:
                out.append(f"  {label} {r['precision']:>10}: {_f(r['sec_per_step_median'], 4)} s/step, {_memory(r)}, "
                           f"loss {_f(r['final_loss'], 2)} after {r['steps_done']} steps")
        out.append(f"  {label} bf16: {precision_verdict(part)['verdict']}")
    packing = results["packing"]
    if packing.get("error"):
        out.append(f"  packing: not measured ({packing['error']})")
    else:
        for r in packing["rows"]:
            out.append(f"  packing K={r['k']}: {r['status']}" + (
                f", {_f(r.get('trials_per_hour'), 0)} trials/h wall, {_f(r.get('trials_per_hour_in_trial'), 0)} in-trial"
                if "trials_completed" in r else ""))
        ratio = packing_ratio(packing)
        if ratio:
            out.append(f"  packing K={ratio['k']}/K=1: x{_f(ratio['wall'], 2)} wall, x{_f(ratio['in_trial'], 2)} in-trial")
    for row in results["projection"].get("rows", []):
        if "gpu_hours" in row:
            out.append(f"  {row['spec']}: {row['trials']} trials x {row['steps_per_trial']:,} steps -> "
                       f"{_f(row['gpu_hours'], 1)} GPU-hours (training steps, unpacked)")
    out.append(f"  report: {results['report']}")
    return "\n".join(out)
