"""Measurements that need no corpus on disk: the GPU check (`python -m separation.bench.gpu_check`).

`signals` makes learnable synthetic audio (in memory or as a LibriMix-layout
folder), `step_timing` times the training step of a config through Lightning,
`packing` measures trials per hour with K trials per GPU, and `gpu_report`
writes the figures up.
"""
