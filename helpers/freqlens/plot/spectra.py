"""Figures of spectra: centred log-magnitude spectra, masks, the power law, ringing.

Each radius is drawn in its colour from :func:`freqlens.plot.style.radius_colour`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from matplotlib import patheffects
from matplotlib.figure import Figure
from matplotlib.patches import Circle, Rectangle

from freqlens import data, fourier
from freqlens.plot.images import signed_stretch
from freqlens.plot.style import OKABE_ITO, as_images, blank, grid_figure, mask_label, radius_colour, titles_for, to_rgb

__all__ = ["mask_grid", "power_spectrum_plot", "ringing_figure", "spectrum_grid"]


def _draw_outline(ax, centre: tuple[int, int], radius: float, mask: str, color: str) -> None:
    """The mask's edge in the radius's colour, on a white halo that shows on any spectrum."""
    cy, cx = centre
    if mask == "square":
        patch = Rectangle((cx - radius, cy - radius), 2 * radius, 2 * radius, fill=False,
                          color=color, lw=1.0)
    else:  # circle; for a Gaussian the circle at one standard deviation
        patch = Circle((cx, cy), radius, fill=False, color=color, lw=1.0,
                       ls="--" if mask == "gaussian" else "-")
    patch.set_path_effects([patheffects.withStroke(linewidth=2.2, foreground="white")])
    ax.add_patch(patch)


def spectrum_grid(x: torch.Tensor, titles: Sequence[str] | None = None,
                  radii: Sequence[float] = (4, 8, 12, 16), mask: str = "circle",
                  luminance: bool = True, size: float = 1.9) -> Figure:
    """Each image above its centred log-magnitude spectrum, with the masks' outlines drawn.

    The outlines are drawn at the given radii around the zero frequency ``(H//2, W//2)``:
    what lies inside one of them is that radius's low-frequency component.

    Shapes: ``(B, C, H, W)``; the figure has ``2 B`` image axes and one colour bar.

    Example:
        >>> fig = spectrum_grid(torch.rand(3, 3, 32, 32))
        >>> len(fig.axes)
        7
    """
    x = as_images(x)
    names = titles_for(titles, len(x))
    spectra = fourier.log_magnitude(x, luminance)
    if not luminance:
        spectra = spectra.mean(1)
    h, w = x.shape[-2:]
    lo, hi = float(spectra.quantile(0.01)), float(spectra.max())
    fig, axes = grid_figure(2, len(x), size)
    for i in range(len(x)):
        top, bottom = axes[0, i], axes[1, i]
        blank(top)
        blank(bottom)
        top.imshow(to_rgb(x[i]), interpolation="nearest")
        top.set_title(names[i], fontsize=9)
        im = bottom.imshow(spectra[i].numpy(), cmap="magma", vmin=lo, vmax=hi, interpolation="nearest")
        for j, r in enumerate(radii):
            _draw_outline(bottom, (h // 2, w // 2), r, mask, radius_colour(r))
        bottom.set_xlim(-0.5, w - 0.5)
        bottom.set_ylim(h - 0.5, -0.5)
    label = "log10 |F| (luminance)" if luminance else "log10 |F| (mean over channels)"
    fig.colorbar(im, ax=axes[1, :].tolist(), shrink=0.9, label=label)
    if radii:
        axes[1, 0].set_ylabel("r = " + ", ".join(f"{r:g}" for r in radii), fontsize=8)
    return fig


def mask_grid(specs: Sequence[tuple[str, float]], height: int = 32, width: int = 32,
              size: float = 1.9) -> Figure:
    """Centred low-pass masks side by side: one axis per ``(mask, radius)`` pair.

    Example:
        >>> fig = mask_grid([("circle", 8), ("square", 8), ("gaussian", 5.7)])
        >>> len(fig.axes)
        3
    """
    specs = list(specs)
    if not specs:
        raise ValueError("specs must hold at least one (mask, radius) pair")
    fig, axes = grid_figure(1, len(specs), size)
    for ax, (kind, r) in zip(axes[0], specs):
        blank(ax)
        m = fourier.frequency_mask(height, width, r, kind, centred=True)
        ax.imshow(m.numpy(), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.plot([width // 2], [height // 2], "r+", ms=6)
        ax.set_title(mask_label(kind, r), fontsize=9)
    return fig


def power_spectrum_plot(radii: torch.Tensor, power: torch.Tensor,
                        fit: tuple[float, float] | None = None,
                        fit_range: tuple[float, float] | None = None,
                        size: tuple[float, float] = (5.5, 3.8)) -> Figure:
    """Radial power spectrum on log-log axes, optionally with a power law ``A f^-alpha``.

    The zero frequency is left out (it has no place on a log axis). ``fit`` is
    ``(A, alpha)``; ``fit_range`` shades the frequencies the fit used.

    Example:
        >>> f = torch.arange(24.0); p = 1 / (f + 1) ** 2
        >>> len(power_spectrum_plot(f, p, fit=(1.0, 2.0), fit_range=(2, 15)).axes)
        1
    """
    f = torch.as_tensor(radii).double().cpu().numpy()
    p = torch.as_tensor(power).double().cpu().numpy()
    keep = f > 0
    fig = Figure(figsize=size, layout="constrained")
    ax = fig.subplots()
    ax.loglog(f[keep], p[keep], "o-", ms=4, color=OKABE_ITO["blue"], label="CIFAR-10, mean over images and channels")
    if fit_range is not None:
        ax.axvspan(*fit_range, color="0.9", zorder=0, label=f"fit range {fit_range[0]:g}–{fit_range[1]:g}")
    if fit is not None:
        a, alpha = fit
        line = np.geomspace(f[keep].min(), f[keep].max(), 50)
        ax.loglog(line, a * line ** (-alpha), "--", color=OKABE_ITO["vermillion"], label=f"A f^-α, α = {alpha:.2f}")
    ax.set_xlabel("spatial frequency f (cycles per image = distance from centre)")
    ax.set_ylabel("mean power |F|²")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return fig


# one colour per mask of a ringing figure, in the order given
_MASK_COLOURS = (OKABE_ITO["blue"], OKABE_ITO["orange"], OKABE_ITO["bluish green"], OKABE_ITO["reddish purple"])


def ringing_figure(x: torch.Tensor, specs: Sequence[tuple[str, float]], percentile: float = 99.0,
                   size: float = 2.0) -> Figure:
    """Masks, their spatial kernels, one image's LFC, and two profiles where ringing shows.

    For each ``(mask, radius)`` pair a column: the centred mask, its kernel
    (:func:`freqlens.fourier.spatial_kernel`, drawn signed), and the LFC of the image. Below, on the
    left, each kernel's row through its centre, divided by its peak; on the right, a
    row of the LFC of :func:`freqlens.data.edge_bar` through each mask, beside the bar itself, where
    the overshoot at the edges (the Gibbs phenomenon) shows.

    Shapes: ``x`` is one image ``(1, C, H, W)`` or ``(C, H, W)``; the figure has
    ``3 * len(specs) + 2`` axes.

    Example:
        >>> fig = ringing_figure(torch.rand(3, 32, 32), [("circle", 8), ("gaussian", 5.7)])
        >>> len(fig.axes)
        8
    """
    x = as_images(x)[:1]
    specs = list(specs)
    if not specs:
        raise ValueError("specs must hold at least one (mask, radius) pair")
    h, w = x.shape[-2:]
    n = len(specs)
    fig = Figure(figsize=(max(n * size, 6.0), 3 * size + 2.6), layout="constrained")
    grid = fig.add_gridspec(4, n, height_ratios=[1, 1, 1, 1.3])
    panels = [[fig.add_subplot(grid[i, j]) for i in range(3)] for j in range(n)]
    kernel_ax, bar_ax = (fig.add_subplot(cell) for cell in grid[3, :].subgridspec(1, 2))
    kernels = [fourier.spatial_kernel(h, w, r, kind) for kind, r in specs]
    shown, gains = signed_stretch(torch.stack(kernels)[:, None].float(), percentile)
    bar = data.edge_bar(h, w)
    offsets = np.arange(w) - w // 2
    bar_ax.plot(np.arange(w), bar[0, 0, h // 2].numpy(), color="0.3", lw=1, ls="--", label="the bar")
    for j, (kind, r) in enumerate(specs):
        mask_ax, k_ax, lfc_ax = panels[j]
        for ax in panels[j]:
            blank(ax)
        mask_ax.imshow(fourier.frequency_mask(h, w, r, kind).numpy(), cmap="gray", vmin=0, vmax=1,
                       interpolation="nearest")
        mask_ax.set_title(mask_label(kind, r), fontsize=9)
        k_ax.imshow(to_rgb(shown[j]), interpolation="nearest")
        k_ax.set_title(f"kernel ×{float(gains[j]):.0f}", fontsize=9)
        lfc_ax.imshow(to_rgb(fourier.low_pass(x.float(), r, kind)[0]), interpolation="nearest")
        lfc_ax.set_title("LFC", fontsize=9)
        k = kernels[j]
        label = mask_label(kind, r)
        colour = _MASK_COLOURS[j % len(_MASK_COLOURS)]
        kernel_ax.plot(offsets, (k[h // 2] / k.max()).numpy(), "o-", ms=3, color=colour, label=label)
        bar_ax.plot(np.arange(w), fourier.low_pass(bar, r, kind)[0, 0, h // 2].numpy(), "o-", ms=3,
                    color=colour, label=label)
    for ax, name in zip(panels[0], ("mask", "kernel", "LFC")):
        ax.set_ylabel(name, fontsize=9)
    kernel_ax.axhline(0, color="0.5", lw=0.8)
    kernel_ax.set_xlabel("offset from the kernel's centre (px)", fontsize=9)
    kernel_ax.set_ylabel("kernel / its peak", fontsize=9)
    bar_ax.set_xlabel("column of the bar image (px)", fontsize=9)
    bar_ax.set_ylabel("LFC of the bar, middle row", fontsize=9)
    for ax in (kernel_ax, bar_ax):
        ax.grid(True, alpha=0.3)
        ax.tick_params(labelsize=8)
    kernel_ax.legend(fontsize=7)
    bar_ax.legend(fontsize=7, loc="lower center")
    return fig
