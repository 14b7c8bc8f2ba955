"""scripts/check_corpus_regeneration.py's comparison: the root a csv names is no difference, a changed byte is."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location("check_corpus_regeneration", ROOT / "scripts" / "check_corpus_regeneration.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _corpus(root: Path, audio: bytes) -> Path:
    (root / "speech" / "s1").mkdir(parents=True)
    (root / "speech" / "s1" / "a.wav").write_bytes(audio)
    (root / "speech" / "mixture.csv").write_text(f"mixture_ID,path\na,{root / 'speech' / 's1' / 'a.wav'}\n")
    return root


def test_only_real_differences_are_reported(tmp_path):
    compare = _script().compare
    reference = _corpus(tmp_path / "reference", b"RIFF0000")
    assert compare(reference, _corpus(tmp_path / "candidate", b"RIFF0000")) == []
    changed = _corpus(tmp_path / "changed", b"RIFF0001")
    (changed / "speech" / "extra.wav").write_bytes(b"")
    assert compare(reference, changed) == ["only in the candidate: speech/extra.wav", "differs: speech/s1/a.wav"]
    (reference / "speech" / "mixture.csv").write_text("mixture_ID,path\n")
    assert compare(reference, _corpus(tmp_path / "other", b"RIFF0000")) == ["differs: speech/mixture.csv"]
