"""Noise Mask (Liao, 2018): the smallest mask of an image that keeps the network's output.

The thesis's optimisation-based saliency, batched: every image of a batch is optimised
at once, each with its own noise stream, on the model's device through
:func:`freqlens.execution.run`. :mod:`freqlens.attribution` offers it beside Captum's
methods as ``attribution.NoiseMask``.

Example:
    >>> from freqlens.models import SmallCNN
    >>> NoiseMask(SmallCNN(width=8)).attribute(torch.rand(1, 3, 32, 32), n_steps=2).shape
    torch.Size([1, 1, 32, 32])
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from freqlens import checks
from freqlens.execution import num_classes, run

__all__ = ["NoiseMask"]


class _NoiseDraws:
    """Uniform noise images, one stream per image (seeded ``seed + i``), drawn a block of steps at a time.

    Drawing per image keeps an image's noise independent of the batch it is in; drawing
    ``block`` steps at once keeps the number of calls small. ``index`` holds the images'
    positions in the whole set; the draws are made on the CPU and moved to ``like``'s device.
    """

    def __init__(self, like: torch.Tensor, seed: int, index: torch.Tensor, block: int = 32):
        self.gens = [torch.Generator().manual_seed(seed + int(i)) for i in index.tolist()]
        self.shape, self.like, self.block = tuple(like.shape[1:]), like, block
        self.buffer, self.used = None, block

    def __call__(self) -> torch.Tensor:
        if self.used == self.block:
            self.buffer = torch.stack([torch.rand((self.block, *self.shape), generator=g) for g in self.gens],
                                      dim=1).to(self.like)
            self.used = 0
        self.used += 1
        return self.buffer[self.used - 1]


class NoiseMask:
    """Noise Mask: the smallest mask that keeps a network's output when the rest is noise.

    The optimisation-based saliency of Liao, *Uncovering What Networks See by Noise
    Covering* (master's thesis, National Taiwan University, 2018): a mask
    ``M = sigmoid(V)`` per pixel, the image shown as ``X * M + U * (1 - M)`` with fresh
    uniform noise ``U`` at every step, and ``mean(M) + beta * mean((f(X) - f(X_hat))^2)``
    minimised with Adam (learning rate 0.015), starting from ``M`` near 1. ``f`` is the
    network's pre-softmax output (only the ``target`` class's, where one is given), or
    the output of the submodule named ``layer`` ("what each layer sees"). ``beta``
    defaults to ``beta_0 = 1 / mean((f(U) - f(X))^2)`` for a noise image ``U``, per image.
    The mask is the saliency: near 1 where the pixels are needed.

    All images of a batch are optimised at once; each draws its noise from its own
    generator (seeded ``seed + i`` for image ``i``), so an image gets the same mask
    whether it is optimised alone or in a batch.

    Example:
        >>> from freqlens.models import SmallCNN
        >>> masks = NoiseMask(SmallCNN(width=8)).attribute(torch.rand(2, 3, 32, 32), n_steps=5)
        >>> masks.shape, bool(((masks > 0) & (masks < 1)).all())
        (torch.Size([2, 1, 32, 32]), True)
    """

    def __init__(self, model: nn.Module, layer: str | None = None):
        checks.model(model)
        if layer is not None:
            names = dict(model.named_modules())
            if layer not in names or not layer:
                raise ValueError(f"layer must be the name of one of the model's submodules, got {layer!r}")
        self.model = model
        self.layer = layer

    def _output(self, x: torch.Tensor) -> torch.Tensor:
        if self.layer is None:
            return self.model(x)
        seen = []
        handle = dict(self.model.named_modules())[self.layer].register_forward_hook(
            lambda module, args, output: seen.append(output))
        try:
            self.model(x)
        finally:
            handle.remove()
        return seen[0]

    def attribute(self, inputs: torch.Tensor, target=None, *, n_steps: int = 300, lr: float = 0.015,
                  beta: float | None = None, init: float = 0.95, seed: int = 0, tol: float | None = None,
                  window: int = 250, show_progress: bool = False, batch_size: int | None = None) -> torch.Tensor:
        """The masks, ``(B, 1, H, W)`` in (0, 1), after ``n_steps`` steps of Adam, or fewer with ``tol``.

        ``target`` (an int or one class per image) keeps only that class's output;
        ``None`` keeps the whole output vector, as the thesis does. With ``tol``, each
        image stops once its objective has settled: when its mean over the last
        ``window`` steps is less than ``tol`` (relatively) below the mean over the window
        before. ``n_steps`` is then the most it runs; :attr:`steps` holds each image's
        number of steps after the call, and :attr:`loss` each image's loss term at its
        last step, ``beta * mean((f(X) - f(X_hat))^2)``: with the default ``beta``, the
        share of a noise image's change of the output the mask still lets through (the
        thesis's percentages per layer). The images are
        optimised ``batch_size`` at a time on the model's device (see
        :func:`freqlens.execution.run`); the masks come back on ``inputs``' device.
        """
        checks.in_unit_range(checks.images(inputs, "inputs"), "inputs")
        n_steps = checks.integer(n_steps, "n_steps", minimum=1)
        lr = checks.number(lr, "lr", low=0, low_open=True)
        init = checks.number(init, "init", low=0, high=1, low_open=True, high_open=True)
        seed = checks.integer(seed, "seed")
        if beta is not None:
            beta = checks.number(beta, "beta", low=0)
        b = inputs.shape[0]
        picked = target is not None and self.layer is None
        targets = (checks.target(target, b, num_classes(self.model, inputs)).to(inputs.device) if picked
                   else torch.zeros(b, dtype=torch.long, device=inputs.device))
        if tol is not None:
            tol = checks.number(tol, "tol", low=0, low_open=True)
        window = checks.integer(window, "window", minimum=1)
        settings = dict(n_steps=n_steps, lr=lr, beta=beta, init=init, seed=seed, picked=picked,
                        show_progress=show_progress, tol=tol, window=window)
        masks, self.steps, self.loss = run(self.model, lambda m, x, i, t: self._optimise(x, i, t, **settings),
                                           inputs, torch.arange(b, device=inputs.device), targets,
                                           batch_size=batch_size, grad=True)
        return masks

    def _optimise(self, inputs, index, target, *, n_steps, lr, beta, init, seed, picked, show_progress,
                  tol, window):
        """Adam on the masks of one batch (on the model's device, inside :func:`run`): (masks, steps, loss)."""
        b = inputs.shape[0]
        draw = _NoiseDraws(inputs, seed, index)
        # the output the mask must keep: the target's logit, or the whole output
        pick = (lambda out, t: out.gather(1, t[:, None])) if picked else (lambda out, t: out)
        with torch.no_grad():
            reference = pick(self._output(inputs), target)
            if beta is None:
                far = (pick(self._output(draw()), target) - reference).pow(2).flatten(1).mean(1)
                weight = 1.0 / far.clamp_min(1e-12)
            else:
                weight = torch.full((b,), beta, device=inputs.device)
        v = torch.full((b, 1, *inputs.shape[-2:]), float(np.log(init / (1 - init))),
                       device=inputs.device, requires_grad=True)
        adam = torch.optim.Adam([v], lr=lr)
        settle = _Settling(b, window, tol, inputs.device)
        steps = range(n_steps)
        if show_progress:
            from tqdm.auto import tqdm

            steps = tqdm(steps, desc="Noise Mask", unit="step", leave=False)
        active = torch.arange(b, device=inputs.device)   # the images still optimised
        loss = torch.zeros(b, device=inputs.device)   # each image's loss term at its last step
        for _ in steps:
            if settle.changed():   # a settled image leaves the batch: no forward pass for it
                active = (~settle.done).nonzero().squeeze(1)
            m = torch.sigmoid(v[active])
            shown = inputs[active] * m + draw()[active] * (1 - m)
            kept = (pick(self._output(shown), target[active]) - reference[active]).pow(2).flatten(1).mean(1)
            part = m.flatten(1).mean(1) + weight[active] * kept
            loss.index_copy_(0, active, (weight[active] * kept).detach())
            (grad,) = torch.autograd.grad(part.sum(), v)   # images are independent
            v.grad = grad
            objective = torch.zeros(b, device=inputs.device).index_copy(0, active, part.detach())
            frozen = v.detach().clone() if settle.any_done() else None
            adam.step()
            if frozen is not None:   # a settled image keeps its mask
                with torch.no_grad():
                    v[settle.done] = frozen[settle.done]
            if settle.record(objective.detach()):
                break
        return torch.sigmoid(v).detach(), settle.steps, loss


class _Settling:
    """Each image's objective over the steps, and whether it has settled (see ``NoiseMask.attribute``'s ``tol``).

    The check reads values back every ``window`` steps only, so the loop runs on without
    waiting on the device in between.
    """

    def __init__(self, b: int, window: int, tol: float | None, device):
        self.window, self.tol = window, tol
        self.sums = torch.zeros(2, b, device=device)   # this window's sum, the previous one's
        self.done = torch.zeros(b, dtype=torch.bool, device=device)
        self.steps = torch.zeros(b, dtype=torch.long, device=device)
        self.count = 0
        self._any = False
        self._fresh = False
        self._settled = 0

    def any_done(self) -> bool:
        return self._any

    def changed(self) -> bool:
        """True once after each window in which more images settled."""
        fresh, self._fresh = self._fresh, False
        return fresh

    def record(self, objective: torch.Tensor) -> bool:
        """Count a step; True once every image has settled."""
        self.steps += (~self.done).long()
        self.sums[0] += objective
        self.count += 1
        if self.tol is None or self.count % self.window:
            return False
        if self.count >= 2 * self.window:
            now, before = self.sums[0] / self.window, self.sums[1] / self.window
            self.done |= (before - now) < self.tol * before.abs()
        self.sums = torch.stack([torch.zeros_like(self.sums[0]), self.sums[0]])
        settled = int(self.done.sum())
        self._any, self._fresh, self._settled = settled > 0, settled > self._settled, settled
        return settled == self.done.numel()
