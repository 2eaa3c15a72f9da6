"""Chapter 5's exercises: the self-checks its notebook calls."""

from __future__ import annotations

import math

import torch

from freqlens import checks, defenses, evaluate, exercises
from freqlens.chapters import ch1_frequencies
from freqlens.chapters.ch5_attacks_defenses.robustness import pgd_images

__all__ = ["check_energy_below", "check_low_pass_radius"]


# --------------------------------------------------------------------------- exercises

def check_energy_below(answer, delta: torch.Tensor, radius: float = 8, tol: float = 1e-4) -> bool:
    """Exercise 1: the mean fraction of the perturbations' spectral energy strictly within ``radius``.

    Chapter 1's check (:func:`freqlens.chapters.ch1_frequencies.check_energy_below`) on
    the perturbations ``delta`` ``(B, C, H, W)`` in place of images.

    Example:
        >>> check_energy_below(None, torch.randn(2, 3, 32, 32) / 100)
        … not answered yet: replace None with your number, then run the cell.
        False
    """
    return ch1_frequencies.check_energy_below(answer, delta, radius=radius, tol=tol)


def check_low_pass_radius(answer, reason, model, x: torch.Tensor, y: torch.Tensor, radius: float = 4,
                          tol: float = 0.011) -> bool:
    """Exercise 2: accuracy of ``model`` behind a low-pass filter of ``radius`` under PGD through the filter, and why.

    The expected answer is the accuracy on ``x`` ``(B, C, H, W)`` with labels ``y`` of
    :func:`freqlens.defenses.low_pass_defense` ``(model, radius)`` on PGD images crafted
    against that defended network (:func:`pgd_images`: L-inf 8/255, 10 steps of 2/255,
    no random start): the adaptive attack; ``tol`` lets a prediction or two flip (a
    different batching rounds differently). ``reason`` is the letter of the
    explanation. Prints a verdict for each and returns whether both passed.

    Example:
        >>> from freqlens.data import cifar10_tensors
        >>> from freqlens.models import SmallCNN
        >>> x, y = cifar10_tensors("test", n=8)
        >>> check_low_pass_radius(None, "a", SmallCNN(width=8).eval(), x, y)
        … not answered yet: replace None with your accuracy, then run the cell.
        ✓ correct: (a) is the explanation.
        False
    """
    x = checks.images(x)
    y = checks.labels(y, len(x))
    defended = defenses.low_pass_defense(model, radius)
    adaptive = pgd_images(defended, x, y)
    expected = evaluate.accuracy(defended, adaptive, y)
    value = exercises.as_number(answer)
    slips = []
    if value is not None and not math.isclose(value, expected, abs_tol=tol):
        other_radius = 8 if radius != 8 else 4
        other = defenses.low_pass_defense(model, other_radius)
        slips = [
            (f"that is the filter at r = {other_radius:g}: pass radius={radius:g} to low_pass_defense.",
             evaluate.accuracy(other, pgd_images(other, x, y), y)),
            ("that is a transfer attack, crafted on the undefended network: run PGD on the defended one.",
             evaluate.accuracy(defended, pgd_images(model, x, y), y)),
            ("that is the undefended network on the adaptive images: evaluate the defended network.",
             evaluate.accuracy(model, adaptive, y)),
            ("The answer is a fraction between 0 and 1, not a percentage.", 100 * expected),
        ]
    number = exercises.judge_number(answer, expected, slips, tol,
                                    f"{{value:.3f}} of the images stay right behind the r = {radius:g} filter "
                                    "under PGD through it.", what="accuracy")
    why = exercises.judge_reason(reason, "a", {
        "b": "the filter is a mask in Fourier space between two linear transforms: it is differentiable, "
             "and PGD's gradient flows through it.",
        "c": "nothing above the radius reaches the network: the filter removes it from the perturbation "
             "as from the image."})
    return number and why
