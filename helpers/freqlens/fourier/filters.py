"""The filters: low-pass, high-pass and band-pass copies of images, as functions and as layers.

:func:`split` gives ``(lfc, hfc)`` with ``lfc + hfc == x``, :func:`low_pass`,
:func:`high_pass` and :func:`band_pass` one band each, and :func:`rescale_by_max` the
reference code's scaling of a copy. :class:`LowPass`, :class:`HighPass` and
:class:`BandPass` store a setting, checked once, and read no values in ``forward``. Every
filter multiplies the spectrum by a mask of :mod:`freqlens.fourier.masks`, two real images
to one complex transform.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch
from torch import nn

from freqlens import checks
from freqlens.fourier.masks import check_finite_images, check_images, check_mask, mask_cpu, mask_on

__all__ = ["BandPass", "HighPass", "LowPass", "band_pass", "high_pass", "low_pass", "rescale_by_max", "split"]


def _check_band(r_in, r_out, height: int, width: int) -> tuple[float, float]:
    a = checks.radius(r_in, height, width, "r_in")
    b = checks.radius(r_out, height, width, "r_out")
    if a > b:
        raise ValueError(f"r_in must be <= r_out, got r_in={r_in!r}, r_out={r_out!r}")
    return a, b


# Images per chunk of _filter, about 2**21 complex values: small enough for the
# allocator to reuse the buffers of one chunk for the next (fresh pages cost more than
# the transforms) and for the transforms to run in cache.
_CHUNK_VALUES = 2**21


def _filter(x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """Real part of ``ifft2(fft2(x) * keep)`` for a real ``keep`` (H, W), ``keep[-k] == keep[k]``.

    Such a filter maps real images to real images, so two images share one complex
    transform as its real and imaginary parts without mixing: half the transforms of an
    ``rfft2``/``irfft2`` pair, and no ``irfft2``, which is slow on CPU.
    """
    if x.numel() == 0:  # the FFT backends reject empty batches
        return torch.zeros_like(x)
    work = x if x.dtype in (torch.float32, torch.float64) else x.float()
    h, w = x.shape[-2:]
    flat = work.reshape(-1, h, w)
    keep = keep.to(device=x.device, dtype=work.dtype)
    out = torch.empty_like(flat)
    step = 2 * max(1, _CHUNK_VALUES // (h * w))
    for start in range(0, flat.shape[0], step):
        part = flat[start:start + step]
        n = part.shape[0]
        half = (n + 1) // 2
        imag = part[half:]
        if n % 2:
            imag = torch.cat([imag, imag.new_zeros(1, h, w)])
        both = torch.fft.ifft2(torch.fft.fft2(torch.complex(part[:half], imag)).mul_(keep))
        out[start:start + half] = both.real
        out[start + half:start + n] = both.imag[: n - half]
    return out.reshape(x.shape).to(x.dtype)


def _keep(x: torch.Tensor, r_in: float, r_out: float, mask: str) -> torch.Tensor:
    """The band ``[r_in, r_out)`` for ``x``'s shape, on ``x``'s device, in its working dtype."""
    dtype = x.dtype if x.dtype in (torch.float32, torch.float64) else torch.float32
    return mask_on(x.shape[-2], x.shape[-1], r_in, r_out, mask, x.device, dtype)


@lru_cache(maxsize=256)
def _filter_low_band(height: int, width: int, radius: float, mask: str) -> bool:
    """Whether to filter the low band (and subtract it) rather than the high one.

    A transform's rounding error grows with the norm of what it reconstructs. Natural
    images keep most of their energy, the mean above all, in the low band, so the high
    band is the more accurate one to filter, unless the low band holds only a few
    frequencies (float32 CIFAR-10 stays within 1e-4 of the reference on the 0-255 scale).
    Decided on the CPU copy of the mask, so the device is never asked.
    """
    keep = mask_cpu(height, width, radius, mask)
    return float(keep.sum()) <= keep.numel() / 16


def _low_and_high(x: torch.Tensor, radius: float, mask: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``(lfc, hfc)``: one band filtered, the other subtracted."""
    if _filter_low_band(x.shape[-2], x.shape[-1], radius, mask):
        lfc = _filter(x, _keep(x, 0.0, radius, mask))
        return lfc, x - lfc
    hfc = _filter(x, _keep(x, radius, math.inf, mask))
    return x - hfc, hfc


# --------------------------------------------------------------------------- filters

def low_pass(x: torch.Tensor, radius: float, mask: str = "circle") -> torch.Tensor:
    """Low-frequency component: frequencies strictly within ``radius`` of the centre.

    Shapes: ``(B, C, H, W) -> (B, C, H, W)``.

    Example:
        >>> x = torch.rand(2, 3, 32, 32)
        >>> low_pass(x, 8).shape
        torch.Size([2, 3, 32, 32])
    """
    check_finite_images(x)
    return _low_and_high(x, checks.radius(radius, *x.shape[-2:]), check_mask(mask))[0]


def high_pass(x: torch.Tensor, radius: float, mask: str = "circle") -> torch.Tensor:
    """High-frequency component: everything :func:`low_pass` leaves out, ``x - low_pass(x)``.

    Shapes: ``(B, C, H, W) -> (B, C, H, W)``.

    Example:
        >>> x = torch.rand(2, 3, 32, 32)
        >>> torch.allclose(low_pass(x, 8) + high_pass(x, 8), x, atol=1e-6)
        True
    """
    return split(x, radius, mask)[1]


def split(x: torch.Tensor, radius: float, mask: str = "circle",
          rescale: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Split images into ``(lfc, hfc)`` with ``lfc + hfc == x``.

    Shapes: ``(B, C, H, W) -> ((B, C, H, W), (B, C, H, W))``.

    Args:
        x: float images, any device; for CIFAR-10 in [0, 1].
        radius: frequencies at distance strictly below it from ``(H//2, W//2)`` are low;
            at most :func:`corner_radius`.
        mask: ``"circle"`` (the reference), ``"square"`` or ``"gaussian"`` (radius = std).
        rescale: divide each returned image by its own maximum, as the reference code
            did to the copies it trained and tested on (then ``lfc + hfc != x``);
            see :func:`rescale_by_max`.

    Example:
        >>> x = torch.rand(4, 3, 32, 32)
        >>> lfc, hfc = split(x, radius=8)
        >>> torch.allclose(lfc + hfc, x, atol=1e-6)
        True
    """
    check_finite_images(x)
    lfc, hfc = _low_and_high(x, checks.radius(radius, *x.shape[-2:]), check_mask(mask))
    if rescale:
        return rescale_by_max(lfc), rescale_by_max(hfc)
    return lfc, hfc


def band_pass(x: torch.Tensor, r_in: float, r_out: float, mask: str = "circle") -> torch.Tensor:
    """Frequencies at distance in ``[r_in, r_out)`` from the centre.

    ``band_pass(x, 0, r) == low_pass(x, r)``. Bands that tile ``[0, corner]`` sum to
    ``low_pass(x, corner)``: ``x`` less its corner frequencies, which lie at distance exactly
    :func:`corner_radius` and so outside every band (``< r`` is strict); add
    ``high_pass(x, corner)`` to get ``x`` back.

    Shapes: ``(B, C, H, W) -> (B, C, H, W)``.

    Example:
        >>> x = torch.rand(1, 3, 32, 32)
        >>> torch.allclose(band_pass(x, 4, 8), low_pass(x, 8) - low_pass(x, 4), atol=1e-6)
        True
    """
    check_finite_images(x)
    a, b = _check_band(r_in, r_out, x.shape[-2], x.shape[-1])
    return _filter(x, _keep(x, a, b, check_mask(mask)))


def rescale_by_max(x: torch.Tensor) -> torch.Tensor:
    """Divide each image by its own maximum over channels and pixels (the reference's scaling).

    Wang et al.'s code stored every LFC/HFC copy as ``x / max(x) * 255`` and then divided
    by 255, so each copy's largest value becomes 1 while HFC keeps its negative values.
    An image whose maximum is not positive is returned unchanged.

    Shapes: ``(B, C, H, W) -> (B, C, H, W)``.

    Example:
        >>> x = torch.rand(2, 3, 8, 8) * 0.1
        >>> rescale_by_max(x).amax(dim=(1, 2, 3))
        tensor([1., 1.])
    """
    check_finite_images(x)
    peak = x.amax(dim=(1, 2, 3), keepdim=True)
    return x / torch.where(peak > 0, peak, torch.ones_like(peak))


# --------------------------------------------------------------------------- modules

class _Filter(nn.Module):
    """A filter with its setting, checked once; ``forward`` reads no values (no device sync)."""

    def __init__(self, radius: float, mask: str = "circle"):
        super().__init__()
        checks.radius(radius)
        self.radius = radius  # as given, so a radius beyond an image's corner is named as given
        self.mask = check_mask(mask)

    def _split(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        check_images(x)
        return _low_and_high(x, checks.radius(self.radius, *x.shape[-2:]), self.mask)

    def extra_repr(self) -> str:
        return f"radius={float(self.radius):g}, mask={self.mask!r}"


class LowPass(_Filter):
    """:func:`low_pass` as a layer, e.g. a low-pass input defense: ``nn.Sequential(LowPass(8), model)``.

    Shapes: ``(B, C, H, W) -> (B, C, H, W)``.

    Example:
        >>> x = torch.rand(2, 3, 32, 32)
        >>> torch.equal(LowPass(8)(x), low_pass(x, 8))
        True
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._split(x)[0]


class HighPass(_Filter):
    """:func:`high_pass` as a layer.

    Shapes: ``(B, C, H, W) -> (B, C, H, W)``.

    Example:
        >>> HighPass(4, mask="gaussian")
        HighPass(radius=4, mask='gaussian')
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._split(x)[1]


class BandPass(nn.Module):
    """:func:`band_pass` as a layer: the frequencies at distance in ``[r_in, r_out)``.

    Shapes: ``(B, C, H, W) -> (B, C, H, W)``.

    Example:
        >>> x = torch.rand(2, 3, 32, 32)
        >>> torch.equal(BandPass(4, 8)(x), band_pass(x, 4, 8))
        True
    """

    def __init__(self, r_in: float, r_out: float, mask: str = "circle"):
        super().__init__()
        self.r_in, self.r_out = _check_band(r_in, r_out, None, None)
        self.mask = check_mask(mask)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_images(x)
        a, b = _check_band(self.r_in, self.r_out, *x.shape[-2:])
        return _filter(x, _keep(x, a, b, self.mask))

    def extra_repr(self) -> str:
        return f"r_in={self.r_in:g}, r_out={self.r_out:g}, mask={self.mask!r}"
