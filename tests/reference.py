"""The reference algorithm of Wang et al. (CVPR 2020), one image and one channel at a time.

A deliberately plain NumPy transcription, independent of ``freqlens.fourier``: the
tests check ``split`` against it, and the benchmark times ``split`` against it.

For each image and channel: ``fft2``, ``fftshift``, multiply by a circular mask that
is 1 where the distance from ``(rows // 2, cols // 2)`` is strictly below ``r``,
``ifftshift``, ``ifft2``, real part. The high-frequency component uses ``1 - mask``.
"""

from __future__ import annotations

import numpy as np


def radial_mask(rows: int, cols: int, r: float) -> np.ndarray:
    """1.0 where the distance from ``(rows // 2, cols // 2)`` is strictly below ``r``, else 0.0."""
    mask = np.zeros((rows, cols))
    for i in range(rows):
        for j in range(cols):
            if np.sqrt((i - rows // 2) ** 2 + (j - cols // 2) ** 2) < r:
                mask[i, j] = 1.0
    return mask


def filter_channel(channel: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Real part of the inverse DFT of the centred spectrum of ``channel`` times ``mask``."""
    spectrum = np.fft.fftshift(np.fft.fft2(channel))
    return np.real(np.fft.ifft2(np.fft.ifftshift(spectrum * mask)))


def split_reference(images: np.ndarray, r: float) -> tuple[np.ndarray, np.ndarray]:
    """Low- and high-frequency components of ``images`` ``(N, H, W, C)``, as float64 arrays."""
    n, rows, cols, channels = images.shape
    mask = radial_mask(rows, cols, r)
    low = np.zeros((n, rows, cols, channels))
    high = np.zeros((n, rows, cols, channels))
    for i in range(n):
        for j in range(channels):
            low[i, :, :, j] = filter_channel(images[i, :, :, j], mask)
            high[i, :, :, j] = filter_channel(images[i, :, :, j], 1 - mask)
    return low, high


def rescale_reference(images: np.ndarray) -> np.ndarray:
    """Each image divided by its own maximum and scaled to 255, then divided by 255 again."""
    out = np.zeros(images.shape)
    for i in range(images.shape[0]):
        out[i] = images[i] / np.max(images[i]) * 255
    return out / 255
