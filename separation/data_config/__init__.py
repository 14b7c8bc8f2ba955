"""The `data` section of each task's config: one module per task, its dataclass and its checks.

`separation.tasks` points each task entry at its module here (`Task.data_config`,
`Task.validate`); the config schema (`separation.configuration`) reads the section
through that entry, and each task's datamodule (`separation.data`) takes the
dataclass. These modules sit below all three: they import only the checks, the
errors and, lazily, the registries a check consults (losses, models).
"""
