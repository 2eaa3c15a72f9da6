"""Chapter 2, high-frequency components and generalization: its networks, experiments and checks.

The chapter trains the profile's standard network; for the paper's Table 1, one network
per band and radius trained on LFC or HFC copies only (:data:`TABLE1`); and, for the
"rethinking generalization" experiment, the same network on a small subset with true
and with shuffled labels. The experiments measure a network on the copies of the test
images and tabulate what the chapter reads.

Example:
    >>> len(networks("quick")), networks("quick")[0] == TrainConfig.for_profile("quick")
    (13, True)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import pandas as pd
import torch

from freqlens import checks, evaluate, exercises, fourier, train
from freqlens.train import Result, TrainConfig

__all__ = ["CURVE_RADII", "NOTEBOOK", "PAPER_TABLE1", "RADII", "TABLE1", "beside_the_paper",
           "check_hfc_accuracy", "check_radius_for_90_percent", "claims", "curves_table",
           "end_of_training_table", "examples", "gap_verdict", "hfc_keeps", "keeps_table",
           "memorise_config", "memorise_verdict", "networks", "radius_curves", "table1_config",
           "table1_frame", "table1_gaps", "train_memorise", "train_table1"]

NOTEBOOK = "02_hfc_generalization"
RADII = (4, 8, 12, 16)
CURVE_RADII = (2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22)   # up to the corner, 22.6
# Table 1's networks: (the band trained on, rescaled as the reference code did, the radius).
TABLE1 = ([("lfc", True, r) for r in RADII] + [("hfc", True, r) for r in RADII]
          + [("hfc", False, r) for r in (4, 16)])
# The paper's Table 1: (train accuracy, test accuracy on the originals) by band and radius.
PAPER_TABLE1 = {("lfc", 4): (0.9668, 0.6167), ("lfc", 8): (0.9786, 0.7154), ("lfc", 12): (0.9786, 0.7516),
                ("lfc", 16): (0.9839, 0.7714), ("hfc", 4): (0.9885, 0.2002), ("hfc", 8): (0.9768, 0.0920),
                ("hfc", 12): (0.9797, 0.0997), ("hfc", 16): (0.9384, 0.1281)}


# --------------------------------------------------------------------------- networks

def table1_config(view: str, rescale: bool, radius: float, profile: str | None = None) -> TrainConfig:
    """Table 1's network trained on the ``view`` copies at ``radius`` (its own budget, no test copies)."""
    return TrainConfig.for_profile(profile, budget="table1", view=view, radius=radius, rescale=rescale,
                                   eval_radii=())


def memorise_config(shuffled: float, profile: str | None = None) -> TrainConfig:
    """The memorisation network: a share ``shuffled`` of its labels shuffled, copies tracked at r = 8."""
    return TrainConfig.for_profile(profile, budget="memorise", shuffled_labels=shuffled, eval_radii=(8,))


def networks(profile: str | None = None) -> list[TrainConfig]:
    """The standard network; Table 1 (trained on LFC or HFC); true against shuffled labels."""
    return ([TrainConfig.for_profile(profile)]
            + [table1_config(view, rescale, r, profile) for view, rescale, r in TABLE1]
            + [memorise_config(shuffled, profile) for shuffled in (0.0, 1.0)])


def train_table1(profile: str | None = None) -> dict[tuple, Result]:
    """Table 1's networks, trained or read from the cache, by ``(view, rescale, radius)``."""
    return {(view, rescale, r): train.train(table1_config(view, rescale, r, profile))
            for view, rescale, r in TABLE1}


def train_memorise(profile: str | None = None) -> dict[float, Result]:
    """The memorisation networks, by the share of shuffled labels (0 and 1)."""
    return {shuffled: train.train(memorise_config(shuffled, profile)) for shuffled in (0.0, 1.0)}


# --------------------------------------------------------------------------- experiments

def hfc_keeps(model, x: torch.Tensor, y: torch.Tensor, radii: Sequence[float] = RADII,
              rescale: bool = False) -> dict:
    """Per radius, the indices of the images whose HFC copy keeps the label while the LFC copy loses it.

    ``rescale=True`` divides each copy by its own maximum first, as the reference code
    measured its copies.
    """
    return {r: evaluate.hfc_keeps_label(model, x, y, radius=r, rescale=rescale) for r in radii}


def keeps_table(keeps: Mapping, n_images: int, rescaled: Mapping | None = None) -> pd.DataFrame:
    """:func:`hfc_keeps`' counts per radius, and per 10,000 images (the paper's unit); ``rescaled`` beside them.

    Example:
        >>> keeps_table({4: torch.arange(30), 16: torch.arange(5)}, 500)["per 10,000"].tolist()
        [600, 100]
        >>> list(keeps_table({4: torch.arange(30)}, 500, {4: torch.arange(40)}).loc[4])
        [30, 600, 40, 800]
    """
    per = lambda idx: round(10000 * len(idx) / n_images)
    rows = {}
    for r, idx in keeps.items():
        rows[r] = {"HFC keeps, LFC loses": len(idx), "per 10,000": per(idx)}
        if rescaled is not None:
            rows[r].update({"rescaled": len(rescaled[r]), "rescaled, per 10,000": per(rescaled[r])})
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("r")


def examples(indices: torch.Tensor, k: int = 5) -> torch.Tensor:
    """``k`` of ``indices``, evenly spread over them (all of them if there are fewer).

    Example:
        >>> examples(torch.arange(20), k=5).tolist()
        [0, 4, 8, 12, 16]
    """
    return indices[:: max(1, len(indices) // k)][:k]


def radius_curves(model, x: torch.Tensor, y: torch.Tensor, radii: Sequence[float] = CURVE_RADII) -> dict:
    """Accuracy on the LFC and HFC copies at each radius as they are, and on rescaled HFC copies.

    ``{"as they are": frequency_accuracy(...), "rescaled": ...}``; rescaling barely changes
    an LFC copy (its gain is about 1), so only the HFC is measured twice.
    """
    return {"as they are": evaluate.frequency_accuracy(model, x, y, radii),
            "rescaled": evaluate.frequency_accuracy(model, x, y, radii, rescale=True, components=["hfc"])}


def curves_table(curves: Mapping, radii: Sequence[float] = CURVE_RADII) -> pd.DataFrame:
    """:func:`radius_curves` as a table: one row per kind of copy, one column per radius."""
    raw, rescaled = curves["as they are"], curves["rescaled"]
    rows = {"LFC as they are": raw["lfc"], "HFC as they are": raw["hfc"], "HFC rescaled": rescaled["hfc"]}
    table = pd.DataFrame({name: {int(r): acc[float(r)] for r in radii} for name, acc in rows.items()}).T
    return table.rename_axis(columns="r")


def table1_frame(runs: Mapping[tuple, Result]) -> pd.DataFrame:
    """Table 1 as measured beside the paper's: one row per network of :func:`train_table1`."""
    rows = []
    for (view, rescale, r), run in runs.items():
        h = run.history
        paper_train, paper_test = PAPER_TABLE1[view, r]
        rows.append({"train on": view.upper(), "r": r, "rescaled": rescale,
                     "train acc": h.train_eval_acc[-1], "test acc": h.test_acc[-1],
                     "paper train": paper_train, "paper test": paper_test})
    return pd.DataFrame(rows)


def table1_gaps(runs: Mapping[tuple, Result], radii: Sequence[float] = RADII) -> pd.DataFrame:
    """Per radius, on the original test images: trained on LFC, trained on HFC (rescaled), and the HFC fit."""
    rows = {}
    for r in radii:
        lfc, hfc = runs["lfc", True, r].history, runs["hfc", True, r].history
        rows[r] = {"LFC-trained": lfc.test_acc[-1], "HFC-trained": hfc.test_acc[-1],
                   "gap": lfc.test_acc[-1] - hfc.test_acc[-1], "HFC fit": hfc.train_eval_acc[-1]}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("r")


def end_of_training_table(runs: Mapping[float, Result], radii: Sequence[float] = RADII) -> pd.DataFrame:
    """The memorisation networks at the end, on the tracked training images' copies, against the labels trained on.

    One row per (labels, copies as they are or rescaled), one column per copy.
    """
    rows = {}
    for shuffled, run in runs.items():
        x_tracked, y_tracked = train.tracked_training_images(run.config)   # labels as trained on
        for rescale in (False, True):
            acc = evaluate.frequency_accuracy(run.model, x_tracked, y_tracked, radii=radii, rescale=rescale)
            rows["shuffled" if shuffled else "true", "rescaled" if rescale else "as they are"] = {
                "original": acc["original"],
                **{f"LFC r={r:g}": a for r, a in acc["lfc"].items()},
                **{f"HFC r={r:g}": a for r, a in acc["hfc"].items()}}
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.names = ["labels", "copies"]
    return table


def beside_the_paper(gaps: pd.DataFrame, runs: Mapping[tuple, Result], curves: Mapping, keeps: Mapping,
                     n_images: int) -> pd.DataFrame:
    """The chapter's numbers beside the paper's where it gives them: one row each, ``"here"`` and ``"paper"``.

    ``gaps`` is :func:`table1_gaps`, ``runs`` :func:`train_table1`, ``curves``
    :func:`radius_curves` and ``keeps`` :func:`hfc_keeps` on ``n_images`` test images.
    """
    span = lambda values: f"{min(values):.2f} to {max(values):.2f}"
    raw_fit = {r: runs["hfc", False, r].history.train_eval_acc[-1] for r in (4, 16)}
    raw, rescaled = curves["as they are"]["hfc"], curves["rescaled"]["hfc"]
    rows = {"trained on LFC, on the originals": (span(gaps["LFC-trained"]), "0.62 to 0.77"),
            "trained on HFC (rescaled), its own copies": (span(gaps["HFC fit"]), ""),
            "trained on HFC (rescaled), on the originals": (span(gaps["HFC-trained"]), "0.09 to 0.20")}
    for r in (4, 16):
        rows[f"HFC training copies at r = {r}, rescaled / raw"] = (
            f"{gaps.loc[r, 'HFC fit']:.2f} / {raw_fit[r]:.2f}", "")
    for r in (2.0, 4.0, 8.0, 16.0):
        rows[f"HFC test copies at r = {r:g}, rescaled / raw"] = (f"{rescaled[r]:.2f} / {raw[r]:.2f}", "")
    rows["HFC keeps the label, LFC loses it (r = 4)"] = (
        f"{10000 * len(keeps[4]) / n_images:.0f} per 10,000", "about 600 (the blog; no radius, no count)")
    return pd.DataFrame.from_dict(rows, orient="index", columns=["here", "paper"])


def gap_verdict(lfc: float, hfc: float) -> str:
    """Whether two accuracies say a band was learned far better than the other (a gap of 0.1 or more).

    Example:
        >>> gap_verdict(0.9, 0.1), gap_verdict(0.5, 0.45)
        ('LFC learned far better', 'LFC and HFC learned alike')
    """
    if abs(lfc - hfc) < 0.1:
        return "LFC and HFC learned alike"
    return f"{'LFC' if lfc > hfc else 'HFC'} learned far better"


def memorise_verdict(gap: float) -> str:
    """What the LFC-minus-HFC gap of a network that memorised shuffled labels says of the paper's prediction.

    Example:
        >>> memorise_verdict(0.6)
        "memorised through the LFC, against the paper's prediction"
    """
    if abs(gap) < 0.1:
        return "LFC and HFC memorised alike, as the paper predicts"
    return "memorised through the LFC, against the paper's prediction" if gap > 0.3 else "in between"


# --------------------------------------------------------------------------- verdicts

def claims(gaps: pd.DataFrame, runs: Mapping[tuple, Result], keeps: Mapping, n_images: int,
           memorised: Mapping[float, Result]) -> dict[str, tuple[str, str, str | None]]:
    """The chapter's verdicts on the sources' claims, from its tables and networks.

    ``gaps`` is :func:`table1_gaps`, ``runs`` :func:`train_table1`, ``keeps``
    :func:`hfc_keeps` on ``n_images`` test images, ``memorised`` :func:`train_memorise`.
    """
    per = {r: 10000 * len(idx) / n_images for r, idx in keeps.items()}
    out = {"hfc_keeps_label": (
        "per 10,000 test images, HFC keeps the label and LFC loses it: "
        + ", ".join(f"r = {r:g} {v:.0f}" for r, v in per.items()),
        *(("reproduced", None) if max(per.values()) >= 100 else ("not reproduced", "scale")))}
    lfc = gaps["LFC-trained"]
    fits = {r: runs["lfc", True, r].history.train_eval_acc[-1] for r in lfc.index}
    rising, close = lfc.iloc[-1] > lfc.iloc[0], all(abs(lfc[r] - PAPER_TABLE1["lfc", r][1]) < 0.1 for r in lfc.index)
    out["lfc_train_generalizes"] = (
        "on the test images: " + ", ".join(f"r = {r:g} {a:.3f}" for r, a in lfc.items())
        + f"; fits {min(fits.values()):.2f}-{max(fits.values()):.2f}",
        *(("reproduced", None) if rising and close else ("partly", "scale: lower, the trend holds")
          if rising else ("not reproduced", "the claim")))
    hfc, fit = gaps["HFC-trained"], gaps["HFC fit"]
    chance, fitted = hfc.max() < 0.25, fit.min() > 0.9
    out["hfc_train_near_chance"] = (
        "on the test images: " + ", ".join(f"r = {r:g} {a:.3f}" for r, a in hfc.items())
        + f"; fits {fit.min():.2f}-{fit.max():.2f}",
        *(("reproduced", None) if chance and fitted else ("partly", "scale: not fitted")
          if chance else ("not reproduced", "the claim")))
    true = memorised[0.0].history
    lead = [l - h for l, h in zip(true.train_lfc_acc[8.0], true.train_hfc_acc[8.0])]
    out["true_labels_lfc_first"] = (
        f"true labels, training copies at r = 8: LFC minus HFC {lead[0]:+.2f} after epoch 1, "
        f"{max(lead):+.2f} at most, {lead[-1]:+.2f} at the end",
        *(("reproduced", None) if lead[0] > 0 and max(lead) > 0.1 else ("not reproduced", "scale")))
    shuffled = memorised[1.0].history
    gap = shuffled.train_lfc_acc[8.0][-1] - shuffled.train_hfc_acc[8.0][-1]
    out["shuffled_labels_alike"] = (
        f"shuffled labels, training copies at r = 8: LFC minus HFC {gap:+.2f} at the end",
        *(("reproduced", None) if abs(gap) < 0.1 else
          ("not reproduced", "the claim: memorised through the LFC") if gap > 0.3 else
          ("partly", "the claim")))
    return out


# --------------------------------------------------------------------------- exercise 1

def _first(accuracies: dict[float, float], target: float) -> int | None:
    """The smallest radius whose accuracy reaches ``target``; ``None`` if none does."""
    return next((int(r) for r, a in sorted(accuracies.items()) if a >= target), None)


def _radius_slips(model, x: torch.Tensor, y: torch.Tensor, fraction: float,
                  top: int) -> tuple[dict, int | None, list[tuple[str, int | None]]]:
    """The accuracies at radii ``1 .. top``, the right radius, and ``(hint, answer)`` for each usual slip."""
    radii = range(1, top + 1)
    raw = evaluate.frequency_accuracy(model, x, y, radii=radii)
    rescaled = evaluate.frequency_accuracy(model, x, y, radii=radii, rescale=True, components=["lfc"])
    target = fraction * raw["original"]
    expected = _first(raw["lfc"], target)
    reached = [a >= target for _, a in sorted(raw["lfc"].items())]
    slips = [
        (f"compare with {fraction} * the accuracy on the originals, not with {fraction} itself.",
         _first(raw["lfc"], fraction)),
        ("that is the first radius's position in range(1, ...), which starts at radius 1, not 0: "
         "the radius is one more.", reached.index(True) if expected is not None else None),
        ("those are the HFC copies' accuracies: the LFC copy keeps the frequencies below r "
         "(the \"lfc\" entry).", _first(raw["hfc"], target)),
        ("measure the LFC copies without rescaling (rescale=False, the default).",
         _first(rescaled["lfc"], target)),
    ]
    return raw, expected, slips


def check_radius_for_90_percent(answer, model, x: torch.Tensor, y: torch.Tensor,
                                fraction: float = 0.9) -> bool:
    """Exercise 1: the smallest integer radius whose LFC copies keep ``fraction`` of the clean accuracy.

    The expected answer is the smallest integer ``r`` in ``1 .. floor(corner)`` at which
    the model's accuracy on the LFC copies of ``x`` (no rescaling) is at least
    ``fraction`` times its accuracy on ``x`` itself. Prints a verdict (with a hint when
    wrong) and returns whether it passed.

    Example:
        >>> from freqlens.data import cifar10_tensors
        >>> from freqlens.models import SmallCNN
        >>> x, y = cifar10_tensors("test", n=50)
        >>> check_radius_for_90_percent(None, SmallCNN(width=8), x, y)
        … not answered yet: replace None with your radius, then run the cell.
        False
    """
    x = checks.images(x)
    checks.labels(y, x.shape[0])
    fraction = checks.number(fraction, "fraction", 0, 1, low_open=True)
    if answer is None or answer is Ellipsis:
        return exercises.todo("replace None with your radius, then run the cell.")
    value = exercises.as_number(answer)
    if value is None or not math.isfinite(value) or value != int(value):
        return exercises.verdict(False, f"expected a whole number (an integer radius), got {answer!r}.")
    top = math.floor(checks.corner_radius(*x.shape[-2:]))
    if not 1 <= value <= top:
        return exercises.verdict(False, f"{value:g} is outside 1 .. {top}: the radius of a "
                                        f"{x.shape[-2]}x{x.shape[-1]} spectrum stops at its corner.")
    # Radii 1 .. answer decide a right answer (LFC copies only: half the cost of both kinds);
    # the slips are recomputed only for a wrong one.
    value = int(value)
    accs = evaluate.frequency_accuracy(model, x, y, radii=range(1, value + 1), components=["lfc"])
    if _first(accs["lfc"], fraction * accs["original"]) == value:
        return exercises.verdict(True, f"at r = {value} the LFC copies score {accs['lfc'][value]:.3f}, "
                                       f"at least {fraction:.0%} of the original's {accs['original']:.3f}.")
    raw, expected, slips = _radius_slips(model, x, y, fraction, top)
    if expected is None:
        # possible only for a model worse than chance on its own LFC copies
        return exercises.verdict(False, f"no radius up to {top} reaches {fraction:.0%} of the clean "
                                        "accuracy for this model, so there is no right answer to check "
                                        "against.")
    hints = [text for text, slip in slips if slip == value]
    score, original = raw["lfc"][value], raw["original"]
    if score >= fraction * original:
        fact = (f"r = {value} works, but a smaller radius already reaches {fraction:.0%} of the clean "
                "accuracy.")
        hints = hints or ["look for the first radius."]
    else:
        fact = (f"at r = {value} the LFC copies score {score:.3f}, below {fraction:.0%} of the "
                f"original's {original:.3f}.")
    return exercises.verdict(False, f"{fact} {exercises.hint(hints)}" if hints else fact)


# --------------------------------------------------------------------------- exercise 2

def check_hfc_accuracy(answer, reason, model, x: torch.Tensor, y: torch.Tensor, radius: float = 12,
                       tol: float = 1e-3) -> bool:
    """Exercise 2: the accuracy on HFC copies at ``radius`` (as they are, no rescaling), and why it falls.

    ``answer`` is the accuracy of ``model`` on ``fourier.high_pass(x, radius)``;
    ``reason`` the letter of the explanation the chapter offers. Prints a verdict for
    each (with a hint when wrong) and returns whether both passed.

    Example:
        >>> from freqlens.data import cifar10_tensors
        >>> from freqlens.models import SmallCNN
        >>> x, y = cifar10_tensors("test", n=50)
        >>> check_hfc_accuracy(None, "b", SmallCNN(width=8), x, y)
        … not answered yet: replace None with your accuracy, then run the cell.
        ✗ not yet: (b) does not explain it: the network trained on the original
          images, which hold every frequency.
        False
    """
    x = checks.images(x)
    checks.labels(y, x.shape[0])
    radius = checks.radius(radius, *x.shape[-2:])
    expected = evaluate.accuracy(model, fourier.high_pass(x, radius), y)
    slips = [
        ("that is the accuracy at r = 4, the radius before the change.",
         evaluate.accuracy(model, fourier.high_pass(x, 4), y)),
        ("that is the LFC copies' accuracy: the HFC copy keeps the frequencies at or above r.",
         evaluate.accuracy(model, fourier.low_pass(x, radius), y)),
        ("measure the copies as they are, without rescaling them by their maximum.",
         evaluate.accuracy(model, fourier.rescale_by_max(fourier.high_pass(x, radius)), y)),
        ("The answer is a fraction between 0 and 1, not a percentage.", 100 * expected),
    ]
    number = exercises.judge_number(answer, expected, slips, tol,
                                    f"the HFC copies at r = {radius:g} score {{value:.3f}}.", what="accuracy")
    why = exercises.judge_reason(reason, "a", {
        "b": "the network trained on the original images, which hold every frequency.",
        "c": "LFC + HFC = x exactly (chapter 1): nothing is lost in the transform."})
    return number and why
