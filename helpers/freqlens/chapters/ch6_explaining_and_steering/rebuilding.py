"""Chapter 6's images rebuilt from their most- and least-attributed frequencies."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd
import torch
from captum.attr import IntegratedGradients

from freqlens import checks, evaluate, fourier
from freqlens.attribution import FrequencyAttribution, from_spectrum, spectrum
from freqlens.chapters import ch4_frequency_attribution as ch4
from freqlens.chapters.ch6_explaining_and_steering.settings import RADIUS

__all__ = ["keep_mask", "rebuilt", "rebuilt_accuracy", "rebuilt_images"]


# --------------------------------------------------------------------------- images rebuilt from frequencies

def _mirror(mask: torch.Tensor) -> torch.Tensor:
    """The point mirror of a centred map through its centre (``p -> -p`` modulo the size)."""
    h, w = mask.shape[-2:]
    rows = (2 * (h // 2) - torch.arange(h)) % h
    cols = (2 * (w // 2) - torch.arange(w)) % w
    return mask[..., rows[:, None], cols[None, :]]


def keep_mask(scores: torch.Tensor, k: int, largest: bool = True) -> torch.Tensor:
    """Per image, the ``k`` frequencies of highest (or lowest) score, with their mirror images.

    ``scores`` is ``(B, H, W)`` over the centred spectrum; a frequency is kept with its
    mirror through the centre (a real image needs both), so a map may keep a few more
    than ``k``. Shapes: ``(B, H, W) -> (B, H, W)`` bool.

    Example:
        >>> s = torch.zeros(1, 4, 4); s[0, 1, 1] = 5.0
        >>> keep_mask(s, 1)[0].nonzero().tolist()
        [[1, 1], [3, 3]]
    """
    k = checks.integer(k, "k", minimum=1, maximum=scores[0].numel())
    flat = scores.flatten(1)
    idx = flat.topk(k, dim=1, largest=largest).indices
    mask = torch.zeros_like(flat, dtype=torch.bool).scatter(1, idx, True).view_as(scores)
    return mask | _mirror(mask)


def rebuilt(x: torch.Tensor, baseline: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """The baseline plus the frequencies ``keep`` of ``x - baseline``: ``(B, C, H, W)``, ``keep`` ``(B, H, W)``."""
    z = spectrum(x - baseline)
    c = x.shape[1]
    kept = z * torch.cat([keep[:, None].expand(-1, c, -1, -1)] * 2, dim=1)
    return baseline + from_spectrum(kept)


def rebuilt_images(model, x: torch.Tensor, y: torch.Tensor, ks: Sequence[int] = (16, 64, 193),
                   n_steps: int = 32, seed: int = 0) -> dict[str, torch.Tensor]:
    """Each image rebuilt from its most-, least-attributed and random ``k`` frequencies, and its LFC/HFC.

    The attribution is Integrated Gradients over frequencies of the true class from the
    image's own mean colour (chapter 4's flat baseline), summed over channels; the images
    are that baseline plus the kept frequencies of the rest. ``193`` is the number of
    frequencies strictly within distance 8, so at that ``k`` the LFC copy r = 8 is the
    control of the same size. Values are clamped into [0, 1] for the network.
    """
    base = ch4.flat_baseline(x)
    attr = FrequencyAttribution(IntegratedGradients, model).attribute(x, target=y, baselines=base,
                                                                       n_steps=n_steps).sum(1)
    noise = torch.rand(attr.shape, generator=torch.Generator().manual_seed(seed))
    out = {"original": x, f"LFC r < {RADIUS}": fourier.low_pass(x, RADIUS).clamp(0, 1),
           f"HFC r ≥ {RADIUS}": (fourier.high_pass(x, RADIUS) + base).clamp(0, 1)}
    for k in ks:
        out[f"top {k}"] = rebuilt(x, base, keep_mask(attr.cpu(), k)).clamp(0, 1)
        out[f"bottom {k}"] = rebuilt(x, base, keep_mask(attr.cpu(), k, largest=False)).clamp(0, 1)
        out[f"random {k}"] = rebuilt(x, base, keep_mask(noise, k)).clamp(0, 1)
    return out


def rebuilt_accuracy(model, images: Mapping[str, torch.Tensor], y: torch.Tensor) -> pd.Series:
    """The network's accuracy on each kind of rebuilt image."""
    return pd.Series({name: evaluate.accuracy(model, x, y) for name, x in images.items()})
