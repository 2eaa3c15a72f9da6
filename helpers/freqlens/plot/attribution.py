"""Figures of chapter 4: attribution maps over frequencies and pixels, radial profiles, perturbation curves.

Frequency maps are drawn over the centred spectrum (zero frequency in the middle),
summed over channels, in a diverging map symmetric around zero (blue negative, red
positive) clipped at the 99th percentile of the magnitudes, so that a few large
coefficients do not wash the rest out.
"""

from __future__ import annotations

import numpy as np
import torch
from matplotlib.figure import Figure

from freqlens.plot.style import as_images, blank, grid_figure, radius_colour, to_rgb

__all__ = ["band_figure", "class_map_grid", "curves_figure", "frequency_map_grid", "layer_mask_grid",
           "radial_profile_figure", "saliency_grid"]

# one colour per network or method, Okabe-Ito, in the order they are given
_SERIES = ("#000000", "#D55E00", "#E69F00", "#0072B2", "#009E73", "#CC79A7", "#56B4E9", "#999999")


def _need(mapping, what: str) -> None:
    if not mapping:
        raise ValueError(f"{what} must map at least one name to its results, got nothing")


def _signed(ax, a: torch.Tensor, title: str | None = None):
    """A map summed over channels, diverging around zero."""
    m = a.detach().double().sum(0).cpu().numpy()
    limit = float(np.percentile(np.abs(m), 99)) or 1.0
    ax.imshow(m, cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
    blank(ax)
    if title:
        ax.set_title(title, fontsize=8)


def frequency_map_grid(images: torch.Tensor, attributions: torch.Tensor, titles=None) -> Figure:
    """Images (top) and their attribution maps over the centred spectrum (bottom).

    Example:
        >>> len(frequency_map_grid(torch.rand(2, 3, 32, 32), torch.randn(2, 3, 32, 32)).axes)
        4
    """
    images = as_images(images, "images")
    if attributions.shape[0] != images.shape[0]:
        raise ValueError(f"attributions must hold one map per image ({images.shape[0]}), "
                         f"got {attributions.shape[0]}")
    n = images.shape[0]
    fig, axes = grid_figure(2, n, 1.7)
    for i in range(n):
        axes[0, i].imshow(to_rgb(images[i]))
        blank(axes[0, i])
        if titles is not None:
            axes[0, i].set_title(titles[i], fontsize=8)
        _signed(axes[1, i], attributions[i])
    axes[1, 0].set_ylabel("frequency map", fontsize=8)
    return fig


def class_map_grid(maps: torch.Tensor, names) -> Figure:
    """One frequency map per class (e.g. :func:`freqlens.attribution.class_average`), five to a row.

    Example:
        >>> len(class_map_grid(torch.randn(10, 3, 32, 32), [str(i) for i in range(10)]).axes)
        10
    """
    if len(names) != maps.shape[0]:
        raise ValueError(f"names must name every map ({maps.shape[0]}), got {len(names)}")
    cols = min(5, maps.shape[0])
    rows = -(-maps.shape[0] // cols)
    fig, axes = grid_figure(rows, cols, 1.7)
    for ax in axes.flat[maps.shape[0]:]:
        ax.remove()
    for ax, m, name in zip(axes.flat, maps, names):
        _signed(ax, torch.nan_to_num(m), name)
    return fig


def radial_profile_figure(profiles: dict, ylabel: str = "share of |attribution|", cumulative: bool = False,
                          radii=(4, 8, 12, 16)) -> Figure:
    """Profiles over the distance from the centre, one line per network; radii marked in the book's colours.

    ``profiles`` maps a label to a 1-D profile (index = rounded distance). ``cumulative``
    draws the running sum (the share of attribution below each radius).

    Example:
        >>> len(radial_profile_figure({"a": torch.rand(24)}).axes)
        1
    """
    _need(profiles, "profiles")
    fig = Figure(figsize=(6.4, 3.4), layout="constrained")
    ax = fig.subplots()
    for i, (name, p) in enumerate(profiles.items()):
        p = torch.as_tensor(p).double().cpu()
        ax.plot(np.arange(p.numel()), (p.cumsum(0) if cumulative else p).numpy(), "-o", ms=3,
                color=_SERIES[i % len(_SERIES)], label=name)
    for r in radii:
        ax.axvline(r, color=radius_colour(r), lw=1, ls=":")
    ax.set_xlabel("distance from the zero frequency")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return fig


def band_figure(drops: dict, labels, ylabel: str = "drop of the target's logit") -> Figure:
    """Grouped bars: the drop of the target's logit when each band is occluded, one colour per network.

    Example:
        >>> len(band_figure({"a": [0.5, 0.1]}, ["r < 4", "r >= 4"]).axes)
        1
    """
    _need(drops, "drops")
    fig = Figure(figsize=(6.4, 3.2), layout="constrained")
    ax = fig.subplots()
    width = 0.8 / len(drops)
    for i, (name, d) in enumerate(drops.items()):
        d = np.asarray(d, dtype=float)
        ax.bar(np.arange(d.size) + (i - (len(drops) - 1) / 2) * width, d, width,
               color=_SERIES[i % len(_SERIES)], label=name)
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xticks(range(len(labels)), labels, fontsize=8)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=7)
    return fig


def _grey(ax, values: torch.Tensor, vmax: float | None = None) -> None:
    """A map of non-negative ``values`` (H, W) in grey: 0 black, ``vmax`` (its maximum if None) white."""
    ax.imshow(values.detach().cpu().numpy(), cmap="gray", vmin=0, vmax=vmax, interpolation="nearest")
    blank(ax)


def saliency_grid(images: torch.Tensor, maps: dict) -> Figure:
    """Images (first row) and one row of pixel maps per method; signed maps diverge around zero.

    Example:
        >>> x = torch.rand(2, 3, 32, 32)
        >>> len(saliency_grid(x, {"a": torch.rand(2, 1, 32, 32)}).axes)
        4
    """
    _need(maps, "maps")
    images = as_images(images, "images")
    n = images.shape[0]
    fig, axes = grid_figure(len(maps) + 1, n, 1.45)
    for i in range(n):
        axes[0, i].imshow(to_rgb(images[i]))
        blank(axes[0, i])
    for row, (name, m) in enumerate(maps.items(), start=1):
        for i in range(n):
            a = m[i].detach().double().sum(0)
            if float(a.min()) >= 0:   # a mask or magnitudes: 0 .. max in grey
                _grey(axes[row, i], a)
            else:
                _signed(axes[row, i], m[i])
        axes[row, 0].set_ylabel(name, fontsize=7)
    return fig


def layer_mask_grid(image: torch.Tensor, masks: dict, tables: dict) -> Figure:
    """One image and its Noise Masks per layer: a row per network, a column per layer.

    ``masks`` maps a network to ``{layer: (1, 1, H, W)}``; ``tables`` maps it to the
    table of :func:`freqlens.chapters.ch4_frequency_attribution.layer_noise_masks`,
    whose loss term titles each mask (the thesis's percentages).

    Example:
        >>> import pandas as pd
        >>> m = {"net": {"a": torch.rand(1, 1, 32, 32), "logits": torch.rand(1, 1, 32, 32)}}
        >>> t = {"net": pd.DataFrame({"loss term": [0.2, 0.1]}, index=["a", "logits"])}
        >>> len(layer_mask_grid(torch.rand(1, 3, 32, 32), m, t).axes)   # the image and two masks
        3
    """
    _need(masks, "masks")
    image = as_images(image, "image")[:1]
    layers = list(next(iter(masks.values())))
    fig, axes = grid_figure(len(masks), len(layers) + 1, 1.3)
    for row, (name, by_layer) in enumerate(masks.items()):
        axes[row, 0].imshow(to_rgb(image[0]))
        blank(axes[row, 0])
        axes[row, 0].set_ylabel(name, fontsize=7)
        for col, layer in enumerate(layers, start=1):
            ax = axes[row, col]
            _grey(ax, by_layer[layer][0, 0], vmax=1)
            loss = float(tables[name].loc[layer, "loss term"])
            ax.set_title(f"{layer.split('.relu')[0]}\nloss {loss:.0%}", fontsize=6)
    return fig


def curves_figure(curves: dict, title: str | None = None) -> Figure:
    """Mean MoRF (solid) and LeRF (dashed) curves, one colour per method.

    ``curves`` maps a method to ``(morf, lerf)``, each ``(B, S + 1)``.

    Example:
        >>> c = torch.rand(3, 5)
        >>> len(curves_figure({"a": (c, c)}).axes)
        1
    """
    _need(curves, "curves")
    fig = Figure(figsize=(6.4, 3.4), layout="constrained")
    ax = fig.subplots()
    for i, (name, (morf, lerf)) in enumerate(curves.items()):
        colour = _SERIES[i % len(_SERIES)]
        steps = np.linspace(0, 1, morf.shape[1])
        ax.plot(steps, morf.mean(0).cpu().numpy(), "-", color=colour, label=f"{name} MoRF")
        ax.plot(steps, lerf.mean(0).cpu().numpy(), "--", color=colour, label=f"{name} LeRF")
    ax.set_xlabel("share of the steps taken")
    ax.set_ylabel("probability of the target class")
    ax.set_ylim(0, None)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6, ncols=2)
    if title:
        ax.set_title(title, fontsize=9)
    return fig

