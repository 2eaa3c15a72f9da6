"""What the spectrum of images holds: power per ring, log magnitude, the energy a low-pass copy keeps.

:func:`radial_power_spectrum` and :func:`radial_energy_share` read the spectrum ring by
ring (rounded distance from the centre), :func:`log_magnitude` is the spectrum to look
at, and :func:`energy_below` the share of each image's energy within a radius. The
transforms are orthonormal, so the powers sum to the images' energy (Parseval).
"""

from __future__ import annotations

import torch

from freqlens import checks
from freqlens.fourier.masks import centred_offsets, check_finite_images, check_mask, mask_cpu

__all__ = ["LUMA", "energy_below", "log_magnitude", "radial_energy_share", "radial_power_spectrum"]

LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601 weights, as in most image libraries


def _radial_bins(height: int, width: int) -> torch.Tensor:
    u = centred_offsets(height)[:, None]
    v = centred_offsets(width)[None, :]
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
    check_finite_images(x)
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
    check_finite_images(x)
    # float64 where the device has it (MPS has not): the spectrum spans many decades
    x = x.detach().to(torch.float32 if x.device.type == "mps" else torch.float64)
    if luminance and x.shape[1] == 3:
        x = (x * torch.tensor(LUMA, dtype=x.dtype, device=x.device)[None, :, None, None]).sum(1, keepdim=True)
    spec = torch.fft.fftshift(torch.fft.fft2(x, norm="ortho"), dim=(-2, -1))
    out = spec.abs().clamp_min(1e-12).log10().float()
    return out[:, 0] if luminance else out


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
    check_finite_images(x)
    h, w = x.shape[-2:]
    r = checks.radius(radius, h, w)
    work = x if x.dtype in (torch.float32, torch.float64) else x.float()
    m = mask_cpu(h, w, r, check_mask(mask)).to(work.dtype).to(x.device)
    power = torch.fft.fft2(work, norm="ortho").abs().square()
    # The low-pass copy's spectrum is mask * F, so its energy weighs |F|^2 by the mask's
    # square: for a hard mask the same thing, for a Gaussian one the copy's true share.
    inside = (power * m.square().to(power.dtype)).sum(dim=(1, 2, 3))
    return inside / power.sum(dim=(1, 2, 3)).clamp_min(torch.finfo(power.dtype).tiny)


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
