"""Figures of training: accuracy along the epochs and against the radius, on LFC and HFC copies.

LFC copies are solid lines, HFC copies dashed, each radius in its own colour, as in
Wang et al.'s figures; chance (0.1) is a dotted line.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from matplotlib.figure import Figure

from freqlens.plot.style import CURVE_COLOURS, OKABE_ITO, accuracy_axes, band_lines, grid_figure

__all__ = ["history_figure", "radius_figure", "training_copies_figure"]


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
    fig, axes = grid_figure(1, 2, 3.6)
    left, right = axes[0]
    left.plot(epochs, history.train_acc, "-", color="black", label="train (augmented batches)")
    left.plot(epochs, history.test_acc, "-", color=OKABE_ITO["blue"], label="test")
    accuracy_axes(left, "epoch")
    left.legend(fontsize=7, loc="lower right")
    band_lines(right, epochs, history.test_lfc_acc, history.test_hfc_acc)
    accuracy_axes(right, "epoch")
    right.set_title("test copies", fontsize=9)
    right.legend(fontsize=6, ncols=2, loc="upper left")
    if title:
        fig.suptitle(title, fontsize=10)
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
        colour = CURVE_COLOURS[i % len(CURVE_COLOURS)]
        for component, style in (("lfc", "-o"), ("hfc", "--s")):
            if component in res:  # a result may hold one kind of copy only
                radii = sorted(res[component])
                ax.plot(radii, [res[component][r] for r in radii], style, ms=3, color=colour,
                        label=f"{component.upper()}, {name}")
        ax.axhline(res["original"], color=colour, lw=0.6)
    accuracy_axes(ax, "radius r")
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
        band_lines(ax, h.epoch, {r: h.train_lfc_acc[r] for r in keep},
                    {r: h.train_hfc_acc[r] for r in keep})
        accuracy_axes(ax, "epoch")
        ax.set_title(name, fontsize=9)
    axes.flat[0].legend(fontsize=6, ncols=2, loc="center right")
    return fig
