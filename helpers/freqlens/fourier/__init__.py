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

The submodules, one concern each: :mod:`~freqlens.fourier.masks` (the masks, their
distances and the checks of the images), :mod:`~freqlens.fourier.filters` (the splits and
filters, functions and layers), :mod:`~freqlens.fourier.spectra` (what a spectrum holds)
and :mod:`~freqlens.fourier.dct` (the DCT).
"""

from freqlens.checks import corner_radius
from freqlens.fourier.dct import dct2, dct_matrix, idct2
from freqlens.fourier.filters import BandPass, HighPass, LowPass, band_pass, high_pass, low_pass, rescale_by_max, split
from freqlens.fourier.masks import MASKS, centred_distance, frequency_mask, spatial_kernel
from freqlens.fourier.spectra import LUMA, energy_below, log_magnitude, radial_energy_share, radial_power_spectrum

__all__ = [
    "LUMA",
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
