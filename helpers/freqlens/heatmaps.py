"""Fourier heat maps (Yin et al. 2019): a network's error under additive noise of one frequency at a time.

For each frequency ``(u, v)`` with ``-15 <= u, v <= 15`` (on 32 x 32 images), the basis
image is the real part of the inverse DFT of the pair of coefficients at ``(u, v)`` and
its mirror ``(-u, -v)``, of unit L2 norm. Every test image gets it scaled to norm
``eps``, on every channel with a random sign per channel, and is clamped to [0, 1]; the
map holds the error rate per frequency, the zero frequency in the middle. A frequency
and its mirror have the same basis, so half the map is computed and mirrored; all
images and bases go through the network in large batches, where the public
implementations loop over the bases one at a time.

Example:
    >>> from freqlens.models import SmallCNN
    >>> from freqlens.data import cifar10_tensors
    >>> x, y = cifar10_tensors("test", n=4)
    >>> fourier_heat_map(SmallCNN(width=8), x, y, eps=4.0).shape
    torch.Size([31, 31])
"""

from __future__ import annotations

import functools

import torch
from torch import nn

from freqlens import checks
from freqlens.execution import default_batch_size, run

__all__ = ["fourier_basis", "fourier_heat_map"]


def fourier_basis(u: int, v: int, height: int = 32, width: int = 32) -> torch.Tensor:
    """The unit-norm real image of frequency ``(u, v)`` (rows, columns; offsets from the zero frequency).

    Shapes: ``-> (H, W)`` float64.

    Example:
        >>> b = fourier_basis(0, 1, 8, 8)
        >>> round(float(b.norm()), 6), torch.allclose(b, fourier_basis(0, -1, 8, 8))
        (1.0, True)
    """
    h = checks.integer(height, "height", minimum=1)
    w = checks.integer(width, "width", minimum=1)
    u = checks.integer(u, "u", minimum=-(h // 2), maximum=(h - 1) // 2)
    v = checks.integer(v, "v", minimum=-(w // 2), maximum=(w - 1) // 2)
    spectrum = torch.zeros(h, w, dtype=torch.complex128)
    spectrum[u % h, v % w] = 1.0
    spectrum[-u % h, -v % w] = 1.0
    basis = torch.fft.ifft2(spectrum).real
    return basis / basis.norm()


@functools.lru_cache(maxsize=4)
def _half_bases(height: int, width: int, reach: int) -> tuple[torch.Tensor, list[tuple[int, int]]]:
    """The bases of the frequencies in one half of the map (the other half mirrors them)."""
    pairs = [(u, v) for u in range(-reach, reach + 1) for v in range(-reach, reach + 1)
             if u > 0 or (u == 0 and v >= 0)]
    return torch.stack([fourier_basis(u, v, height, width) for u, v in pairs]).float(), pairs


def fourier_heat_map(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, eps: float = 4.0, *,
                     random_sign: bool = True, seed: int = 0, batch_size: int | None = None,
                     show_progress: bool = False) -> torch.Tensor:
    """Error rate per frequency under Fourier-basis noise of L2 norm ``eps`` per channel.

    ``eps`` is on the [0, 1] scale of the images (Yin et al. used 4 on CIFAR-10). The
    signs (one per image, frequency and channel) are drawn from ``seed``;
    ``random_sign=False`` adds every basis with a plus sign. ``batch_size`` (default: the
    device's evaluation batch, 256 on a CPU and 2048 on CUDA) is the number of noisy images
    per forward pass, gathered over images and frequencies, on the model's device (see
    :func:`freqlens.execution.run`); the map comes back on ``images``' device. The map spans the
    frequencies ``-(min(H, W) // 2 - 1) .. min(H, W) // 2 - 1`` (31 x 31 on CIFAR-10),
    entry ``[u + 15, v + 15]`` for frequency ``(u, v)``.

    Shapes: ``images (N, C, H, W)`` in [0, 1], ``labels (N,)`` -> ``(2R + 1, 2R + 1)``.
    """
    checks.in_unit_range(checks.images(images, "images"), "images")
    checks.labels(labels, images.shape[0], "labels")
    eps = checks.number(eps, "eps", low=0)
    checks.model(model)
    batch_size = checks.batch_size(batch_size) or default_batch_size(model)
    n, c, h, w = images.shape
    if n == 0:
        raise ValueError("images must hold at least one image, got 0")
    reach = min(h, w) // 2 - 1
    bases, pairs = _half_bases(h, w, reach)
    k = len(pairs)
    g = torch.Generator().manual_seed(checks.integer(seed, "seed"))
    signs = (torch.randint(0, 2, (n, k, c), generator=g) * 2 - 1 if random_sign
             else torch.ones(n, k, c, dtype=torch.long)).to(torch.int8).to(images.device)
    # a forward pass holds at most batch_size noisy images: per_chunk frequencies of each image
    per_image = min(n, batch_size)
    per_chunk = max(1, batch_size // per_image)

    def wrong(m, x, y, sign):
        on = bases.to(x.device, x.dtype)
        out = torch.empty(x.shape[0], k, dtype=torch.bool, device=x.device)
        starts = range(0, k, per_chunk)
        if show_progress:
            from tqdm.auto import tqdm

            starts = tqdm(starts, desc="Fourier heat map", unit="chunk", leave=False)
        for start in starts:
            stop = min(start + per_chunk, k)
            noise = eps * on[None, start:stop, None] * sign[:, start:stop, :, None, None].to(x.dtype)
            noisy = (x[:, None] + noise).clamp(0, 1).flatten(0, 1)
            out[:, start:stop] = m(noisy).argmax(1).view(x.shape[0], stop - start) != y[:, None]
        return out

    errors = run(model, wrong, images, labels, signs, batch_size=per_image).float().mean(0)
    grid = torch.zeros(2 * reach + 1, 2 * reach + 1, device=images.device)
    for (u, v), e in zip(pairs, errors.tolist()):
        grid[u + reach, v + reach] = e
        grid[-u + reach, -v + reach] = e
    return grid
