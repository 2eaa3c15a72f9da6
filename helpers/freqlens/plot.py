"""The book's figures: image grids, centred spectra, masks, LFC/HFC rows, a radius explorer.

Every function that draws returns a :class:`matplotlib.figure.Figure` built without
pyplot, so a notebook shows it once (as the cell's value) and no state leaks from one
figure to the next. Images come in as float tensors ``(B, C, H, W)`` in [0, 1].

Signed images (a high-frequency component, a spatial kernel) are drawn with a stated
contrast stretch, because they hover around 0 with values far smaller than the
image's: grey is 0, and each image is multiplied by a gain ``k`` chosen so that the
99th percentile of its absolute values reaches black or white. The gain is printed
in the panel's title (``x12`` means the values were multiplied by 12), so two panels
can be compared honestly.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Circle, Rectangle

from freqlens import evaluate, fourier

__all__ = [
    "confidence_grid",
    "figure_png",
    "history_figure",
    "radius_figure",
    "training_copies_figure",
    "edge_bar",
    "image_grid",
    "log_magnitude",
    "mask_grid",
    "power_spectrum_plot",
    "radius_explorer",
    "ringing_figure",
    "signed_stretch",
    "spatial_kernel",
    "spectrum_grid",
    "split_grid",
]

LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601 weights, as in most image libraries
DPI = 110


def figure_png(fig: Figure) -> bytes:
    """The figure as PNG bytes, trimmed to its content, on a white background."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight", facecolor="white")
    return buf.getvalue()


def _register_notebook_display() -> None:
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


_register_notebook_display()


# --------------------------------------------------------------------------- helpers

def _batch(x, name: str = "x") -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of shape (B, C, H, W) or (C, H, W), "
                         f"got {type(x).__name__}")
    if x.dim() == 3:
        x = x.unsqueeze(0)
    if x.dim() != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"{name} must have shape (B, C, H, W) or (C, H, W) with C = 1 or 3, "
                         f"got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor (e.g. images / 255.0), got {x.dtype}")
    return x.detach().cpu()


def _titles(titles, n: int, name: str = "titles") -> list[str]:
    if titles is None:
        return [""] * n
    titles = list(titles)
    if len(titles) != n:
        raise ValueError(f"{name} must hold one title per image ({n}), got {len(titles)}")
    return [str(t) for t in titles]


def _to_rgb(img: torch.Tensor) -> np.ndarray:
    """``(C, H, W)`` in [0, 1] -> ``(H, W, 3)`` numpy, clipped, greys repeated to RGB."""
    arr = img.clamp(0, 1).permute(1, 2, 0).numpy()
    return np.repeat(arr, 3, axis=2) if arr.shape[2] == 1 else arr


def _blank(ax) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    for side in ax.spines.values():
        side.set_visible(False)


def _figure(nrows: int, ncols: int, size: float, extra_height: float = 0.0):
    fig = Figure(figsize=(ncols * size, nrows * size + extra_height), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


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
    x = _batch(x)
    if not 0 < percentile <= 100:
        raise ValueError(f"percentile must be in (0, 100], got {percentile!r}")
    q = torch.quantile(x.abs().flatten(1).double(), percentile / 100.0, dim=1)
    q = torch.where(q > 0, q, torch.ones_like(q))
    gains = 0.5 / q
    shown = (0.5 + gains.to(x.dtype)[:, None, None, None] * x).clamp(0, 1)
    return shown, gains


def log_magnitude(x: torch.Tensor, luminance: bool = True) -> torch.Tensor:
    """Centred log-magnitude spectrum ``log10 |F|`` (zero frequency at ``(H//2, W//2)``).

    The DFT is orthonormal (``norm="ortho"``), so the values are on the scale of the
    image's energy; ``luminance=True`` transforms the grey image ``0.299 R + 0.587 G +
    0.114 B`` instead of each channel.

    Shapes: ``(B, C, H, W) -> (B, H, W)`` with ``luminance``, else ``(B, C, H, W)``.

    Example:
        >>> s = log_magnitude(torch.rand(2, 3, 32, 32))
        >>> s.shape, bool(s[0, 16, 16] == s[0].max())  # the mean dominates a positive image
        (torch.Size([2, 32, 32]), True)
    """
    x = _batch(x)
    if luminance and x.shape[1] == 3:
        x = (x * torch.tensor(LUMA, dtype=x.dtype)[None, :, None, None]).sum(1, keepdim=True)
    spec = torch.fft.fftshift(torch.fft.fft2(x.double(), norm="ortho"), dim=(-2, -1))
    out = spec.abs().clamp_min(1e-12).log10().float()
    return out[:, 0] if luminance else out


def spatial_kernel(height: int, width: int, radius: float, mask: str = "circle") -> torch.Tensor:
    """The low-pass filter as a convolution kernel: inverse DFT of the mask, centred.

    Filtering with a mask multiplies the spectrum, which is the same as a circular
    convolution with this kernel; its ripples are the ringing the mask causes.

    Shapes: ``-> (H, W)`` float64, with the kernel's centre at ``(H//2, W//2)``.

    Example:
        >>> k = spatial_kernel(32, 32, 8)
        >>> round(float(k.sum()), 6)  # the mask keeps the mean: the weights sum to 1
        1.0
    """
    m = fourier.frequency_mask(height, width, radius, mask, centred=False)
    return torch.fft.fftshift(torch.fft.ifft2(m).real)


def _mask_label(mask: str, radius: float) -> str:
    if mask == "gaussian":
        return f"gaussian σ={radius:.3g}"
    return f"{mask} r={radius:g}"


# --------------------------------------------------------------------------- figures

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
    x = _batch(images, "images")
    names = _titles(titles, len(x))
    if signed:
        x, gains = signed_stretch(x, percentile)
        names = [f"{t} ×{float(k):.0f}".strip() for t, k in zip(names, gains)]
    n = len(x)
    ncols = min(n, ncols or 8)
    nrows = math.ceil(n / ncols)
    fig, axes = _figure(nrows, ncols, size, 0.3 if suptitle else 0.0)
    for i, ax in enumerate(axes.flat):
        _blank(ax)
        if i < n:
            ax.imshow(_to_rgb(x[i]), interpolation="nearest")
            ax.set_title(names[i], fontsize=9)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    return fig


def _draw_outline(ax, centre: tuple[int, int], radius: float, mask: str, color: str) -> None:
    cy, cx = centre
    if mask == "square":
        patch = Rectangle((cx - radius, cy - radius), 2 * radius, 2 * radius, fill=False,
                          color=color, lw=1.0)
    else:  # circle; for a Gaussian the circle at one standard deviation
        patch = Circle((cx, cy), radius, fill=False, color=color, lw=1.0,
                       ls="--" if mask == "gaussian" else "-")
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
    x = _batch(x)
    names = _titles(titles, len(x))
    spectra = log_magnitude(x, luminance)
    if not luminance:
        spectra = spectra.mean(1)
    h, w = x.shape[-2:]
    lo, hi = float(spectra.quantile(0.01)), float(spectra.max())
    fig, axes = _figure(2, len(x), size)
    colors = ["#4fc3f7", "#81c784", "#fff176", "#ff8a65", "#ce93d8", "#e0e0e0"]
    for i in range(len(x)):
        top, bottom = axes[0, i], axes[1, i]
        _blank(top)
        _blank(bottom)
        top.imshow(_to_rgb(x[i]), interpolation="nearest")
        top.set_title(names[i], fontsize=9)
        im = bottom.imshow(spectra[i].numpy(), cmap="magma", vmin=lo, vmax=hi, interpolation="nearest")
        for j, r in enumerate(radii):
            _draw_outline(bottom, (h // 2, w // 2), r, mask, colors[j % len(colors)])
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
    fig, axes = _figure(1, len(specs), size)
    for ax, (kind, r) in zip(axes[0], specs):
        _blank(ax)
        m = fourier.frequency_mask(height, width, r, kind, centred=True)
        ax.imshow(m.numpy(), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.plot([width // 2], [height // 2], "r+", ms=6)
        ax.set_title(_mask_label(kind, r), fontsize=9)
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
    x = _batch(x)
    radii = list(radii)
    if not radii:
        raise ValueError("radii must hold at least one radius")
    names = _titles(titles, len(x))
    fig, axes = _figure(2 * len(x), 1 + len(radii), size)
    for i in range(len(x)):
        top, bottom = axes[2 * i], axes[2 * i + 1]
        _blank(top[0])
        top[0].imshow(_to_rgb(x[i]), interpolation="nearest")
        top[0].set_title(names[i] or "original", fontsize=8)
        bottom[0].remove()
        for j, r in enumerate(radii, start=1):
            lfc, hfc = fourier.split(x[i:i + 1].float(), r, mask)
            shown, gain = signed_stretch(hfc, percentile)
            for ax, img, title in ((top[j], lfc[0], f"LFC r={r:g}"),
                                   (bottom[j], shown[0], f"HFC r={r:g} ×{float(gain[0]):.0f}")):
                _blank(ax)
                ax.imshow(_to_rgb(img), interpolation="nearest")
                ax.set_title(title, fontsize=8)
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
    ax.loglog(f[keep], p[keep], "o-", ms=4, label="CIFAR-10, mean over images and channels")
    if fit_range is not None:
        ax.axvspan(*fit_range, color="0.9", zorder=0, label=f"fit range {fit_range[0]:g}–{fit_range[1]:g}")
    if fit is not None:
        a, alpha = fit
        line = np.geomspace(f[keep].min(), f[keep].max(), 50)
        ax.loglog(line, a * line ** (-alpha), "--", color="C3", label=f"A f^-α, α = {alpha:.2f}")
    ax.set_xlabel("spatial frequency f (cycles per image = distance from centre)")
    ax.set_ylabel("mean power |F|²")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def edge_bar(height: int = 32, width: int = 32) -> torch.Tensor:
    """A white vertical bar on black, half the image wide: two sharp edges.

    Shapes: ``-> (1, 1, H, W)`` float64.

    Example:
        >>> edge_bar()[0, 0, 0].tolist()[6:10]
        [0.0, 0.0, 1.0, 1.0]
    """
    bar = torch.zeros(1, 1, height, width, dtype=torch.float64)
    bar[..., width // 4: width // 4 + width // 2] = 1.0
    return bar


def ringing_figure(x: torch.Tensor, specs: Sequence[tuple[str, float]], percentile: float = 99.0,
                   size: float = 2.0) -> Figure:
    """Masks, their spatial kernels, one image's LFC, and two profiles where ringing shows.

    For each ``(mask, radius)`` pair a column: the centred mask, its kernel
    (:func:`spatial_kernel`, drawn signed), and the LFC of the image. Below, on the
    left, each kernel's row through its centre, divided by its peak; on the right, a
    row of the LFC of :func:`edge_bar` through each mask, beside the bar itself, where
    the overshoot at the edges (the Gibbs phenomenon) shows.

    Shapes: ``x`` is one image ``(1, C, H, W)`` or ``(C, H, W)``; the figure has
    ``3 * len(specs) + 2`` axes.

    Example:
        >>> fig = ringing_figure(torch.rand(3, 32, 32), [("circle", 8), ("gaussian", 5.7)])
        >>> len(fig.axes)
        8
    """
    x = _batch(x)[:1]
    specs = list(specs)
    if not specs:
        raise ValueError("specs must hold at least one (mask, radius) pair")
    h, w = x.shape[-2:]
    n = len(specs)
    fig = Figure(figsize=(max(n * size, 6.0), 3 * size + 2.6), layout="constrained")
    grid = fig.add_gridspec(4, n, height_ratios=[1, 1, 1, 1.3])
    panels = [[fig.add_subplot(grid[i, j]) for i in range(3)] for j in range(n)]
    kernel_ax, bar_ax = (fig.add_subplot(cell) for cell in grid[3, :].subgridspec(1, 2))
    kernels = [spatial_kernel(h, w, r, kind) for kind, r in specs]
    shown, gains = signed_stretch(torch.stack(kernels)[:, None].float(), percentile)
    bar = edge_bar(h, w)
    offsets = np.arange(w) - w // 2
    bar_ax.plot(np.arange(w), bar[0, 0, h // 2].numpy(), color="0.3", lw=1, ls="--", label="the bar")
    for j, (kind, r) in enumerate(specs):
        mask_ax, k_ax, lfc_ax = panels[j]
        for ax in panels[j]:
            _blank(ax)
        mask_ax.imshow(fourier.frequency_mask(h, w, r, kind).numpy(), cmap="gray", vmin=0, vmax=1,
                       interpolation="nearest")
        mask_ax.set_title(_mask_label(kind, r), fontsize=9)
        k_ax.imshow(_to_rgb(shown[j]), interpolation="nearest")
        k_ax.set_title(f"kernel ×{float(gains[j]):.0f}", fontsize=9)
        lfc_ax.imshow(_to_rgb(fourier.low_pass(x.float(), r, kind)[0]), interpolation="nearest")
        lfc_ax.set_title("LFC", fontsize=9)
        k = kernels[j]
        label = _mask_label(kind, r)
        kernel_ax.plot(offsets, (k[h // 2] / k.max()).numpy(), "o-", ms=3, label=label)
        bar_ax.plot(np.arange(w), fourier.low_pass(bar, r, kind)[0, 0, h // 2].numpy(), "o-", ms=3,
                    label=label)
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


# --------------------------------------------------------------------------- interactive

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
    x = _batch(x)
    h, w = x.shape[-2:]
    top = int(math.floor(fourier.corner_radius(h, w)))
    slider = widgets.IntSlider(value=int(radius), min=1, max=top, step=1, description="radius r",
                               continuous_update=False)
    menu = widgets.Dropdown(options=list(fourier.MASKS), value=mask, description="mask")
    out = widgets.Output()

    def redraw(_change=None) -> None:
        # Replacing the outputs (rather than printing inside `with out:`) also works outside a
        # kernel, and leaves exactly one figure in the output area.
        fig = split_grid(x, radii=[slider.value], titles=titles, mask=menu.value, size=2.0)
        out.outputs = ()
        out.append_display_data(fig)

    slider.observe(redraw, names="value")
    menu.observe(redraw, names="value")
    redraw()
    return widgets.VBox([slider, menu, out])


# --------------------------------------------------------------------------- training curves

_RADIUS_COLOURS = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d")


def _radius_colour(i: int) -> str:
    return _RADIUS_COLOURS[i % len(_RADIUS_COLOURS)]


def _band_lines(ax, epochs, lfc: dict, hfc: dict) -> None:
    """LFC solid, HFC dashed, one colour per radius (the paper's figures' convention)."""
    for i, r in enumerate(sorted(lfc)):
        ax.plot(epochs, lfc[r], "-", color=_radius_colour(i), label=f"LFC r={r:g}")
        ax.plot(epochs, hfc[r], "--", color=_radius_colour(i), label=f"HFC r={r:g}")


def _accuracy_axes(ax, xlabel: str) -> None:
    ax.set_xlabel(xlabel)
    ax.set_ylabel("accuracy")
    ax.set_ylim(0, 1.02)
    ax.axhline(0.1, color="grey", lw=0.8, ls=":")
    ax.grid(alpha=0.3)


def history_figure(history, title: str | None = None) -> Figure:
    """A training history: train and test accuracy, and test accuracy on LFC/HFC copies, by epoch.

    ``history`` is a :class:`freqlens.train.History`. Left panel: train (running, on
    augmented batches) and test accuracy; right: the LFC (solid) and HFC (dashed)
    copies of the test images at each radius. Chance (0.1) is the dotted line.

    Example:
        >>> from freqlens.train import History
        >>> h = History(epoch=[1, 2], train_acc=[.3, .5], test_acc=[.3, .4],
        ...             test_lfc_acc={4.0: [.2, .3]}, test_hfc_acc={4.0: [.1, .2]})
        >>> len(history_figure(h).axes)
        2
    """
    epochs = list(history.epoch)
    if not epochs:
        raise ValueError("history must hold at least one epoch, got an empty history")
    fig, axes = _figure(1, 2, 3.6)
    left, right = axes[0]
    left.plot(epochs, history.train_acc, "-", color="black", label="train (augmented batches)")
    left.plot(epochs, history.test_acc, "-", color="tab:blue", label="test")
    _accuracy_axes(left, "epoch")
    left.legend(fontsize=7, loc="lower right")
    _band_lines(right, epochs, history.test_lfc_acc, history.test_hfc_acc)
    _accuracy_axes(right, "epoch")
    right.set_title("test copies", fontsize=9)
    right.legend(fontsize=6, ncols=2, loc="upper left")
    if title:
        fig.suptitle(title, fontsize=10)
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
    x = _batch(x)
    y = torch.as_tensor(y).cpu()
    if y.shape != (len(x),):
        raise ValueError(f"y must hold one label per image, shape ({len(x)},), got {tuple(y.shape)}")
    if classes is None:
        from freqlens.data import CLASSES as classes
    lfc, hfc = fourier.split(x.float(), radius, rescale=rescale)
    rows = (("original", x), (f"LFC r={radius:g}", lfc), (f"HFC r={radius:g}", hfc))
    fig, axes = _figure(3, len(x), size, 0.2)
    for row, (name, imgs) in enumerate(rows):
        probs = evaluate.probabilities(model, imgs)
        conf, pred = probs.max(dim=1)
        shown, gains = signed_stretch(imgs, percentile) if row == 2 else (imgs, None)
        for j in range(len(x)):
            ax = axes[row][j]
            _blank(ax)
            ax.imshow(_to_rgb(shown[j]), interpolation="nearest")
            label = f"{classes[int(pred[j])]} {float(conf[j]):.2f}"
            ok = int(pred[j]) == int(y[j])
            ax.set_title(label, fontsize=8, color="tab:green" if ok else "tab:red")
            if j == 0:
                gain = f" (×{float(gains[0]):.0f})" if gains is not None else ""
                ax.set_ylabel(name + gain, fontsize=8)
    fig.suptitle("true: " + ", ".join(classes[int(c)] for c in y), fontsize=9)
    return fig


def radius_figure(curves: dict, title: str | None = None) -> Figure:
    """Accuracy on LFC (solid) and HFC (dashed) copies against the radius, one colour per curve set.

    ``curves`` maps a label to a result of :func:`freqlens.evaluate.frequency_accuracy`
    (``{"original": acc, "lfc": {r: acc}, "hfc": {r: acc}}``, or one of ``"lfc"`` /
    ``"hfc"`` only). The clean accuracy of each is a thin horizontal line; chance is dotted.

    Example:
        >>> res = {"original": .7, "lfc": {4.0: .3, 8.0: .5}, "hfc": {4.0: .4, 8.0: .2}}
        >>> len(radius_figure({"raw": res}).axes)
        1
    """
    if not curves:
        raise ValueError("curves must map at least one label to a frequency_accuracy result")
    fig = Figure(figsize=(6.0, 3.6), layout="constrained")
    ax = fig.subplots()
    for i, (name, res) in enumerate(curves.items()):
        colour = _radius_colour(i)
        for component, style in (("lfc", "-o"), ("hfc", "--s")):
            if component in res:  # a result may hold one kind of copy only
                radii = sorted(res[component])
                ax.plot(radii, [res[component][r] for r in radii], style, ms=3, color=colour,
                        label=f"{component.upper()}, {name}")
        ax.axhline(res["original"], color=colour, lw=0.6)
    _accuracy_axes(ax, "radius r")
    ax.legend(fontsize=7, loc="best")
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def training_copies_figure(runs: dict, radii: Sequence[float] | None = None) -> Figure:
    """Accuracy on LFC (solid) and HFC (dashed) copies of the *training* images, by epoch, one panel a run.

    ``runs`` maps a panel title to a :class:`freqlens.train.Result` (or anything with a
    ``history``). Black: the clean accuracy on the same training images; all measured
    against the labels the network was trained on.

    Example:
        >>> from types import SimpleNamespace
        >>> from freqlens.train import History
        >>> h = History(epoch=[1, 2], train_eval_acc=[.2, .9],
        ...             train_lfc_acc={8.0: [.2, .5]}, train_hfc_acc={8.0: [.1, .1]})
        >>> len(training_copies_figure({"true labels": SimpleNamespace(history=h)}).axes)
        1
    """
    if not runs:
        raise ValueError("runs must map at least one title to a training result")
    ncols = min(len(runs), 2)
    nrows = math.ceil(len(runs) / ncols)
    fig = Figure(figsize=(3.6 * ncols, 2.9 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax in axes.flat[len(runs):]:
        ax.remove()
    for ax, (name, run) in zip(axes.flat, runs.items()):
        h = run.history
        keep = sorted(h.train_lfc_acc) if radii is None else [float(r) for r in radii]
        ax.plot(h.epoch, h.train_eval_acc, "-", color="black", lw=1.5, label="original")
        _band_lines(ax, h.epoch, {r: h.train_lfc_acc[r] for r in keep},
                    {r: h.train_hfc_acc[r] for r in keep})
        _accuracy_axes(ax, "epoch")
        ax.set_title(name, fontsize=9)
    axes.flat[0].legend(fontsize=6, ncols=2, loc="center right")
    return fig
