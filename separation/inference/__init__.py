"""Using a trained model: load it from a checkpoint, separate audio of any length.

- `checkpoint`: rebuild the model from the name, arguments and weights a
  training checkpoint stores (no training config file needed).
- `chunked`: overlap-add separation in fixed-size chunks with flat memory,
  re-matching unordered sources (speakers) between neighbouring chunks.
- `separate`: the per-task adapters (speech, music) and files in -> files out.

Import the submodules directly; this package imports nothing heavy.
"""
