"""audio_info remembers headers (loaders ask every epoch) but never serves a stale one."""

import os

import numpy as np
import pytest
import soundfile as sf

from separation.data.audio import AudioError, audio_info


def test_a_rewritten_file_is_read_afresh(tmp_path):
    path = tmp_path / "a.wav"
    sf.write(path, np.zeros(800, dtype=np.float32), 8000)
    assert (audio_info(path).frames, audio_info(path).samplerate) == (800, 8000)
    sf.write(path, np.zeros((1600, 2), dtype=np.float32), 16000)
    os.utime(path, ns=(1, 1))  # even with an old modification time the size differs
    info = audio_info(path)
    assert (info.frames, info.samplerate, info.channels) == (1600, 16000, 2)


def test_missing_and_folder_paths_still_fail_in_one_line(tmp_path):
    with pytest.raises(AudioError, match="no such file"):
        audio_info(tmp_path / "nothing.wav")
    with pytest.raises(AudioError, match="no such file"):
        audio_info(tmp_path)
