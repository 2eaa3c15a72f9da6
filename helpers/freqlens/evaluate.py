"""Batched evaluation of a trained model: on the images, and on their LFC and HFC copies.

Every function takes images ``(N, 3, H, W)`` in [0, 1] and labels ``(N,)`` on any
device and runs through :func:`freqlens.execution.run`: a batch at a time on the
model's device, without gradients, in float32 unless ``autocast=True`` (mixed
precision on CUDA, for speed; the book's chapters leave it off, since an HFC copy
is a faint signal on a large offset that bfloat16 would round away).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from freqlens import checks, fourier
from freqlens.execution import default_batch_size, run

__all__ = ["COMPONENTS", "accuracy", "default_batch_size", "frequency_accuracy", "hfc_keeps_label",
           "least_likely", "predictions", "probabilities"]

COMPONENTS = ("lfc", "hfc")


def _check(x, y=None, batch_size=None) -> int | None:
    """Images, labels (where given) and a batch size, through :mod:`freqlens.checks`."""
    checks.images(x)
    if y is not None:
        checks.labels(y, x.shape[0])
    return checks.batch_size(batch_size)


def _check_not_empty(x: torch.Tensor) -> None:
    if x.shape[0] == 0:
        raise ValueError("x must hold at least one image, got 0")


def _logits(model: nn.Module, xb: torch.Tensor) -> torch.Tensor:
    return model(xb.contiguous(memory_format=torch.channels_last)).float()


def predictions(model: nn.Module, x: torch.Tensor, batch_size: int | None = None,
                autocast: bool = False) -> torch.Tensor:
    """The model's predicted classes, computed in batches.

    Shapes: ``(N, C, H, W) -> (N,)`` int64, on ``x``'s device.

    Example:
        >>> from freqlens.models import SmallCNN
        >>> predictions(SmallCNN(width=8), torch.rand(5, 3, 32, 32)).shape
        torch.Size([5])
    """
    return _classes(model, x, batch_size, autocast, torch.argmax)


def least_likely(model: nn.Module, x: torch.Tensor, batch_size: int | None = None) -> torch.Tensor:
    """The class the model finds least likely for each image (the smallest logit).

    The target of Dong et al.'s adversarial twins (and of torchattacks' least-likely mode).

    Shapes: ``(N, C, H, W) -> (N,)`` int64, on ``x``'s device.

    Example:
        >>> from freqlens.models import SmallCNN
        >>> least_likely(SmallCNN(width=8), torch.rand(3, 3, 32, 32)).shape
        torch.Size([3])
    """
    return _classes(model, x, batch_size, False, torch.argmin)


def _classes(model, x, batch_size, autocast, pick) -> torch.Tensor:
    """One class per image, ``pick``ed from its logits (argmax, argmin), in batches."""
    batch_size = _check(x, None, batch_size)
    if x.shape[0] == 0:
        return torch.empty(0, dtype=torch.long, device=x.device)
    return run(model, lambda m, xb: pick(_logits(m, xb), 1), x, batch_size=batch_size, autocast=autocast)


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int | None = None,
             autocast: bool = False) -> float:
    """Fraction of images classified correctly.

    Shapes: ``x (N, C, H, W)``, ``y (N,)`` -> a float in [0, 1].

    Example:
        >>> from freqlens.data import cifar10_tensors
        >>> from freqlens.models import SmallCNN
        >>> x, y = cifar10_tensors("test", n=100)
        >>> 0.0 <= accuracy(SmallCNN(width=8), x, y) <= 1.0
        True
    """
    batch_size = _check(x, y, batch_size)
    _check_not_empty(x)
    right = run(model, lambda m, xb, yb: _logits(m, xb).argmax(1) == yb, x, y,
                batch_size=batch_size, autocast=autocast)
    return int(right.sum()) / x.shape[0]


def frequency_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                       radii: Iterable[float] = (4, 8, 12, 16), rescale: bool = False,
                       mask: str = "circle", batch_size: int | None = None,
                       components: Iterable[str] = COMPONENTS, autocast: bool = False) -> dict:
    """Accuracy on the images and on their LFC and HFC copies at every radius, in one pass.

    Each batch is split once per radius on the model's device. ``components=("lfc",)``
    (or ``("hfc",)``) measures one kind of copy only, at half the cost.

    Shapes: ``x (N, C, H, W)``, ``y (N,)`` -> ``{"original": acc, "lfc": {r: acc},
    "hfc": {r: acc}}`` with float radii as keys (only the components asked for).

    Example:
        >>> from freqlens.data import cifar10_tensors
        >>> from freqlens.models import SmallCNN
        >>> x, y = cifar10_tensors("test", n=100)
        >>> sorted(frequency_accuracy(SmallCNN(width=8), x, y, radii=[4, 8])["hfc"])
        [4.0, 8.0]
        >>> sorted(frequency_accuracy(SmallCNN(width=8), x, y, radii=[4], components=["lfc"]))
        ['lfc', 'original']
    """
    batch_size = _check(x, y, batch_size)
    _check_not_empty(x)
    radii = checks.radii(radii, *x.shape[-2:])
    rescale = checks.boolean(rescale, "rescale")
    mask = checks.one_of(mask, "mask", fourier.MASKS)
    components = checks.subset(components, "components", COMPONENTS)

    def right(m, xb, yb):
        out = {"original": _logits(m, xb).argmax(1) == yb, **{c: {} for c in components}}
        for r in radii:
            copies = dict(zip(COMPONENTS, fourier.split(xb.float(), r, mask=mask, rescale=rescale)))
            for c in components:
                out[c][r] = _logits(m, copies[c]).argmax(1) == yb
        return out

    hits = run(model, right, x, y, batch_size=batch_size, autocast=autocast)
    n = x.shape[0]
    return {"original": int(hits["original"].sum()) / n,
            **{c: {r: int(hits[c][r].sum()) / n for r in radii} for c in components}}


def probabilities(model: nn.Module, x: torch.Tensor, batch_size: int | None = None,
                  autocast: bool = False) -> torch.Tensor:
    """The model's softmax class probabilities, computed in batches.

    Shapes: ``(N, C, H, W) -> (N, classes)`` float32, on ``x``'s device.

    Example:
        >>> from freqlens.models import SmallCNN
        >>> p = probabilities(SmallCNN(width=8), torch.rand(3, 3, 32, 32))
        >>> p.shape, bool(torch.allclose(p.sum(1), torch.ones(3)))
        (torch.Size([3, 10]), True)
    """
    batch_size = _check(x, None, batch_size)
    if x.shape[0] == 0:
        return torch.empty(0, 0, device=x.device)
    return run(model, lambda m, xb: torch.softmax(_logits(m, xb), dim=1), x, batch_size=batch_size,
               autocast=autocast)


def hfc_keeps_label(model: nn.Module, x: torch.Tensor, y: torch.Tensor, radius: float,
                    rescale: bool = False, mask: str = "circle",
                    batch_size: int | None = None, autocast: bool = False) -> torch.Tensor:
    """Indices of the images the model gets right whose HFC copy keeps that label while the LFC copy loses it.

    Wang's blog counts about 600 such images for a ResNet-18, without saying at which
    radius or among which images; the paper gives no count.

    Shapes: ``x (N, C, H, W)``, ``y (N,)`` -> ``(K,)`` int64 indices into ``x``, ascending,
    on the CPU.

    Example:
        >>> from freqlens.data import cifar10_tensors
        >>> from freqlens.models import SmallCNN
        >>> x, y = cifar10_tensors("test", n=100)
        >>> hfc_keeps_label(SmallCNN(width=8), x, y, radius=8).dtype
        torch.int64
    """
    batch_size = _check(x, y, batch_size)
    r = checks.radius(radius, *x.shape[-2:])
    rescale = checks.boolean(rescale, "rescale")
    mask = checks.one_of(mask, "mask", fourier.MASKS)
    if x.shape[0] == 0:
        return torch.zeros(0, dtype=torch.long)

    def keeps(m, xb, yb):
        lfc, hfc = fourier.split(xb.float(), r, mask=mask, rescale=rescale)
        right = _logits(m, xb).argmax(1) == yb
        return right & (_logits(m, hfc).argmax(1) == yb) & (_logits(m, lfc).argmax(1) != yb)

    kept = run(model, keeps, x, y, batch_size=batch_size, autocast=autocast)
    return torch.nonzero(kept.cpu()).flatten()
