"""Separate audio files with a trained model: files in, one folder of source files out.

    INPUT.wav (any rate, mono or multichannel)
      -> channels as the model takes them (mean to mono, or mono repeated)
      -> resampled to the model's rate (torchaudio)
      -> chunked overlap-add separation (`separation.inference.chunked`)
      -> resampled back, cropped to the input's length
    (a file already at the model's rate is streamed instead: read, separated
    and written chunk by chunk, so memory does not grow with its length)
      -> OUTDIR/<input name>/<source>.wav, each written atomically

What differs between tasks is one small function per task (`separation.tasks.TASKS`, its `separator`) turning a
loaded model into a `Separator`: how to call the model on a batch of chunks,
the channels it takes, its source names, whether sources are unordered (and
must be re-matched between chunks), and default chunk settings.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from separation.data.audio import AudioError, audio_info, check_file_finite, read_wav, write_wav
from separation.errors import UserError
from separation.inference.checkpoint import LoadedModel, load_checkpoint
from separation.inference.chunked import ChunkSeparator, separate_chunked, separate_stream


@dataclass(frozen=True)
class Separator:
    """A model ready for chunked separation, with what its task implies.

    Attributes:
        run: `(batch, channels, time)` -> `(batch, sources, channels, time)` on `device`.
        sample_rate: the rate the model works at.
        channels: audio channels the model takes (1 for speech, 2 for stereo music).
        sources: one name per output source, used as file names.
        rematch: sources are unordered (speakers): re-match them between chunks.
        chunk_seconds, overlap: chunk length, and overlap as a fraction of it (at most 0.5).
        batch_size: chunks per model call (more keeps a GPU busy, at the cost of memory).
        device: where `run` computes.
    """

    run: ChunkSeparator
    sample_rate: int
    channels: int
    sources: tuple[str, ...]
    rematch: bool
    chunk_seconds: float
    overlap: float
    batch_size: int
    device: str

    def separate(self, mixture: np.ndarray | torch.Tensor) -> np.ndarray:
        """`(channels, time)` audio at the model's rate and channel count -> `(sources, channels, time)`."""
        chunk = max(1, round(self.chunk_seconds * self.sample_rate))
        overlap = int(self.overlap * chunk)  # rounding down keeps it within chunk // 2
        return separate_chunked(self.run, mixture, chunk, overlap, self.batch_size, self.rematch, self.device)

    def separate_stream(self, read: Callable[[int, int], torch.Tensor], length: int,
                        write: Callable[[np.ndarray], None]) -> None:
        """As `separate`, from `read(start, stop) -> (channels, n)` to `write((sources, channels, n))` blocks in order."""
        chunk = max(1, round(self.chunk_seconds * self.sample_rate))
        overlap = int(self.overlap * chunk)
        separate_stream(self.run, read, length, chunk, overlap, write, self.batch_size, self.rematch, self.device)


def _chunking(loaded: LoadedModel) -> dict:
    """The task's default chunk length, overlap and chunks per call (`separation.tasks`, its `chunking`)."""
    from separation.tasks import TASKS

    return TASKS[loaded.task].chunking.settings()


def speech_separator(loaded: LoadedModel, device: str) -> Separator:
    """Speaker separation: mono `(batch, time) -> (batch, n_src, time)` models; speakers are unordered.

    8 s chunks (longer than the generated test utterances, so those are
    separated whole) with a 2 s cross-fade, which also gives re-matching two
    seconds of shared signal to correlate.
    """
    model = loaded.model

    def run(chunks: torch.Tensor) -> torch.Tensor:
        return model(chunks[:, 0]).unsqueeze(2)

    n_src = int(loaded.config["data"]["n_src"])
    sources = tuple(f"s{k}" for k in range(1, n_src + 1))
    return Separator(run, loaded.sample_rate, channels=1, sources=sources, rematch=True,
                     **_chunking(loaded), device=device)


def music_separator(loaded: LoadedModel, device: str) -> Separator:
    """Music: models with `separate((batch, channels, time)) -> (batch, stems, channels, time)` and `stems`.

    Stems have fixed roles, so nothing is re-matched; 30 s chunks keep the
    STFT of one batch small, and a 3 s cross-fade hides the seams.
    """
    model = loaded.model
    return Separator(model.separate, loaded.sample_rate, channels=int(model.channels), sources=tuple(model.stems),
                     rematch=False, **_chunking(loaded), device=device)


def enhancement_rule(loaded: LoadedModel) -> Callable[[torch.Tensor], torch.Tensor]:
    """The trained objective's inference rule: noisy `(batch, 1, time)` -> speech `(batch, 1, time)`.

    The objective is rebuilt from the checkpoint's config (`objective`; checkpoints
    from before that section existed trained supervised).
    """
    from separation.objectives import build_objective

    section = loaded.config.get("objective") or {}
    name = section.get("name", "supervised")
    try:
        objective = build_objective(name, section.get("args") or {})
    except (KeyError, TypeError, ValueError) as error:
        raise UserError(f"{loaded.path}: cannot rebuild its objective '{name}' ({error})") from None
    model = loaded.model
    return lambda noisy: objective.enhance(model, noisy)


def enhance_separator(loaded: LoadedModel, device: str) -> Separator:
    """Speech enhancement: the objective's speech estimate, one mono source named `speech`.

    Nothing to re-match (one source); 4 s chunks cover the receptive field of
    the denoisers many times over, a 1 s raised-cosine cross-fade hides the
    seams, and 8 chunks per call keep a GPU busy.
    """
    enhance = enhancement_rule(loaded)

    def run(chunks: torch.Tensor) -> torch.Tensor:
        return enhance(chunks).unsqueeze(2)  # (batch, 1, time) -> (batch, 1 source, 1 channel, time)

    return Separator(run, loaded.sample_rate, channels=1, sources=("speech",), rematch=False,
                     **_chunking(loaded), device=device)


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def build_separator(
    loaded: LoadedModel,
    device: str | None = None,
    chunk_seconds: float | None = None,
    overlap: float | None = None,
    batch_size: int | None = None,
) -> Separator:
    """The task's `Separator` for a loaded model; given settings replace the task's defaults."""
    from separation.tasks import TASKS

    if loaded.task not in TASKS:
        raise UserError(f"{loaded.path}: task '{loaded.task}' has no separator; known: {', '.join(TASKS)}")
    if chunk_seconds is not None and chunk_seconds <= 0:
        raise UserError(f"chunk length must be positive seconds, got {chunk_seconds}")
    if overlap is not None and not 0 <= overlap <= 0.5:
        raise UserError(f"overlap must be a fraction of the chunk between 0 and 0.5, got {overlap}")
    if batch_size is not None and batch_size < 1:
        raise UserError(f"batch size must be positive, got {batch_size}")
    device = device or default_device()
    loaded.model.to(device)
    separator = TASKS[loaded.task].separator(loaded, device)
    given = {"chunk_seconds": chunk_seconds, "overlap": overlap, "batch_size": batch_size}
    separator = dataclasses.replace(separator, **{k: v for k, v in given.items() if v is not None})
    if separator.rematch and separator.overlap == 0:
        raise UserError(f"{loaded.task} sources are re-matched between chunks on their overlap: it must be above 0")
    return separator


def _as_channels(audio: torch.Tensor, channels: int, path: Path | str) -> torch.Tensor:
    """`(channels_in, time)` -> `(channels, time)`: downmix to mono, or repeat mono."""
    if audio.shape[0] == channels:
        return audio
    if channels == 1:
        return audio.mean(dim=0, keepdim=True)
    if audio.shape[0] == 1:
        return audio.expand(channels, -1)
    raise AudioError(f"{path}: the model takes mono or {channels}-channel audio, got {audio.shape[0]} channels")


def separate_audio(separator: Separator, audio: np.ndarray, sample_rate: int, name: str | Path = "input") -> np.ndarray:
    """Separate `(time,)` or `(channels, time)` audio at any rate.

    Returns `(sources, channels, time)` float32 at `sample_rate` with the
    input's length; `channels` is the model's (mono for speech).
    """
    import torchaudio.functional as AF

    signal = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))
    signal = _as_channels(signal if signal.dim() == 2 else signal.unsqueeze(0), separator.channels, name)
    length = signal.shape[-1]
    if sample_rate != separator.sample_rate:
        signal = AF.resample(signal, sample_rate, separator.sample_rate)
    estimates = separator.separate(signal)
    if sample_rate == separator.sample_rate:
        return estimates
    back = AF.resample(torch.from_numpy(estimates), separator.sample_rate, sample_rate)
    back = back[..., :length]
    return torch.nn.functional.pad(back, (0, length - back.shape[-1])).numpy()


def _separate_file_streaming(separator: Separator, path: Path, folder: Path) -> None:
    """Separate a file at the model's rate block by block into `folder/<source>.wav`.

    Memory stays one batch of chunks whatever the file's length. Outputs are
    written under temporary names in `folder` and renamed into place once all are complete.
    """
    import soundfile as sf

    folder.mkdir(parents=True, exist_ok=True)
    finals = [folder / f"{name}.wav" for name in separator.sources]
    temporaries = [p.with_name(f".{p.name}.tmp{os.getpid()}") for p in finals]
    writers: list = []
    try:
        with sf.SoundFile(str(path)) as reader:
            def read(start: int, stop: int) -> torch.Tensor:
                reader.seek(start)
                try:
                    block = reader.read(stop - start, dtype="float32", always_2d=True)
                except (sf.LibsndfileError, RuntimeError) as error:
                    raise AudioError(f"{path}: corrupt audio file ({error})") from None
                return _as_channels(torch.from_numpy(np.ascontiguousarray(block.T)), separator.channels, path)

            writers = [sf.SoundFile(str(t), "w", samplerate=reader.samplerate, channels=separator.channels,
                                    subtype="FLOAT", format="WAV") for t in temporaries]

            def write(block: np.ndarray) -> None:
                for writer, source in zip(writers, block):
                    writer.write(np.ascontiguousarray(source.T))

            separator.separate_stream(read, reader.frames, write)
        for writer in writers:
            writer.close()
        for temporary, final in zip(temporaries, finals):
            os.replace(temporary, final)
    finally:
        for writer in writers:
            writer.close()
        for temporary in temporaries:
            temporary.unlink(missing_ok=True)


def _output_folders(inputs: Sequence[Path], out_dir: Path) -> list[Path]:
    folders: dict[Path, Path] = {}
    for path in inputs:
        folder = out_dir / path.stem
        if folder in folders:
            raise UserError(f"{path} and {folders[folder]} would both be written to {folder}; rename one")
        folders[folder] = path
    return list(folders)


def separate_files(
    checkpoint: str | Path,
    inputs: Sequence[str | Path],
    out_dir: str | Path,
    force: bool = False,
    device: str | None = None,
    chunk_seconds: float | None = None,
    overlap: float | None = None,
    batch_size: int | None = None,
    log: Callable[[str], None] | None = print,
) -> list[Path]:
    """Separate every input file into `out_dir/<input name>/<source>.wav`; returns those folders.

    Every input is checked (readable, not empty, finite) and every output path for
    collisions before anything is separated; existing outputs are an error
    unless `force`. Outputs keep the input's sample rate and length, as 32-bit
    float WAV at the scale the model produced (SI-SNR-trained models fix no scale).
    """
    inputs = [Path(p) for p in inputs]
    if not inputs:
        raise UserError("no input files given")
    for path in inputs:
        if audio_info(path).frames == 0:
            raise AudioError(f"{path}: file has no samples")
        check_file_finite(path)  # NaN in, NaN out: refused before any output exists
    separator = build_separator(load_checkpoint(checkpoint), device, chunk_seconds, overlap, batch_size)
    out_dir = Path(out_dir)
    folders = _output_folders(inputs, out_dir)
    if not force:
        for folder in folders:
            existing = [folder / f"{s}.wav" for s in separator.sources if (folder / f"{s}.wav").exists()]
            if existing:
                raise UserError(f"{existing[0]}: exists; pass --force to overwrite")
    for path, folder in zip(inputs, folders):
        info = audio_info(path)
        rate = info.samplerate
        started = time.perf_counter()
        if rate == separator.sample_rate:
            # No resampling: stream, so memory does not grow with the file's length.
            _separate_file_streaming(separator, path, folder)
        else:
            estimates = separate_audio(separator, read_wav(path), rate, path)
            for name, estimate in zip(separator.sources, estimates):
                write_wav(folder / f"{name}.wav", estimate[0] if estimate.shape[0] == 1 else estimate, rate)
        elapsed = time.perf_counter() - started
        if log is not None:
            seconds = info.frames / rate
            log(f"{path} ({seconds:.1f} s) -> {folder}/ [{', '.join(separator.sources)}] in {elapsed:.1f} s "
                f"(real-time factor {elapsed / seconds:.3f})")
    return folders
