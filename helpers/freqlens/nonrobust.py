"""Ilyas et al.'s non-robust training sets: images attacked towards a class and relabelled with it.

Ilyas et al. (2019) argue that adversarial perturbations are *features*: patterns in the
data that predict the label, too faint for a person to see. Their test is a training set
in which those features are the only useful ones. Each training image ``x`` of class ``y``
is attacked on a standard network towards ``t = (y + 1) mod 10`` and labelled ``t``: to a
person the image still shows a ``y``, so its robust features now point to the wrong
class, and only the perturbation's features agree with the label. A fresh network
trained on it that beats chance on the *real* test set has learnt from the perturbations
features that generalise. :class:`freqlens.config.NonRobustSet` describes one such set
(``TrainConfig(nonrobust=...)`` trains on it); :func:`build` makes it. Its ``band`` cuts
the perturbation to its low or high frequencies before it is added, which asks in which
band the features that transfer live.

Example:
    >>> next_class(torch.tensor([0, 3, 9]))
    tensor([1, 4, 0])
"""

from __future__ import annotations

import torch

from freqlens import attacks, fourier
from freqlens.config import NonRobustSet   # noqa: F401 (the set's description, for the reader)

__all__ = ["attack", "build", "cut", "next_class"]


def next_class(labels: torch.Tensor, num_classes: int = 10) -> torch.Tensor:
    """Ilyas et al.'s deterministic target: ``(y + 1) mod num_classes``. Shapes: ``(B,) -> (B,)``."""
    return (labels + 1) % num_classes


def attack(model, x: torch.Tensor, y: torch.Tensor, eps: float, alpha: float, steps: int) -> torch.Tensor:
    """The images attacked on ``model`` towards :func:`next_class`, before any cut.

    Targeted PGD under L2 (``steps`` steps of ``alpha`` within ``eps``, no random start),
    clamped into [0, 1]. Shapes: ``x (B, C, H, W)``, ``y (B,)`` -> ``(B, C, H, W)``.
    """
    return attacks.pgd(model, x, next_class(y), eps, alpha, steps, norm="l2", random_start=False,
                       targeted=True)


def cut(x: torch.Tensor, adv: torch.Tensor, band: str, radius: float | None = None) -> torch.Tensor:
    """``x`` plus the perturbation ``adv - x`` cut to ``band`` (see :class:`NonRobustSet`), clamped into [0, 1].

    Shapes: ``(B, C, H, W) x 2 -> (B, C, H, W)``.

    Example:
        >>> x = torch.full((1, 3, 8, 8), 0.5)
        >>> adv = x + 0.1 * torch.randn(1, 3, 8, 8, generator=torch.Generator().manual_seed(0))
        >>> low, high = cut(x, adv, "lfc", 2), cut(x, adv, "hfc", 2)
        >>> torch.allclose((low - x) + (high - x), adv - x, atol=1e-6), torch.equal(cut(x, adv, "none"), x)
        (True, True)
    """
    delta = adv - x
    if band == "none":
        return x.clone()
    if band == "lfc":
        delta = fourier.low_pass(delta, radius)
    elif band == "hfc":
        delta = fourier.high_pass(delta, radius)
    elif band != "all":
        raise ValueError(f"band must be one of ('all', 'lfc', 'hfc', 'none'), got {band!r}")
    return (x + delta).clamp(0, 1)


def build(spec: NonRobustSet, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The non-robust set of images ``x`` with labels ``y``: ``(images, labels t)``.

    The source network comes from the experiment cache (or is trained); its attacked
    images are kept in the measurement cache, so the sets of one source and attack that
    differ only in their band attack once.
    """
    from freqlens import memo, train

    source = train.train(spec.source).model
    adv = memo.cached("non-robust set", attack, source, x, y, spec.eps, spec.alpha, spec.steps)
    return cut(x, adv.to(x.device), spec.band, spec.radius), next_class(y)
