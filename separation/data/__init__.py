"""Data layer: audio I/O, the corpus generators, dataset readers and datamodules.

- shared: `audio` (wav I/O), `signal` (headroom, levels, noise shaping, resampling), `corpus_errors`;
- speech corpus generator: `speech_corpus` (options and orchestration) over `speech_cast`,
  `speech_render`, `speech_mixing`, `speech_metadata`, with the voices of `speech_voices`
  and the perturbations of `speech_augment`;
- noisy corpus generator: `noisy_corpus` over `noisy_inputs`, `noise_kinds` and `recorded_noise`;
  its format and reader `noisy_format`;
- music corpus generator: `music_corpus` over `music_compose`; the MUSDB layout `music_format`;
- readers and datamodules: `speech_datasets`, `enhance_datasets`, `music_datasets`, `*_datamodule`,
  `resumable`, `sharding`. Readers import a corpus's format module, never its generator.

Import the submodules directly (`separation.data.speech_datamodule`); this
package imports nothing heavy so that the CLI starts fast.
"""
