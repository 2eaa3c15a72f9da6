"""The attacks as torchattacks names and parametrises them: settings checked once, then ``atk(images, labels)``.

:class:`FGSM`, :class:`PGD`, :class:`PGDL2` and :class:`DeepFool` each store their
settings and call their function of the core (:func:`~freqlens.attacks.gradient.fgsm`,
:func:`~freqlens.attacks.gradient.pgd`, :func:`~freqlens.attacks.boundary.deepfool`).
"""

from __future__ import annotations

import torch
from torch import nn

from freqlens import checks
from freqlens.attacks.boundary import deepfool
from freqlens.attacks.gradient import check_model, fgsm, pgd

__all__ = ["Attack", "DeepFool", "FGSM", "PGD", "PGDL2"]


class Attack:
    """An attack with its settings, called as ``atk(images, labels)`` (torchattacks' pattern)."""

    def __init__(self, model: nn.Module):
        self.model = check_model(model)

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
