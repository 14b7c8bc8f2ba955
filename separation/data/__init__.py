"""Data layer: audio I/O, the synthetic speech corpus, dataset readers and datamodules.

Import the submodules directly (`separation.data.speech_datamodule`); this
package imports nothing heavy so that the CLI starts fast.
"""
