"""Figures of images: grids, LFC/HFC rows, a network's confidence on each, a radius slider.

Images come in as float tensors ``(B, C, H, W)`` in [0, 1].

Signed images (a high-frequency component, a spatial kernel) are drawn with a stated
contrast stretch, because they hover around 0 with values far smaller than the
image's: grey is 0, and each image is multiplied by a gain ``k`` chosen so that the
99th percentile of its absolute values reaches black or white. The gain is printed
in the panel's title (``x12`` means the values were multiplied by 12), so two panels
can be compared honestly.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Sequence

import torch
from matplotlib.figure import Figure

from freqlens import evaluate, fourier
from freqlens.plot.style import OKABE_ITO, as_images, blank, figure_png, grid_figure, titles_for, to_rgb

__all__ = ["confidence_grid", "image_grid", "radius_explorer", "signed_stretch", "split_grid"]


def signed_stretch(x: torch.Tensor, percentile: float = 99.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Map signed images to [0, 1] for display: ``0.5 + k * x``, clipped, one gain ``k`` per image.

    ``k = 0.5 / q`` where ``q`` is the ``percentile``-th percentile of ``|x|`` over the
    image's channels and pixels, so zero is mid-grey and most values stay unclipped.

    Shapes: ``(B, C, H, W) -> ((B, C, H, W), gains (B,))``.

    Example:
        >>> shown, k = signed_stretch(torch.zeros(1, 3, 4, 4) + 0.01)
        >>> float(shown.max()), round(float(k), 1)
        (1.0, 50.0)
    """
    x = as_images(x)
    if not 0 < percentile <= 100:
        raise ValueError(f"percentile must be in (0, 100], got {percentile!r}")
    q = torch.quantile(x.abs().flatten(1).double(), percentile / 100.0, dim=1)
    q = torch.where(q > 0, q, torch.ones_like(q))
    gains = 0.5 / q
    shown = (0.5 + gains.to(x.dtype)[:, None, None, None] * x).clamp(0, 1)
    return shown, gains


def image_grid(images: torch.Tensor, titles: Sequence[str] | None = None, ncols: int | None = None,
               signed: bool = False, percentile: float = 99.0, size: float = 1.6,
               suptitle: str | None = None) -> Figure:
    """Images in a grid, one axis per image, with titles.

    ``signed=True`` draws them with :func:`signed_stretch` and adds the gain to each title.

    Shapes: ``(B, C, H, W)``; the figure has ``B`` axes with images (plus blank fillers).

    Example:
        >>> fig = image_grid(torch.rand(4, 3, 32, 32), titles=list("abcd"))
        >>> sum(ax.has_data() for ax in fig.axes)
        4
    """
    x = as_images(images, "images")
    names = titles_for(titles, len(x))
    if signed:
        x, gains = signed_stretch(x, percentile)
        names = [f"{t} ×{float(k):.0f}".strip() for t, k in zip(names, gains)]
    n = len(x)
    ncols = min(n, ncols or 8)
    nrows = math.ceil(n / ncols)
    fig, axes = grid_figure(nrows, ncols, size, 0.3 if suptitle else 0.0)
    for i, ax in enumerate(axes.flat):
        blank(ax)
        if i < n:
            ax.imshow(to_rgb(x[i]), interpolation="nearest")
            ax.set_title(names[i], fontsize=9)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    return fig


def split_grid(x: torch.Tensor, radii: Sequence[float] = (4, 8, 12, 16),
               titles: Sequence[str] | None = None, mask: str = "circle",
               percentile: float = 99.0, size: float = 1.25) -> Figure:
    """Each image with its LFC and HFC at every radius: two rows per image, one column per radius.

    The first column holds the image; then, column by column, the LFC at each radius
    above the HFC at the same radius. LFC is drawn as it is (clipped to [0, 1]); HFC
    with :func:`signed_stretch`, its gain in the title, because it is signed and small.
    The default ``size`` (inches per panel) fits five columns across a book page.

    Shapes: ``(B, C, H, W)``; the figure has ``B * (1 + 2 * len(radii))`` axes.

    Example:
        >>> fig = split_grid(torch.rand(2, 3, 32, 32), radii=(4, 8))
        >>> len(fig.axes)
        10
    """
    x = as_images(x)
    radii = list(radii)
    if not radii:
        raise ValueError("radii must hold at least one radius")
    names = titles_for(titles, len(x))
    fig, axes = grid_figure(2 * len(x), 1 + len(radii), size)
    for i in range(len(x)):
        top, bottom = axes[2 * i], axes[2 * i + 1]
        blank(top[0])
        top[0].imshow(to_rgb(x[i]), interpolation="nearest")
        top[0].set_title(names[i] or "original", fontsize=8)
        bottom[0].remove()
        for j, r in enumerate(radii, start=1):
            lfc, hfc = fourier.split(x[i:i + 1].float(), r, mask)
            shown, gain = signed_stretch(hfc, percentile)
            for ax, img, title in ((top[j], lfc[0], f"LFC r={r:g}"),
                                   (bottom[j], shown[0], f"HFC r={r:g} ×{float(gain[0]):.0f}")):
                blank(ax)
                ax.imshow(to_rgb(img), interpolation="nearest")
                ax.set_title(title, fontsize=8)
    return fig


def confidence_grid(model, x: torch.Tensor, y: torch.Tensor, radius: float,
                    rescale: bool = False, classes: Sequence[str] | None = None,
                    percentile: float = 99.0, size: float = 1.5) -> Figure:
    """Each image, its LFC and its HFC at ``radius``, titled with the model's label and confidence.

    The paper's Figure 2. One column per image; rows: original, LFC, HFC (drawn with
    :func:`signed_stretch`, gain in the title). A title is green when the predicted
    label is the true one, red otherwise. ``rescale=True`` feeds the model the
    copies divided by their own maximum (the reference code's scaling).

    Shapes: ``x (B, 3, H, W)`` in [0, 1], ``y (B,)``; the figure has ``3 * B`` axes.

    Example:
        >>> from freqlens.models import SmallCNN
        >>> fig = confidence_grid(SmallCNN(width=8), torch.rand(2, 3, 32, 32), torch.tensor([0, 1]), 8)
        >>> len(fig.axes)
        6
    """
    x = as_images(x)
    y = torch.as_tensor(y).cpu()
    if y.shape != (len(x),):
        raise ValueError(f"y must hold one label per image, shape ({len(x)},), got {tuple(y.shape)}")
    if classes is None:
        from freqlens.data import CLASSES as classes
    lfc, hfc = fourier.split(x.float(), radius, rescale=rescale)
    rows = (("original", x), (f"LFC r={radius:g}", lfc), (f"HFC r={radius:g}", hfc))
    fig, axes = grid_figure(3, len(x), size, 0.2)
    for row, (name, imgs) in enumerate(rows):
        probs = evaluate.probabilities(model, imgs)
        conf, pred = probs.max(dim=1)
        shown, gains = signed_stretch(imgs, percentile) if row == 2 else (imgs, None)
        for j in range(len(x)):
            ax = axes[row][j]
            blank(ax)
            ax.imshow(to_rgb(shown[j]), interpolation="nearest")
            label = f"{classes[int(pred[j])]} {float(conf[j]):.2f}"
            ok = int(pred[j]) == int(y[j])
            ax.set_title(label, fontsize=8, color=OKABE_ITO["bluish green"] if ok else OKABE_ITO["vermillion"])
            if j == 0:
                gain = f" (×{float(gains[0]):.0f})" if gains is not None else ""
                ax.set_ylabel(name + gain, fontsize=8)
    fig.suptitle("true: " + ", ".join(classes[int(c)] for c in y), fontsize=9)
    return fig


def radius_explorer(x: torch.Tensor, radius: int = 8, mask: str = "circle",
                    titles: Sequence[str] | None = None):
    """A slider for the radius (and a menu for the mask) redrawing :func:`split_grid` live.

    Returns an ``ipywidgets.VBox`` to display in JupyterLab or Jupyter Notebook, or
    ``None`` when ipywidgets is not installed (a static page cannot run it either, so
    the book draws a static figure beside it).

    Example:
        >>> explorer = radius_explorer(torch.rand(2, 3, 32, 32))
        >>> explorer is None or explorer.children[0].value == 8
        True
    """
    try:
        import ipywidgets as widgets
    except ImportError:
        return None
    x = as_images(x)
    h, w = x.shape[-2:]
    top = int(math.floor(fourier.corner_radius(h, w)))
    slider = widgets.IntSlider(value=int(radius), min=1, max=top, step=1, description="radius r",
                               continuous_update=False)
    menu = widgets.Dropdown(options=list(fourier.MASKS), value=mask, description="mask")
    out = widgets.Output()

    def redraw(_change=None) -> None:
        # Replacing the outputs (rather than printing inside `with out:`) also works outside a
        # kernel, and leaves exactly one figure in the output area. The PNG goes in as base64
        # text, as Jupyter's output format has it: raw bytes reach the browser as "[object Object]".
        fig = split_grid(x, radii=[slider.value], titles=titles, mask=menu.value, size=2.0)
        png = base64.b64encode(figure_png(fig)).decode("ascii")
        out.outputs = ({"output_type": "display_data", "metadata": {},
                        "data": {"image/png": png, "text/plain": f"<LFC and HFC at r = {slider.value}>"}},)

    slider.observe(redraw, names="value")
    menu.observe(redraw, names="value")
    redraw()
    return widgets.VBox([slider, menu, out])
