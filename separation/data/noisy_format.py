"""The noisy-speech corpus's format: its layout, its metadata columns and the reader of them.

Layout (16-bit mono wav at the corpus rate; paths in the csv files are relative
to the split folder, so the corpus can be moved)::

    ROOT/corpus.json                 parameters, inputs and per-split counts
    ROOT/{train,valid,test}/
        clean/<id>.wav  noise/<id>.wav  noisy/<id>.wav   noisy == clean + noise, exactly
        noise_only/<id>.wav            train only: another clip of the same noise kind
        metadata.csv                   one row per item (columns in METADATA_COLUMNS)

`metadata.csv` columns: `id`; `speaker`, `utterance` and `clean_source` (the
file it was read from); `noise_kind`; `noise_source` (recording path, babble
source files joined by `;`, `<package>:<path>` for ambient recordings, or `generated:<kind>`) and `noise_offset` (first
sample used, at the corpus rate: into the recording, resampled for music, or
into each trimmed babble utterance, `;`-joined; empty for generated noise);
`snr_db` (drawn); `clean_level_db` (RMS dBFS of the written clean file);
`length` (samples); `clean_path`, `noise_path`, `noisy_path`, `noise_only_path`
(relative to the split folder; the last empty outside train); and
`noise_only_source` / `noise_only_offset` as for the mixture's noise.

Readers (the enhancement datasets, evaluation, scripts) import this module, not
the generator (`noisy_corpus`), which pulls in every input reader and noise kind.
"""

from __future__ import annotations

import csv
from pathlib import Path

from separation.data.corpus_errors import NoisyCorpusError

SPLITS = ("train", "valid", "test")
CORPUS_FILE = "corpus.json"
CORPUS_FORMAT = "separation-noisy-corpus"
METADATA_COLUMNS = (
    "id", "speaker", "utterance", "clean_source", "noise_kind", "noise_source", "noise_offset",
    "snr_db", "clean_level_db", "length", "clean_path", "noise_path", "noisy_path",
    "noise_only_path", "noise_only_source", "noise_only_offset",
)


def read_metadata(split_folder: str | Path) -> list[dict[str, str]]:
    """Rows of a split's `metadata.csv` (all values as strings)."""
    path = Path(split_folder) / "metadata.csv"
    if not path.is_file():
        raise NoisyCorpusError(f"{path}: no such file (not a noisy corpus split; see `separation data noisy`)")
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    missing = [c for c in METADATA_COLUMNS if rows and c not in rows[0]]
    if missing:
        raise NoisyCorpusError(f"{path}: missing column(s) {', '.join(missing)}")
    return rows
