"""Chapter 6's numbers of a run, and its verdicts on the programme's claims."""

from __future__ import annotations

import pandas as pd

from freqlens.chapters.ch6_explaining_and_steering.settings import BANDS_OF_SETS, ILYAS, RADIUS, STEERED

__all__ = ["claims", "defense_claim", "nonrobust_claims", "smooth_claim", "steering_claim",
           "steering_verdicts", "summary"]


# --------------------------------------------------------------------------- what we saw, the verdicts

def summary(attack: pd.DataFrame, rebuilt_acc: pd.Series, smooth: pd.DataFrame, sets: pd.DataFrame,
            defense: pd.DataFrame, steered: pd.DataFrame) -> dict[str, str]:
    """The chapter's numbers of this run, one line each."""
    band = next(i for i in defense.index if i.startswith("band-stop"))
    k = max(int(n.split()[1]) for n in rebuilt_acc.index if n.startswith("top "))
    full = {norm: attack.xs(f"all frequencies, {norm}", level=1) for norm in ("L2", "L∞")}
    return {
        **{f"all-frequency PGD {norm}, effect / energy at ≥ {RADIUS}": ", ".join(
            f"{n} {r[f'effect ≥ {RADIUS}']:.3f} / {r[f'energy ≥ {RADIUS}']:.3f}" for n, r in t.iterrows())
           for norm, t in full.items()},
        f"vanilla on top / bottom {k}, LFC r < {RADIUS}": (
            f"{rebuilt_acc[f'top {k}']:.3f} / {rebuilt_acc[f'bottom {k}']:.3f}, "
            f"{rebuilt_acc[f'LFC r < {RADIUS}']:.3f}"),
        "non-robust sets, test accuracy": ", ".join(f"{n} {v:.3f}" for n, v in sets["test accuracy"].items()),
        f"{band}: clean / transfer / adaptive": "{:.3f} / {:.3f} / {:.3f}".format(*defense.loc[band]),
        "steered, clean / LFC r < 4 / PGD 8/255": ", ".join(
            f"{n} {r['clean']:.3f} / {r['LFC r < 4']:.3f} / {r['PGD 8/255']:.3f}" for n, r in steered.iterrows()),
        "smoothed steps, median L2 (vanilla)": ", ".join(
            f"{b} {v:.3f}" for b, v in smooth.loc["vanilla", "median L2"].items()),
    }


def _chance_margin(n: int, p: float = 0.1) -> float:
    """Three binomial standard errors of an accuracy of ``p`` on ``n`` images."""
    return 3 * (p * (1 - p) / n) ** 0.5


def nonrobust_claims(sets: pd.DataFrame, n_test: int) -> dict[str, tuple[str, str, str | None]]:
    """The verdicts on Ilyas et al.'s claim and on the proposal's reading of it, from :func:`nonrobust_table`.

    Beating chance means more than 0.1 by three binomial standard errors on ``n_test`` images.
    """
    chance = 0.1 + _chance_margin(n_test)
    acc = sets["test accuracy"].rename(index=lambda n: n.split(", ", 1)[-1])
    whole, low, high = (acc[n] for n in list(BANDS_OF_SETS)[:3])
    none = acc["no perturbation"]
    return {
        "nonrobust_features_generalise": (
            f"trained on the vanilla network's deterministic set: {whole:.3f} on the real test images "
            f"(chance 0.1; without the perturbations {none:.3f}); theirs {ILYAS['D_det']:.2f}",
            *(("reproduced", None) if whole > chance else ("not reproduced", "scale"))),
        "nonrobust_features_band": (
            f"the set's perturbations cut to their LFC r < {RADIUS}: {low:.3f} on the real test images; "
            f"to their HFC: {high:.3f} (the whole perturbation {whole:.3f})",
            *(("reproduced", None) if high > chance and high > low else
              ("partly", "the claim: the LFC carries them as well") if high > chance else
              ("not reproduced", "the claim" if low > chance else "scale")))}


def smooth_claim(smooth: pd.DataFrame) -> tuple[str, str, str | None]:
    """The verdict on Zhang et al.'s claim, for the vanilla network, from :func:`smooth_distortion_table`."""
    med, flipped = smooth["median L2"]["vanilla"], smooth["flipped"]["vanilla"]
    rows = [b for b in med.index if b.startswith("smoothed")]
    lower = [b for b in rows if med[b] <= med["all frequencies"]]
    as_often = [b for b in rows if flipped[b] >= flipped["all frequencies"] - 0.02]
    why = "the claim: a fixed filter, where theirs adapts to the image"
    return (f"vanilla, median L2 to flip: all frequencies {med['all frequencies']:.3f} "
            f"({flipped['all frequencies']:.2f} flipped), "
            + ", ".join(f"{b.split(', ')[1]} {med[b]:.3f} ({flipped[b]:.2f})" for b in rows),
            *(("reproduced", None) if set(lower) & set(as_often) else
              ("partly", why) if as_often else ("not reproduced", why)))


def defense_claim(defense: pd.DataFrame, margin: float = 0.05) -> tuple[str, str, str | None]:
    """The verdict on the proposal's defense, from :func:`defense_table`: does it hold against the adaptive attack?"""
    band = next(i for i in defense.index if i.startswith("band-stop"))
    stop, undefended = defense.loc[band], defense.loc["undefended"]
    robust = defense.loc["adversarial training", "adaptive"]
    return (f"{band} before the vanilla network: clean {stop['clean']:.3f}, transfer {stop['transfer']:.3f}, "
            f"adaptive {stop['adaptive']:.3f} (undefended {undefended['clean']:.3f} clean, "
            f"{undefended['adaptive']:.3f} under PGD; adversarial training {robust:.3f})",
            *(("reproduced", None) if stop["adaptive"] > undefended["adaptive"] + margin else
              ("partly", "the claim: it holds against the transfer attack only")
              if stop["transfer"] > undefended["transfer"] + margin else ("not reproduced", "the claim")))


def steering_verdicts(steered: pd.DataFrame, margin: float = 0.05) -> dict[str, str]:
    """Per steered network: does it keep more of its accuracy on LFC r < 4 copies, and does it resist PGD?"""
    ratio, pgd = steered["LFC r < 4 / clean"], steered["PGD 2/255"]
    out = {}
    for name in STEERED:
        lean = "leans on the LFC more" if ratio[name] > ratio["vanilla"] + margin else "does not lean on the LFC more"
        robust = ("resists PGD at 2/255 better" if pgd[name] > pgd["vanilla"] + margin else
                  "resists PGD at 2/255 no better")
        out[name] = (f"{lean} than vanilla (LFC r < 4 / clean {ratio[name]:.2f} vs {ratio['vanilla']:.2f}) "
                     f"and {robust} ({pgd[name]:.3f} vs {pgd['vanilla']:.3f}; adversarial training "
                     f"{pgd['adversarial']:.3f})")
    return out


def steering_claim(steered: pd.DataFrame, margin: float = 0.05) -> tuple[str, str, str | None]:
    """The verdict on the proposal's second question, from :func:`steered_table`."""
    ratio = steered["LFC r < 4 / clean"]
    steer = [n for n in STEERED if ratio[n] > ratio["vanilla"] + margin]
    return ("LFC r < 4 / clean accuracy: " + ", ".join(f"{n} {ratio[n]:.2f}" for n in ratio.index)
            + "; PGD 2/255: " + ", ".join(f"{n} {steered.loc[n, 'PGD 2/255']:.3f}" for n in steered.index),
            *(("reproduced", None) if len(steer) == len(STEERED) else
              ("partly", "scale") if steer else ("not reproduced", "scale")))


def claims(sets: pd.DataFrame, n_test: int, smooth: pd.DataFrame, defense: pd.DataFrame,
           steered: pd.DataFrame) -> dict[str, tuple[str, str, str | None]]:
    """The chapter's verdicts on the sources' claims (:data:`freqlens.verdicts.CLAIMS`), from its tables.

    ``{claim: (what was measured, verdict, why)}`` for :func:`freqlens.verdicts.record_all`.
    """
    by_band = nonrobust_claims(sets, n_test)
    return {"nonrobust_features_generalise": by_band["nonrobust_features_generalise"],
            "nonrobust_features_band": by_band["nonrobust_features_band"],
            "smooth_perturbations": smooth_claim(smooth), "attribution_defense": defense_claim(defense),
            "steering_low_frequency": steering_claim(steered)}
