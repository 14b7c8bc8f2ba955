"""Evaluation beyond the training loop: full-track metrics with the reference toolkits.

Import the submodules directly (e.g. `separation.evaluation.music`); this package
imports nothing heavy.
"""
