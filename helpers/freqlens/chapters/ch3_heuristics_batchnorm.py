"""Chapter 3, training heuristics and BatchNorm: its networks, experiments and checks.

The chapter trains one network per training heuristic and seed
(:func:`freqlens.heuristics.config`), and the vanilla and BatchNorm networks on LFC
copies at r = 4, 8, 12 and 16 for the paper's Fig. 6. The experiments read the histories at the last
epoch and at matched clean accuracy, and measure the mechanism: how BatchNorm layers
scale an HFC copy's share of the activations, and what a gain on the HFC copies does.

Example:
    >>> len(networks("quick")), {c.model for c in networks("full")}
    (35, {'resnet18'})
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from freqlens import activations, checks, evaluate, exercises, heuristics, train
from freqlens.train import History, Result, TrainConfig

__all__ = ["FIG6_RADII", "K_GAINS", "NOTEBOOK", "amplification_table", "batchnorm_gains", "changes_table",
           "check_least_hfc", "check_matched_lfc", "claims", "difference_verdicts", "differences_table",
           "fig6_verdicts", "final",
           "gains_table", "k_gain_accuracies", "k_gain_table", "k_rise", "last_epoch_table", "matched_hfc",
           "matched_table", "mean_final", "networks", "rescaling_verdict", "signal_ratios",
           "train_heuristics", "train_lfc_networks", "training_seconds"]

NOTEBOOK = "03_heuristics_batchnorm"
K_GAINS = (1, 2, 4, 8)   # the gains the HFC copies are multiplied by
_FIG6 = ("vanilla", "batchnorm")
# Fig. 6's radii: the paper's point ("the gain is the most limited at r = 4") compares them
FIG6_RADII = (4.0, 8.0, 12.0, 16.0)


# --------------------------------------------------------------------------- networks

def networks(profile: str | None = None) -> list[TrainConfig]:
    """Every heuristic over its seeds (Figs. 4-5); vanilla and BatchNorm on LFC copies at each radius (Fig. 6)."""
    return ([heuristics.config(name, profile, seed=s)
             for name in heuristics.HEURISTICS for s in heuristics.seeds(name, profile)]
            + [heuristics.config(name, profile, seed=s, view="lfc", radius=r)
               for r in FIG6_RADII for name in _FIG6 for s in heuristics.seeds(name, profile)])


def train_heuristics(profile: str | None = None) -> dict[str, list[Result]]:
    """Each heuristic's networks, one per seed, trained or read from the cache (a bar over the heuristics)."""
    return {name: [train.train(heuristics.config(name, profile, seed=s))
                   for s in heuristics.seeds(name, profile)]
            for name in tqdm(heuristics.HEURISTICS, desc="heuristics")}


def train_lfc_networks(profile: str | None = None) -> dict[float, dict[str, list[Result]]]:
    """Per radius of :data:`FIG6_RADII`, the vanilla and BatchNorm networks trained on LFC copies, one per seed."""
    return {r: {name: [train.train(heuristics.config(name, profile, seed=s, view="lfc", radius=r))
                       for s in heuristics.seeds(name, profile)] for name in _FIG6}
            for r in tqdm(FIG6_RADII, desc="LFC radii")}


def changes_table(profile: str | None = None) -> pd.DataFrame:
    """Each heuristic's fields that differ from the vanilla network's, and its number of seeds.

    Example:
        >>> changes_table("quick").loc["dropout", "changed"]
        'dropout=0.5'
    """
    vanilla = vars(heuristics.config("vanilla", profile))
    rows = {}
    for name in heuristics.HEURISTICS:
        changed = {k: v for k, v in vars(heuristics.config(name, profile)).items() if v != vanilla[k]}
        rows[name] = {"changed": ", ".join(f"{k}={v}" for k, v in changed.items()) or "—",
                      "seeds": len(heuristics.seeds(name, profile))}
    return pd.DataFrame(rows).T


def training_seconds(runs: Mapping[str, Sequence[Result]]) -> dict[str, float]:
    """Each heuristic's mean training time per network, in seconds."""
    return {name: float(np.mean([sum(r.history.seconds) for r in rs])) for name, rs in runs.items()}


# --------------------------------------------------------------------------- reading the histories

def final(history: History, table: str | None = None, radius: float = 4.0) -> float:
    """The last epoch's test accuracy, or with ``table`` (``"test_hfc_acc"``, ...) its entry at ``radius``.

    Example:
        >>> h = History(test_acc=[0.3, 0.5], test_hfc_acc={4.0: [0.1, 0.2]})
        >>> final(h), final(h, "test_hfc_acc")
        (0.5, 0.2)
    """
    return (history.test_acc if table is None else getattr(history, table)[radius])[-1]


def mean_final(runs: Mapping[str, Sequence[Result]], table: str | None = None,
               radius: float = 4.0) -> dict[str, float]:
    """Each heuristic's :func:`final` reading, averaged over its seeds."""
    return {name: np.mean([final(r.history, table, radius) for r in rs]) for name, rs in runs.items()}


def last_epoch_table(runs: Mapping[str, Sequence[Result]], x: torch.Tensor, y: torch.Tensor,
                     radius: float = 4.0) -> pd.DataFrame:
    """Last epoch, means over seeds: test accuracy, HFC copies as they are (history) and rescaled (measured on ``x``)."""
    rescaled = {name: np.mean([evaluate.frequency_accuracy(r.model, x, y, radii=[radius], rescale=True,
                                                           components=["hfc"])["hfc"][float(radius)]
                               for r in rs])
                for name, rs in runs.items()}
    return pd.DataFrame({"test": mean_final(runs), f"HFC r={radius:g}, as they are": mean_final(
        runs, "test_hfc_acc", radius), f"HFC r={radius:g}, rescaled": rescaled})


def matched_hfc(runs: Mapping[str, Sequence[Result]], level: float, radius: float = 4.0) -> dict[str, list]:
    """Each heuristic's HFC accuracy at ``radius``, seed by seed, where its clean accuracy first reached ``level``."""
    return {name: [heuristics.at_clean_accuracy(r.history, level, radius=radius) for r in rs]
            for name, rs in runs.items()}


def matched_table(matched: Mapping[str, Sequence[float]], last: Mapping[str, float]) -> pd.DataFrame:
    """Per heuristic: seeds, the mean and spread of :func:`matched_hfc`, and the last epoch's mean ``last``."""
    rows = {}
    for name, values in matched.items():
        mean, std = heuristics.spread(values)
        rows[name] = {"seeds": len(values), "at matched accuracy": mean, "± (seeds)": std,
                      "last epoch": last[name]}
    return pd.DataFrame(rows).T


def differences_table(runs: Mapping[str, Sequence[Result]], matched: Mapping[str, Sequence[float]],
                      level: float) -> pd.DataFrame:
    """BatchNorm minus vanilla on HFC copies at r = 4, seed by seed, at the last epoch and at matched accuracy."""
    last = [final(b.history, "test_hfc_acc") - final(v.history, "test_hfc_acc")
            for b, v in zip(runs["batchnorm"], runs["vanilla"])]
    at_level = [b - v for b, v in zip(matched["batchnorm"], matched["vanilla"])]
    rows = {}
    for where, diffs in (("last epoch", last), (f"matched {level:.2f}", at_level)):
        mean, std = heuristics.spread(diffs)
        rows[where] = {"mean": mean, "± (seeds)": std, **{f"seed {s}": d for s, d in enumerate(diffs)}}
    return pd.DataFrame(rows).T


def difference_verdicts(differences: pd.DataFrame) -> dict[str, tuple[str, str, str | None]]:
    """Per row of :func:`differences_table`: ``(the numbers, verdict, why)`` on "BatchNorm uses more HFC".

    Reproduced where BatchNorm leads in every seed and the mean clears the seeds'
    spread; partly where it leads on average only; not reproduced where it does not.

    Example:
        >>> t = pd.DataFrame({"mean": [0.05, 0.01], "± (seeds)": [0.02, 0.04],
        ...                   "seed 0": [0.03, -0.02], "seed 1": [0.07, 0.04]},
        ...                  index=["last epoch", "matched 0.50"])
        >>> {where: v for where, (_, v, _) in difference_verdicts(t).items()}
        {'last epoch': 'reproduced', 'matched 0.50': 'partly'}
    """
    out = {}
    for where, row in differences.iterrows():
        seeds = row.filter(regex=r"^seed \d")   # not "± (seeds)"
        mean, std = row["mean"], row["± (seeds)"]
        numbers = f"BatchNorm minus vanilla {mean:+.3f} ± {std:.3f} over {len(seeds)} seeds"
        out[where] = (numbers, *(("reproduced", None) if bool((seeds > 0).all()) and mean > std else
                                 ("partly", "scale: within the seeds' spread") if mean > 0 else
                                 ("not reproduced", "the claim")))
    return out


# --------------------------------------------------------------------------- Fig. 6

def batchnorm_gains(runs: Mapping[str, Sequence[Result]],
                    lfc_runs: Mapping[float, Mapping[str, Sequence[Result]]]) -> dict[str, list[float]]:
    """BatchNorm's gain in test accuracy, seed by seed: trained on originals, on LFC copies at each radius,
    and those tested on LFC copies of their radius (``"LFC r = 4, LFC test"``, ...)."""
    def gain(with_bn, without, *read):
        return [final(b.history, *read) - final(v.history, *read) for b, v in zip(with_bn, without)]

    out = {"original": gain(runs["batchnorm"], runs["vanilla"])}
    for r, rs in lfc_runs.items():
        out[f"LFC r = {r:g}"] = gain(rs["batchnorm"], rs["vanilla"])
    for r, rs in lfc_runs.items():
        out[f"LFC r = {r:g}, LFC test"] = gain(rs["batchnorm"], rs["vanilla"], "test_lfc_acc", float(r))
    return out


def _gain_means(gains: Mapping[str, Sequence[float]], on_lfc: bool) -> dict[str, float]:
    """The mean gains of the originals and of each radius, tested on the originals or (``on_lfc``) LFC copies."""
    out = {"original": float(np.mean(gains["original"]))}
    for label, g in gains.items():
        if label.startswith("LFC") and label.endswith(", LFC test") == on_lfc:
            out[label.removesuffix(", LFC test")] = float(np.mean(g))
    return out


def _largest_spread(gains: Mapping[str, Sequence[float]]) -> float:
    """The largest spread over the seeds of any of :func:`batchnorm_gains`' gains."""
    return float(max(np.std(g, ddof=1) for g in gains.values()))


def gains_table(gains: Mapping[str, Sequence[float]]) -> pd.DataFrame:
    """:func:`batchnorm_gains` per kind of training: the mean, the spread over seeds, each seed."""
    return pd.DataFrame({where: {"mean": np.mean(g), "± (seeds)": np.std(g, ddof=1),
                                 **{f"seed {s}": v for s, v in enumerate(g)}}
                         for where, g in gains.items()}).T.rename_axis("trained on")


def fig6_verdicts(gains: Mapping[str, Sequence[float]]) -> dict[str, str]:
    """Whether BatchNorm's gain is the smallest at LFC r = 4, tested on the originals and on LFC copies.

    Example:
        >>> g = {"original": [0.10, 0.11], "LFC r = 4": [0.01, 0.02], "LFC r = 8": [0.04, 0.05],
        ...      "LFC r = 4, LFC test": [0.05, 0.07], "LFC r = 8, LFC test": [0.03, 0.02]}
        >>> fig6_verdicts(g)["tested on the originals"]
        'the gain is the smallest at LFC r = 4, as the paper has it'
        >>> fig6_verdicts(g)["tested on LFC copies"]
        'the gain is smaller at LFC r = 4 than on the originals, but smallest at LFC r = 8'
    """
    spread_max = _largest_spread(gains)
    out = {}
    for tested, on_lfc in (("tested on the originals", False), ("tested on LFC copies", True)):
        means = _gain_means(gains, on_lfc)
        orig, at4 = means["original"], means["LFC r = 4"]
        smallest = min(means, key=means.get)
        if smallest == "LFC r = 4":
            text = "the gain is the smallest at LFC r = 4, as the paper has it"
        elif at4 < orig:
            text = f"the gain is smaller at LFC r = 4 than on the originals, but smallest at {smallest}"
        else:
            text = "the gain is not smaller at LFC r = 4 than on the originals: the prediction fails here"
        if at4 < orig and orig - at4 <= spread_max:
            text += ", by less than the seeds' spread"
        out[tested] = text
    return out


# --------------------------------------------------------------------------- the mechanism

def amplification_table(runs: Sequence[Result], x: torch.Tensor, hfc: torch.Tensor,
                        batch_size: int = 100) -> pd.DataFrame:
    """Per BatchNorm layer and seed: its output's signal ratio over its input's (HFC copy ``hfc`` against ``x``).

    Above 1, the layer raises the HFC's share of the activation. A column ``"mean"``
    averages the seeds.
    """
    norms = activations.layer_names(runs[0].model, torch.nn.BatchNorm2d)
    amplification = {}
    for s, r in enumerate(runs):
        into = activations.signal_ratio(r.model, x, hfc, norms, batch_size=batch_size,
                                        attribute_to_layer_input=True)
        out = activations.signal_ratio(r.model, x, hfc, norms, batch_size=batch_size)
        amplification[f"seed {s}"] = {n: float(out[n].mean() / into[n].mean()) for n in norms}
    amp = pd.DataFrame(amplification)
    amp["mean"] = amp.mean(axis=1)
    return amp


def signal_ratios(runs: Mapping[str, Sequence[Result]], x: torch.Tensor, hfc: torch.Tensor,
                  layers: Sequence[str], names: Sequence[str] = _FIG6,
                  batch_size: int = 100) -> dict[str, dict[str, float]]:
    """The mean signal ratio of ``hfc`` against ``x`` at each of ``layers``, per network of ``names`` and seed."""
    ratios = {}
    for name in names:
        for s, r in enumerate(runs[name]):
            ratio = activations.signal_ratio(r.model, x, hfc, list(layers), batch_size=batch_size)
            ratios[f"{name}, seed {s}"] = {layer: float(v.mean()) for layer, v in ratio.items()}
    return ratios


def k_gain_accuracies(runs: Mapping[str, Sequence[Result]], hfc: torch.Tensor, y: torch.Tensor,
                      ks: Sequence[float] = K_GAINS, names: Sequence[str] = _FIG6) -> dict[str, list[list]]:
    """Accuracy on the HFC copies ``hfc`` multiplied by each gain ``k``: per network of ``names``, one list per seed."""
    return {name: [[evaluate.accuracy(r.model, k * hfc, y) for k in ks] for r in runs[name]] for name in names}


def k_gain_table(k_acc: Mapping[str, Sequence[Sequence[float]]], ks: Sequence[float] = K_GAINS) -> pd.DataFrame:
    """:func:`k_gain_accuracies` averaged over the seeds: one row per network, one column per gain.

    Example:
        >>> k_gain_table({"vanilla": [[0.1, 0.3], [0.2, 0.4]]}, ks=(1, 2)).loc["vanilla"].tolist()
        [0.15000000000000002, 0.35]
    """
    return pd.DataFrame({name: dict(zip((f"k = {k}" for k in ks), np.mean(acc, axis=0)))
                         for name, acc in k_acc.items()}).T


def k_rise(k_acc: Mapping[str, Sequence[Sequence[float]]]) -> dict[str, float]:
    """How much the best gain raises the seeds' mean HFC accuracy above ``k = 1``, per network.

    Example:
        >>> k_rise({"vanilla": [[0.25, 0.75], [0.25, 0.25]]})
        {'vanilla': 0.25}
    """
    return {name: float(np.mean(acc, axis=0).max() - np.mean(acc, axis=0)[0]) for name, acc in k_acc.items()}


def rescaling_verdict(amp_mean: float, rise: Mapping[str, float]) -> str:
    """Whether BatchNorm's layers and the gains on HFC copies support the rescaling conjecture.

    Example:
        >>> rescaling_verdict(1.2, {"vanilla": 0.1, "batchnorm": 0.0})
        'both measurements support the rescaling conjecture'
    """
    if amp_mean > 1 and rise["vanilla"] > rise["batchnorm"]:
        return "both measurements support the rescaling conjecture"
    return "the measurements do not support the rescaling conjecture as stated: " + (
        "BatchNorm layers do not raise the HFC's share" if amp_mean <= 1 else
        "amplifying the HFC does not help the vanilla network more than the BatchNorm one")


# --------------------------------------------------------------------------- verdicts

def claims(differences: pd.DataFrame, mean_final_hfc: Mapping[str, float], gains: Mapping[str, Sequence[float]],
           amp_mean: float, rise: Mapping[str, float]) -> dict[str, tuple[str, str, str | None]]:
    """The chapter's verdicts on the sources' claims, from its tables.

    ``differences`` is :func:`differences_table` (its second row at matched accuracy),
    ``mean_final_hfc`` each heuristic's HFC r = 4 accuracy at the last epoch,
    ``gains`` :func:`batchnorm_gains`, ``amp_mean`` the BatchNorm layers' mean
    amplification and ``rise`` :func:`k_rise`.
    """
    numbers, *verdict = difference_verdicts(differences)[differences.index[1]]   # matched accuracy
    out = {"batchnorm_exploits_hfc": (f"HFC r = 4 at matched clean accuracy, {numbers}", *verdict)}
    lowest = min(mean_final_hfc, key=mean_final_hfc.get)
    adv = mean_final_hfc["adversarial"]
    out["adversarial_least_hfc"] = (
        f"HFC r = 4 at the last epoch: adversarial {adv:.3f}, vanilla {mean_final_hfc['vanilla']:.3f}; "
        f"lowest: {lowest}",
        *(("reproduced", None) if lowest == "adversarial" else ("partly", "scale")
          if adv <= mean_final_hfc["vanilla"] else ("not reproduced", "the claim")))
    means = _gain_means(gains, on_lfc=False)
    orig, lfc = means["original"], means["LFC r = 4"]
    spread = _largest_spread(gains)
    smallest = min(means, key=means.get) == "LFC r = 4"
    out["batchnorm_gain_smallest_on_lfc"] = (
        "BatchNorm's gain in test accuracy, trained on: "
        + ", ".join(f"{label} {m:+.3f}" for label, m in means.items())
        + f" (seeds' spread up to {spread:.3f})",
        *(("reproduced", None) if smallest and orig - lfc > spread else
          ("partly", "scale: within the seeds' spread") if smallest else
          ("partly", "the claim: smaller than on the originals, not the smallest of the radii")
          if lfc < orig else ("not reproduced", "the claim")))
    helps = rise["vanilla"] > rise["batchnorm"]
    out["batchnorm_rescales_hfc"] = (
        f"BatchNorm layers multiply the HFC's share by {amp_mean:.2f}; gain k raises HFC accuracy by "
        f"{rise['vanilla']:+.3f} (vanilla), {rise['batchnorm']:+.3f} (BatchNorm)",
        *(("reproduced", None) if amp_mean > 1 and helps else ("partly", "the claim")
          if amp_mean > 1 or helps else ("not reproduced", "the claim")))
    return out


# --------------------------------------------------------------------------- exercise 1

def _means(runs: dict, read) -> dict[str, float]:
    """Each heuristic's mean over its seeds of ``read(history)``, NaNs left out (never reached)."""
    means = {}
    for name, histories in runs.items():
        values = [v for v in (read(h) for h in histories) if not math.isnan(v)]
        if values:
            means[name] = sum(values) / len(values)
    return means


def check_least_hfc(answer, runs: dict, level: float, radius: float = 4.0) -> bool:
    """Exercise 1: the heuristic whose networks score lowest on HFC copies at matched clean accuracy.

    ``runs`` maps a heuristic to its histories (one per seed). The expected answer is the
    name whose mean over seeds of :func:`freqlens.heuristics.at_clean_accuracy` (HFC
    copies at ``radius``, read where clean test accuracy first reached ``level``) is the
    lowest, among the heuristics whose networks reach ``level``. Prints a verdict (with
    a hint when wrong) and returns whether it passed.

    Example:
        >>> h = lambda hfc: History(epoch=[1], test_acc=[0.5], test_hfc_acc={4.0: [hfc]})
        >>> check_least_hfc("mixup", {"mixup": [h(0.2)], "dropout": [h(0.3)]}, 0.5)
        ✓ correct: at clean accuracy 0.50, mixup scores 0.200 on HFC copies at r =
          4, the lowest.
        True
    """
    level = checks.number(level, "level", low=0, high=1)
    matched = _means(runs, lambda h: heuristics.at_clean_accuracy(h, level, "hfc", radius))
    if not matched:
        raise ValueError(f"runs must hold at least one heuristic whose networks reach level {level:g}")
    expected = min(matched, key=matched.get)
    if answer is None:
        return exercises.todo("replace None with the heuristic's name (e.g. \"dropout\"), then run the "
                              "cell.")
    if not isinstance(answer, str) or answer not in runs:
        return exercises.verdict(False, f"expected one of the heuristics' names {sorted(runs)}, got "
                                        f"{answer!r}.")
    if answer == expected:
        return exercises.verdict(True, f"at clean accuracy {level:.2f}, {answer} scores {matched[answer]:.3f} "
                                       f"on HFC copies at r = {radius:g}, the lowest.")
    if answer not in matched:
        return exercises.verdict(False, f"{answer}'s networks never reach clean accuracy {level:.2f}, so they "
                                        f"cannot be compared there.")
    last = _means(runs, lambda h: h.test_hfc_acc[float(radius)][-1])
    hints = []
    if answer == max(matched, key=matched.get):
        hints.append("Lowest, not highest: the question asks which heuristic uses the least HFC.")
    if last and answer == min(last, key=last.get):
        hints.append("Read every run where its clean accuracy reaches the level "
                     "(heuristics.at_clean_accuracy), not at its last epoch.")
    fact = f"{answer} scores {matched[answer]:.3f} at clean accuracy {level:.2f}; another scores lower."
    return exercises.verdict(False, f"{fact} {exercises.hint(hints)}" if hints else fact)


# --------------------------------------------------------------------------- exercise 2

def check_matched_lfc(answer, histories, level: float, radius: float = 8.0, tol: float = 1e-3) -> bool:
    """Exercise 2: the mean over seeds of LFC accuracy at ``radius``, read at matched clean accuracy ``level``.

    ``histories`` are one heuristic's histories, one per seed. The expected answer is
    the mean of :func:`freqlens.heuristics.at_clean_accuracy` ``(h, level, "lfc",
    radius)`` over them. Prints a verdict (with a hint when wrong) and returns whether it
    passed.

    Example:
        >>> h = History(epoch=[1, 2], test_acc=[0.3, 0.5], test_lfc_acc={8.0: [0.2, 0.4]})
        >>> check_matched_lfc(0.3, [h], 0.4)
        ✓ correct: 0.3000 on LFC copies at r = 8, read at clean accuracy 0.40.
        True
    """
    at_clean_accuracy = heuristics.at_clean_accuracy
    histories = list(histories)
    level = checks.number(level, "level", low=0, high=1)
    if not histories:
        raise ValueError("histories must hold at least one history, got none")

    def mean(values):
        return sum(values) / len(values)

    def slip(read):   # a reading the histories cannot give is no slip
        try:
            return read()
        except (KeyError, IndexError, ValueError):
            return None

    expected = mean([at_clean_accuracy(h, level, "lfc", radius) for h in histories])
    if math.isnan(expected):
        raise ValueError(f"every history must reach clean accuracy {level:g}")
    slips = [
        ("those are the HFC copies: take component=\"lfc\".",
         slip(lambda: mean([at_clean_accuracy(h, level, "hfc", radius) for h in histories]))),
        (f"at_clean_accuracy reads r = 4 unless told: pass radius={radius:g}.",
         slip(lambda: mean([at_clean_accuracy(h, level, "lfc", 4.0) for h in histories]))),
        ("read every run where its clean accuracy reaches the level, not at its last epoch.",
         slip(lambda: mean([h.test_lfc_acc[float(radius)][-1] for h in histories]))),
        ("average over every seed, not the first one only.",
         at_clean_accuracy(histories[0], level, "lfc", radius)),
        ("The answer is a fraction between 0 and 1, not a percentage.", 100 * expected),
    ]
    return exercises.judge_number(answer, expected, slips, tol,
                                  f"{{value:.4f}} on LFC copies at r = {radius:g}, read at clean accuracy "
                                  f"{level:.2f}.", what="accuracy")
