"""Exact, batched splits of images into low- and high-frequency components.

The convention is that of Wang et al. (CVPR 2020): a per-channel 2-D DFT whose
centred spectrum has zero frequency at ``(H//2, W//2)``; a frequency is *low* when
its Euclidean distance from that centre is strictly below the radius ``r``; the
components are the real parts of the inverse transforms, so ``lfc + hfc == x``.

Every function takes float tensors ``(B, C, H, W)`` on any device, returns tensors of
the same shape, dtype and device, and is differentiable. The filters come in pairs, as
in kornia: :func:`low_pass` does the work and :class:`LowPass` stores its setting, to sit
inside a network (``nn.Sequential(LowPass(4), model)``) or an attack. The functions
check that their input is finite, which reads the values and so waits for the device;
the modules check shapes and dtypes only, so a low-pass layer inside a 10-step attack
never stops to synchronise.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch
from torch import nn

from freqlens import checks
from freqlens.checks import corner_radius

__all__ = [
    "MASKS",
    "BandPass",
    "HighPass",
    "LowPass",
    "band_pass",
    "centred_distance",
    "corner_radius",
    "dct2",
    "dct_matrix",
    "energy_below",
    "frequency_mask",
    "high_pass",
    "idct2",
    "log_magnitude",
    "low_pass",
    "radial_energy_share",
    "radial_power_spectrum",
    "rescale_by_max",
    "spatial_kernel",
    "split",
]

MASKS = ("circle", "square", "gaussian")
LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601 weights, as in most image libraries


# --------------------------------------------------------------------------- checks

def _check_images(x, name: str = "x") -> torch.Tensor:
    """Float images of at least 2 x 2 pixels; their values are read only by the functions."""
    checks.images(x, name)
    if x.shape[-2] < 2 or x.shape[-1] < 2:
        raise ValueError(f"{name} must have H, W >= 2, got shape {tuple(x.shape)}")
    return x


def _check_finite_images(x, name: str = "x") -> torch.Tensor:
    """:func:`_check_images`, and no NaN or infinity: this one waits for the device."""
    return checks.finite(_check_images(x, name), name)


def _check_mask(mask: str) -> str:
    return checks.one_of(mask, "mask", MASKS)


def _check_band(r_in, r_out, height: int, width: int) -> tuple[float, float]:
    a = checks.radius(r_in, height, width, "r_in")
    b = checks.radius(r_out, height, width, "r_out")
    if a > b:
        raise ValueError(f"r_in must be <= r_out, got r_in={r_in!r}, r_out={r_out!r}")
    return a, b


# --------------------------------------------------------------------------- masks

def _centred_offsets(n: int) -> torch.Tensor:
    """Signed frequency of each *unshifted* DFT index, as the centred layout sees it.

    After ``fftshift`` the zero frequency sits at ``n // 2``; index ``k`` of the
    unshifted spectrum lands at ``(k + n // 2) % n``, so its offset from the centre is
    that minus ``n // 2``.
    """
    k = torch.arange(n, dtype=torch.float64)
    return torch.remainder(k + n // 2, n) - n // 2


@lru_cache(maxsize=128)
def _mask_cpu(height: int, width: int, radius: float, mask: str) -> torch.Tensor:
    """The low-pass mask in the layout of ``torch.fft.fft2`` (zero frequency at [0, 0])."""
    u = _centred_offsets(height)[:, None]
    v = _centred_offsets(width)[None, :]
    if mask == "circle":
        # NumPy's sqrt is correctly rounded and torch's float64 sqrt is not always (sqrt(2),
        # sqrt(512), ...), so a radius lying exactly on a frequency's distance would
        # otherwise fall on the other side of the reference's strict "< r".
        dist = torch.from_numpy(np.sqrt((u * u + v * v).numpy()))
        m = (dist < radius).to(torch.float64)
    elif mask == "square":
        m = (torch.maximum(u.abs(), v.abs()) < radius).to(torch.float64)
    else:  # gaussian: radius is the standard deviation; radius 0 keeps only nothing
        if radius == 0:
            m = torch.zeros(u.shape[0], v.shape[1], dtype=torch.float64)
        else:
            # Dividing twice: 2 * radius**2 underflows to 0 for radius < 1e-154, and 0 / 0 is NaN.
            m = torch.exp(-(u * u + v * v) / (2.0 * radius) / radius)
    return m


def frequency_mask(height: int, width: int, radius: float, mask: str = "circle",
                   centred: bool = True) -> torch.Tensor:
    """The low-pass mask ``(H, W)`` in float64: 1 inside the radius, 0 outside (soft for Gaussian).

    ``centred=True`` gives the layout of a shifted spectrum (zero frequency at
    ``(H//2, W//2)``), for plotting; ``False`` the layout of ``torch.fft.fft2``.

    Example:
        >>> int(frequency_mask(32, 32, 4).sum())  # frequencies strictly within distance 4
        45
    """
    r = checks.radius(radius, height, width)
    m = _mask_cpu(height, width, r, _check_mask(mask)).clone()
    return torch.fft.fftshift(m) if centred else m


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


@lru_cache(maxsize=256)
def _mask_on(height: int, width: int, r_in: float, r_out: float, mask: str,
             device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """The band ``[r_in, r_out)`` of the spectrum as a mask on the device, uploaded once.

    ``r_in = 0`` is the low-pass mask; ``r_out = inf`` the high-pass one.
    """
    inner = _mask_cpu(height, width, r_in, mask) if r_in > 0 else 0.0
    outer = _mask_cpu(height, width, r_out, mask) if math.isfinite(r_out) else 1.0
    # cast on the CPU first: an MPS device has no float64
    return torch.as_tensor(outer - inner, dtype=torch.float64).to(dtype).to(device)


def _keep(x: torch.Tensor, r_in: float, r_out: float, mask: str) -> torch.Tensor:
    """The band ``[r_in, r_out)`` for ``x``'s shape, on ``x``'s device, in its working dtype."""
    dtype = x.dtype if x.dtype in (torch.float32, torch.float64) else torch.float32
    return _mask_on(x.shape[-2], x.shape[-1], r_in, r_out, mask, x.device, dtype)


@lru_cache(maxsize=256)
def _filter_low_band(height: int, width: int, radius: float, mask: str) -> bool:
    """Whether to filter the low band (and subtract it) rather than the high one.

    A transform's rounding error grows with the norm of what it reconstructs. Natural
    images keep most of their energy, the mean above all, in the low band, so the high
    band is the more accurate one to filter, unless the low band holds only a few
    frequencies (float32 CIFAR-10 stays within 1e-4 of the reference on the 0-255 scale).
    Decided on the CPU copy of the mask, so the device is never asked.
    """
    keep = _mask_cpu(height, width, radius, mask)
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
    _check_finite_images(x)
    return _low_and_high(x, checks.radius(radius, *x.shape[-2:]), _check_mask(mask))[0]


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
    _check_finite_images(x)
    lfc, hfc = _low_and_high(x, checks.radius(radius, *x.shape[-2:]), _check_mask(mask))
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
    _check_finite_images(x)
    a, b = _check_band(r_in, r_out, x.shape[-2], x.shape[-1])
    return _filter(x, _keep(x, a, b, _check_mask(mask)))


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
    _check_finite_images(x)
    peak = x.amax(dim=(1, 2, 3), keepdim=True)
    return x / torch.where(peak > 0, peak, torch.ones_like(peak))


# --------------------------------------------------------------------------- modules

class _Filter(nn.Module):
    """A filter with its setting, checked once; ``forward`` reads no values (no device sync)."""

    def __init__(self, radius: float, mask: str = "circle"):
        super().__init__()
        checks.radius(radius)
        self.radius = radius  # as given, so a radius beyond an image's corner is named as given
        self.mask = _check_mask(mask)

    def _split(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        _check_images(x)
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
        self.mask = _check_mask(mask)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_images(x)
        a, b = _check_band(self.r_in, self.r_out, *x.shape[-2:])
        return _filter(x, _keep(x, a, b, self.mask))

    def extra_repr(self) -> str:
        return f"r_in={self.r_in:g}, r_out={self.r_out:g}, mask={self.mask!r}"


# --------------------------------------------------------------------------- spectra

def _radial_bins(height: int, width: int) -> torch.Tensor:
    u = _centred_offsets(height)[:, None]
    v = _centred_offsets(width)[None, :]
    return torch.round(torch.sqrt(u * u + v * v)).long()


def radial_power_spectrum(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean power ``|F|^2`` per integer distance from the centre, over images and channels.

    The DFT is normalised (``norm="ortho"``), so the powers summed over all frequencies
    equal the image's energy (Parseval).

    Shapes: ``(B, C, H, W) -> (radii (R,), power (R,))`` with ``R = round(corner) + 1``.

    Example:
        >>> radii, power = radial_power_spectrum(torch.rand(8, 3, 32, 32))
        >>> radii.shape, bool(power[0] > power[10])
        (torch.Size([24]), True)
    """
    _check_finite_images(x)
    h, w = x.shape[-2:]
    work = x if x.dtype in (torch.float32, torch.float64) else x.float()
    power = torch.fft.fft2(work, norm="ortho").abs().square().mean(dim=(0, 1)).flatten()
    bins = _radial_bins(h, w).flatten().to(x.device)
    n = int(bins.max()) + 1
    total = torch.zeros(n, dtype=power.dtype, device=x.device).index_add_(0, bins, power)
    count = torch.bincount(bins, minlength=n).to(power.dtype)
    return torch.arange(n, device=x.device), total / count


def log_magnitude(x: torch.Tensor, luminance: bool = True) -> torch.Tensor:
    """Centred log-magnitude spectrum ``log10 |F|`` (zero frequency at ``(H//2, W//2)``).

    The DFT is orthonormal (``norm="ortho"``), so the values are on the scale of the
    image's energy; ``luminance=True`` transforms the grey image ``0.299 R + 0.587 G +
    0.114 B`` (ITU-R BT.601) instead of each channel.

    Shapes: ``(B, C, H, W) -> (B, H, W)`` with ``luminance`` (C = 3), else ``(B, C, H, W)``.

    Example:
        >>> s = log_magnitude(torch.rand(2, 3, 32, 32))
        >>> s.shape, bool(s[0, 16, 16] == s[0].max())  # the mean dominates a positive image
        (torch.Size([2, 32, 32]), True)
    """
    _check_finite_images(x)
    # float64 where the device has it (MPS has not): the spectrum spans many decades
    x = x.detach().to(torch.float32 if x.device.type == "mps" else torch.float64)
    if luminance and x.shape[1] == 3:
        x = (x * torch.tensor(LUMA, dtype=x.dtype, device=x.device)[None, :, None, None]).sum(1, keepdim=True)
    spec = torch.fft.fftshift(torch.fft.fft2(x, norm="ortho"), dim=(-2, -1))
    out = spec.abs().clamp_min(1e-12).log10().float()
    return out[:, 0] if luminance else out


def spatial_kernel(height: int, width: int, radius: float, mask: str = "circle") -> torch.Tensor:
    """The low-pass filter as a convolution kernel: the inverse DFT of the mask, centred.

    Filtering with a mask multiplies the spectrum, which is the same as a circular
    convolution with this kernel; its ripples are the ringing the mask causes.

    Shapes: ``-> (H, W)`` float64, with the kernel's centre at ``(H//2, W//2)``.

    Example:
        >>> k = spatial_kernel(32, 32, 8)
        >>> round(float(k.sum()), 6)  # the mask keeps the mean: the weights sum to 1
        1.0
    """
    m = frequency_mask(height, width, radius, mask, centred=False)
    return torch.fft.fftshift(torch.fft.ifft2(m).real)


def energy_below(x: torch.Tensor, radius: float, mask: str = "circle") -> torch.Tensor:
    """Fraction of each image's energy that its low-pass copy keeps, the mean included.

    For a hard mask (circle, square) that is the share of the spectrum's energy strictly
    within ``radius``; for a Gaussian one, ``||low_pass(x)||^2 / ||x||^2``.

    Shapes: ``(B, C, H, W) -> (B,)``.

    Example:
        >>> x = torch.rand(2, 3, 32, 32)
        >>> bool((energy_below(x, 8) <= 1).all())
        True
    """
    _check_finite_images(x)
    h, w = x.shape[-2:]
    r = checks.radius(radius, h, w)
    work = x if x.dtype in (torch.float32, torch.float64) else x.float()
    m = _mask_cpu(h, w, r, _check_mask(mask)).to(work.dtype).to(x.device)
    power = torch.fft.fft2(work, norm="ortho").abs().square()
    # The low-pass copy's spectrum is mask * F, so its energy weighs |F|^2 by the mask's
    # square: for a hard mask the same thing, for a Gaussian one the copy's true share.
    inside = (power * m.square().to(power.dtype)).sum(dim=(1, 2, 3))
    return inside / power.sum(dim=(1, 2, 3)).clamp_min(torch.finfo(power.dtype).tiny)


# --------------------------------------------------------------------------- DCT

@lru_cache(maxsize=16)
def _dct_matrix_cpu(n: int) -> torch.Tensor:
    k = torch.arange(n, dtype=torch.float64)[:, None]
    i = torch.arange(n, dtype=torch.float64)[None, :]
    d = torch.cos(math.pi * (2 * i + 1) * k / (2 * n)) * math.sqrt(2.0 / n)
    d[0] /= math.sqrt(2.0)
    return d


def dct_matrix(n: int, like: torch.Tensor | None = None) -> torch.Tensor:
    """The orthonormal DCT-II matrix ``D`` of size ``n``: ``dct2(x) = D_H @ x @ D_W.T``.

    In ``like``'s dtype and on its device (float64 on the CPU without it); built in
    float64 on the CPU and cast there, so no float64 tensor is made on an MPS device.

    Shapes: ``-> (n, n)``.

    Example:
        >>> d = dct_matrix(8)
        >>> torch.allclose(d @ d.T, torch.eye(8, dtype=torch.float64))
        True
    """
    n = checks.integer(n, "n", minimum=1)
    d = _dct_matrix_cpu(n)
    return d if like is None else d.to(like.dtype).to(like.device)



def dct2(x: torch.Tensor) -> torch.Tensor:
    """Orthonormal 2-D DCT-II over the last two axes (coefficient ``[0, 0]`` is the mean x sqrt(HW)).

    Shapes: ``(B, C, H, W) -> (B, C, H, W)``.

    Example:
        >>> x = torch.rand(1, 3, 32, 32, dtype=torch.float64)
        >>> torch.allclose(idct2(dct2(x)), x)
        True
    """
    _check_finite_images(x)
    h, w = x.shape[-2:]
    return dct_matrix(h, x) @ x @ dct_matrix(w, x).T


def idct2(coeffs: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`dct2` (the orthonormal DCT-III).

    Shapes: ``(B, C, H, W) -> (B, C, H, W)``.

    Example:
        >>> c = torch.zeros(1, 1, 8, 8); c[..., 0, 0] = 8.0
        >>> idct2(c).unique()
        tensor([1.0000])
    """
    _check_finite_images(coeffs, "coeffs")
    h, w = coeffs.shape[-2:]
    return dct_matrix(h, coeffs).T @ coeffs @ dct_matrix(w, coeffs)


# --------------------------------------------------------------------------- distances

def centred_distance(height: int, width: int) -> torch.Tensor:
    """Each frequency's distance from the zero frequency ``(H//2, W//2)`` of the centred spectrum.

    The same distances the masks compare with the radius (NumPy's correctly rounded
    square root), so ``centred_distance(h, w) < r`` is the circle of
    ``frequency_mask(h, w, r)``.

    Shapes: ``-> (H, W)`` float64.

    Example:
        >>> d = centred_distance(32, 32)
        >>> float(d[16, 16]), float(d[16, 20]), torch.equal((d < 8).double(), frequency_mask(32, 32, 8))
        (0.0, 4.0, True)
    """
    h = checks.integer(height, "height", minimum=1)
    w = checks.integer(width, "width", minimum=1)
    u = np.arange(h, dtype=np.float64)[:, None] - h // 2
    v = np.arange(w, dtype=np.float64)[None, :] - w // 2
    return torch.from_numpy(np.sqrt(u * u + v * v))


def radial_energy_share(x: torch.Tensor) -> torch.Tensor:
    """The share of the images' energy in each ring of the spectrum (rounded distance ``k``), over images and channels.

    :func:`radial_power_spectrum` is the mean power per ring; times the number of
    frequencies in the ring it is the ring's energy, here divided by the total, so the
    shares sum to 1. Where a perturbation or an image puts its energy, ring by ring.

    Shapes: ``(B, C, H, W) -> (R,)`` float64 on the CPU, with ``R = round(corner) + 1``.

    Example:
        >>> share = radial_energy_share(torch.rand(8, 3, 32, 32))
        >>> share.shape, round(float(share.sum()), 6), bool(share[0] > 0.5)  # the mean dominates
        (torch.Size([24]), 1.0, True)
    """
    radii, power = radial_power_spectrum(x)
    rings = _radial_bins(*x.shape[-2:]).flatten()
    # on the CPU, in float64: a share is a reading, and an MPS device has no float64
    counts = torch.bincount(rings, minlength=len(radii)).double()
    energy = power.detach().cpu().double() * counts
    return energy / energy.sum()

