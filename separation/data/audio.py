"""WAV input and output with one-line errors that name the file.

Arrays are float32 in [-1, 1): mono audio is `(time,)`, multichannel audio is
`(channels, time)`. PCM_16 files are converted with the same factor (2**15) in
both directions, so a signal on the 16-bit grid (`quantize_pcm16`) survives a
write/read round trip bit for bit; sums of such signals stay exact.
"""

from __future__ import annotations

import functools
import io
import stat
from pathlib import Path

import numpy as np
import soundfile as sf

from separation.atomic import write_bytes_atomic
from separation.errors import UserError

PCM16_SCALE = 32768.0
SUBTYPES = ("FLOAT", "PCM_16")
INTEGER_SUBTYPES = ("PCM_S8", "PCM_U8", "PCM_16", "PCM_24", "PCM_32", "ULAW", "ALAW")  # can hold no NaN


class AudioError(UserError):
    """An audio file is missing, unreadable, empty or not what was expected (one-line message)."""


def audio_info(path: str | Path) -> sf._SoundFileInfo:
    """Header of an audio file (sample rate, frames, channels) without reading samples.

    Remembered per (path, modification time, size): training loaders ask for the same
    headers every epoch, and parsing them was over half of a CPU study's loading time
    (benchmarks/results/input_pipeline.md); a rewritten file is read afresh.
    """
    path = Path(path)
    try:
        status = path.stat()
    except OSError:
        status = None
    if status is None or not stat.S_ISREG(status.st_mode):
        raise AudioError(f"{path}: no such file")
    try:
        return _header(str(path), status.st_mtime_ns, status.st_size)
    except (sf.LibsndfileError, RuntimeError) as error:
        raise AudioError(f"{path}: not a readable wav file ({_reason(error)})") from None


@functools.lru_cache(maxsize=1 << 16)
def _header(path: str, mtime_ns: int, size: int) -> sf._SoundFileInfo:
    return sf.info(path)


def read_wav(
    path: str | Path,
    sample_rate: int | None = None,
    channels: int | None = None,
    start: int = 0,
    stop: int | None = None,
) -> np.ndarray:
    """Read frames `[start, stop)` of an audio file as float32.

    Returns `(time,)` for a mono file and `(channels, time)` otherwise. With
    `channels` given the file must have exactly that many channels (`channels=1`
    still returns `(time,)`); with `sample_rate` given the file must use it.
    """
    path = Path(path)
    info = audio_info(path)
    if sample_rate is not None and info.samplerate != sample_rate:
        raise AudioError(f"{path}: expected {sample_rate} Hz, got {info.samplerate} Hz")
    if channels is not None and info.channels != channels:
        raise AudioError(f"{path}: expected {channels} channel(s), got {info.channels}")
    if info.frames == 0:
        raise AudioError(f"{path}: file has no samples")
    try:
        data, _ = sf.read(str(path), start=start, stop=stop, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as error:
        raise AudioError(f"{path}: corrupt wav file ({_reason(error)})") from None
    check_finite(data, path, start)
    data = np.ascontiguousarray(data.T)
    return data[0] if data.shape[0] == 1 else data


def check_finite(frames: np.ndarray, path: str | Path, offset: int = 0) -> None:
    """Refuse NaN or infinite samples (a float file can hold them): a model fed them
    writes NaN outputs and scores, which would pass for results. `frames` is `(time, channels)`."""
    finite = np.isfinite(frames)
    if not finite.all():
        first = offset + int(np.argwhere(~finite)[0][0])
        raise AudioError(f"{path}: non-finite samples (NaN or infinity), the first at frame {first}; expected audio")


def check_file_finite(path: str | Path, block_frames: int = 1 << 20) -> None:
    """`check_finite` over a whole file, read block by block (memory stays one block)."""
    path = Path(path)
    if audio_info(path).subtype in INTEGER_SUBTYPES:
        return
    try:
        with sf.SoundFile(str(path)) as reader:
            offset = 0
            for block in reader.blocks(block_frames, dtype="float32", always_2d=True):
                check_finite(block, path, offset)
                offset += block.shape[0]
    except (sf.LibsndfileError, RuntimeError) as error:
        raise AudioError(f"{path}: corrupt wav file ({_reason(error)})") from None


def quantize_pcm16(data: np.ndarray) -> np.ndarray:
    """Round float audio onto the 16-bit grid (what a PCM_16 round trip returns)."""
    return (np.round(np.asarray(data, dtype=np.float64) * PCM16_SCALE) / PCM16_SCALE).astype(np.float32)


def wav_bytes(data: np.ndarray, sample_rate: int, subtype: str = "FLOAT") -> bytes:
    """Encode `(time,)` or `(channels, time)` audio as the bytes of a WAV file.

    PCM_16 refuses values outside [-1, 1) instead of clipping them silently.
    """
    if subtype not in SUBTYPES:
        raise AudioError(f"subtype must be one of {', '.join(SUBTYPES)}, got '{subtype}'")
    data = np.asarray(data)
    if data.ndim not in (1, 2) or data.shape[-1] == 0:
        raise AudioError(f"expected (time,) or (channels, time) audio, got shape {data.shape}")
    frames = data.T if data.ndim == 2 else data
    if subtype == "PCM_16":
        scaled = np.round(np.asarray(frames, dtype=np.float64) * PCM16_SCALE)
        if scaled.min() < -PCM16_SCALE or scaled.max() > PCM16_SCALE - 1:
            raise AudioError(f"PCM_16 needs samples in [-1, 1), peak is {float(np.abs(frames).max()):.4f}")
        frames = scaled.astype(np.int16)  # int16 input is written without rescaling
    else:
        frames = np.asarray(frames, dtype=np.float32)
    # Encoding in memory also skips the fsync that soundfile issues on close.
    buffer = io.BytesIO()
    sf.write(buffer, frames, int(sample_rate), subtype=subtype, format="WAV")
    return buffer.getvalue()


def write_wav(path: str | Path, data: np.ndarray, sample_rate: int, subtype: str = "FLOAT") -> None:
    """Write `(time,)` or `(channels, time)` audio atomically, creating parent folders.

    The file appears complete or not at all: it is written under a temporary
    name in the same folder, then renamed into place.
    """
    path = Path(path)
    try:
        encoded = wav_bytes(data, sample_rate, subtype)
    except AudioError as error:
        raise AudioError(f"{path}: {error}") from None
    write_bytes_atomic(path, encoded)


def _reason(error: Exception) -> str:
    """libsndfile's own words, without its copy of the path."""
    text = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
    return text.split("': ", 1)[-1].strip().rstrip(".")
