"""The smallest budget at which PGD flips each image, by bisection on a budget per image.

:func:`minimal_distortion` runs PGD's step loop (:func:`freqlens.attacks.gradient.pgd_steps`)
on every image still searched at once, each at its own budget, and halves every image's
interval each round.
"""

from __future__ import annotations

import torch
from torch import nn

from freqlens import checks
from freqlens.attacks.gradient import BOX, NORMS, check_inputs, pgd_steps
from freqlens.execution import run

__all__ = ["minimal_distortion"]


def _bisect(model, images, labels, norm, band, clip, high, iterations, steps):
    """:func:`minimal_distortion` on one batch on the model's device: (budgets, adversarial images)."""
    def fooled_at(idx, eps):   # eps (n, 1, 1, 1) for the images in `idx`
        adv = pgd_steps(model, images[idx], images[idx].clone(), labels[idx], eps, 2.5 * eps / steps,
                        steps, norm, band, clip)
        with torch.no_grad():
            return model(adv).argmax(1) != labels[idx], adv

    with torch.no_grad():
        wrong = model(images).argmax(1) != labels
    budgets = torch.where(wrong, 0.0, float("inf")).to(images.device)
    result = images.clone()
    idx = (~wrong).nonzero().flatten()
    if idx.numel() == 0:
        return budgets, result
    ok, adv = fooled_at(idx, torch.full((idx.numel(), 1, 1, 1), high, device=images.device))
    result[idx[ok]] = adv[ok]
    idx = idx[ok]
    if idx.numel() == 0:
        return budgets, result
    lo = torch.zeros(idx.numel(), device=images.device)
    hi = torch.full((idx.numel(),), high, device=images.device)
    for _ in range(iterations):
        mid = (lo + hi) / 2
        ok, adv = fooled_at(idx, mid.view(-1, 1, 1, 1))
        hi, lo = torch.where(ok, mid, hi), torch.where(ok, lo, mid)
        result[idx[ok]] = adv[ok]
    budgets[idx] = hi
    return budgets, result


def minimal_distortion(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, *, norm: str = "l2",
                       band: nn.Module | None = None, high: float | None = None, iterations: int = 8,
                       steps: int = 20, clip: tuple[float, float] | None = BOX,
                       batch_size: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The smallest budget at which PGD flips each image, by bisection on a budget per image.

    Each round runs PGD (no random start, ``steps`` steps of 2.5 eps / steps, under
    ``norm``, optionally in a ``band``) on all images still searched, each at its own
    budget, and halves every image's interval. Images the network already gets wrong
    need 0; images PGD cannot flip at ``high`` (default 0.25 under L-inf, 4 under L2)
    get ``inf``. After ``iterations`` rounds the budget is within ``high / 2**iterations``
    above the smallest one PGD finds. The search runs ``batch_size`` images at a time.
    Without a band the images are clamped into ``clip`` (``None``: unboxed, as a band's
    always are, so that a row of all frequencies compares with the bands on equal terms).

    Shapes: ``images (B, C, H, W)``, ``labels (B,)`` -> ``(budgets (B,), adversarial images (B, C, H, W))``,
    each image's adversarial example at its budget (the image itself where the budget is 0 or inf).

    Example:
        >>> from freqlens.data import cifar10_tensors
        >>> from freqlens.models import SmallCNN
        >>> x, y = cifar10_tensors("test", n=4)
        >>> budgets, adv = minimal_distortion(SmallCNN(width=8), x, y, iterations=2, steps=2)
        >>> budgets.shape, adv.shape
        (torch.Size([4]), torch.Size([4, 3, 32, 32]))
    """
    clip_given = clip is not BOX
    clip = check_inputs(model, images, labels, clip)
    norm = checks.one_of(norm, "norm", NORMS)
    high = (0.25 if norm == "linf" else 4.0) if high is None else checks.number(high, "high", low=0, low_open=True)
    iterations = checks.integer(iterations, "iterations", minimum=1)
    steps = checks.integer(steps, "steps", minimum=1)
    if band is not None and not isinstance(band, nn.Module):
        raise ValueError(f"band must be a projection from frequency_band(...) or None, got {band!r}")
    if band is not None and clip is not None and clip_given:
        raise ValueError(f"clip must be None with a band: a band-limited perturbation cannot be "
                         f"clamped into a box and stay in its band, got {clip!r}")
    clip = None if band is not None else clip

    def search(m, x, y):
        return _bisect(m, x, y, norm, band, clip, high, iterations, steps)

    return run(model, search, images.detach(), labels, batch_size=batch_size, grad=True)
