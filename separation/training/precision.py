"""`trainer.precision: auto`: the precision a run trains in, decided once per run and recorded.

bf16 autocast pays on a CPU only where the CPU computes bf16 itself (AMX-BF16 or
AVX512-BF16): elsewhere bf16 matrix products are emulated, and on an AVX2-only
AMD EPYC a SVoice step took 4-8x as long as in fp32 (benchmarks/results/cpu_precision.md).
And it pays only for a model family whose bf16 step was measured faster on such a
CPU *and* whose training was measured to end where fp32 ends (same initial weights,
same data order, three seeds, final validation difference within +-0.3 dB). A family
enters `BF16_FAMILIES` only with both figures; every other case trains in fp32, CUDA
included until the GPU check shows bf16 tracking fp32 there.

A bf16 choice is tried on one real input before training: some CPUs lack a bf16
primitive (oneDNN's LSTM), and a run must then fall back to fp32 with one line,
never end in a traceback.
"""

from __future__ import annotations

import copy
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

AUTO = "auto"
BF16 = "bf16-mixed"
FP32 = "32"
# CPU flags (Linux /proc/cpuinfo) of native bf16 arithmetic.
BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")

# Model families (`model.name`) that `auto` trains in bf16 on a bf16 CPU, each with the
# measurements that admit it (benchmarks/bench_cpu_precision.py): the bf16/fp32 step
# ratio on a bf16 CPU below 0.9, and the training-parity interval within +-0.3 dB.
# Empty until both are measured for some family: see benchmarks/results/cpu_precision.md.
BF16_FAMILIES: dict[str, str] = {}


@dataclass
class PrecisionChoice:
    requested: str  # as the config says: auto, 32, bf16-mixed, 16-mixed
    resolved: str  # what Lightning trains in
    reason: str  # one phrase: why

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags as Linux lists them; empty where /proc/cpuinfo is absent."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def uses_cuda(accelerator: str) -> bool:
    return accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())


def resolve_precision(requested: str, model_name: str, accelerator: str) -> PrecisionChoice:
    """The precision to train in; anything but `auto` is taken as written."""
    if requested != AUTO:
        return PrecisionChoice(requested, requested, "as configured")
    if uses_cuda(accelerator):
        return PrecisionChoice(AUTO, FP32, "CUDA: fp32 until the GPU check shows bf16 tracking it")
    flags = cpu_flags()
    native = [flag for flag in BF16_CPU_FLAGS if flag in flags]
    if not native:
        return PrecisionChoice(AUTO, FP32, "this CPU has no bf16 instructions (amx_bf16, avx512_bf16)")
    if model_name not in BF16_FAMILIES:
        return PrecisionChoice(AUTO, FP32, f"model family '{model_name}' has no measured bf16 speed-up with fp32 parity")
    return PrecisionChoice(AUTO, BF16, f"{'+'.join(native)} CPU; {BF16_FAMILIES[model_name]}")


def probe_bf16(model: torch.nn.Module, example: torch.Tensor) -> str | None:
    """Run one bf16 forward and backward on a copy of `model`; the error text if it fails, else None.

    The copy keeps the real model's weights and buffers untouched, and the random
    state is restored afterwards, so a run that goes on in bf16 trains exactly as
    one that never probed.
    """
    probe = copy.deepcopy(model).train()
    try:
        with torch.random.fork_rng(devices=[]):
            with torch.autocast("cpu", dtype=torch.bfloat16):
                output = probe(example)
            output = output[0] if isinstance(output, (tuple, list)) else output
            output.float().sum().backward()
    except RuntimeError as error:
        return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return None


def choose_precision(requested: str, model_name: str, accelerator: str, model: torch.nn.Module,
                     example: torch.Tensor | None) -> PrecisionChoice:
    """`resolve_precision`, then a failing bf16 probe turns an `auto` bf16 choice into fp32 (one line on stderr)."""
    choice = resolve_precision(requested, model_name, accelerator)
    if choice.requested == AUTO and choice.resolved == BF16 and example is not None:
        failure = probe_bf16(model, example)
        if failure is not None:
            choice = PrecisionChoice(AUTO, FP32, f"bf16 step failed on this CPU ({failure[:200]}); fell back to fp32")
            print(f"precision auto: {choice.reason}", file=sys.stderr)
    return choice
