"""Has a trained separator collapsed to a trivial output? Measured on the test split.

A collapsed model has stopped separating: whatever it was given, it returns
silence, the mixture scaled, or one signal shared out between the sources in
fixed proportions (a U-Net whose masks went constant: `m_i * mixture`, the
same for every bin and every input). All of these have one thing in common,
which this probe measures per test item: the `(sources, time)` matrix of the
estimates has rank one (or is zero), i.e. every source estimate is one signal
up to scale, so nothing tells the sources apart.

- *shared-signal residual*: the energy outside the first singular component of
  that matrix, as a fraction of the estimates' energy (0 exactly for a scaled
  mixture or a constant mask; separated sources, nearly orthogonal, leave a
  large fraction);
- *silence*: the estimates' energy as a fraction of the mixture's.

The run is collapsed when every test item is trivial by one of the two. This
is preferred to "test SDRi/SI-SNRi within 0.1 dB of zero" alone: SDR is not
scale invariant, so a constant mask of a U-Net scores a nonzero SDRi (the
1.74 dB cells of the first music smoke study), and a model that honestly
improved by 0.05 dB has not collapsed. The measured improvement is quoted in
the reason all the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from separation.losses import si_snr

RESIDUAL_THRESHOLD = 1e-4  # second component 40 dB below the shared one
SILENCE_THRESHOLD = 1e-8  # estimates 80 dB below the mixture


def item_statistics(estimates: torch.Tensor, mixture: torch.Tensor, block: int = 1 << 20) -> tuple[torch.Tensor, torch.Tensor]:
    """(shared-signal residual, energy relative to the mixture) per item, both `(batch,)`.

    The singular values come from the `(sources, sources)` Gram matrix, summed
    in float64 over blocks of `block` samples, so a whole track never needs a
    float64 copy (4 stems of a 4-minute stereo track would take 680 MB).

    Args:
        estimates: `(batch, sources, *channels, time)`.
        mixture: `(batch, *channels, time)`.
    """
    batch, sources = estimates.shape[:2]
    matrix = estimates.reshape(batch, sources, -1)
    gram = torch.zeros(batch, sources, sources, dtype=torch.float64, device=estimates.device)
    for start in range(0, matrix.shape[-1], block):
        part = matrix[..., start : start + block].double()
        gram += part @ part.transpose(1, 2)
    power = torch.linalg.eigvalsh(gram)  # ascending: the squared singular values
    energy = gram.diagonal(dim1=1, dim2=2).sum(dim=1)
    residual = (energy - power[:, -1]).clamp_min(0) / energy.clamp_min(1e-30)
    flat = mixture.reshape(batch, -1)
    mixture_energy = sum(flat[:, i : i + block].double().square().sum(dim=1) for i in range(0, flat.shape[-1], block))
    return residual, energy / mixture_energy.clamp_min(1e-30)


@dataclass
class CollapseProbe:
    """Accumulates `item_statistics` over the test batches; `reason` gives the verdict."""

    residuals: list[float] = field(default_factory=list)
    energies: list[float] = field(default_factory=list)

    def reset(self) -> None:
        self.residuals.clear()
        self.energies.clear()

    def update(self, estimates: torch.Tensor, mixture: torch.Tensor) -> None:
        residual, relative = item_statistics(estimates.detach(), mixture.detach())
        self.residuals += residual.tolist()
        self.energies += relative.tolist()

    def gather(self) -> None:
        """In a run on several processes: take every process's items, so each judges the whole test split."""
        if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
            return
        parts: list = [None] * torch.distributed.get_world_size()
        torch.distributed.all_gather_object(parts, (self.residuals, self.energies))
        self.residuals = [value for residuals, _ in parts for value in residuals]
        self.energies = [value for _, energies in parts for value in energies]

    def reason(self, improvement: tuple[str, float] | None = None) -> str | None:
        """Why the run counts as collapsed, with the measured values; None when it separates (or saw nothing)."""
        if not self.residuals:
            return None
        items = len(self.residuals)
        silent = [e <= SILENCE_THRESHOLD for e in self.energies]
        shared = [r <= RESIDUAL_THRESHOLD for r in self.residuals]
        if not all(s or t for s, t in zip(silent, shared)):
            return None
        if all(silent):
            what = f"silent estimates (energy at most {max(self.energies):.1e} of the mixture's)"
        else:
            what = (f"every source estimate is one signal up to scale (energy outside the shared component at most "
                    f"{max(r for r, s in zip(self.residuals, silent) if not s):.1e} of the estimates', threshold "
                    f"{RESIDUAL_THRESHOLD:g})")
        text = f"collapsed on all {items} test items: {what}"
        if improvement is not None and improvement[1] == improvement[1]:
            text += f"; {improvement[0]} {improvement[1]:+.2f} dB"
        return text


# ---------------------------------------------------------------------------
# Enhancement: the speech estimate is the noise ("wrong source")
#
# MixIT can learn the roles swapped: source 0, read as the speech, holds the
# noise and the speech goes to the other sources. In the enhance_objectives
# study (results/enhance_objectives/trials.csv) three MixIT seeds did this
# and scored -37.6, -42.8 and -54.0 dB test SI-SNRi on ~21 dB inputs, i.e.
# estimates whose speech content is 16-33 dB below the rest of them; every
# other trial there scored -14.7 dB or better (estimates at least +6 dB SI-SNR).
# An estimate that is (mostly) the noise is recognised per item by two facts,
# each with a 10 dB margin that keeps it clear of both groups:
#   - speech is a minor part of it: SI-SNR(estimate, clean) <= -10 dB
#     (the noisy input itself is at -5 dB or more in the default corpus, and
#     a failing but honest denoiser of a 20 dB input stays far above -10 dB);
#   - it moved towards the noise: SI-SNR(estimate, noise) >= SI-SNR(noisy, noise) + 10 dB,
#     with noise = noisy - clean (a silenced or garbled estimate fails this one).
# The run is wrong-source when more than half of its test items are: the roles
# are a property of the model, so a majority says which one it learnt, while
# items whose noise the model cannot tell from speech may go either way.
WRONG_SOURCE_SPEECH_DB = -10.0
WRONG_SOURCE_NOISE_GAIN_DB = 10.0
WRONG_SOURCE_SHARE = 0.5


def wrong_source_statistics(estimate: torch.Tensor, noisy: torch.Tensor, clean: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(SI-SNR of the estimate against the clean speech, its gain in SI-SNR against the noise over the
    input's), dB, both `(batch,)`. Arguments `(batch, time)` or `(batch, 1, time)`."""
    estimate, noisy, clean = (x.reshape(x.shape[0], 1, -1).double() for x in (estimate, noisy, clean))
    noise = noisy - clean
    return si_snr(estimate, clean)[:, 0], (si_snr(estimate, noise) - si_snr(noisy, noise))[:, 0]


@dataclass
class WrongSourceProbe:
    """Accumulates `wrong_source_statistics` over the test batches; `reason` gives the verdict."""

    speech_db: list[float] = field(default_factory=list)
    noise_gain_db: list[float] = field(default_factory=list)

    def reset(self) -> None:
        self.speech_db.clear()
        self.noise_gain_db.clear()

    def update(self, estimate: torch.Tensor, noisy: torch.Tensor, clean: torch.Tensor) -> None:
        speech, gain = wrong_source_statistics(estimate.detach(), noisy.detach(), clean.detach())
        self.speech_db += speech.tolist()
        self.noise_gain_db += gain.tolist()

    def gather(self) -> None:
        """In a run on several processes: take every process's items."""
        if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
            return
        parts: list = [None] * torch.distributed.get_world_size()
        torch.distributed.all_gather_object(parts, (self.speech_db, self.noise_gain_db))
        self.speech_db = [value for speech, _ in parts for value in speech]
        self.noise_gain_db = [value for _, gains in parts for value in gains]

    def wrong(self) -> list[bool]:
        return [s <= WRONG_SOURCE_SPEECH_DB and g >= WRONG_SOURCE_NOISE_GAIN_DB
                for s, g in zip(self.speech_db, self.noise_gain_db)]

    def reason(self, improvement: tuple[str, float] | None = None) -> str | None:
        """Why the run's speech estimate counts as the noise, with the measured values; None otherwise."""
        wrong = self.wrong()
        if not wrong or sum(wrong) <= WRONG_SOURCE_SHARE * len(wrong):
            return None
        speech = sorted(s for s, w in zip(self.speech_db, wrong) if w)
        gains = sorted(g for g, w in zip(self.noise_gain_db, wrong) if w)
        text = (f"wrong source on {sum(wrong)} of {len(wrong)} test items: the speech estimate is the noise "
                f"(its SI-SNR against the speech median {speech[len(speech) // 2]:.1f} dB, at most "
                f"{WRONG_SOURCE_SPEECH_DB:g}; against the noise median {gains[len(gains) // 2]:+.1f} dB over the "
                f"input's, at least {WRONG_SOURCE_NOISE_GAIN_DB:+g})")
        if improvement is not None and improvement[1] == improvement[1]:
            text += f"; {improvement[0]} {improvement[1]:+.2f} dB"
        return text
