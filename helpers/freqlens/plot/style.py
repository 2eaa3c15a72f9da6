"""What every figure of the book shares: one palette, the figure frame, the notebook display.

One colour per radius, the same in every chapter (``radius_colour(4)`` is always the
same blue), from the Okabe-Ito palette, which stays distinguishable for the common
forms of colour blindness. Figures are built without pyplot, so no state leaks from
one figure to the next; IPython is taught to show them as PNGs.
"""

from __future__ import annotations

import io

import numpy as np
import torch
from matplotlib.figure import Figure

from freqlens import checks

__all__ = ["CURVE_COLOURS", "DPI", "GREYS", "OKABE_ITO", "RADIUS_COLOURS", "figure_png", "radius_colour"]

DPI = 110

# The book's one palette: Okabe & Ito's eight colours, which stay distinguishable for the
# common forms of colour blindness, and greys. Every line, marker, patch and title colour
# of every figure is one of them (colour maps aside: grey, magma, viridis, RdBu).
OKABE_ITO = {"black": "#000000", "orange": "#E69F00", "sky blue": "#56B4E9", "bluish green": "#009E73",
             "yellow": "#F0E442", "blue": "#0072B2", "vermillion": "#D55E00", "reddish purple": "#CC79A7"}
GREYS = ("#555555", "#777777", "#999999", "#BBBBBB")

# One colour per radius the book cuts at; more radii than colours, so greys for the rare ones.
RADIUS_COLOURS = {2.0: "#56B4E9", 4.0: "#0072B2", 6.0: "#F0E442", 8.0: "#E69F00", 10.0: "#999999",
                  12.0: "#009E73", 14.0: "#555555", 16.0: "#D55E00", 20.0: "#CC79A7",
                  22.0: "#000000"}
_OTHER_RADII = GREYS

# Curve sets that are not radii (raw against rescaled copies, say): black, then greys.
CURVE_COLOURS = ("#000000", "#777777", "#BBBBBB")


def radius_colour(radius: float) -> str:
    """The book's colour for a radius: the same in every figure of every chapter.

    Example:
        >>> radius_colour(4) == radius_colour(4.0) != radius_colour(8)
        True
    """
    r = checks.radius(radius)
    return RADIUS_COLOURS.get(r, _OTHER_RADII[int(round(r * 2)) % len(_OTHER_RADII)])


def figure_png(fig: Figure) -> bytes:
    """The figure as PNG bytes, trimmed to its content, on a white background."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight", facecolor="white")
    return buf.getvalue()


def register_notebook_display() -> None:
    """Let IPython show a returned Figure as a PNG whatever the matplotlib backend.

    pyplot's inline backend registers such a formatter only once pyplot is imported,
    and not at all under ``MPLBACKEND=Agg``; these figures never touch pyplot.
    """
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None and hasattr(shell, "display_formatter"):
        shell.display_formatter.formatters["image/png"].for_type(Figure, figure_png)


def as_images(x, name: str = "x") -> torch.Tensor:
    """Images to draw: ``(B, C, H, W)`` or ``(C, H, W)`` floats with 1 or 3 channels, on the CPU."""
    return checks.images(x, name, channels=(1, 3), allow_single=True).detach().cpu()


def titles_for(titles, n: int, name: str = "titles") -> list[str]:
    if titles is None:
        return [""] * n
    titles = list(titles)
    if len(titles) != n:
        raise ValueError(f"{name} must hold one title per image ({n}), got {len(titles)}")
    return [str(t) for t in titles]


def to_rgb(img: torch.Tensor) -> np.ndarray:
    """``(C, H, W)`` in [0, 1] -> ``(H, W, 3)`` numpy, clipped, greys repeated to RGB."""
    arr = img.clamp(0, 1).permute(1, 2, 0).numpy()
    return np.repeat(arr, 3, axis=2) if arr.shape[2] == 1 else arr


def blank(ax) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    for side in ax.spines.values():
        side.set_visible(False)


def grid_figure(nrows: int, ncols: int, size: float, extra_height: float = 0.0):
    fig = Figure(figsize=(ncols * size, nrows * size + extra_height), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


def mask_label(mask: str, radius: float) -> str:
    if mask == "gaussian":
        return f"gaussian σ={radius:.3g}"
    return f"{mask} r={radius:g}"


def accuracy_axes(ax, xlabel: str) -> None:
    ax.set_xlabel(xlabel)
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1.02)
    ax.axhline(0.1, color="grey", lw=0.8, ls=":")
    ax.grid(alpha=0.3)


def band_lines(ax, epochs, lfc: dict, hfc: dict) -> None:
    """LFC solid, HFC dashed, one colour per radius (the paper's figures' convention)."""
    for r in sorted(lfc):
        ax.plot(epochs, lfc[r], "-", color=radius_colour(r), label=f"LFC r={r:g}")
        ax.plot(epochs, hfc[r], "--", color=radius_colour(r), label=f"HFC r={r:g}")
