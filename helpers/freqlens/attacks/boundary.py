"""DeepFool (Moosavi-Dezfooli et al.): each image stepped to the nearest boundary of the linearised network.

:func:`deepfool` is torchattacks' arithmetic for every image of a batch at once, one
backward pass per class and step, where torchattacks loops over the images one at a time.
"""

from __future__ import annotations

import torch
from torch import nn

from freqlens import checks
from freqlens.attacks.gradient import BOX, box, check_inputs
from freqlens.execution import run

__all__ = ["deepfool"]


def _jacobian(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``d logits[b, k] / d x[b]`` for every image at once: ``(K, B, C, H, W)``, one backward pass per class.

    Images do not interact in an eval-mode network, so the gradient of a class's logits
    summed over the batch is each image's own gradient. The graph is kept only until
    the last class's pass, and each gradient is written into one preallocated tensor.
    """
    k = logits.shape[1]
    out = torch.empty((k, *x.shape), dtype=x.dtype, device=x.device)
    for j in range(k):
        out[j] = torch.autograd.grad(logits[:, j].sum(), x, retain_graph=j + 1 < k)[0]
    return out


# Below this a difference of two classes' gradients counts as none: the boundary is out of reach.
_TINY = 1e-12


def _deepfool_step(model, x, labels, overshoot, clip):
    """One DeepFool step for ``x``: (whether each image is already fooled, the stepped images, their classes).

    A class whose gradient equals the true class's (``w' = 0``) offers no boundary to step
    to and is never chosen; an image with no such class left does not move.
    """
    x = x.detach().requires_grad_(True)
    logits = model(x).float()
    fooled = logits.argmax(1) != labels
    grads = _jacobian(logits, x)
    logits = logits.detach()
    n = torch.arange(x.shape[0], device=x.device)
    f_prime = logits - logits[n, labels][:, None]                       # (B, K)
    w_prime = grads - grads[labels, n][None]                             # (K, B, C, H, W)
    del grads
    w_norm = w_prime.flatten(2).norm(dim=2).T                            # (B, K)
    reachable = w_norm > _TINY
    value = torch.where(reachable, f_prime.abs() / w_norm.clamp_min(_TINY), float("inf"))
    value[n, labels] = float("inf")                                      # the true class is no boundary
    nearest = value.argmin(1)
    w = w_prime[nearest, n]
    size = torch.where(reachable[n, nearest], f_prime[n, nearest].abs() / w_norm[n, nearest].clamp_min(_TINY) ** 2,
                       0.0)
    delta = size.view(-1, 1, 1, 1) * w
    stepped = box(x.detach() + (1 + overshoot) * delta, clip)
    return fooled, stepped, nearest


def _deepfool_batch(model, images, labels, steps, overshoot, clip):
    adv = images.detach().clone()
    active = torch.arange(images.shape[0], device=images.device)
    for _ in range(steps):
        fooled, stepped, _ = _deepfool_step(model, adv[active], labels[active], overshoot, clip)
        adv[active] = torch.where(fooled.view(-1, 1, 1, 1), adv[active], stepped)
        active = active[~fooled]
        if active.numel() == 0:
            break
    return adv


def deepfool(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, steps: int = 50,
             overshoot: float = 0.02, *, clip: tuple[float, float] | None = BOX,
             batch_size: int | None = None) -> torch.Tensor:
    """DeepFool (Moosavi-Dezfooli et al.): step each image to the linearised nearest class boundary until it is fooled.

    Each step, for the images still classified as ``labels``: the class ``l`` minimising
    ``|f_l - f_y| / ||grad f_l - grad f_y||``, and the step
    ``(1 + overshoot) |f_l - f_y| (grad f_l - grad f_y) / ||grad f_l - grad f_y||^2``,
    clamped into ``clip`` — torchattacks' arithmetic, for all images of a batch at once
    (one backward pass per class and step, not per class, image and step). A class whose
    gradient coincides with the true class's is no boundary (no division by zero). An
    image leaves the loop once it is misclassified; the loop ends when all have, or after
    ``steps`` steps, reading back one flag per step. ``batch_size`` images at a time.

    Shapes: ``images (B, C, H, W)``, ``labels (B,)`` -> ``(B, C, H, W)`` on ``images``' device.

    Example:
        >>> from freqlens.data import cifar10_tensors
        >>> from freqlens.models import SmallCNN
        >>> x, y = cifar10_tensors("test", n=4)
        >>> deepfool(SmallCNN(width=8), x, y, steps=3).shape
        torch.Size([4, 3, 32, 32])
    """
    clip = check_inputs(model, images, labels, clip)
    steps = checks.integer(steps, "steps", minimum=1)
    overshoot = checks.number(overshoot, "overshoot", low=0)

    def attack(m, x, y):
        return _deepfool_batch(m, x, y, steps, overshoot, clip)

    return run(model, attack, images.detach(), labels, batch_size=batch_size, grad=True)
