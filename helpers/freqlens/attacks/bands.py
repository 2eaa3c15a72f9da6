"""Bands of frequencies for band-limited PGD, and PGD's step inside a band.

:func:`frequency_band` gives the projection onto a band (a disk of the centred spectrum,
its complement, or the low block of the orthonormal DCT), or a smoothing filter whose
output every step is made of; :func:`band_step` steps along the band's part of the
gradient and :func:`scale_into` enforces the ball by scaling the perturbation, which
keeps it in its band (clamping would not).
"""

from __future__ import annotations

import torch
from torch import nn

from freqlens import checks

__all__ = ["BANDS", "band_dimension", "band_step", "frequency_band", "scale_into"]

BANDS = ("low", "high", "dct_low", "random", "smooth")


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


class _RandomSubspace(nn.Module):
    """Projection onto a random ``size``-dimensional subspace of each channel's ``height`` x ``width`` pixels."""

    def __init__(self, size: int, seed: int, height: int, width: int):
        super().__init__()
        self.size, self.seed, self.shape = size, seed, (height, width)
        g = torch.Generator().manual_seed(seed)
        gaussian = torch.randn(height * width, size, generator=g, dtype=torch.float64)
        basis, _ = torch.linalg.qr(gaussian)   # orthonormal columns spanning a uniform random subspace
        self.register_buffer("basis", basis.to(torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[-2:]) != self.shape:
            raise ValueError(f"x must be {self.shape[0]}x{self.shape[1]} images for this random band, "
                             f"got {tuple(x.shape[-2:])}")
        q = self.basis.to(device=x.device, dtype=x.dtype)
        flat = x.flatten(-2)
        return ((flat @ q) @ q.T).view_as(x)

    def extra_repr(self) -> str:
        return f"size={self.size}, seed={self.seed}"


class _Smoothing(nn.Module):
    """A Gaussian low-pass filter of the steps (standard deviation ``size`` in the spectrum); not a projection."""

    projects = False   # band_step filters each step, and leaves their sum alone

    def __init__(self, size: float):
        super().__init__()
        from freqlens import fourier

        self.size = size
        self.filter = fourier.LowPass(size, mask="gaussian")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.filter(x)

    def extra_repr(self) -> str:
        return f"size={self.size:g}"


def frequency_band(kind: str, size: float, *, seed: int = 0, height: int = 32, width: int = 32) -> nn.Module:
    """A projection onto a band of frequencies, for :func:`pgd`'s ``band``.

    ``"low"``: the frequencies strictly within ``size`` of the centre of the spectrum
    (the book's LFC); ``"high"``: the rest (the HFC); ``"dct_low"``: the top-left
    ``size`` x ``size`` block of the orthonormal 2-D DCT-II of the whole image, per
    channel (Guo et al.'s low-frequency subspace); ``"random"``: a random subspace of
    ``size`` dimensions of each channel's ``height`` x ``width`` pixels (drawn from
    ``seed``), the control a band is compared with: a band's budget means something only
    beside a random subspace of the same dimension (:func:`band_dimension`). Each is
    linear, idempotent and orthogonal, and reads no values (no device sync inside an
    attack step).

    ``"smooth"`` is a filter, not a projection: a Gaussian low-pass filter of standard
    deviation ``size`` in the centred spectrum (a frequency at distance ``d`` keeps
    ``exp(-d^2 / 2 size^2)`` of itself). PGD filters each *step* with it and adds the
    steps up, so the perturbation is a sum of smoothed gradients, smooth however many
    steps it takes (filtering the sum again at each step would smooth it once more
    every step). It is the idea of Zhang et al.'s smooth adversarial examples, with a
    fixed filter where theirs adapts to the image. Its range is every image (the
    filter can be inverted), so :func:`band_dimension` gives it the whole dimension.

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
    if kind == "smooth":
        return _Smoothing(checks.number(size, "size", low=0, low_open=True))
    if kind == "random":
        height = checks.integer(height, "height", minimum=1)
        width = checks.integer(width, "width", minimum=1)
        dim = checks.integer(size, "size", minimum=1, maximum=height * width)
        return _RandomSubspace(dim, checks.integer(seed, "seed"), height, width)
    radius = checks.radius(size, name="size")
    return fourier.LowPass(radius) if kind == "low" else fourier.HighPass(radius)


def band_dimension(kind: str, size: float, height: int = 32, width: int = 32) -> int:
    """The dimension per channel of :func:`frequency_band`'s band: how many real numbers it leaves free.

    A disk of the centred spectrum that is its own mirror image holds as many real
    dimensions as frequencies (a frequency and its mirror carry one complex number and
    its conjugate); on 32 x 32 images ``"low"`` at 8 holds 193 and ``"high"`` 831.

    Example:
        >>> [band_dimension(k, s) for k, s in (("low", 8), ("high", 8), ("dct_low", 8), ("random", 193))]
        [193, 831, 64, 193]
    """
    from freqlens import fourier

    kind = checks.one_of(kind, "kind", options=BANDS)
    if kind == "dct_low":
        return checks.integer(size, "size", minimum=1, maximum=min(height, width)) ** 2
    if kind == "random":
        return checks.integer(size, "size", minimum=1, maximum=height * width)
    if kind == "smooth":
        checks.number(size, "size", low=0, low_open=True)
        return height * width
    low = int(fourier.frequency_mask(height, width, checks.radius(size, name="size")).sum())
    return low if kind == "low" else height * width - low


def scale_into(images, delta, eps, norm):
    """Shrink each perturbation by a factor in [0, 1] until it is in the ball: it stays in its band."""
    size = (delta.flatten(1).abs().amax(1) if norm == "linf" else delta.flatten(1).norm(dim=1)).view(-1, 1, 1, 1)
    t = torch.where(size > eps, eps / size.clamp_min(1e-30), 1.0)
    return (images + t * delta).detach()


def band_step(images, adv, grad, eps, alpha, norm, band):
    """Step along the band's part of the gradient (unit L-inf or L2 size), project, scale into the ball.

    For a filter that is not a projection (``band.projects`` false) the step alone is
    filtered: the perturbation is the sum of filtered steps."""
    g = band(grad)
    size = g.flatten(1).abs().amax(1) if norm == "linf" else g.flatten(1).norm(dim=1)
    delta = adv.detach() - images + alpha * g / size.clamp_min(1e-30).view(-1, 1, 1, 1)
    if getattr(band, "projects", True):   # a projection: drop what rounding left outside the band
        delta = band(delta)
    return scale_into(images, delta, eps, norm)
