"""Chapter 6's attacks split by frequency: Integrated Gradients over the Fourier coefficients from
each clean image to its adversarial twin.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd
import torch
from captum.attr import IntegratedGradients

from freqlens import attacks, evaluate, fourier, memo
from freqlens.attribution import FrequencyAttribution, LogitDifferences, radial_profile
from freqlens.execution import forward
from freqlens.chapters.ch6_explaining_and_steering.settings import ATTACKED, RADIUS, RINGS

__all__ = ["attack_bands", "attack_split", "attack_table", "attacked", "beside_the_sources",
           "effect_profiles", "ring_shares", "split_verdicts"]


# --------------------------------------------------------------------------- attacks split by frequency

def attack_bands(radius: float = RADIUS) -> dict[str, tuple[str, torch.nn.Module | None]]:
    """The attacks by name, as ``(norm, band)``: PGD in all frequencies under L2 and under L-inf, and
    under L2 in the LFC disk, in the HFC and in the DCT's low block."""
    return {"all frequencies, L2": ("l2", None), "all frequencies, L∞": ("linf", None),
            f"LFC r < {radius:g}": ("l2", attacks.frequency_band("low", radius)),
            f"HFC r ≥ {radius:g}": ("l2", attacks.frequency_band("high", radius)),
            f"DCT low {int(radius)} × {int(radius)}": ("l2", attacks.frequency_band("dct_low", int(radius)))}


def attacked(model, x: torch.Tensor, y: torch.Tensor, band, norm: str = "l2", steps: int = 10) -> torch.Tensor:
    """PGD without a random start in ``band`` (``None``: all frequencies), clamped into [0, 1].

    Under L2 within 0.5 in steps of 0.1; under L-inf chapter 5's attack, within 8/255 in
    steps of 2/255. A band-limited perturbation cannot be clamped while it is made (see
    :mod:`freqlens.attacks`); the images are clamped once at the end, which moves a
    little of its energy out of its band (:func:`attack_table` shows how much).
    """
    eps, alpha = (0.5, 0.1) if norm == "l2" else (8 / 255, 2 / 255)
    return attacks.pgd(model, x, y, eps, alpha, steps, norm=norm, random_start=False, band=band,
                       clip=None).clamp(0, 1)


def _runner_up(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The highest-scoring class other than ``y``, per image."""
    return logits.scatter(1, y[:, None], float("-inf")).argmax(1)


def _margin(logits: torch.Tensor, y: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
    return (logits.gather(1, other[:, None]) - logits.gather(1, y[:, None]))[:, 0]


def attack_split(model, x: torch.Tensor, y: torch.Tensor, adv: torch.Tensor, n_steps: int = 32) -> dict:
    """Integrated Gradients over frequencies of the change of the margin from ``x`` to ``adv``.

    The margin is ``f_a - f_y``: the logit of the adversarial class ``a`` (the runner-up
    on ``adv``, the class the attack pushes towards) less that of the true class. The
    baseline is the clean image, so by completeness the attributions share out the
    margin's change ``m(adv) - m(x)`` among the frequencies; IG being linear in the
    output, the margin's attributions are those of ``f_a`` less those of ``f_y``.

    Returns ``{"attributions" (B, C, H, W), "change" (B,), "gap" (B,) the completeness
    gap, "other" (B,) the class a, "fooled" (B,) bool}`` on the CPU.
    """
    logits = forward(model, adv)
    other = _runner_up(logits, y)
    margins = LogitDifferences(model)   # f_a - f_y, attributed in one pass
    ig = FrequencyAttribution(IntegratedGradients, margins)
    attr = ig.attribute(adv, target=margins.target(other, y, logits.shape[1]), baselines=x, n_steps=n_steps)
    change = _margin(logits, y, other) - _margin(forward(model, x), y, other)
    return {"attributions": attr.cpu(), "change": change.cpu(), "gap": (attr.flatten(1).sum(1) - change).cpu(),
            "other": other.cpu(), "fooled": (logits.argmax(1) != y).cpu()}


def ring_shares(per_ring: torch.Tensor, rings=RINGS) -> list[float]:
    """A radial profile (index = rounded distance) summed over each ring ``[lo, hi)`` of ``rings``."""
    k = torch.arange(per_ring.numel(), dtype=torch.float64)
    return [float(per_ring[(k >= lo) & (k < hi)].sum()) for lo, hi in rings]


def effect_profiles(split: Mapping) -> torch.Tensor:
    """The share of the margin's total change attributed to each ring (all images pooled). ``-> (R,)``."""
    return radial_profile(split["attributions"].double()).sum(0) / split["change"].double().sum()


def _attack_row(model, x, y, band, norm) -> dict:
    adv = attacked(model, x, y, band, norm)
    split = attack_split(model, x, y, adv)
    delta = adv - x
    return {"split": split, "energy": fourier.radial_energy_share(delta),
            "effect": effect_profiles(split), "size": delta.flatten(1).norm(dim=1).mean().item()}


def attack_table(models: Mapping, x: torch.Tensor, y: torch.Tensor,
                 names: Sequence[str] = ATTACKED) -> tuple[pd.DataFrame, dict]:
    """Per network and attack: how often it fools, the margin's change and where energy and effect lie.

    Returns the table and ``{(network, attack): {"energy", "effect", "split"}}``: the
    profiles per ring (each sums to 1) and :func:`attack_split`'s result. Columns: the
    share of images the network gets wrong before and after the attack, the mean change
    of the margin, the completeness gap as a share of it, and per ring of :data:`RINGS` the
    share of the perturbation's energy and of the margin's change.
    """
    rows, profiles_ = {}, {}
    ring_names = [f"{lo:g}–{hi:g}" if hi < 23 else f"≥ {lo:g}" for lo, hi in RINGS]
    for name in names:
        for attack, (norm, band) in attack_bands().items():
            r = memo.cached("attack split", _attack_row, models[name], x, y, band, norm)
            s = r["split"]
            row = {"wrong before": 1 - evaluate.accuracy(models[name], x, y),
                   "wrong after": float(s["fooled"].float().mean()), "margin change": float(s["change"].mean()),
                   "|gap| / change": float(s["gap"].abs().sum() / s["change"].abs().sum())}
            row.update({f"energy {n}": v for n, v in zip(ring_names, ring_shares(r["energy"]))})
            row.update({f"effect {n}": v for n, v in zip(ring_names, ring_shares(r["effect"]))})
            rows[name, attack] = row
            profiles_[name, attack] = {"energy": r["energy"], "effect": r["effect"], "split": s}
    return pd.DataFrame(rows).T, profiles_


def split_verdicts(table: pd.DataFrame, tolerance: float = 0.1) -> dict[str, str]:
    """Per network and attack in all frequencies: does the margin move where the energy is?

    Compared in the high ring (distance 8 or more): the share of the change there
    against the share of the energy there, within ``tolerance``.
    """
    out = {}
    for (name, attack), row in table.iterrows():
        if not attack.startswith("all frequencies"):
            continue
        name = f"{name}, {attack.split(', ')[1]}"
        energy, effect = row[f"energy ≥ {RADIUS}"], row[f"effect ≥ {RADIUS}"]
        word = ("where the energy is" if abs(effect - energy) <= tolerance else
                "less in the high frequencies than the energy" if effect < energy else
                "more in the high frequencies than the energy")
        out[name] = (f"{effect:.3f} of the margin's change at distance ≥ {RADIUS} from {energy:.3f} of the "
                     f"energy: the margin moves {word}")
    return out


def beside_the_sources(table: pd.DataFrame, robust: str = "adversarial", plain: str = "vanilla") -> dict[str, str]:
    """What :func:`attack_table` says of Guo et al.'s and Sharma et al.'s claims, one line each.

    Guo et al.: an attack confined to the DCT's low block succeeds. Sharma et al.: a
    defended network is about as vulnerable to low-frequency perturbations as an
    undefended one; here, what the adversarially trained network's training buys
    against the attack in the LFC disk, beside what it buys in all frequencies (the
    share of images the attack turns wrong, for each network, at the same budget).
    """
    flipped = table["wrong after"] - table["wrong before"]
    dct = next(a for a in table.index.get_level_values(1) if a.startswith("DCT"))
    low = next(a for a in table.index.get_level_values(1) if a.startswith("LFC"))
    every = "all frequencies, L2"
    bought = {a: flipped[plain, a] - flipped[robust, a] for a in (every, low)}
    return {
        "Guo et al. (DCT low block)": "turned wrong by the L2 attack in the DCT's low block: " + ", ".join(
            f"{n} {flipped[n, dct]:.3f}" for n in table.index.get_level_values(0).unique()),
        "Sharma et al. (low frequencies)": (
            f"adversarial training spares {bought[low]:+.3f} of the images under the attack in the LFC "
            f"disk ({flipped[plain, low]:.3f} turned wrong on {plain}, {flipped[robust, low]:.3f} on "
            f"{robust}) and {bought[every]:+.3f} in all frequencies: " + (
                "about as vulnerable in the low frequencies as undefended, as they claim"
                if bought[low] < 0.5 * bought[every] else
                "it protects in the low frequencies too, unlike their claim"))}
