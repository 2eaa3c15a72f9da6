"""Chapter 6's exercises: the self-checks its notebook calls."""

from __future__ import annotations

from collections.abc import Mapping

import torch

from freqlens import evaluate, exercises, fourier, memo
from freqlens.chapters.ch6_explaining_and_steering.settings import RADIUS
from freqlens.chapters.ch6_explaining_and_steering.rebuilding import rebuilt_images

__all__ = ["check_effect_share", "check_rebuilt_answer"]


# --------------------------------------------------------------------------- exercises

def _share_within(attr: torch.Tensor, change: torch.Tensor, radius: float, strict: bool = True) -> float:
    d = fourier.centred_distance(*attr.shape[-2:])
    inside = (d < radius) if strict else (d <= radius)
    return float((attr * inside).sum() / change.sum())


def check_effect_share(answer, split: Mapping, radius: float = RADIUS, tol: float = 1e-3) -> bool:
    """Exercise 1: the share of the margin's total change (all images pooled) attributed strictly within ``radius``.

    ``split`` is :func:`attack_split`'s result. Prints a verdict and returns whether it passed.

    Example:
        >>> a = torch.zeros(1, 3, 32, 32); a[0, 0, 16, 16] = 2.0; a[0, 0, 0, 0] = 1.0
        >>> check_effect_share(2 / 3, {"attributions": a, "change": torch.tensor([3.0])})
        ✓ correct: 0.667 of the change comes from frequencies within 8 of the
          centre.
        True
    """
    attr = split["attributions"].double().sum(1)
    change = split["change"].double()
    expected = _share_within(attr, change, radius)
    inside = fourier.centred_distance(*attr.shape[-2:]) < radius
    slips = [("the band is strictly below the radius: you counted the ring at distance exactly "
              f"{radius:g} too.", _share_within(attr, change, radius, strict=False)),
             ("that is the share of the absolute attributions: the change is signed, and some "
              "frequencies push against it.", float((attr.abs() * inside).sum() / attr.abs().sum())),
             ("you averaged each image's own share: pool the images, sum over all of them first.",
              float(((attr * inside).sum((1, 2)) / change).mean())),
             ("that is the share above the radius.", 1 - expected)]
    return exercises.judge_number(answer, expected, slips, tol,
                                  f"{{value:.3f}} of the change comes from frequencies within {radius:g} of "
                                  "the centre.", what="share")


def check_rebuilt_answer(answer, reason, model, x: torch.Tensor, y: torch.Tensor, k: int = 64,
                         tol: float = 0.011) -> bool:
    """Exercise 2: accuracy on the images rebuilt from their ``k`` least-attributed frequencies, and why.

    The expected answer is :func:`rebuilt_accuracy` of ``model`` on :func:`rebuilt_images`'
    ``"bottom k"`` images of ``x``; ``tol`` lets a prediction flip. ``reason`` is the
    letter of the explanation. Prints a verdict for each and returns whether both passed.
    """
    images = memo.cached("rebuilt images", rebuilt_images, model, x, y, ks=(k,))
    expected = evaluate.accuracy(model, images[f"bottom {k}"], y)
    slips = [(f"that is the accuracy on the top {k} images: keep the lowest attributions "
              "(largest=False).", evaluate.accuracy(model, images[f"top {k}"], y)),
             (f"that is the accuracy on {k} random frequencies.",
              evaluate.accuracy(model, images[f"random {k}"], y)),
             ("The answer is a fraction between 0 and 1, not a percentage.", 100 * expected)]
    number = exercises.judge_number(answer, expected, slips, tol,
                                    f"{{value:.3f}} of the images rebuilt from their {k} least-attributed "
                                    "frequencies keep their label.", what="accuracy")
    why = exercises.judge_reason(reason, "a", {
        "b": "the attribution is signed: the least-attributed frequencies are those that argue most "
             "against the class, wherever they lie in the spectrum.",
        "c": "every rebuilt image keeps the same mean colour, the baseline, so the colour cannot tell "
             "the copies apart."})
    return number and why
