"""Bands of frequencies for band-limited PGD, and PGD's step inside a band.

:func:`frequency_band` gives the projection onto a band (a disk of the centred spectrum,
its complement, or the low block of the orthonormal DCT); :func:`band_step` steps along
the band's part of the gradient and :func:`scale_into` enforces the ball by scaling the
perturbation, which keeps it in its band (clamping would not).
"""

from __future__ import annotations

import torch
from torch import nn

from freqlens import checks

__all__ = ["BANDS", "band_step", "frequency_band", "scale_into"]

BANDS = ("low", "high", "dct_low")


class _DctLow(nn.Module):
    """Projection onto the top-left ``size`` x ``size`` block of the orthonormal 2-D DCT-II."""

    def __init__(self, size: int):
        super().__init__()
        self.size = size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from freqlens.fourier import dct_matrix

        h, w = x.shape[-2:]
        if self.size > min(h, w):
            raise ValueError(f"size must be at most {min(h, w)} for {h}x{w} images (a band beyond the "
                             f"spectrum), got {self.size}")
        dh, dw = dct_matrix(h, x)[: self.size], dct_matrix(w, x)[: self.size]
        return dh.T @ (dh @ x @ dw.T) @ dw

    def extra_repr(self) -> str:
        return f"size={self.size}"


def frequency_band(kind: str, size: float) -> nn.Module:
    """A projection onto a band of frequencies, for :func:`pgd`'s ``band``.

    ``"low"``: the frequencies strictly within ``size`` of the centre of the spectrum
    (the book's LFC); ``"high"``: the rest (the HFC); ``"dct_low"``: the top-left
    ``size`` x ``size`` block of the orthonormal 2-D DCT-II of the whole image, per
    channel (Guo et al.'s low-frequency subspace). Each is linear, idempotent and
    orthogonal, and reads no values (no device sync inside an attack step).

    Example:
        >>> d = torch.rand(1, 3, 32, 32)
        >>> band = frequency_band("dct_low", 8)
        >>> torch.allclose(band(band(d)), band(d), atol=1e-6)
        True
    """
    from freqlens import fourier

    kind = checks.one_of(kind, "kind", options=BANDS)
    if kind == "dct_low":
        return _DctLow(checks.integer(size, "size", minimum=1))
    radius = checks.radius(size, name="size")
    return fourier.LowPass(radius) if kind == "low" else fourier.HighPass(radius)


def scale_into(images, delta, eps, norm):
    """Shrink each perturbation by a factor in [0, 1] until it is in the ball: it stays in its band."""
    size = (delta.flatten(1).abs().amax(1) if norm == "linf" else delta.flatten(1).norm(dim=1)).view(-1, 1, 1, 1)
    t = torch.where(size > eps, eps / size.clamp_min(1e-30), 1.0)
    return (images + t * delta).detach()


def band_step(images, adv, grad, eps, alpha, norm, band):
    """Step along the band's part of the gradient (unit L-inf or L2 size), project, scale into the ball."""
    g = band(grad)
    size = g.flatten(1).abs().amax(1) if norm == "linf" else g.flatten(1).norm(dim=1)
    delta = band(adv.detach() - images + alpha * g / size.clamp_min(1e-30).view(-1, 1, 1, 1))
    return scale_into(images, delta, eps, norm)
