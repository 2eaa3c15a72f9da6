"""The orthonormal 2-D DCT-II of images and its inverse, as products with the DCT matrix.

:func:`dct_matrix` is built once per size in float64 on the CPU and cast to the images'
dtype and device; :func:`dct2` and :func:`idct2` transform the last two axes.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch

from freqlens import checks
from freqlens.fourier.masks import check_finite_images

__all__ = ["dct2", "dct_matrix", "idct2"]


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
    check_finite_images(x)
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
    check_finite_images(coeffs, "coeffs")
    h, w = coeffs.shape[-2:]
    return dct_matrix(h, coeffs).T @ coeffs @ dct_matrix(w, coeffs)
