"""Chapter 5's numbers of a run, one line each, and its verdicts on the sources' claims."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from freqlens.chapters.ch5_attacks_defenses.training import DONG_NAMES
from freqlens.chapters.ch5_attacks_defenses.defended import smoothing_gains
from freqlens.chapters.ch5_attacks_defenses.consistency import term_effects

__all__ = ["claims", "summary"]


def summary(robustness: pd.DataFrame, share_high: Mapping[str, float], distortion: pd.DataFrame,
            kernels: pd.DataFrame, smoothing: pd.DataFrame, defense: pd.DataFrame,
            consistency: pd.DataFrame) -> dict[str, str]:
    """The chapter's numbers of this run, one line each: what was measured, and the numbers.

    The tables are :func:`robustness_table`, :func:`distortion_table`, :func:`kernel_table`,
    :func:`smoothing_table`, :func:`defense_table` and :func:`consistency_table`;
    ``share_high`` is :func:`high_share`.
    """
    pair = ("vanilla", "adversarial")
    listed = lambda pairs: ", ".join(f"{k} {v}" for k, v in pairs)
    med, low_pass = distortion["median L2"], defense.loc["low-pass r = 8"]
    rounded = defense.loc["rounding + low-pass"]
    return {
        "PGD 8/255 accuracy": listed((n, f"{robustness.loc[n, 'PGD 8/255']:.3f}") for n in pair),
        "perturbation energy at distance >= 8": listed((n, f"{v:.3f}") for n, v in share_high.items()
                                                       if n != "white noise"),
        "perturbation energy, white noise's share": f"{share_high['white noise']:.3f}",
        "median L2 to flip, LFC / HFC only": listed(
            (n, f"{med[n, 'LFC r < 8']:.3f} / {med[n, 'HFC r ≥ 8']:.3f}") for n in pair),
        "kernel adjacent differences / DC share": listed(
            (n, f"{kernels.loc[n, 'adjacent differences']:.3f} / {kernels.loc[n, 'DC share']:.3f}") for n in pair),
        "smoothing's best PGD 8/255 gain": listed(
            (m, f"{g['PGD 8/255']:+.3f}") for m, g in smoothing_gains(smoothing).items()),
        "low-pass defense": f"transfer {low_pass['transfer']:.3f}, adaptive {low_pass['adaptive']:.3f}",
        "rounding + low-pass": f"plain PGD {rounded['plain PGD']:.3f}, BPDA {rounded['adaptive']:.3f}",
        "FGSM / DeepFool": listed(
            (n, f"{row['FGSM 8/255']:.3f} / {row['DeepFool median L2']:.3f}") for n, row in robustness.iterrows()),
        "consistency real / adversarial": listed(
            (n, f"{row['real']:.4f} / {row['adversarial']:.4f}") for n, row in consistency.iterrows()),
    }


# --------------------------------------------------------------------------- verdicts

def _ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def _by_count(holds: Sequence[bool], why: str = "scale") -> tuple[str, str | None]:
    """Reproduced where every case holds, partly where some do, not where none does."""
    if all(holds):
        return "reproduced", None
    return ("partly" if any(holds) else "not reproduced"), why


def claims(robustness: pd.DataFrame, share_high: Mapping[str, float], distortion: pd.DataFrame,
           kernels: pd.DataFrame, smoothing: pd.DataFrame, defense: pd.DataFrame, rings: pd.DataFrame,
           consistency: pd.DataFrame) -> dict[str, tuple[str, str, str | None]]:
    """The chapter's verdicts on the sources' claims (:data:`freqlens.verdicts.CLAIMS`), from its tables.

    ``{claim: (what was measured, verdict, why)}`` for :func:`freqlens.verdicts.record_all`.
    """
    out = {}
    pgd = robustness["PGD 8/255"]
    v, a = share_high["vanilla"], share_high["adversarial"]
    noise = share_high["white noise"]
    out["perturbations_high_frequency"] = (
        f"PGD's energy at distance ≥ 8: vanilla {v:.3f}, adversarial {a:.3f}; white noise {noise:.3f}",
        *(("reproduced", None) if v > noise + 0.02 else
          ("not reproduced", "the claim: no more high-frequency energy than white noise")))
    med, flipped = distortion["median L2"], distortion["flipped"]
    lfc_band = next(b for b in med["vanilla"].index if b.startswith("LFC"))
    lfc_control = med["vanilla"].index[list(med["vanilla"].index).index(lfc_band) + 1]
    share = flipped["vanilla", lfc_band]
    out["low_frequency_attacks_succeed"] = (
        f"vanilla, {lfc_band} alone: flips {share:.2f} of the images within L2 4, median "
        f"{med['vanilla', lfc_band]:.3f} ({lfc_control}: {med['vanilla', lfc_control]:.3f})",
        *(("reproduced", None) if share > 0.5 else ("not reproduced", "scale")))
    gain_low = _ratio(med["adversarial", lfc_band], med["vanilla", lfc_band])
    gain_all = _ratio(med["adversarial", "all frequencies"], med["vanilla", "all frequencies"])
    out["sharma_low_frequency"] = (
        f"median L2 to flip, adversarial over vanilla: {gain_low:.2f}x in {lfc_band}, {gain_all:.2f}x "
        "over all frequencies",
        *(("reproduced", None) if gain_low < 1.2 else
          ("partly", "the claim: the defended network gains less in the low band")
          if gain_low < gain_all - 0.1 else
          ("not reproduced", "the claim: the defended network gains as much in the low band")))
    adj, high = kernels["adjacent differences"], kernels["high share"]
    smoother = [adj["adversarial"] < adj["vanilla"], high["adversarial"] < high["vanilla"]]
    near_noise = abs(adj["vanilla"] - adj["noise"]) < 0.1 * adj["noise"]
    out["robust_kernels_smoother"] = (
        f"adjacent differences: adversarial {adj['adversarial']:.2f}, vanilla {adj['vanilla']:.2f}, noise "
        f"{adj['noise']:.2f}; high share {high['adversarial']:.3f}, {high['vanilla']:.3f}, "
        f"{high['noise']:.3f}",
        *_by_count(smoother, "scale: the kernels are still near random" if near_noise else "the claim"))
    gains = smoothing_gains(smoothing)
    trained = gains.pop("adversarial training")
    # marginal: under a quarter of what adversarial training buys, at each eps
    marginal = [g[a] < 0.25 * max(trained[a], 1e-9) for g in gains.values() for a in trained]
    beyond = sorted({a for g in gains.values() for a in trained if g[a] >= 0.25 * max(trained[a], 1e-9)})
    out["smoothing_marginal"] = (
        "best PGD 2/255 / 8/255 gain over vanilla: "
        + "; ".join(f"{m} {g['PGD 2/255']:+.3f} / {g['PGD 8/255']:+.3f}" for m, g in gains.items())
        + f"; adversarial training {trained['PGD 2/255']:+.3f} / {trained['PGD 8/255']:+.3f}",
        *(("reproduced", None) if all(marginal) else
          ("partly", "the claim: against " + " and ".join(beyond) + ", smoothing buys a quarter or more "
                     "of what adversarial training does") if any(marginal) else
          ("not reproduced", "the claim")))
    low = defense.loc["low-pass r = 8"]
    rounded = defense.loc["rounding + low-pass"]
    out["low_pass_masks_gradients"] = (
        f"low-pass r = 8: transfer {low['transfer']:.3f}, PGD through it {low['adaptive']:.3f}; "
        f"rounding first: plain PGD {rounded['plain PGD']:.3f}, BPDA {rounded['adaptive']:.3f}",
        *(("partly", "the claim: it defends against the transfer attack only; the filter is "
                     "differentiable, so nothing is masked")
          if low["transfer"] > low["adaptive"] + 0.05 else
          ("not reproduced", "the claim: the filter defends against neither attack")))
    deepfool = robustness["DeepFool median L2"]
    worse = [pgd["BatchNorm"] <= pgd["vanilla"], deepfool["BatchNorm"] < deepfool["vanilla"]]
    out["batchnorm_adversarial_vulnerability"] = (
        f"PGD 8/255 accuracy: BatchNorm {pgd['BatchNorm']:.3f}, vanilla {pgd['vanilla']:.3f}; DeepFool "
        f"median L2 {deepfool['BatchNorm']:.3f}, {deepfool['vanilla']:.3f} (clean "
        f"{robustness.loc['BatchNorm', 'clean']:.3f}, {robustness.loc['vanilla', 'clean']:.3f})",
        *_by_count(worse))
    clean, fgsm = robustness["clean"], robustness["FGSM 8/255"]
    dong = [n for n in DONG_NAMES if n in robustness.index]
    holds = [clean[n] < clean["vanilla"] and fgsm[n] > fgsm["vanilla"] for n in dong]
    out["adversarial_training_fgsm"] = (
        "clean / FGSM 8/255: vanilla " + f"{clean['vanilla']:.3f} / {fgsm['vanilla']:.3f}; "
        + "; ".join(f"{n} {clean[n]:.3f} / {fgsm[n]:.3f}" for n in dong),
        *_by_count(holds))
    real = consistency["real"]
    fixed = "fixed set" in consistency
    column = "fixed set" if fixed else "adversarial"
    adv = consistency[column]
    where = "one ensemble's least-likely set" if fixed else "each network's own PGD images"
    lower = [adv[n] < real[n] for n in consistency.index]
    out["consistency_lower_on_adversarial"] = (
        f"real / adversarial ({where}): "
        + "; ".join(f"{n} {real[n]:.4f} / {adv[n]:.4f}" for n in consistency.index),
        *_by_count(lower))
    raised = [adv[n] > adv["vanilla"] for n in ("adversarial", "FGSM adversarial")]
    out["adversarial_training_raises_consistency"] = (
        f"on adversarial images ({where}): vanilla {adv['vanilla']:.4f}, adversarial {adv['adversarial']:.4f}, "
        f"FGSM adversarial {adv['FGSM adversarial']:.4f}",
        *_by_count(raised))
    term = term_effects(consistency)[column]
    out["consistency_term_raises_consistency"] = (
        f"on adversarial images ({where}), β = 0.1 against β = 0: {term:+.4f}",
        *(("reproduced", None) if term > 0 else ("not reproduced", "scale")))
    above, below = rings["above - clean"], rings["below - clean"]
    # robust above the radius, fragile below it, against vanilla
    shape = [above["adversarial"] < above["vanilla"], below["adversarial"] > below["vanilla"]]
    out["heat_map_robust_high"] = (
        f"error above clean, at distance ≥ 8: adversarial {above['adversarial']:+.3f}, vanilla "
        f"{above['vanilla']:+.3f}; below 8: {below['adversarial']:+.3f}, {below['vanilla']:+.3f}",
        *_by_count(shape))
    return out
