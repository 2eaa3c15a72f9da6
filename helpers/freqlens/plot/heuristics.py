"""Figures of chapter 3: training heuristics through LFC and HFC, and BatchNorm's mechanism.

Heuristics keep one colour (and marker) each across the chapter, from the Okabe-Ito
palette; radii keep the book's colours.
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import Figure

from freqlens.plot.style import accuracy_axes, band_lines

__all__ = ["HEURISTIC_STYLES", "gain_figure", "heuristics_figure", "k_gain_figure",
           "layer_ratio_figure", "matched_figure"]

# Okabe-Ito colours and distinct markers, so that no heuristic is told by colour alone.
HEURISTIC_STYLES = {
    "vanilla": ("#000000", "o"), "small batch": ("#56B4E9", "v"), "large batch": ("#0072B2", "^"),
    "dropout": ("#009E73", "s"), "mixup": ("#CC79A7", "D"), "batchnorm": ("#D55E00", "P"),
    "adversarial": ("#E69F00", "X"),
}


def _style(name: str, i: int) -> tuple[str, str]:
    fallback = list(HEURISTIC_STYLES.values())
    return HEURISTIC_STYLES.get(name, fallback[i % len(fallback)])


def _need(mapping, what: str) -> None:
    if not mapping:
        raise ValueError(f"{what} must map at least one name to its results, got nothing")


def heuristics_figure(histories: dict, ncols: int = 4) -> Figure:
    """One panel per heuristic, as the paper's Figs. 4-5: accuracy along the epochs.

    ``histories`` maps a heuristic to a :class:`freqlens.train.History`. Black: train
    (running, on the batches trained on; adversarial ones for adversarial training)
    dotted and test solid; LFC copies of the test images solid and HFC copies dashed,
    one colour per radius.

    Example:
        >>> from freqlens.train import History
        >>> h = History(epoch=[1, 2], train_acc=[.3, .5], test_acc=[.3, .4],
        ...             test_lfc_acc={4.0: [.2, .3]}, test_hfc_acc={4.0: [.1, .2]})
        >>> len(heuristics_figure({"vanilla": h, "mixup": h}).axes)
        2
    """
    _need(histories, "histories")
    ncols = min(ncols, len(histories))
    nrows = math.ceil(len(histories) / ncols)
    fig = Figure(figsize=(2.9 * ncols, 2.5 * nrows + 0.5), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, sharey=True)
    for ax in axes.flat[len(histories):]:
        ax.remove()
    for ax, (name, h) in zip(axes.flat, histories.items()):
        ax.plot(h.epoch, h.train_acc, ":", color="black", lw=1.4, label="train")
        ax.plot(h.epoch, h.test_acc, "-", color="black", lw=1.6, label="test")
        band_lines(ax, h.epoch, h.test_lfc_acc, h.test_hfc_acc)
        accuracy_axes(ax, "epoch")
        ax.set_title(name, fontsize=9)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 10), fontsize=7)
    return fig


def matched_figure(runs: dict, level: float | None = None, radius: float = 4.0) -> Figure:
    """HFC-copy accuracy against clean test accuracy, every epoch a point, one colour per heuristic.

    ``runs`` maps a heuristic to a list of histories (its seeds). Curves that lie higher
    at the same clean accuracy use more of the HFC; ``level`` draws the matched clean
    accuracy as a vertical line.

    Example:
        >>> from freqlens.train import History
        >>> h = History(epoch=[1, 2], test_acc=[.3, .4], test_hfc_acc={4.0: [.1, .2]})
        >>> len(matched_figure({"vanilla": [h, h]}, level=0.35).axes)
        1
    """
    _need(runs, "runs")
    fig = Figure(figsize=(6.4, 4.0), layout="constrained")
    ax = fig.subplots()
    for i, (name, histories) in enumerate(runs.items()):
        colour, marker = _style(name, i)
        for j, h in enumerate(histories):
            ax.plot([0.1] + list(h.test_acc), [0.1] + list(h.test_hfc_acc[float(radius)]), "-",
                    marker=marker, ms=3.5, lw=1, alpha=0.85, color=colour,
                    label=f"{name} ({len(histories)} seed{'s' * (len(histories) > 1)})" if j == 0 else None)
    if level is not None:
        ax.axvline(level, color="grey", lw=1, ls="--")
    ax.axhline(0.1, color="grey", lw=0.8, ls=":")
    ax.set_xlabel("clean test accuracy")
    ax.set_ylabel(f"accuracy on HFC copies, r = {radius:g}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    return fig


def gain_figure(gains: dict) -> Figure:
    """BatchNorm's gain in test accuracy per training view (the paper's Fig. 6), one dot per seed.

    ``gains`` maps a training view (``"original"``, ``"LFC r = 4"``, ...) to the gains of
    its seeds on the original test images, and ``"LFC r = 4, LFC test"``, ... to those
    on LFC copies of the same radius, drawn hatched beside it; bars are the means.

    Example:
        >>> g = {"original": [0.05, 0.07], "LFC r = 4": [0.01, 0.02], "LFC r = 4, LFC test": [0.0, 0.01]}
        >>> len(gain_figure(g).axes[0].patches)
        3
    """
    _need(gains, "gains")
    views = [k for k in gains if not k.endswith(", LFC test")]
    fig = Figure(figsize=(6.4, 3.2), layout="constrained")
    ax = fig.subplots()
    for i, view in enumerate(views):
        pairs = [(view, -0.2 if f"{view}, LFC test" in gains else 0.0, None, "tested on the originals")]
        if f"{view}, LFC test" in gains:
            pairs.append((f"{view}, LFC test", 0.2, "///", "tested on LFC copies of its radius"))
        for key, dx, hatch, label in pairs:
            values = np.asarray(gains[key], dtype=float)
            ax.bar(i + dx, values.mean(), color="#BBBBBB" if hatch is None else "white", edgecolor="black",
                   hatch=hatch, width=0.38, label=label if i == len(views) - 1 else None)
            ax.plot(np.full(values.size, i + dx) + np.linspace(-0.08, 0.08, values.size), values, "o",
                    color="#D55E00", ms=4)
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xticks(range(len(views)), [v.replace("LFC ", "LFC\n") for v in views], fontsize=8)
    ax.set_xlabel("trained on")
    ax.set_ylabel("test accuracy: with BatchNorm − without")
    ax.grid(alpha=0.3, axis="y")
    if any(k.endswith(", LFC test") for k in gains):
        ax.legend(fontsize=8, loc="best")
    return fig


def layer_ratio_figure(ratios: dict, layers: list) -> Figure:
    """The response to an HFC copy relative to the image, layer by layer, one line per network.

    ``ratios`` maps a network's label to ``{layer: mean ratio}``; ``layers`` orders them.

    Example:
        >>> len(layer_ratio_figure({"a": {"x": 0.2, "y": 0.4}}, ["x", "y"]).axes)
        1
    """
    _need(ratios, "ratios")
    fig = Figure(figsize=(6.4, 3.4), layout="constrained")
    ax = fig.subplots()
    for i, (name, by_layer) in enumerate(ratios.items()):
        colour, marker = _style(name.split(",")[0], i)
        ax.plot(range(len(layers)), [by_layer[layer] for layer in layers], "-", marker=marker,
                color=colour, label=name)
    ax.set_xticks(range(len(layers)), layers, rotation=30, ha="right", fontsize=7)
    ax.set_ylabel("response to HFC / to the image")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return fig


def k_gain_figure(curves: dict, ks) -> Figure:
    """Accuracy on HFC copies multiplied by a gain k, one line per network (seeds averaged, spread as bars).

    ``curves`` maps a network's label to an array ``(seeds, len(ks))`` of accuracies.

    Example:
        >>> len(k_gain_figure({"vanilla": [[0.1, 0.2]]}, [1, 2]).axes)
        1
    """
    _need(curves, "curves")
    fig = Figure(figsize=(4.8, 3.4), layout="constrained")
    ax = fig.subplots()
    for i, (name, acc) in enumerate(curves.items()):
        acc = np.asarray(acc, dtype=float)
        colour, marker = _style(name, i)
        std = acc.std(axis=0, ddof=1) if acc.shape[0] > 1 else np.zeros(acc.shape[1])
        ax.errorbar(ks, acc.mean(axis=0), yerr=std, marker=marker, color=colour, capsize=3, label=name)
    ax.set_xscale("log", base=2)
    ax.set_xticks(list(ks), [f"{k:g}" for k in ks])
    accuracy_axes(ax, "gain k on the HFC copy")
    ax.legend(fontsize=7)
    return fig
