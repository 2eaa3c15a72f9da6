"""Figures of chapter 5: accuracy under attack, distortion per band, defenses, kernels, heat maps, neurons."""

from __future__ import annotations

import numpy as np
import torch
from matplotlib.figure import Figure

from freqlens.plot.style import GREYS, OKABE_ITO, blank

__all__ = ["accuracy_figure", "bars_figure", "consistency_histograms", "distortion_figure", "heat_map_grid",
           "kernel_grid", "top_images_grid"]

# One colour per network, the same in every figure of the chapter.
_COLOURS = [OKABE_ITO[c] for c in ("black", "vermillion", "blue", "bluish green", "orange",
                                   "reddish purple", "sky blue")]


def _colour(i: int) -> str:
    return _COLOURS[i % len(_COLOURS)]


def accuracy_figure(panels: dict, xlabel: str, ylabel: str = "accuracy") -> Figure:
    """One panel per title, one line per network: ``{title: {network: (xs, ys)}}``.

    Example:
        >>> len(accuracy_figure({"PGD": {"a": ([0, 1], [0.6, 0.1])}}, "ε").axes)
        1
    """
    if not panels:
        raise ValueError("panels must map at least one title to its curves, got nothing")
    fig = Figure(figsize=(3.6 * len(panels) + 0.4, 3.0), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (title, curves) in zip(axes, panels.items()):
        for i, (name, (xs, ys)) in enumerate(curves.items()):
            ax.plot(list(xs), list(ys), "o-", ms=3, color=_colour(i), label=name)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
    axes[-1].legend(fontsize=7)
    return fig


def bars_figure(table, ylabel: str = "accuracy", title: str | None = None) -> Figure:
    """Grouped bars: one group per row of ``table`` (a DataFrame), one bar per column.

    Example:
        >>> import pandas as pd
        >>> t = pd.DataFrame({"clean": [0.6, 0.5], "attacked": [0.0, 0.3]}, index=["a", "b"])
        >>> len(bars_figure(t).axes)
        1
    """
    rows, cols = list(table.index), list(table.columns)
    fig = Figure(figsize=(1.3 * len(rows) * max(1, len(cols) / 3) + 1.6, 3.0), layout="constrained")
    ax = fig.subplots()
    width = 0.8 / len(cols)
    at = np.arange(len(rows))
    for j, col in enumerate(cols):
        ax.bar(at + (j - (len(cols) - 1) / 2) * width, table[col].to_numpy(dtype=float), width,
               color=_colour(j), label=str(col))
    ax.set_xticks(at, [str(r) for r in rows], fontsize=8)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=7)
    return fig


def distortion_figure(distortion) -> Figure:
    """Median L2 budget to flip an image, per band beside its random subspace of equal dimension, per network.

    ``distortion`` is chapter 5's table: a ``(network, band)`` index whose bands come
    as ``all frequencies`` then pairs of a band and its ``random d`` control, and a
    ``"median L2"`` column.

    Example:
        >>> import pandas as pd
        >>> idx = pd.MultiIndex.from_tuples([("a", "all frequencies"), ("a", "LFC"), ("a", "random 3")])
        >>> t = pd.DataFrame({"median L2": [0.2, 0.5, 0.4]}, index=idx)
        >>> len(distortion_figure(t).axes)
        1
    """
    med = distortion["median L2"]
    names = list(med.index.get_level_values(0).unique())
    fig = Figure(figsize=(3.4 * len(names) + 0.4, 3.0), layout="constrained")
    axes = fig.subplots(1, len(names), squeeze=False)[0]
    for ax, name in zip(axes, names):
        rows = list(med[name].index)
        pairs = [(rows[0], None)] + list(zip(rows[1::2], rows[2::2]))
        at = np.arange(len(pairs))
        ax.bar(at - 0.2, [med[name, band] for band, _ in pairs], 0.4, color=OKABE_ITO["blue"],
               label="band")
        ax.bar(at[1:] + 0.2, [med[name, control] for _, control in pairs[1:]], 0.4, color=GREYS[2],
               label="random subspace, same dimension")
        ax.set_xticks(at, [band.replace(" frequencies", "") for band, _ in pairs], fontsize=7)
        ax.set_title(name, fontsize=9)
        ax.set_ylabel("median L2 to flip")
        ax.grid(alpha=0.3, axis="y")
    axes[-1].legend(fontsize=7)
    return fig


def consistency_histograms(values: dict, bins: int = 12) -> Figure:
    """Histograms of per-neuron consistency, real against adversarial images, one panel per network.

    ``values`` maps a network to ``{"real": tensor, "adversarial": tensor}`` of
    per-neuron consistencies (Dong et al.'s Fig. 5).

    Example:
        >>> v = {"a": {"real": torch.rand(8), "adversarial": torch.rand(8)}}
        >>> len(consistency_histograms(v).axes)
        1
    """
    if not values:
        raise ValueError("values must map at least one network to its consistencies, got nothing")
    top = max(float(torch.as_tensor(v).max()) for kinds in values.values() for v in kinds.values())
    edges = np.linspace(0, max(top, 1e-6), bins + 1)
    fig = Figure(figsize=(2.8 * len(values) + 0.4, 2.6), layout="constrained")
    axes = fig.subplots(1, len(values), squeeze=False)[0]
    for ax, (name, kinds) in zip(axes, values.items()):
        for i, (kind, v) in enumerate(kinds.items()):
            ax.hist(torch.as_tensor(v).flatten().cpu().numpy(), bins=edges, alpha=0.6,
                    color=_colour(i + 1), label=kind)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("consistency pᵀAp", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0].set_ylabel("neurons")
    axes[-1].legend(fontsize=7)
    return fig


def top_images_grid(rows: dict, titles: dict | None = None) -> Figure:
    """One row per label, its images ``(k, 3, H, W)`` side by side (a neuron's top-activating images).

    Example:
        >>> len(top_images_grid({"n 1, real": torch.rand(3, 3, 8, 8)}).axes)
        3
    """
    if not rows:
        raise ValueError("rows must map at least one label to its images, got nothing")
    cols = max(len(v) for v in rows.values())
    fig = Figure(figsize=(0.9 * cols + 1.4, 0.95 * len(rows) + 0.2), layout="constrained")
    axes = fig.subplots(len(rows), cols, squeeze=False)
    for r, (label, images) in enumerate(rows.items()):
        for c in range(cols):
            ax = axes[r, c]
            blank(ax)
            if c < len(images):
                ax.imshow(images[c].detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy(),
                          interpolation="nearest")
                if titles and label in titles:
                    ax.set_title(titles[label][c], fontsize=6)
        axes[r, 0].set_ylabel(label, fontsize=7, rotation=0, ha="right", va="center")
    return fig


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
