"""Adversarial attacks on images in [0, 1]: FGSM, PGD (L-inf, L2, band-limited) and DeepFool, batched.

A functional core (:func:`fgsm`, :func:`pgd`, :func:`deepfool`) that the trainer's
adversarial training calls, and thin classes named and parametrised as in torchattacks
(:class:`FGSM`, :class:`PGD`, :class:`PGDL2`, :class:`DeepFool`, called as
``atk(images, labels)``), so a reader who knows torchattacks knows these. The
arithmetic is torchattacks' step for step: without a random start the results are
equal to theirs bit for bit. DeepFool runs every image of the batch at once, where
torchattacks' loops over them one at a time.

``pgd(..., band=frequency_band("low", 8))`` keeps the perturbation inside a band of
frequencies (a disk of the centred spectrum, its complement, or the low block of the
orthonormal DCT): every step is projected onto the band and the ball is enforced by
*scaling* the perturbation, which keeps it in the band; the public low-frequency
attacks take the sign after projecting, which leaves the band. A band-limited
perturbation cannot also be clamped into the [0, 1] box without leaving the band (and
scaling it into the box would freeze it on any saturated pixel), so band-limited PGD
leaves the box alone: its images may step outside [0, 1] by at most ``eps``.

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
from freqlens.execution import run

__all__ = ["BANDS", "DeepFool", "FGSM", "NORMS", "PGD", "PGDL2", "Attack", "deepfool", "fgsm",
           "frequency_band", "minimal_distortion", "pgd"]

NORMS = ("linf", "l2")
BANDS = ("low", "high", "dct_low")
_BOX = (0.0, 1.0)


# --------------------------------------------------------------------------- pieces

def _check_model(model) -> nn.Module:
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


class _DctLow(nn.Module):
    """Projection onto the top-left ``size`` x ``size`` block of the orthonormal 2-D DCT-II."""

    def __init__(self, size: int):
        super().__init__()
        self.size = size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from freqlens.fourier import dct_matrix

        h, w = x.shape[-2:]
        if self.size > min(h, w):
            raise ValueError(f"size must be at most {min(h, w)} for {h}x{w} images (a band beyond the "
                             f"spectrum), got {self.size}")
        dh, dw = dct_matrix(h, x)[: self.size], dct_matrix(w, x)[: self.size]
        return dh.T @ (dh @ x @ dw.T) @ dw

    def extra_repr(self) -> str:
        return f"size={self.size}"


def frequency_band(kind: str, size: float) -> nn.Module:
    """A projection onto a band of frequencies, for :func:`pgd`'s ``band``.

    ``"low"``: the frequencies strictly within ``size`` of the centre of the spectrum
    (the book's LFC); ``"high"``: the rest (the HFC); ``"dct_low"``: the top-left
    ``size`` x ``size`` block of the orthonormal 2-D DCT-II of the whole image, per
    channel (Guo et al.'s low-frequency subspace). Each is linear, idempotent and
    orthogonal, and reads no values (no device sync inside an attack step).

    Example:
        >>> d = torch.rand(1, 3, 32, 32)
        >>> band = frequency_band("dct_low", 8)
        >>> torch.allclose(band(band(d)), band(d), atol=1e-6)
        True
    """
    from freqlens import fourier

    kind = checks.one_of(kind, "kind", options=BANDS)
    if kind == "dct_low":
        return _DctLow(checks.integer(size, "size", minimum=1))
    radius = checks.radius(size, name="size")
    return fourier.LowPass(radius) if kind == "low" else fourier.HighPass(radius)


def _scale_into(images, delta, eps, norm):
    """Shrink each perturbation by a factor in [0, 1] until it is in the ball: it stays in its band."""
    size = (delta.flatten(1).abs().amax(1) if norm == "linf" else delta.flatten(1).norm(dim=1)).view(-1, 1, 1, 1)
    t = torch.where(size > eps, eps / size.clamp_min(1e-30), 1.0)
    return (images + t * delta).detach()


def _band_step(images, adv, grad, eps, alpha, norm, band):
    """Step along the band's part of the gradient (unit L-inf or L2 size), project, scale into the ball."""
    g = band(grad)
    size = g.flatten(1).abs().amax(1) if norm == "linf" else g.flatten(1).norm(dim=1)
    delta = band(adv.detach() - images + alpha * g / size.clamp_min(1e-30).view(-1, 1, 1, 1))
    return _scale_into(images, delta, eps, norm)


# --------------------------------------------------------------------------- functions

def fgsm(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, eps: float, *,
         clip: tuple[float, float] | None = _BOX, batch_size: int | None = None,
         autocast: bool = False) -> torch.Tensor:
    """Fast gradient sign method: one step of size ``eps`` along the sign of the loss gradient.

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
    clip = _check_inputs(model, images, labels, clip)
    eps = checks.eps(eps)

    def step(m, x, y):
        return _box(x + eps * _loss_gradient(m, x, y).sign(), clip).detach()

    return run(model, step, images.detach(), labels, batch_size=batch_size, grad=True, autocast=autocast)


def pgd(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, eps: float, alpha: float,
        steps: int, *, norm: str = "linf", random_start: bool = True,
        generator: torch.Generator | None = None, clip: tuple[float, float] | None = _BOX,
        eps_for_division: float = 1e-10, band: nn.Module | None = None,
        batch_size: int | None = None, autocast: bool = False) -> torch.Tensor:
    """Projected gradient descent (Madry et al.): ``steps`` steps of size ``alpha``, each
    projected back onto the ``eps``-ball around the images (and into ``clip``).

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
    clip_given = clip is not _BOX
    clip = _check_inputs(model, images, labels, clip)
    norm = checks.one_of(norm, "norm", NORMS)
    eps = checks.eps(eps) if norm == "linf" else checks.number(eps, "eps", low=0)
    alpha = checks.number(alpha, "alpha", low=0, low_open=True)
    steps = checks.integer(steps, "steps", minimum=1)
    checks.boolean(random_start, "random_start")
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
            adv = _box(x + start, clip).detach() if band is None else _scale_into(x, band(start), eps, norm)
        else:
            adv = x.clone()
        return _pgd_steps(m, x, adv, y, eps, alpha, steps, norm, band, clip, eps_for_division)

    return run(model, attack, images, labels, starts, batch_size=batch_size, grad=True, autocast=autocast)


def _pgd_steps(model, images, adv, labels, eps, alpha, steps, norm, band, clip, eps_for_division=1e-10):
    """PGD's step loop, on one batch already on the model's device (inside :func:`run`);
    ``eps`` and ``alpha`` may be numbers or one per image ``(B, 1, 1, 1)``."""
    for _ in range(steps):
        grad = _loss_gradient(model, adv, labels)
        if band is not None:
            adv = _band_step(images, adv, grad, eps, alpha, norm, band)
        elif norm == "linf":
            adv = _linf_step(images, adv, grad, eps, alpha, clip)
        else:
            adv = _l2_step(images, adv, grad, eps, alpha, clip, eps_for_division)
    return adv


def _bisect(model, images, labels, norm, band, clip, high, iterations, steps):
    """:func:`minimal_distortion` on one batch on the model's device: (budgets, adversarial images)."""
    def fooled_at(idx, eps):   # eps (n, 1, 1, 1) for the images in `idx`
        adv = _pgd_steps(model, images[idx], images[idx].clone(), labels[idx], eps, 2.5 * eps / steps,
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
                       steps: int = 20, batch_size: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The smallest budget at which PGD flips each image, by bisection on a budget per image.

    Each round runs PGD (no random start, ``steps`` steps of 2.5 eps / steps, under
    ``norm``, optionally in a ``band``) on all images still searched, each at its own
    budget, and halves every image's interval. Images the network already gets wrong
    need 0; images PGD cannot flip at ``high`` (default 0.25 under L-inf, 4 under L2)
    get ``inf``. After ``iterations`` rounds the budget is within ``high / 2**iterations``
    above the smallest one PGD finds. The search runs ``batch_size`` images at a time.

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
    clip = _check_inputs(model, images, labels, _BOX)
    norm = checks.one_of(norm, "norm", NORMS)
    high = (0.25 if norm == "linf" else 4.0) if high is None else checks.number(high, "high", low=0, low_open=True)
    iterations = checks.integer(iterations, "iterations", minimum=1)
    steps = checks.integer(steps, "steps", minimum=1)
    if band is not None and not isinstance(band, nn.Module):
        raise ValueError(f"band must be a projection from frequency_band(...) or None, got {band!r}")
    clip = None if band is not None else clip

    def search(m, x, y):
        return _bisect(m, x, y, norm, band, clip, high, iterations, steps)

    return run(model, search, images.detach(), labels, batch_size=batch_size, grad=True)


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
    stepped = _box(x.detach() + (1 + overshoot) * delta, clip)
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
             overshoot: float = 0.02, *, clip: tuple[float, float] | None = _BOX,
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
    clip = _check_inputs(model, images, labels, clip)
    steps = checks.integer(steps, "steps", minimum=1)
    overshoot = checks.number(overshoot, "overshoot", low=0)

    def attack(m, x, y):
        return _deepfool_batch(m, x, y, steps, overshoot, clip)

    return run(model, attack, images.detach(), labels, batch_size=batch_size, grad=True)


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


class DeepFool(Attack):
    """DeepFool with torchattacks' settings and arithmetic, all images at once; see :func:`deepfool`.

    Example:
        >>> from freqlens.models import SmallCNN
        >>> DeepFool(SmallCNN(width=8), steps=50, overshoot=0.02)
        DeepFool(model=SmallCNN, steps=50, overshoot=0.02)
    """

    def __init__(self, model: nn.Module, steps: int = 50, overshoot: float = 0.02):
        super().__init__(model)
        self.steps = checks.integer(steps, "steps", minimum=1)
        self.overshoot = checks.number(overshoot, "overshoot", low=0)

    def forward(self, images, labels):
        return deepfool(self.model, images, labels, self.steps, self.overshoot)
