"""Figures of chapter 5: first-layer kernels and Fourier heat maps."""

from __future__ import annotations

import torch
from matplotlib.figure import Figure

from freqlens.plot.style import blank

__all__ = ["heat_map_grid", "kernel_grid"]


def kernel_grid(kernels: dict, n: int = 16) -> Figure:
    """The first ``n`` first-layer kernels of each network, one row per network, as RGB pictures.

    ``kernels`` maps a label to weights ``(out, 3, kh, kw)``; each kernel is stretched
    symmetrically around mid-grey (grey is zero) by its own largest magnitude.

    Example:
        >>> len(kernel_grid({"a": torch.randn(8, 3, 3, 3)}, n=4).axes)
        4
    """
    if not kernels:
        raise ValueError("kernels must map at least one name to its weights, got nothing")
    rows = len(kernels)
    cols = min(n, min(w.shape[0] for w in kernels.values()))
    fig = Figure(figsize=(0.7 * cols + 1.2, 0.8 * rows + 0.3), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    for r, (name, w) in enumerate(kernels.items()):
        w = w.detach().float().cpu()
        for c in range(cols):
            k = w[c]
            k = 0.5 + 0.5 * k / k.abs().max().clamp_min(1e-12)
            img = k.permute(1, 2, 0).numpy() if k.shape[0] == 3 else k[0].numpy()
            axes[r, c].imshow(img, cmap=None if k.shape[0] == 3 else "gray", vmin=0, vmax=1,
                              interpolation="nearest")
            blank(axes[r, c])
        axes[r, 0].set_ylabel(name, fontsize=8)
    return fig


def heat_map_grid(maps: dict, vmax: float | None = None) -> Figure:
    """Fourier heat maps side by side, one colour scale for all, the zero frequency in the middle.

    ``maps`` maps a label to a ``(2R + 1, 2R + 1)`` error-rate map (e.g. from
    :func:`freqlens.heatmaps.fourier_heat_map`).

    Example:
        >>> len(heat_map_grid({"a": torch.rand(31, 31), "b": torch.rand(31, 31)}).axes)
        3
    """
    if not maps:
        raise ValueError("maps must map at least one name to its heat map, got nothing")
    top = vmax if vmax is not None else max(float(m.max()) for m in maps.values())
    fig = Figure(figsize=(3.0 * len(maps) + 0.6, 3.0), layout="constrained")
    axes = fig.subplots(1, len(maps), squeeze=False)[0]
    for ax, (name, m) in zip(axes, maps.items()):
        reach = (m.shape[0] - 1) // 2
        image = ax.imshow(m.detach().cpu().numpy(), cmap="viridis", vmin=0, vmax=top,
                          extent=(-reach - 0.5, reach + 0.5, reach + 0.5, -reach - 0.5))
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("v", fontsize=8)
        ax.set_ylabel("u", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.colorbar(image, ax=list(axes), shrink=0.8, label="error rate")
    return fig
