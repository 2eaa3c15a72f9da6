"""Chapter 6's smooth perturbations, and the band-stop defense chosen from where the attacks act."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd
import torch

from freqlens import attacks, defenses, evaluate, fourier, memo
from freqlens.chapters import ch5_attacks_defenses as ch5
from freqlens.chapters.ch6_explaining_and_steering.settings import ATTACKED, RADIUS
from freqlens.chapters.ch6_explaining_and_steering.split import ring_shares

__all__ = ["band_candidates", "choose_band", "defense_table", "smooth_distortion_table"]


# --------------------------------------------------------------------------- smooth perturbations

def smooth_distortion_table(models: Mapping, x: torch.Tensor, y: torch.Tensor, sigmas: Sequence[float] = (2, 4, 8),
                            names: Sequence[str] = ("vanilla", "adversarial")) -> pd.DataFrame:
    """Median L2 budget to flip and share flipped under PGD with smoothed steps, beside chapter 5's bands.

    The search is chapter 5's (:func:`freqlens.chapters.ch5_attacks_defenses.distortion_table`:
    bisection up to L2 = 4, 6 rounds of 10 PGD steps, unboxed), so its rows of bands
    come from the same cache; each smoothing filter (``frequency_band("smooth", sigma)``)
    adds a row, with the share of its perturbations' energy at distance ``RADIUS`` or more.
    """
    table = ch5.distortion_table(models, x, y, names)
    table = table[~table.index.get_level_values(1).str.startswith("random")].copy()
    rows = {}
    for name in names:
        for sigma in sigmas:
            row, delta = ch5.distortion_row(models[name], x, y, attacks.frequency_band("smooth", sigma))
            energy = 1 - fourier.energy_below(delta, RADIUS).mean() if len(delta) else float("nan")
            row["energy ≥ 8"] = float(energy)
            rows[name, f"smoothed steps, σ = {sigma:g}"] = {"dimension": 32 * 32, **row}
    out = pd.concat([table, pd.DataFrame(rows).T]).sort_index(level=0, sort_remaining=False)
    return out[["median L2", "flipped", "energy ≥ 8"]]


# --------------------------------------------------------------------------- a defense from the attributions

def band_candidates(width: float = 4, starts: Sequence[float] = (2, 4, 6, 8, 10, 12, 14, 16)) -> list[tuple]:
    """The rings ``[a, a + width)`` a band-stop may remove."""
    return [(float(a), float(a + width)) for a in starts]


def choose_band(model, effect: torch.Tensor, x: torch.Tensor, y: torch.Tensor, max_drop: float = 0.05,
                candidates: Sequence[tuple] | None = None) -> tuple[pd.DataFrame, tuple]:
    """The ring holding the most of the attack's effect among those the network can lose.

    For each candidate ring (:func:`band_candidates`): its share of the margin's change
    (``effect``, a profile from :func:`effect_profiles`) and the network's clean accuracy
    on ``x`` with the ring removed; the chosen ring has the largest share among those
    that cost at most ``max_drop`` of clean accuracy. Returns the table and the ring.
    """
    candidates = band_candidates() if candidates is None else candidates
    clean = evaluate.accuracy(model, x, y)
    rows = {}
    for lo, hi in candidates:
        rows[f"{lo:g}–{hi:g}"] = {"effect share": ring_shares(effect, [(lo, hi)])[0],
                                  "clean accuracy": evaluate.accuracy(
                                      defenses.band_stop_defense(model, lo, hi), x, y)}
    table = pd.DataFrame(rows).T
    table["ring"] = list(candidates)
    allowed = table[table["clean accuracy"] >= clean - max_drop]
    if allowed.empty:
        raise ValueError(f"max_drop={max_drop} allows no ring: every candidate costs more clean accuracy")
    best = allowed["effect share"].idxmax()
    return table.drop(columns="ring"), tuple(table.loc[best, "ring"])


def _defense_rows(models: Mapping, band: tuple, x: torch.Tensor, y: torch.Tensor, transfer: torch.Tensor) -> dict:
    vanilla, robust = models["vanilla"], models["adversarial"]
    stop = defenses.band_stop_defense(vanilla, *band)
    row = lambda m, adaptive: {"clean": evaluate.accuracy(m, x, y), "transfer": evaluate.accuracy(m, transfer, y),
                               "adaptive": evaluate.accuracy(m, adaptive, y)}
    return {f"band-stop {band[0]:g}–{band[1]:g}": row(stop, ch5.pgd_images(stop, x, y)),
            "adversarial training": row(robust, ch5.pgd_images(robust, x, y))}


def defense_table(models: Mapping, band: tuple, x: torch.Tensor, y: torch.Tensor,
                  transfer: torch.Tensor) -> pd.DataFrame:
    """Clean, transfer and adaptive accuracy: the band-stop, chapter 5's low-pass and adversarial training.

    ``transfer`` is chapter 5's PGD on the undefended vanilla network; the adaptive
    attack is the same PGD through the defense (it is differentiable) or, for the
    adversarially trained network, on it.
    """
    low = ch5.defense_table(models["vanilla"], x, y, transfer)
    low = low.loc[["undefended", "low-pass r = 8"], ["clean", "transfer", "adaptive"]]
    ours = pd.DataFrame(memo.cached("band-stop defense", _defense_rows, {n: models[n] for n in ATTACKED[::2]},
                                    band, x, y, transfer)).T
    return pd.concat([low, ours])
