"""FGSM and PGD under an L-inf or L2 budget, optionally band-limited, and the pieces every attack shares.

The functional core the trainer's adversarial training calls: :func:`fgsm` and :func:`pgd`
check their inputs and run on the model's device one batch at a time
(:func:`freqlens.execution.run`); :func:`pgd_steps` is PGD's step loop on one such batch,
which :mod:`freqlens.attacks.distortion` bisects over. The other attacks take their input
checks (:func:`check_model`, :func:`check_inputs`), their box (:data:`BOX`, :func:`box`)
from here.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from freqlens import checks
from freqlens.attacks.bands import band_step, scale_into
from freqlens.execution import run

__all__ = ["BOX", "NORMS", "box", "check_inputs", "check_model", "fgsm", "loss_gradient", "pgd", "pgd_steps"]

NORMS = ("linf", "l2")
# The images' box and every attack's default clip; pgd tells it from a clip passed by identity.
BOX = (0.0, 1.0)


# --------------------------------------------------------------------------- pieces

def check_model(model) -> nn.Module:
    """The model an attack runs, checked as :func:`freqlens.checks.model` checks it."""
    return checks.model(model)


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


def check_inputs(model, images, labels, clip):
    """Check an attack's model, images and labels; the clip as a ``(low, high)`` pair of floats or ``None``."""
    check_model(model)
    checks.images(images, "images")
    checks.labels(labels, images.shape[0], "labels")
    return _check_clip(clip)


def box(x: torch.Tensor, clip) -> torch.Tensor:
    """``x`` clamped into the ``(low, high)`` box ``clip``; ``x`` itself when ``clip`` is ``None``."""
    return x if clip is None else torch.clamp(x, min=clip[0], max=clip[1])


def loss_gradient(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
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
    return box(images + delta, clip).detach()


def _l2_step(images, adv, grad, eps, alpha, clip, eps_for_division):
    grad = grad / (_per_image_norm(grad) + eps_for_division)
    delta = adv.detach() + alpha * grad - images
    size = _per_image_norm(delta)
    # shrink each perturbation outside the ball onto it; torchattacks' min(eps / size, 1)
    # in values, without its nan for eps = 0 and a zero gradient (0 / 0)
    delta = delta * torch.where(size > eps, eps / size, 1.0)
    return box(images + delta, clip).detach()


# --------------------------------------------------------------------------- functions

def fgsm(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, eps: float, *,
         targeted: bool = False, clip: tuple[float, float] | None = BOX, batch_size: int | None = None,
         autocast: bool = False) -> torch.Tensor:
    """Fast gradient sign method: one step of size ``eps`` along the sign of the loss gradient.

    ``targeted=True`` takes ``labels`` as the classes to move towards and steps *down*
    their loss, ``x - eps sign grad l(x, t)``: with ``t`` the least-likely class
    (:func:`freqlens.evaluate.least_likely`) these are Dong et al.'s adversarial twins,
    and torchattacks' targeted least-likely mode.

    Shapes: ``images (B, C, H, W)``, ``labels (B,)`` on any device -> ``(B, C, H, W)`` on
    ``images``' device; the work runs on the model's, ``batch_size`` images at a time
    (see :func:`freqlens.execution.run`), in float32 unless ``autocast``.

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
    clip = check_inputs(model, images, labels, clip)
    eps = checks.eps(eps)
    sign = -1.0 if checks.boolean(targeted, "targeted") else 1.0

    def step(m, x, y):
        return box(x + sign * eps * loss_gradient(m, x, y).sign(), clip).detach()

    return run(model, step, images.detach(), labels, batch_size=batch_size, grad=True, autocast=autocast)


def pgd(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, eps: float, alpha: float,
        steps: int, *, norm: str = "linf", random_start: bool = True,
        generator: torch.Generator | None = None, clip: tuple[float, float] | None = BOX,
        eps_for_division: float = 1e-10, band: nn.Module | None = None, targeted: bool = False,
        batch_size: int | None = None, autocast: bool = False) -> torch.Tensor:
    """Projected gradient descent (Madry et al.): ``steps`` steps of size ``alpha``, each
    projected back onto the ``eps``-ball around the images (and into ``clip``).

    ``targeted=True`` takes ``labels`` as the classes to move towards and steps down
    their loss, as :func:`fgsm` does (torchattacks' targeted mode).

    ``norm="linf"`` steps along the gradient's sign; ``"l2"`` along the gradient divided by
    its L2 norm per image (plus ``eps_for_division``). A random start begins at a random
    point of the ball, drawn from ``generator`` (a CPU ``torch.Generator``) if given, for
    all images at once, so that the result does not depend on the batch size or device.

    ``band`` (see :func:`frequency_band`) keeps the perturbation in a band of frequencies:
    each step moves along the band's part of the gradient, scaled to size ``alpha`` in
    the attack's norm (not its sign, which would leave the band), and the ball is
    enforced by scaling the perturbation down; a random start is projected onto the band
    first. The result's perturbation lies in the band up to rounding. The box is not
    enforced (see the module's note): leave ``clip`` at its default, or pass ``None``.

    Shapes: ``images (B, C, H, W)``, ``labels (B,)`` on any device -> ``(B, C, H, W)`` on
    ``images``' device; the work runs on the model's, ``batch_size`` images at a time,
    in float32 unless ``autocast``.

    Example:
        >>> from freqlens.data import cifar10_tensors
        >>> from freqlens.models import SmallCNN
        >>> x, y = cifar10_tensors("test", n=2)
        >>> adv = pgd(SmallCNN(width=8), x, y, eps=0.5, alpha=0.1, steps=3, norm="l2")
        >>> bool(((adv - x).flatten(1).norm(dim=1) <= 0.5 + 1e-5).all())
        True
    """
    clip_given = clip is not BOX
    clip = check_inputs(model, images, labels, clip)
    norm = checks.one_of(norm, "norm", NORMS)
    eps = checks.eps(eps) if norm == "linf" else checks.number(eps, "eps", low=0)
    alpha = checks.number(alpha, "alpha", low=0, low_open=True)
    steps = checks.integer(steps, "steps", minimum=1)
    checks.boolean(random_start, "random_start")
    sign = -1.0 if checks.boolean(targeted, "targeted") else 1.0
    if generator is not None and not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    if band is not None:
        if not isinstance(band, nn.Module):
            raise ValueError(f"band must be a projection from frequency_band(...) or None, got {band!r}")
        if clip is not None and clip_given:
            raise ValueError(f"clip must be None with a band: a band-limited perturbation cannot be "
                             f"clamped into a box and stay in its band, got {clip!r}")
        clip = None
    images = images.detach()
    # the start of every image drawn before batching, from the generator (or not at all)
    starts = (_random_start(images, eps, norm, generator) if random_start and generator is not None
              else torch.zeros((images.shape[0], 0), device=images.device))

    def attack(m, x, y, start):
        if random_start:
            start = start.view_as(x) if start.numel() else _random_start(x, eps, norm, None)
            adv = box(x + start, clip).detach() if band is None else scale_into(x, band(start), eps, norm)
        else:
            adv = x.clone()
        return pgd_steps(m, x, adv, y, eps, alpha, steps, norm, band, clip, eps_for_division, sign=sign)

    return run(model, attack, images, labels, starts, batch_size=batch_size, grad=True, autocast=autocast)


def pgd_steps(model, images, adv, labels, eps, alpha, steps, norm, band, clip, eps_for_division=1e-10,
              sign: float = 1.0):
    """PGD's step loop, on one batch already on the model's device (inside :func:`run`);
    ``eps`` and ``alpha`` may be numbers or one per image ``(B, 1, 1, 1)``; ``sign=-1``
    descends the loss of ``labels`` (a targeted attack)."""
    for _ in range(steps):
        grad = sign * loss_gradient(model, adv, labels)
        if band is not None:
            adv = band_step(images, adv, grad, eps, alpha, norm, band)
        elif norm == "linf":
            adv = _linf_step(images, adv, grad, eps, alpha, clip)
        else:
            adv = _l2_step(images, adv, grad, eps, alpha, clip, eps_for_division)
    return adv
