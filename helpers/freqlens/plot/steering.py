"""Figures of chapter 6: where an attack's effect lies beside its energy, images rebuilt from frequencies.

:func:`split_figure` draws, per network, the share of an attack's perturbation energy and
the share of the margin's change that Integrated Gradients gives each ring of the
spectrum; :func:`rebuilt_grid` shows images rebuilt from chosen frequencies with the
network's answer on each.
"""

from __future__ import annotations

import numpy as np
import torch
from matplotlib.figure import Figure

from freqlens.plot.style import OKABE_ITO, blank, radius_colour, to_rgb

__all__ = ["rebuilt_grid", "split_figure"]


def split_figure(panels: dict, radii=(4, 8), ncols: int | None = None) -> Figure:
    """One panel per entry: the perturbation's energy and the margin's change, share per ring.

    ``panels`` maps a title (a network, an attack) to ``{"energy": (R,), "effect": (R,)}``,
    profiles over the rounded distance from the zero frequency, as
    :func:`freqlens.chapters.ch6_explaining_and_steering.attack_table` returns them;
    ``ncols`` panels to a row (default: all in one row).

    Example:
        >>> len(split_figure({"a": {"energy": torch.rand(24), "effect": torch.rand(24)}}).axes)
        1
    """
    if not panels:
        raise ValueError("panels must map at least one title to its profiles, got nothing")
    ncols = min(ncols or len(panels), len(panels))
    nrows = -(-len(panels) // ncols)
    fig = Figure(figsize=(2.5 * ncols + 0.4, 2.6 * nrows + 0.3), layout="constrained")
    grid = fig.subplots(nrows, ncols, squeeze=False, sharey=True)
    axes = grid.flatten()
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    for ax, (title, p) in zip(axes, panels.items()):
        for key, colour, style, label in (("energy", OKABE_ITO["sky blue"], "--", "energy"),
                                          ("effect", OKABE_ITO["vermillion"], "-", "margin's change")):
            v = torch.as_tensor(p[key]).double().cpu().numpy()
            ax.plot(np.arange(v.size), v, style, marker="o", ms=2.5, color=colour, label=label)
        for r in radii:
            ax.axvline(r, color=radius_colour(r), lw=1, ls=":")
        ax.axhline(0, color="#999999", lw=0.6)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("distance from the zero frequency", fontsize=8)
        ax.grid(alpha=0.3)
    for row in grid:
        row[0].set_ylabel("share per ring", fontsize=8)
    axes[0].legend(fontsize=7)
    return fig


def rebuilt_grid(images: dict, predicted: dict, labels: torch.Tensor, classes, n: int = 4) -> Figure:
    """Rows: the first ``n`` images; columns: each kind of copy, titled with the network's answer.

    ``images`` and ``predicted`` map a kind (``"original"``, ``"top 64"``, ...) to the
    images ``(B, 3, H, W)`` and the predicted classes ``(B,)``; an answer is marked ✓ where
    it is the label.

    Example:
        >>> x = torch.rand(2, 3, 8, 8)
        >>> fig = rebuilt_grid({"a": x, "b": x}, {"a": torch.tensor([0, 1]), "b": torch.tensor([1, 1])},
        ...                    torch.tensor([0, 1]), ["cat", "dog"], n=2)
        >>> len(fig.axes)
        4
    """
    kinds = list(images)
    if not kinds:
        raise ValueError("images must map at least one kind of copy to its images, got nothing")
    n = min(n, len(labels))
    fig = Figure(figsize=(1.05 * len(kinds) + 0.3, 1.2 * n + 0.2), layout="constrained")
    axes = fig.subplots(n, len(kinds), squeeze=False)
    for i in range(n):
        for j, kind in enumerate(kinds):
            ax = axes[i, j]
            blank(ax)
            ax.imshow(to_rgb(images[kind][i]), interpolation="nearest")
            p = int(predicted[kind][i])
            mark = "✓" if p == int(labels[i]) else "✗"
            ax.set_title(f"{classes[p]} {mark}", fontsize=7)
            if i == 0:
                ax.text(0.5, 1.32, kind, transform=ax.transAxes, ha="center", fontsize=7, weight="bold")
    return fig
