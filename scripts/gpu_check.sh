#!/usr/bin/env bash
# The GPU check in one command: full-size SVoice and U-Net training steps in 32 and
# bf16-mixed, the packing curve (K = 1, 2, 4, 8 trials per GPU), and the GPU-hours of
# the full-size studies, within 8 minutes of wall clock; writes
# benchmarks/results/gpu_<device>.md (+ .json) and prints a one-screen summary.
#
#   scripts/gpu_check.sh                          # on a CUDA machine
#   scripts/gpu_check.sh --device cpu --tiny      # dry run of every code path, ~50 s of CPU
#   scripts/gpu_check.sh --copy-to DIR            # also copy the report into DIR
#   (all options: python -m separation.bench.gpu_check --help)
#
# Python: .venv/bin/python when the repo has one (`make setup`), else $PYTHON, else python3.
# What that Python needs: torch, pytorch-lightning, numpy, scipy, pyyaml (parts 1, 2, 4);
# soundfile for the packing grid (part 3), which reads the wav corpus it writes; ray[tune]
# for the packing grid through the Ray engine, else it packs K worker processes per GPU
# and says so in the report. No espeak-ng, musdb, museval or fast_bss_eval: the check
# makes its own synthetic-voice audio (separation/bench/signals.py).
#
# On a bare GPU image with torch and Lightning but without those packages, carry
# wheels in .whl/ at the repo root (git ignores it): they are installed into
# /tmp/gpu-check-site, first on PYTHONPATH, with no index and no dependency resolution.
# For Python 3.12 on x86-64 (fetched where pip has an index):
#   pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 -d .whl \
#     soundfile==0.14.0 cffi==2.1.1 pycparser==3.12
# (soundfile's manylinux wheel bundles libsndfile; cffi and pycparser are its needs.)
# Ray's wheel is about 78 MB: carry it (with its needs) only where that fits.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -n "${PYTHON:-}" ]; then
    :
elif [ -x .venv/bin/python ]; then
    PYTHON=.venv/bin/python
else
    PYTHON=python3
fi

if compgen -G ".whl/*.whl" > /dev/null; then
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/gpu-check-site .whl/*.whl
    export PYTHONPATH="/tmp/gpu-check-site${PYTHONPATH:+:$PYTHONPATH}"
fi

export GPU_CHECK_COMMAND="scripts/gpu_check.sh $*"
export PYTHONUNBUFFERED=1
exec "$PYTHON" -m separation.bench.gpu_check "$@"
