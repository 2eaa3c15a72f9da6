"""How consistently a neuron fires for one kind of object: the class consistency of its top-activating images.

For a neuron ``n`` (a channel of a convolutional layer, its activation taken as the
maximum over positions) the images that activate it most — the top ``fraction`` of a
set — have classes; ``p_i`` is the share of class ``i`` among them, and
``consis(n) = p^T A p`` with a class-similarity matrix ``A``. A neuron that fires for
one class only scores ``A_ii = 1``; one that fires for all classes alike scores the mean
of ``A``. Adversarial images are said to activate neurons less consistently, and
adversarial training to make them more consistent (Dong et al.'s Table 1, on ImageNet).

For CIFAR-10's ten classes the book uses a small taxonomy of its own: vehicles (road:
automobile, truck; not road: airplane, ship) and animals (mammals: cat, deer, dog, horse;
others: bird, frog). ``d(i, j)`` is the number of edges between two classes in that tree
(0, 2, 4 or 6) and ``A_ij = exp(-d^2 / (2 sigma^2))``.

Example:
    >>> a = class_similarity()
    >>> a.shape, bool(a[3, 5] > a[3, 2] > a[3, 0])   # cat: dog (mammal) > bird (animal) > airplane
    (torch.Size([10, 10]), True)
"""

from __future__ import annotations

import torch
from torch import nn

from freqlens import checks
from freqlens.activations import record
from freqlens.data import CLASSES

__all__ = ["TAXONOMY", "class_similarity", "consistency", "top_activating"]

# group -> subgroup -> classes; every class sits at depth 3 of the tree
TAXONOMY = {
    "vehicle": {"road": ("automobile", "truck"), "not road": ("airplane", "ship")},
    "animal": {"mammal": ("cat", "deer", "dog", "horse"), "other animal": ("bird", "frog")},
}


def _path(name: str) -> tuple[str, str]:
    for group, subgroups in TAXONOMY.items():
        for subgroup, names in subgroups.items():
            if name in names:
                return group, subgroup
    raise ValueError(f"class {name!r} is not in the taxonomy")


def class_similarity(sigma: float = 2.0) -> torch.Tensor:
    """``A_ij = exp(-d(i, j)^2 / (2 sigma^2))`` for CIFAR-10's classes, ``d`` the tree distance of :data:`TAXONOMY`.

    Shapes: ``-> (10, 10)`` float64, in the order of :data:`freqlens.data.CLASSES`.

    Example:
        >>> a = class_similarity(2.0)
        >>> [round(float(a[3, k]), 3) for k in (3, 5, 4, 0)]   # cat with cat, dog, deer, airplane
        [1.0, 0.607, 0.607, 0.011]
    """
    sigma = checks.number(sigma, "sigma", low=0, low_open=True)
    paths = [_path(c) for c in CLASSES]
    d = torch.tensor([[0 if i == j else 2 if p == q else 4 if p[0] == q[0] else 6
                       for j, q in enumerate(paths)] for i, p in enumerate(paths)], dtype=torch.float64)
    return torch.exp(-d.square() / (2 * sigma ** 2))


def top_activating(model: nn.Module, images: torch.Tensor, layer: str, fraction: float = 0.01,
                   batch_size: int | None = None) -> torch.Tensor:
    """For each channel of ``layer``, the indices of the images that activate it most (its maximum over positions).

    ``k = max(1, round(fraction * N))`` images per channel, the strongest first.

    Shapes: ``images (N, C, H, W)`` -> ``(channels, k)`` int64.
    """
    fraction = checks.number(fraction, "fraction", low=0, high=1, low_open=True)
    peak = record(model, images, [layer], batch_size=batch_size,
                  reduce=lambda a: a.amax(dim=(2, 3)) if a.dim() == 4 else a)[layer]
    k = max(1, round(fraction * images.shape[0]))
    return peak.topk(k, dim=0).indices.T


def consistency(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, layer: str,
                fraction: float = 0.01, similarity: torch.Tensor | None = None,
                batch_size: int | None = None) -> torch.Tensor:
    """``consis(n) = p^T A p`` for every channel ``n`` of ``layer``, ``p`` the classes of its top-activating images.

    ``labels`` are the images' classes (for adversarial images, the class of the image
    they were made from). ``similarity`` defaults to :func:`class_similarity`.

    Shapes: ``images (N, C, H, W)``, ``labels (N,)`` -> ``(channels,)`` float64.

    Example:
        >>> from freqlens.data import cifar10_tensors
        >>> from freqlens.models import SmallCNN
        >>> x, y = cifar10_tensors("test", n=200)
        >>> consistency(SmallCNN(width=8), x, y, "features.3.relu").shape
        torch.Size([64])
    """
    checks.labels(labels, images.shape[0], "labels")
    a = class_similarity() if similarity is None else similarity
    if not isinstance(a, torch.Tensor) or a.dim() != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"similarity must be a square matrix (classes, classes), got {getattr(a, 'shape', a)!r}")
    top = top_activating(model, images, layer, fraction, batch_size)
    classes = labels.to(top.device)[top]                                   # (channels, k)
    if int(classes.max()) >= a.shape[0] or int(classes.min()) < 0:
        raise ValueError(f"labels must be classes in [0, {a.shape[0] - 1}] to match similarity")
    p = torch.nn.functional.one_hot(classes, a.shape[0]).double().mean(1)  # (channels, classes)
    return torch.einsum("ci,ij,cj->c", p, a.double().to(p.device), p)
