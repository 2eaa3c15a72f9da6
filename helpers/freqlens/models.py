"""The networks the book trains: a small CNN family for laptops and a CIFAR ResNet-18.

Every model takes images ``(B, 3, 32, 32)`` in [0, 1] and returns logits ``(B, 10)``;
the CIFAR-10 normalisation lives inside the model, so attacks, attributions and
Fourier filters all work on [0, 1] images. Every ReLU is a module of its own, applied
once and not in place: attribution tools such as Captum's guided backpropagation and
DeepLift act on ReLU modules, and silently fall back to plain gradients past a
functional ``F.relu``.
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["CIFAR_MEAN", "CIFAR_STD", "MODELS", "Normalize", "ResNet18", "SmallCNN", "build_model",
           "eval_mode"]

# Per-channel statistics of the CIFAR-10 training images, on the [0, 1] scale.
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2470, 0.2435, 0.2616)


class Normalize(nn.Module):
    """Subtract the CIFAR-10 mean and divide by its std, per channel.

    Shapes: ``(B, 3, H, W) -> (B, 3, H, W)``.

    Example:
        >>> Normalize()(torch.full((1, 3, 2, 2), 0.4914))[0, 0, 0, 0].abs().item() < 1e-6
        True
    """

    def __init__(self, mean=CIFAR_MEAN, std=CIFAR_STD):
        super().__init__()
        # Buffers, not parameters: they move with .to(device) and are saved, never trained.
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


def _norm(channels: int, batchnorm: bool) -> nn.Module:
    return nn.BatchNorm2d(channels) if batchnorm else nn.Identity()


def _he_init(model: nn.Module) -> None:
    # He initialisation keeps activations at unit scale through the ReLUs, which a network
    # without BatchNorm needs to start learning at all; PyTorch's default shrinks them.
    # With BatchNorm the scale is normalised away, and PyTorch's smaller default weights
    # train faster at a high learning rate (measured, small CNN, 10,000 images, 4 epochs:
    # 52 % vs 31 %).
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)


class _ConvPool(nn.Module):
    """conv 3x3 -> (max-pool 2) -> (BatchNorm) -> ReLU: pooling before the norm halves its cost.

    With BatchNorm the norm sits between the max-pool and the ReLU; without it the norm
    is an identity, so max-pool and ReLU meet, and the last ReLU feeds the global max.
    Captum's DeepLift is not complete through max-pooling: on small CNNs and 8
    CIFAR-10 images against a grey baseline its attributions missed f(x) - f(baseline) by
    up to 3e-3 with BatchNorm and 0.99 (of 2.6) without it; on chapter 3's trained
    networks against a black baseline, by a median 12.9 % (with BatchNorm) and 165 %
    (without) of the difference (chapter 4 measures it). ResNet18, which average-pools,
    misses by at most 1e-7.
    """

    def __init__(self, c_in: int, c_out: int, pool: bool, batchnorm: bool):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 3, padding=1, bias=not batchnorm)
        self.pool = nn.MaxPool2d(2) if pool else nn.Identity()
        self.norm = _norm(c_out, batchnorm)
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.norm(self.pool(self.conv(x))))


class SmallCNN(nn.Module):
    """A fast CIFAR CNN: four conv stages of width w, 2w, 4w, 8w, max-pooled, then a linear head.

    Built for minutes of training on a laptop CPU (the quick profile). Only the first
    convolution (3 input channels) sees the full 32x32 image; its output is pooled at
    once, so the later stages run at 16x16, 8x8 and 4x4. A wide convolution at 32x32 is
    the slowest layer a CPU can be given: pooling one stage later made the whole network
    2.9x slower to train at a lower accuracy (measured on 2 cores, 10,000 images x 6
    epochs: 54 s and 0.570 vs 19 s and 0.590). The global max-pool keeps the head tiny.
    ``batchnorm=False`` gives the same network without BatchNorm (biases instead),
    for the book's BatchNorm comparisons.

    Shapes: ``(B, 3, 32, 32)`` in [0, 1] ``-> (B, num_classes)`` logits.

    Example:
        >>> SmallCNN(width=16)(torch.rand(2, 3, 32, 32)).shape
        torch.Size([2, 10])
    """

    def __init__(self, width: int = 16, batchnorm: bool = True, dropout: float = 0.0,
                 num_classes: int = 10):
        super().__init__()
        w = width
        self.normalize = Normalize()
        self.features = nn.Sequential(
            _ConvPool(3, w, pool=True, batchnorm=batchnorm),         # 32x32 -> 16x16
            _ConvPool(w, 2 * w, pool=True, batchnorm=batchnorm),     # 16x16 -> 8x8
            _ConvPool(2 * w, 4 * w, pool=True, batchnorm=batchnorm),  # 8x8 -> 4x4
            _ConvPool(4 * w, 8 * w, pool=False, batchnorm=batchnorm),  # 4x4
        )
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.head = nn.Linear(8 * w, num_classes)
        if not batchnorm:
            _he_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(self.normalize(x))
        x = torch.amax(x, dim=(2, 3))
        return self.head(self.dropout(x))


class _BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int, batchnorm: bool):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=not batchnorm)
        self.bn1 = _norm(c_out, batchnorm)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=not batchnorm)
        self.bn2 = _norm(c_out, batchnorm)
        self.relu1 = nn.ReLU()
        self.relu2 = nn.ReLU()
        self.shortcut = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride=stride, bias=not batchnorm), _norm(c_out, batchnorm))

    def forward(self, x):
        out = self.relu1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu2(out + self.shortcut(x))


class ResNet18(nn.Module):
    """The CIFAR variant of ResNet-18 (3x3 stem, no stem max-pool), as in Wang et al.'s code.

    ``batchnorm=False`` removes every BatchNorm (convolutions get biases). ``width`` is
    the first stage's channel count (64 in the paper).

    Shapes: ``(B, 3, 32, 32)`` in [0, 1] ``-> (B, num_classes)`` logits.

    Example:
        >>> ResNet18(width=8)(torch.rand(2, 3, 32, 32)).shape
        torch.Size([2, 10])
    """

    def __init__(self, width: int = 64, batchnorm: bool = True, dropout: float = 0.0,
                 num_classes: int = 10):
        super().__init__()
        w = width
        self.normalize = Normalize()
        self.stem = nn.Sequential(nn.Conv2d(3, w, 3, padding=1, bias=not batchnorm),
                                  _norm(w, batchnorm), nn.ReLU())
        layers, c_in = [], w
        for i, c_out in enumerate((w, 2 * w, 4 * w, 8 * w)):
            stride = 1 if i == 0 else 2
            layers += [_BasicBlock(c_in, c_out, stride, batchnorm),
                       _BasicBlock(c_out, c_out, 1, batchnorm)]
            c_in = c_out
        self.layers = nn.Sequential(*layers)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.head = nn.Linear(8 * w, num_classes)
        if not batchnorm:
            _he_init(self)
            # Without BatchNorm each residual sum doubles the variance; starting every residual
            # branch at zero (as Fixup does) keeps the untrained network at unit scale.
            for block in self.layers:
                nn.init.zeros_(block.conv2.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layers(self.stem(self.normalize(x)))
        x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        return self.head(self.dropout(x))


MODELS = {"small_cnn": SmallCNN, "resnet18": ResNet18}


def build_model(name: str, width: int | None = None, batchnorm: bool = True,
                dropout: float = 0.0, num_classes: int = 10) -> nn.Module:
    """A fresh model by name (``"small_cnn"`` or ``"resnet18"``); ``width=None`` takes its default.

    Example:
        >>> build_model("small_cnn", width=16)(torch.rand(1, 3, 32, 32)).shape
        torch.Size([1, 10])
    """
    if name not in MODELS:
        raise ValueError(f"model must be one of {sorted(MODELS)}, got {name!r}")
    kwargs = dict(batchnorm=batchnorm, dropout=dropout, num_classes=num_classes)
    if width is not None:
        kwargs["width"] = width
    return MODELS[name](**kwargs)


@contextlib.contextmanager
def eval_mode(model: nn.Module):
    """The model in eval mode for the duration; every submodule gets its own mode back.

    Also when the body raises, and also for a model trained with some layers frozen in
    eval mode (BatchNorm, say): those stay frozen.

    Example:
        >>> m = SmallCNN(width=8).train()
        >>> with eval_mode(m):
        ...     m.training
        False
        >>> m.training
        True
    """
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for m, training in modes:
            m.training = training
