"""The masks of the spectrum: which frequencies a radius keeps, and the checks of the images they filter.

:func:`frequency_mask` is the low-pass mask (a circle, a square or a Gaussian) for
plotting; :func:`mask_cpu` builds it once per setting and :func:`mask_on` uploads a band of
it to a device once. :func:`spatial_kernel` is a mask's convolution kernel and
:func:`centred_distance` the distances the masks compare with the radius. The input checks
every function of :mod:`freqlens.fourier` runs (:func:`check_images`,
:func:`check_finite_images`, :func:`check_mask`) live here too.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch

from freqlens import checks

__all__ = ["MASKS", "centred_distance", "centred_offsets", "check_finite_images", "check_images", "check_mask",
           "frequency_mask", "mask_cpu", "mask_on", "spatial_kernel"]

MASKS = ("circle", "square", "gaussian")


# --------------------------------------------------------------------------- checks

def check_images(x, name: str = "x") -> torch.Tensor:
    """Float images of at least 2 x 2 pixels; their values are read only by the functions."""
    checks.images(x, name)
    if x.shape[-2] < 2 or x.shape[-1] < 2:
        raise ValueError(f"{name} must have H, W >= 2, got shape {tuple(x.shape)}")
    return x


def check_finite_images(x, name: str = "x") -> torch.Tensor:
    """:func:`check_images`, and no NaN or infinity: this one waits for the device."""
    return checks.finite(check_images(x, name), name)


def check_mask(mask: str) -> str:
    """The name of a mask, one of :data:`MASKS`."""
    return checks.one_of(mask, "mask", MASKS)


# --------------------------------------------------------------------------- masks

def centred_offsets(n: int) -> torch.Tensor:
    """Signed frequency of each *unshifted* DFT index, as the centred layout sees it.

    After ``fftshift`` the zero frequency sits at ``n // 2``; index ``k`` of the
    unshifted spectrum lands at ``(k + n // 2) % n``, so its offset from the centre is
    that minus ``n // 2``.
    """
    k = torch.arange(n, dtype=torch.float64)
    return torch.remainder(k + n // 2, n) - n // 2


@lru_cache(maxsize=128)
def mask_cpu(height: int, width: int, radius: float, mask: str) -> torch.Tensor:
    """The low-pass mask in the layout of ``torch.fft.fft2`` (zero frequency at [0, 0])."""
    u = centred_offsets(height)[:, None]
    v = centred_offsets(width)[None, :]
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
    m = mask_cpu(height, width, r, check_mask(mask)).clone()
    return torch.fft.fftshift(m) if centred else m


@lru_cache(maxsize=256)
def mask_on(height: int, width: int, r_in: float, r_out: float, mask: str,
            device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """The band ``[r_in, r_out)`` of the spectrum as a mask on the device, uploaded once.

    ``r_in = 0`` is the low-pass mask; ``r_out = inf`` the high-pass one.
    """
    inner = mask_cpu(height, width, r_in, mask) if r_in > 0 else 0.0
    outer = mask_cpu(height, width, r_out, mask) if math.isfinite(r_out) else 1.0
    # cast on the CPU first: an MPS device has no float64
    return torch.as_tensor(outer - inner, dtype=torch.float64).to(dtype).to(device)


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
