"""Chapter 5's defenses: the first-layer kernels' smoothness, the ways of smoothing them, and a
low-pass filter with and without rounding before it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd
import torch

from freqlens import defenses, evaluate, memo, profiles
from freqlens.chapters.ch5_attacks_defenses.robustness import pgd_accuracy, pgd_images

__all__ = ["defense_rows", "defense_table", "defense_verdicts", "kernel_table", "kernel_verdicts",
           "smoothed_networks", "smoothing_gains", "smoothing_row", "smoothing_table"]


# --------------------------------------------------------------------------- defenses

def kernel_table(models: Mapping, names: Sequence[str] = ("vanilla", "adversarial")) -> pd.DataFrame:
    """The first-layer kernels' smoothness by the sources' two measures and the DC share, per network and for noise.

    Means over the 3 x 3 slices: ``"adjacent differences"`` (the blog's sense; lower is
    smoother), ``"high share"`` (the share of the zero-padded response at distance 8 or
    more, the slides' sense; lower is smoother) and ``"DC share"`` (the share at the zero
    frequency; higher is flatter). The row ``"noise"`` is independent Gaussian kernels of
    the same shape (seeded 0): where a network's row sits against it says how far
    training moved the kernels from random.
    """
    weights = {name: defenses.first_conv(models[name]).weight.detach().cpu() for name in names}
    like = next(iter(weights.values()))
    weights["noise"] = torch.randn(like.shape, generator=torch.Generator().manual_seed(0))
    return pd.DataFrame({name: {"adjacent differences": float(defenses.adjacent_differences(w).mean()),
                                "high share": float(defenses.kernel_high_share(w).mean()),
                                "DC share": float(defenses.kernel_smoothness(w).mean())}
                         for name, w in weights.items()}).T


def kernel_verdicts(table: pd.DataFrame, robust: str = "adversarial", plain: str = "vanilla") -> dict[str, str]:
    """Per measure of :func:`kernel_table`: whether the robust network's kernels are the smoother."""
    lower_is_smoother = {"adjacent differences": True, "high share": True, "DC share": False}
    out = {}
    for measure, lower in lower_is_smoother.items():
        r, p = table.loc[robust, measure], table.loc[plain, measure]
        smoother = r < p if lower else r > p
        out[measure] = (f"{robust} {r:.3f}, {plain} {p:.3f}, noise {table.loc['noise', measure]:.3f}: the "
                        f"robust kernels are {'smoother' if smoother else 'not smoother'}")
    return out


def smoothing_row(model, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    """The first-layer kernels' roughness (:func:`freqlens.defenses.adjacent_differences`), clean and PGD accuracy."""
    return {"adjacent differences": float(defenses.adjacent_differences(model).mean()),
            "clean": evaluate.accuracy(model, x, y),
            **{f"PGD {k}/255": pgd_accuracy(model, x, y, k / 255) for k in (2, 8)}}


def smoothed_networks(models: Mapping, rhos: Sequence[float] = (0.05, 0.1, 0.2),
                      orders: Sequence[int] = (2, 1)) -> dict[tuple[str, str], torch.nn.Module]:
    """The vanilla network and its smoothed versions, by ``(method, setting)``, with the adversarial one.

    The three ways the blog tried: the reference code's smoothing for each ``rho``
    (:func:`freqlens.defenses.smooth_kernels`), the kernels' high frequencies filtered
    away for each DCT ``order`` (:func:`freqlens.defenses.low_pass_kernels`), and the
    network trained with a penalty on its kernels' roughness (``models["kernel
    penalty"]``); adversarial training last, as the yardstick.
    """
    vanilla = models["vanilla"]
    out = {("none", "vanilla"): vanilla}
    out.update({("reference smoothing", f"ρ = {rho:g}"): defenses.smooth_kernels(vanilla, rho) for rho in rhos})
    out.update({("kernel low-pass", f"DCT u + v ≤ {k}"): defenses.low_pass_kernels(vanilla, k) for k in orders})
    out[("penalty in training", f"λ = {profiles.KERNEL_PENALTY:g}")] = models["kernel penalty"]
    out[("adversarial training", "Madry")] = models["adversarial"]
    return out


def smoothing_table(models: Mapping, x: torch.Tensor, y: torch.Tensor, **settings) -> pd.DataFrame:
    """:func:`smoothing_row` of each of :func:`smoothed_networks` (kept in the cache), a row each."""
    rows = {key: memo.cached("smoothing", smoothing_row, net, x, y)
            for key, net in smoothed_networks(models, **settings).items()}
    table = pd.DataFrame(rows).T
    table.index.names = ["method", "setting"]
    return table


def smoothing_gains(table: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Per method of :func:`smoothing_table`, its best PGD accuracy above the vanilla network's, per eps.

    Example:
        >>> t = pd.DataFrame({"PGD 2/255": [0.1, 0.15, 0.12, 0.4], "PGD 8/255": [0.0, 0.01, 0.0, 0.3]},
        ...                  index=pd.MultiIndex.from_tuples([("none", "vanilla"), ("a", "1"), ("a", "2"),
        ...                                                   ("adversarial training", "Madry")]))
        >>> {m: {e: round(g, 2) for e, g in d.items()} for m, d in smoothing_gains(t).items()}
        {'a': {'PGD 2/255': 0.05, 'PGD 8/255': 0.01}, 'adversarial training': {'PGD 2/255': 0.3, 'PGD 8/255': 0.3}}
    """
    columns = [c for c in table.columns if c.startswith("PGD")]
    base = table.loc[("none", "vanilla"), columns]
    return {method: {c: float(rows[c].max() - base[c]) for c in columns}
            for method, rows in table.drop(index="none", level=0).groupby(level=0, sort=False)}


def defense_rows(net, x: torch.Tensor, y: torch.Tensor, transfer: torch.Tensor) -> dict[str, dict]:
    """Clean, transfer, plain-PGD and adaptive accuracy, undefended and behind two defenses.

    ``transfer`` is PGD on ``net`` alone. The defenses: a low-pass filter at r = 8, and
    the same filter after rounding the image to 16 grey levels. Plain PGD attacks
    each defended network with its own gradient; the adaptive attack is the same PGD
    for the filter (it is differentiable: nothing to get around) and BPDA for the
    rounding (whose gradient is zero: PGD's steps are taken as if it were the
    identity). Where plain PGD fails and the adaptive attack succeeds, the gradient
    was masked.
    """
    low = defenses.low_pass_defense(net, 8)
    rounding = defenses.Rounding(16)
    rounded = torch.nn.Sequential(rounding, low)
    bpda = torch.nn.Sequential(defenses.StraightThrough(rounding), low)

    def row(model, plain, adaptive):
        return {"clean": evaluate.accuracy(model, x, y),
                "transfer": evaluate.accuracy(model, transfer, y),
                "plain PGD": evaluate.accuracy(model, plain, y),
                "adaptive": evaluate.accuracy(model, adaptive, y)}

    through_filter = pgd_images(low, x, y)
    return {"undefended": row(net, transfer, transfer),
            "low-pass r = 8": row(low, through_filter, through_filter),
            "rounding + low-pass": row(rounded, pgd_images(rounded, x, y),
                                       pgd_images(bpda, x, y))}


def defense_table(net, x: torch.Tensor, y: torch.Tensor, transfer: torch.Tensor) -> pd.DataFrame:
    """:func:`defense_rows` as a table (kept in the cache)."""
    return pd.DataFrame(memo.cached("low-pass defense", defense_rows, net, x, y, transfer)).T


def defense_verdicts(table: pd.DataFrame, margin: float = 0.02) -> dict[str, str]:
    """What :func:`defense_table` says of each defense: a transfer attack's weakness, or a masked gradient.

    Example:
        >>> t = pd.DataFrame({"clean": [0.6, 0.5, 0.5], "transfer": [0.0, 0.4, 0.4],
        ...                   "plain PGD": [0.0, 0.1, 0.5], "adaptive": [0.0, 0.1, 0.1]},
        ...                  index=["undefended", "low-pass r = 8", "rounding + low-pass"])
        >>> defense_verdicts(t)["rounding + low-pass"].split(", so ")[1]
        'the rounding masked the gradient (+0.400 of robustness that was not there)'
        >>> "transfer attack's weakness" in defense_verdicts(t)["low-pass r = 8"]
        True
    """
    low, rounded = table.loc["low-pass r = 8"], table.loc["rounding + low-pass"]
    gap = low["transfer"] - low["adaptive"]
    out = {"low-pass r = 8": (
        f"low-pass r = 8: {low['transfer']:.3f} right under the transfer attack, {low['adaptive']:.3f} "
        f"under PGD through the filter; " + (
            f"the {gap:+.3f} is the transfer attack's weakness (the filter is differentiable: "
            "no gradient was masked)" if gap > margin else
            "the filter buys nothing against either attack"))}
    masked = rounded["plain PGD"] - rounded["adaptive"]
    out["rounding + low-pass"] = (
        f"rounding + low-pass: plain PGD leaves {rounded['plain PGD']:.3f} right and BPDA "
        f"{rounded['adaptive']:.3f}, so " + (
            f"the rounding masked the gradient ({masked:+.3f} of robustness that was not there)"
            if masked > margin else "no masking shows here"))
    return out
