"""Chapter 5's attacks: accuracy under FGSM, PGD and DeepFool, the perturbations' spectra, the
distortion each band needs, and the Fourier heat maps.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd
import torch

from freqlens import attacks, evaluate, fourier, heatmaps, memo
from freqlens.chapters.ch5_attacks_defenses.training import NAMES

__all__ = ["accuracy_against_eps", "adversarial_images", "attack_table_row", "band_verdicts", "bands",
           "distortion_row", "distortion_table", "energy_verdicts", "eps_curves", "heat_maps", "high_share",
           "perturbation_spectra", "pgd_accuracy", "pgd_images", "ring_errors", "robustness_table"]


def pgd_images(model, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """PGD under L-inf at 8/255, 10 steps of 2/255, no random start: the chapter's attack."""
    return attacks.PGD(model, eps=8 / 255, alpha=2 / 255, steps=10, random_start=False)(x, y)


def adversarial_images(models: Mapping, x: torch.Tensor, y: torch.Tensor,
                       names: Sequence[str] = tuple(NAMES)) -> dict[str, torch.Tensor]:
    """:func:`pgd_images` of each network of ``names`` (kept in the cache)."""
    return {name: memo.cached("pgd", pgd_images, models[name], x, y) for name in names}


def attack_table_row(model, x: torch.Tensor, y: torch.Tensor, adv: torch.Tensor) -> dict[str, float]:
    """Clean accuracy, accuracy under FGSM and PGD (``adv``) at 8/255, and DeepFool's median L2 on 100 images.

    DeepFool's size is the median over the first 100 images that the network gets
    right and DeepFool flips.
    """
    fooled = attacks.DeepFool(model, steps=50, overshoot=0.02)(x[:100], y[:100])
    flipped = ((evaluate.predictions(model, x[:100]) == y[:100])
               & (evaluate.predictions(model, fooled) != y[:100]))
    return {"clean": evaluate.accuracy(model, x, y),
            "FGSM 8/255": evaluate.accuracy(model, attacks.FGSM(model, eps=8 / 255)(x, y), y),
            "PGD 8/255": evaluate.accuracy(model, adv, y),
            "DeepFool median L2": float((fooled - x[:100]).flatten(1).norm(dim=1)[flipped].median())}


def accuracy_against_eps(model, x: torch.Tensor, y: torch.Tensor,
                         eps: Sequence[float] = (0, 1, 2, 4, 8, 16)) -> dict[str, list[float]]:
    """Accuracy under FGSM and PGD at each L-inf ``eps`` (in 1/255), PGD with 10 steps of eps / 4."""
    out = {"FGSM": [], "PGD": []}
    for e in eps:
        e = e / 255
        if e == 0:
            clean = evaluate.accuracy(model, x, y)
            out["FGSM"].append(clean)
            out["PGD"].append(clean)
            continue
        out["FGSM"].append(evaluate.accuracy(model, attacks.FGSM(model, eps=e)(x, y), y))
        out["PGD"].append(pgd_accuracy(model, x, y, e))
    return out


def pgd_accuracy(model, x: torch.Tensor, y: torch.Tensor, eps: float) -> float:
    """Accuracy under the chapter's PGD at L-inf ``eps`` (on the [0, 1] scale): 10 steps of eps / 4, no random start."""
    adv = attacks.PGD(model, eps=eps, alpha=eps / 4, steps=10, random_start=False)(x, y)
    return evaluate.accuracy(model, adv, y)


def eps_curves(models: Mapping, x: torch.Tensor, y: torch.Tensor, names: Sequence[str],
               eps: Sequence[float] = (0, 1, 2, 4, 8, 16)) -> dict[str, dict[str, tuple]]:
    """:func:`accuracy_against_eps` per network (kept in the cache), as ``{attack: {network: (eps, accuracies)}}``."""
    per = {name: memo.cached("accuracy against eps", accuracy_against_eps, models[name], x, y, tuple(eps))
           for name in names}
    return {attack: {name: (list(eps), per[name][attack]) for name in names} for attack in ("FGSM", "PGD")}


def robustness_table(models: Mapping, x: torch.Tensor, y: torch.Tensor, adv: Mapping) -> pd.DataFrame:
    """:func:`attack_table_row` for each network of ``adv`` (kept in the cache)."""
    return pd.DataFrame({name: memo.cached("attacks", attack_table_row, models[name], x, y, adv[name])
                         for name in adv}).T


def perturbation_spectra(delta: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Each network's perturbations' share of energy per ring of the spectrum."""
    return {name: fourier.radial_energy_share(d) for name, d in delta.items()}


def high_share(delta: Mapping[str, torch.Tensor], radius: float = 8) -> dict[str, float]:
    """Each network's perturbations' mean share of energy at distance ``radius`` or more, and white noise's.

    White noise (uniform, of the same shape, seeded 0) spreads its energy evenly over the
    frequencies, so its share is that of the frequencies (0.81 at r = 8 on 32 x 32): a
    perturbation puts its energy in the high frequencies only as far as it exceeds that.
    """
    shares = {name: float(1 - fourier.energy_below(d, radius).mean()) for name, d in delta.items()}
    like = next(iter(delta.values()))
    noise = torch.rand(like.shape, generator=torch.Generator().manual_seed(0)) - 0.5
    shares["white noise"] = float(1 - fourier.energy_below(noise, radius).mean())
    return shares


def energy_verdicts(share_high: Mapping[str, float]) -> dict[str, str]:
    """Per network, whether its perturbations lean to the high frequencies more than white noise does."""
    noise = share_high["white noise"]
    return {name: f"{share:.3f} vs white noise {noise:.3f}: "
                  + ("more in the high frequencies than noise" if share > noise else
                     "no more in the high frequencies than noise")
            for name, share in share_high.items() if name != "white noise"}


def bands(radius: float = 8) -> dict[str, tuple[torch.nn.Module | None, int]]:
    """The bands a perturbation is held to, with their dimensions, each followed by a random subspace of its size.

    ``{name: (projection, dimension per channel)}``: all frequencies (no projection), the
    LFC disk, its complement and the DCT's low block; after each band its control,
    ``"random d"``, a random subspace of the same dimension ``d``
    (:func:`freqlens.attacks.band_dimension`), which tells whether the band is special
    or merely as large as it is.

    Example:
        >>> {name: dim for name, (_, dim) in bands().items()}["random 831"]
        831
    """
    named = {f"LFC r < {radius:g}": ("low", radius), f"HFC r ≥ {radius:g}": ("high", radius),
             f"DCT low {radius:g} × {radius:g}": ("dct_low", int(radius))}
    out: dict[str, tuple[torch.nn.Module | None, int]] = {"all frequencies": (None, 32 * 32)}
    for seed, (name, (kind, size)) in enumerate(named.items()):
        dim = attacks.band_dimension(kind, size)
        out[name] = (attacks.frequency_band(kind, size), dim)
        out[f"random {dim}"] = (attacks.frequency_band("random", dim, seed=seed), dim)
    return out


def distortion_table(models: Mapping, x: torch.Tensor, y: torch.Tensor,
                     names: Sequence[str] = ("vanilla", "adversarial")) -> pd.DataFrame:
    """Per network and band: the median L2 budget at which band-limited PGD flips an image, and the share flipped.

    :func:`freqlens.attacks.minimal_distortion` (up to L2 = 4, 6 bisection steps of 10
    PGD steps), kept in the cache, every row unboxed (a band cannot be clamped into
    [0, 1] and stay a band, so the row of all frequencies is not clamped either); the
    median is over the images flipped, the share over those the network gets right.
    ``"dimension"`` is the band's per channel.
    """
    distortion = {}
    for name in names:
        for band_name, (band, dimension) in bands().items():
            row, _ = distortion_row(models[name], x, y, band)
            distortion[name, band_name] = {"dimension": dimension, **row}
    return pd.DataFrame(distortion).T


def distortion_row(model, x: torch.Tensor, y: torch.Tensor, band) -> tuple[dict[str, float], torch.Tensor]:
    """One row of :func:`distortion_table` and the perturbations of the images flipped, ``(n, C, H, W)``.

    The search (kept in the cache) and the row's reading: the median budget over the images
    flipped and the share flipped of those the network gets right.
    """
    budgets, adv = memo.cached("distortion", attacks.minimal_distortion, model, x, y, norm="l2", band=band,
                               high=4.0, iterations=6, steps=10, clip=None)
    right = budgets > 0
    flipped = right & torch.isfinite(budgets)
    median = float(budgets[flipped].median()) if flipped.any() else float("nan")
    return ({"median L2": median, "flipped": float(flipped.sum() / right.sum().clamp_min(1))},
            (adv - x)[flipped])


def band_verdicts(distortion: pd.DataFrame) -> dict[str, str]:
    """Per network and band: its median budget against its random control's, and what that says."""
    med = distortion["median L2"]
    out = {}
    for name in med.index.get_level_values(0).unique():
        rows = list(med[name].index)
        for band_name, control in zip(rows[1::2], rows[2::2]):
            ratio = med[name, band_name] / med[name, control]
            word = ("less than" if ratio < 0.9 else "more than" if ratio > 1.1 else "about as much as")
            out[f"{name}, {band_name}"] = (f"{med[name, band_name]:.3f} vs {med[name, control]:.3f} "
                                           f"({control}): {word} a random subspace of its size")
    return out


# --------------------------------------------------------------------------- heat maps

def heat_maps(models: Mapping, x: torch.Tensor, y: torch.Tensor,
              names: Sequence[str] = ("vanilla", "adversarial", "LFC r = 4")) -> dict[str, torch.Tensor]:
    """The Fourier heat map (L2 norm 4) of each network of ``names`` (kept in the cache)."""
    return {name: memo.cached("heat map", heatmaps.fourier_heat_map, models[name], x, y, eps=4.0)
            for name in names}


def ring_errors(maps: Mapping[str, torch.Tensor], models: Mapping, x: torch.Tensor, y: torch.Tensor,
                radius: float = 8) -> pd.DataFrame:
    """Per heat map: the mean error below and above ``radius``, and each minus the network's clean error on ``x``."""
    n = next(iter(maps.values())).shape[-1] // 2
    offsets = torch.arange(-n, n + 1.)
    distance = torch.sqrt(offsets[:, None] ** 2 + offsets[None, :] ** 2)
    rows = {}
    for name, m in maps.items():
        lo, hi = float(m[distance < radius].mean()), float(m[distance >= radius].mean())
        clean = 1 - evaluate.accuracy(models[name], x, y)
        rows[name] = {"below": lo, "above": hi, "below - clean": lo - clean, "above - clean": hi - clean}
    return pd.DataFrame(rows).T
