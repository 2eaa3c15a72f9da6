"""Chapter 4's exercises: the self-checks its notebook calls."""

from __future__ import annotations

import math

import torch
from captum.attr import IntegratedGradients

from freqlens import checks, exercises, fourier
from freqlens.attribution import FrequencyAttribution
from freqlens.chapters.ch4_frequency_attribution.frequency import flat_baseline, share_below

__all__ = ["check_black_baseline", "check_share_below"]


# --------------------------------------------------------------------------- exercise 1

def check_share_below(answer, attributions: torch.Tensor, radius: float = 8, tol: float = 1e-3) -> bool:
    """Exercise 1: the mean share of |attribution| at frequencies strictly closer than ``radius`` to the centre.

    ``attributions`` are frequency maps ``(B, C, H, W)`` over the centred spectrum. For
    each image, the absolute attributions (summed over channels after taking absolute
    values), at distance strictly below
    ``radius`` from the zero frequency ``(H//2, W//2)``, over all of them; the mean over
    the images. Prints a verdict (with a hint when wrong) and returns whether it passed.

    Example:
        >>> check_share_below(None, torch.randn(2, 3, 32, 32))
        … not answered yet: replace None with your number, then run the cell.
        False
    """
    checks.images(attributions, "attributions")
    radius = checks.radius(radius, *attributions.shape[-2:])
    expected = float(share_below(attributions, radius).mean())
    if answer is None:
        return exercises.todo("replace None with your number, then run the cell.")
    value = exercises.as_number(answer)
    if value is None:
        return exercises.verdict(False, f"expected a single number (a float or a one-element tensor), got "
                                        f"{answer!r}.")
    if math.isclose(value, expected, abs_tol=tol):
        return exercises.verdict(True, f"{value:.4f} of the |attribution| lies strictly below r = {radius:g}.")
    a = attributions
    pooled = a.detach().double().cpu().abs().sum(1)
    slips = [
        ("Take absolute values first: positive and negative attributions would cancel.",
         float(share_below(a, radius, absolute=False).mean())),
        ("'Below r' means strictly below (d < r), as everywhere in the book.",
         float(share_below(a, radius, strict=False).mean())),
        ("Use each frequency's exact distance, not the ring it rounds to.",
         float(share_below(a, radius, rounded=True).mean())),
        ("Average each image's share; do not pool all images' attributions first.",
         float((pooled * (fourier.centred_distance(*a.shape[-2:]) < radius)).sum() / pooled.sum())),
        ("The answer is a fraction between 0 and 1, not a percentage.", 100 * expected),
    ]
    hints = exercises.slips_matching(value, slips, expected, tol)
    fact = f"{value:.4g} is off by more than {tol:g}."
    return exercises.verdict(False, f"{fact} {exercises.hint(hints)}" if hints else fact)


# --------------------------------------------------------------------------- exercise 2

def _centre_share(attributions: torch.Tensor, absolute: bool = True, pooled: bool = False) -> float:
    """The mean share of attribution (summed over channels) at the zero frequency of centred maps."""
    a = attributions.detach().double().cpu()
    a = a.abs().sum(1) if absolute else a.sum(1)
    h, w = a.shape[-2:]
    centre = a[:, h // 2, w // 2]
    if pooled:
        return float(centre.sum() / a.sum())
    return float((centre / a.sum(dim=(1, 2))).mean())


def check_black_baseline(answer, reason, model, x: torch.Tensor, target: torch.Tensor, n_steps: int = 32,
                         tol: float = 2e-3) -> bool:
    """Exercise 2: with a black baseline, the mean share of |frequency IG| at the zero frequency, and why.

    The expected answer is, for Integrated Gradients over frequencies
    (:class:`freqlens.attribution.FrequencyAttribution`) of ``model`` at ``x`` ``(B, C,
    H, W)`` for ``target``, baseline the black image and ``n_steps`` steps, each map's
    absolute attribution (summed over channels) at the centre ``(H//2, W//2)`` over its
    total, averaged over the images. ``reason`` is the letter of the explanation. Prints
    a verdict for each and returns whether both passed.

    Example:
        >>> from freqlens.models import SmallCNN
        >>> x = torch.rand(2, 3, 32, 32)
        >>> check_black_baseline(None, "a", SmallCNN(width=8).eval(), x, torch.tensor([0, 1]))
        … not answered yet: replace None with your number, then run the cell.
        ✓ correct: (a) is the explanation.
        False
    """
    x = checks.images(x)

    def ig(baselines):
        return FrequencyAttribution(IntegratedGradients, model).attribute(
            x, target=target, baselines=baselines, n_steps=n_steps)

    black = ig(torch.zeros_like(x))
    expected = _centre_share(black)
    value = exercises.as_number(answer)
    slips = []
    if value is not None and not math.isclose(value, expected, abs_tol=tol):
        slips = [
            ("that is the flat baseline's share (it is zero there): change the baseline to the black image.",
             _centre_share(ig(flat_baseline(x)))),
            ("Take absolute values first: positive and negative attributions would cancel.",
             _centre_share(black, absolute=False)),
            ("Average each image's share; do not pool all images' attributions first.",
             _centre_share(black, pooled=True)),
            ("The answer is a fraction between 0 and 1, not a percentage.", 100 * expected),
        ]
    number = exercises.judge_number(answer, expected, slips, tol,
                                    "{value:.4f} of |attribution| sits at the zero frequency with a black "
                                    "baseline.")
    why = exercises.judge_reason(reason, "a", {
        "b": "a black image is flat too: its only frequency is the zero frequency, and it is 0 there.",
        "c": "Integrated Gradients is complete for any baseline: the maps sum to f(x) - f(baseline)."})
    return number and why
