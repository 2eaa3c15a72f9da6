"""Adversarial attacks on images in [0, 1]: FGSM and PGD under the L-inf or the L2 norm, batched.

A functional core (:func:`fgsm`, :func:`pgd`) that the trainer's adversarial training
calls, and thin classes named and parametrised as in torchattacks (:class:`FGSM`,
:class:`PGD`, :class:`PGDL2`, called as ``atk(images, labels)``), so a reader who knows
torchattacks knows these. The arithmetic is torchattacks' step for step: without a
random start the results are equal to theirs bit for bit.

Every attack runs the model in eval mode (BatchNorm's running statistics are neither
used from the batch nor updated) and gives each submodule its mode back afterwards;
it differentiates the loss with respect to the images only, so the parameters'
gradients are left as they were. The step loop reads no values back to the host.

Example:
    >>> from freqlens.data import cifar10_tensors
    >>> from freqlens.models import SmallCNN
    >>> x, y = cifar10_tensors("test", n=8)
    >>> adv = PGD(SmallCNN(width=8), eps=8/255, alpha=2/255, steps=3)(x, y)
    >>> bool((adv - x).abs().max() <= 8/255 + 1e-6), bool(adv.min() >= 0), bool(adv.max() <= 1)
    (True, True, True)
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from freqlens import checks
from freqlens.models import eval_mode

__all__ = ["FGSM", "NORMS", "PGD", "PGDL2", "Attack", "fgsm", "pgd"]

NORMS = ("linf", "l2")
_BOX = (0.0, 1.0)


# --------------------------------------------------------------------------- pieces

def _check_model(model) -> nn.Module:
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    return model


def _check_clip(clip) -> tuple[float, float] | None:
    if clip is None:
        return None
    try:
        low, high = clip
    except (TypeError, ValueError):
        raise ValueError(f"clip must be a (low, high) pair of numbers or None, got {clip!r}") from None
    low = checks.number(low, "clip[0]")
    high = checks.number(high, "clip[1]")
    if low >= high:
        raise ValueError(f"clip must be a (low, high) pair with low < high, got {clip!r}")
    return low, high


def _check_inputs(model, images, labels, clip):
    _check_model(model)
    checks.images(images, "images")
    checks.labels(labels, images.shape[0], "labels")
    return _check_clip(clip)


def _box(x: torch.Tensor, clip) -> torch.Tensor:
    return x if clip is None else torch.clamp(x, min=clip[0], max=clip[1])


def _loss_gradient(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Gradient of the mean cross-entropy with respect to the images (only)."""
    images = images.detach().requires_grad_(True)
    loss = F.cross_entropy(model(images).float(), labels)
    return torch.autograd.grad(loss, images)[0]


def _per_image_norm(x: torch.Tensor) -> torch.Tensor:
    """L2 norm of each image, shaped ``(B, 1, 1, 1)`` to broadcast against the batch."""
    return torch.norm(x.reshape(x.shape[0], -1), p=2, dim=1).view(-1, 1, 1, 1)


def _random_start(images: torch.Tensor, eps: float, norm: str, generator) -> torch.Tensor:
    """A random point of the eps-ball around each image: uniform per pixel (L-inf), or a
    random direction at a uniform fraction of eps (L2), as torchattacks draws them.

    Drawn on the CPU when a (CPU) generator is given, so results do not depend on the device.
    """
    draw_on = images.device if generator is None else torch.device("cpu")
    if norm == "linf":
        noise = torch.empty(images.shape, dtype=images.dtype, device=draw_on)
        return noise.uniform_(-eps, eps, generator=generator).to(images.device)
    direction = torch.empty(images.shape, dtype=images.dtype, device=draw_on).normal_(generator=generator)
    length = torch.zeros(images.shape[0], 1, 1, 1, dtype=images.dtype, device=draw_on)
    length.uniform_(0, 1, generator=generator)
    return (direction * (length / _per_image_norm(direction) * eps)).to(images.device)


def _linf_step(images, adv, grad, eps, alpha, clip):
    adv = adv.detach() + alpha * grad.sign()
    delta = torch.clamp(adv - images, min=-eps, max=eps)
    return _box(images + delta, clip).detach()


def _l2_step(images, adv, grad, eps, alpha, clip, eps_for_division):
    grad = grad / (_per_image_norm(grad) + eps_for_division)
    delta = adv.detach() + alpha * grad - images
    size = _per_image_norm(delta)
    # shrink each perturbation outside the ball onto it; torchattacks' min(eps / size, 1)
    # in values, without its nan for eps = 0 and a zero gradient (0 / 0)
    delta = delta * torch.where(size > eps, eps / size, 1.0)
    return _box(images + delta, clip).detach()


# --------------------------------------------------------------------------- functions

def fgsm(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, eps: float, *,
         clip: tuple[float, float] | None = _BOX) -> torch.Tensor:
    """Fast gradient sign method: one step of size ``eps`` along the sign of the loss gradient.

    Shapes: ``images (B, C, H, W)`` on the model's device, ``labels (B,)`` -> ``(B, C, H, W)``.

    Args:
        eps: the L-inf budget on the [0, 1] scale (8/255 is common for CIFAR-10).
        clip: the box the result is clamped to; ``None`` for images that are not in
            [0, 1] (an HFC copy, say).

    Example:
        >>> from freqlens.data import cifar10_tensors
        >>> from freqlens.models import SmallCNN
        >>> x, y = cifar10_tensors("test", n=2)
        >>> fgsm(SmallCNN(width=8), x, y, eps=0.03).shape
        torch.Size([2, 3, 32, 32])
    """
    clip = _check_inputs(model, images, labels, clip)
    eps = checks.eps(eps)
    with eval_mode(model):
        grad = _loss_gradient(model, images, labels)
        return _box(images + eps * grad.sign(), clip).detach()


def pgd(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, eps: float, alpha: float,
        steps: int, *, norm: str = "linf", random_start: bool = True,
        generator: torch.Generator | None = None, clip: tuple[float, float] | None = _BOX,
        eps_for_division: float = 1e-10) -> torch.Tensor:
    """Projected gradient descent (Madry et al.): ``steps`` steps of size ``alpha``, each
    projected back onto the ``eps``-ball around the images (and into ``clip``).

    ``norm="linf"`` steps along the gradient's sign; ``"l2"`` along the gradient divided by
    its L2 norm per image (plus ``eps_for_division``). A random start begins at a random
    point of the ball, drawn from ``generator`` (a CPU ``torch.Generator``) if given.

    Shapes: ``images (B, C, H, W)`` on the model's device, ``labels (B,)`` -> ``(B, C, H, W)``.

    Example:
        >>> from freqlens.data import cifar10_tensors
        >>> from freqlens.models import SmallCNN
        >>> x, y = cifar10_tensors("test", n=2)
        >>> adv = pgd(SmallCNN(width=8), x, y, eps=0.5, alpha=0.1, steps=3, norm="l2")
        >>> bool(((adv - x).flatten(1).norm(dim=1) <= 0.5 + 1e-5).all())
        True
    """
    clip = _check_inputs(model, images, labels, clip)
    norm = checks.one_of(norm, "norm", NORMS)
    eps = checks.eps(eps) if norm == "linf" else checks.number(eps, "eps", low=0)
    alpha = checks.number(alpha, "alpha", low=0, low_open=True)
    steps = checks.integer(steps, "steps", minimum=1)
    checks.boolean(random_start, "random_start")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    images = images.detach()
    adv = images.clone()
    if random_start:
        adv = _box(adv + _random_start(images, eps, norm, generator), clip).detach()
    with eval_mode(model):
        for _ in range(steps):
            grad = _loss_gradient(model, adv, labels)
            if norm == "linf":
                adv = _linf_step(images, adv, grad, eps, alpha, clip)
            else:
                adv = _l2_step(images, adv, grad, eps, alpha, clip, eps_for_division)
    return adv


# --------------------------------------------------------------------------- classes

class Attack:
    """An attack with its settings, called as ``atk(images, labels)`` (torchattacks' pattern)."""

    def __init__(self, model: nn.Module):
        self.model = _check_model(model)

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def __call__(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.forward(images, labels)

    def _settings(self) -> dict:
        return {k: v for k, v in vars(self).items() if k != "model"}

    def __repr__(self) -> str:
        settings = ", ".join(f"{k}={v!r}" for k, v in self._settings().items())
        return f"{type(self).__name__}(model={type(self.model).__name__}, {settings})"


class FGSM(Attack):
    """FGSM with an L-inf budget ``eps`` on the [0, 1] scale; see :func:`fgsm`.

    Example:
        >>> from freqlens.models import SmallCNN
        >>> FGSM(SmallCNN(width=8), eps=8/255)
        FGSM(model=SmallCNN, eps=0.03137254901960784)
    """

    def __init__(self, model: nn.Module, eps: float = 8 / 255):
        super().__init__(model)
        self.eps = checks.eps(eps)

    def forward(self, images, labels):
        return fgsm(self.model, images, labels, self.eps)


class PGD(Attack):
    """PGD under the L-inf norm; see :func:`pgd`.

    Example:
        >>> from freqlens.models import SmallCNN
        >>> PGD(SmallCNN(width=8), eps=8/255, alpha=2/255, steps=10).steps
        10
    """

    def __init__(self, model: nn.Module, eps: float = 8 / 255, alpha: float = 2 / 255,
                 steps: int = 10, random_start: bool = True):
        super().__init__(model)
        self.eps = checks.eps(eps)
        self.alpha = checks.number(alpha, "alpha", low=0, low_open=True)
        self.steps = checks.integer(steps, "steps", minimum=1)
        self.random_start = checks.boolean(random_start, "random_start")

    def forward(self, images, labels):
        return pgd(self.model, images, labels, self.eps, self.alpha, self.steps, norm="linf",
                   random_start=self.random_start)


class PGDL2(Attack):
    """PGD under the L2 norm; see :func:`pgd`.

    Example:
        >>> from freqlens.models import SmallCNN
        >>> PGDL2(SmallCNN(width=8), eps=1.0, alpha=0.2).eps
        1.0
    """

    def __init__(self, model: nn.Module, eps: float = 1.0, alpha: float = 0.2, steps: int = 10,
                 random_start: bool = True, eps_for_division: float = 1e-10):
        super().__init__(model)
        self.eps = checks.number(eps, "eps", low=0)
        self.alpha = checks.number(alpha, "alpha", low=0, low_open=True)
        self.steps = checks.integer(steps, "steps", minimum=1)
        self.random_start = checks.boolean(random_start, "random_start")
        self.eps_for_division = checks.number(eps_for_division, "eps_for_division", low=0,
                                              low_open=True)

    def forward(self, images, labels):
        return pgd(self.model, images, labels, self.eps, self.alpha, self.steps, norm="l2",
                   random_start=self.random_start, eps_for_division=self.eps_for_division)
