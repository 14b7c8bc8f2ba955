"""The parts of `separation.config`, one seam each; import the facade `separation.config`, not these.

- `schema`: the typed sections of a run's config (dataclasses) and the key lists that go with them.
- `coercion`: plain data -> those dataclasses, each leaf checked against its annotated type.
- `reading`: YAML files, dotted `--set` overrides, flattened keys.
- `validation`: every choice against its registry, every size against its range.

Each task's `data` section lives below the task registry (`separation.data_config`);
these modules sit above it, because reading a config asks the registry which data
section its task takes.
"""
