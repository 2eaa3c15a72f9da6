"""Which frequencies does a prediction use? Captum's attribution methods over Fourier coefficients.

Captum attributes a prediction to the *pixels* of an input. :class:`FrequencyAttribution`
hands Captum a different input: the centred spectrum of the image (``norm="ortho"``,
zero frequency at ``(H//2, W//2)``, the book's convention), written as real numbers —
the real parts of the coefficients in the first ``C`` channels, the imaginary parts in
the next ``C`` — and a forward function that turns them back into the image (the real
part of the inverse transform) before calling the model. Every Captum method then
works unchanged: ``IntegratedGradients``, ``Saliency``, ``NoiseTunnel``,
``FeatureAblation`` with radial bands as feature masks (:func:`band_mask`: "occlude a
band"). The attributions of the real and imaginary parts of a coefficient are added,
so a map comes back as ``(B, C, H, W)`` over the centred spectrum. For methods that
multiply by the input (Integrated Gradients, input x gradient, ablation) or take
magnitudes (``Saliency``'s default ``abs=True``) it is Hermitian symmetric: a frequency
and its mirror through the centre carry the same attribution. (A raw gradient is not:
its imaginary part changes sign in the mirror.) For Integrated Gradients the map sums
to ``f(x) - f(baseline)`` (completeness).

Example:
    >>> from captum.attr import IntegratedGradients
    >>> from freqlens.models import SmallCNN
    >>> net = SmallCNN(width=8).eval()
    >>> x = torch.rand(2, 3, 32, 32)
    >>> attr = FrequencyAttribution(IntegratedGradients, net).attribute(x, target=3, n_steps=16)
    >>> attr.shape
    torch.Size([2, 3, 32, 32])
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from freqlens import checks
from freqlens.execution import default_batch_size, num_classes, run

__all__ = ["FrequencyAttribution", "NoiseMask", "band_mask", "class_average", "from_spectrum", "radial_profile",
           "spectrum"]


def spectrum(x: torch.Tensor) -> torch.Tensor:
    """The centred orthonormal spectrum of images as real numbers: real parts, then imaginary parts.

    Shapes: ``(B, C, H, W) -> (B, 2C, H, W)``.

    Example:
        >>> x = torch.rand(1, 3, 8, 8)
        >>> torch.allclose(from_spectrum(spectrum(x)), x, atol=1e-6)
        True
    """
    checks.images(x, "inputs")
    f = torch.fft.fftshift(torch.fft.fft2(x, norm="ortho"), dim=(-2, -1))
    return torch.cat([f.real, f.imag], dim=1)


def from_spectrum(z: torch.Tensor) -> torch.Tensor:
    """Images from a real spectrum of :func:`spectrum`: the real part of the inverse transform.

    Differentiable; the inverse of :func:`spectrum` on the spectra of real images. For
    any other ``z`` it keeps the part of it that a real image can hold.

    Shapes: ``(B, 2C, H, W) -> (B, C, H, W)``.
    """
    c = z.shape[1] // 2
    f = torch.complex(z[:, :c], z[:, c:])
    h, w = z.shape[-2:]
    if h % 2 or w % 2:
        return torch.fft.ifft2(torch.fft.ifftshift(f, dim=(-2, -1)), norm="ortho").real
    # For even sizes, undoing the shift of the spectrum is multiplying the image by
    # (-1)^(m + n): a real product, cheaper than rolling complex tensors (forward and backward).
    return torch.fft.ifft2(f, norm="ortho").real * _checkerboard(h, w, z.device, z.dtype)


@functools.lru_cache(maxsize=16)
def _checkerboard(h: int, w: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    m = torch.arange(h)[:, None] + torch.arange(w)[None, :]
    return (1 - 2 * (m % 2)).to(device=device, dtype=dtype)


class _OnSpectrum(nn.Module):
    """The model seen from the spectrum: ``z -> model(from_spectrum(z))``."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, z: torch.Tensor, *args) -> torch.Tensor:
        return self.model(from_spectrum(z), *args)


def _centred_distance(height: int, width: int) -> torch.Tensor:
    # NumPy's sqrt is correctly rounded, as freqlens.fourier's masks use it: a band edge on a
    # frequency's exact distance falls on the same side in both.
    u = np.arange(height, dtype=np.float64)[:, None] - height // 2
    v = np.arange(width, dtype=np.float64)[None, :] - width // 2
    return torch.from_numpy(np.sqrt(u * u + v * v))


def band_mask(height: int, width: int, edges: Sequence[float] = (2, 4, 8, 12, 16)) -> torch.Tensor:
    """Radial bands of the centred spectrum as a Captum feature mask: band ``k`` holds ``edges[k-1] <= d < edges[k]``.

    ``d`` is a frequency's distance from the centre; band 0 lies below ``edges[0]``, the
    last band beyond ``edges[-1]``. Pass it as ``feature_mask`` to
    ``FrequencyAttribution(FeatureAblation, model).attribute`` to occlude band by band.

    Shapes: ``-> (1, 1, H, W)`` int64, ``len(edges) + 1`` bands.

    Example:
        >>> band_mask(8, 8, edges=[2])[0, 0, 4, 3:7].tolist()
        [0, 0, 0, 1]
    """
    h = checks.integer(height, "height", minimum=1)
    w = checks.integer(width, "width", minimum=1)
    edges = checks.radii(edges, h, w, name="edges")
    if list(edges) != sorted(set(edges)):
        raise ValueError(f"edges must increase strictly, got {list(edges)}")
    d = _centred_distance(h, w)
    return torch.bucketize(d, torch.tensor(edges, dtype=torch.float64), right=True)[None, None]


def radial_profile(attributions: torch.Tensor) -> torch.Tensor:
    """Attribution per ring of the centred spectrum: summed over channels and over frequencies at each rounded distance.

    Ring ``k`` holds the frequencies whose distance from the centre rounds to ``k``
    (``k = 0 .. round(corner)``), so the profile sums to the map's total.

    Shapes: ``(B, C, H, W) -> (B, R)``.

    Example:
        >>> radial_profile(torch.ones(1, 3, 32, 32))[0, :3].tolist()
        [3.0, 24.0, 36.0]
    """
    checks.images(attributions, "attributions")
    h, w = attributions.shape[-2:]
    rings = torch.round(_centred_distance(h, w)).long().flatten().to(attributions.device)
    n = int(rings.max()) + 1
    per_frequency = attributions.sum(dim=1).flatten(1)
    out = torch.zeros(attributions.shape[0], n, dtype=per_frequency.dtype, device=attributions.device)
    return out.index_add_(1, rings, per_frequency)


def class_average(attributions: torch.Tensor, labels: torch.Tensor, num_classes: int = 10) -> torch.Tensor:
    """The mean attribution map of each class (NaN for a class with no image).

    Shapes: ``attributions (B, C, H, W)``, ``labels (B,)`` -> ``(num_classes, C, H, W)``.

    Example:
        >>> class_average(torch.arange(4.).view(4, 1, 1, 1), torch.tensor([0, 1, 0, 1]), 2).flatten().tolist()
        [1.0, 2.0]
    """
    checks.images(attributions, "attributions")
    checks.labels(labels, attributions.shape[0], "labels")
    k = checks.integer(num_classes, "num_classes", minimum=1)
    labels = labels.to(attributions.device)
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= k):
        raise ValueError(f"labels must be classes in [0, {k - 1}], got {int(labels.min())} to {int(labels.max())}")
    sums = torch.zeros(k, *attributions.shape[1:], dtype=attributions.dtype, device=attributions.device)
    sums.index_add_(0, labels, attributions)
    counts = torch.bincount(labels, minlength=k).to(attributions.dtype).view(-1, 1, 1, 1)
    return sums / counts


class FrequencyAttribution:
    """A Captum attribution method applied over the Fourier coefficients of the input.

    ``method`` is a Captum class whose first argument is the forward function
    (``IntegratedGradients``, ``Saliency``, ``InputXGradient``, ``FeatureAblation``,
    ``Occlusion``, ...), or any function of the forward function that returns an
    attribution object (``lambda f: NoiseTunnel(Saliency(f))``); further arguments go
    to it. :meth:`attribute` takes Captum's arguments with images in place of the
    spectrum: ``inputs`` and ``baselines`` are images in [0, 1] (``baselines`` also a
    number, a constant image; ``None``, Captum's default, is the black image), and
    ``feature_mask`` a map over the centred spectrum such as :func:`band_mask`: each
    frequency of a group then carries the group's effect, as in Captum.

    Example:
        >>> from captum.attr import Saliency
        >>> from freqlens.models import SmallCNN
        >>> sal = FrequencyAttribution(Saliency, SmallCNN(width=8).eval())
        >>> sal.attribute(torch.rand(1, 3, 32, 32), target=0).shape
        torch.Size([1, 3, 32, 32])
    """

    def __init__(self, method, model: nn.Module, *args, **kwargs):
        checks.model(model)
        if not callable(method):
            raise ValueError(f"method must be a Captum attribution class (e.g. IntegratedGradients) "
                             f"or a function of the forward function, got {method!r}")
        self.model = model
        self.forward_func = _OnSpectrum(model)
        self.method = method(self.forward_func, *args, **kwargs)
        if not hasattr(self.method, "attribute"):
            raise ValueError(f"method must build an object with an attribute() method, as Captum's "
                             f"do, got {type(self.method).__name__}")

    def _baselines(self, baselines, inputs: torch.Tensor):
        """The baselines as images: ``(1 or B, C, H, W)``; ``None`` stays ``None``."""
        if baselines is None:
            return None
        if isinstance(baselines, torch.Tensor) and baselines.dim() == 4:
            checks.in_unit_range(checks.images(baselines, "baselines"), "baselines")
            if baselines.shape[1:] != inputs.shape[1:] or baselines.shape[0] not in (1, inputs.shape[0]):
                raise ValueError(f"baselines must be images of shape (1 or {inputs.shape[0]}, "
                                 f"{', '.join(map(str, inputs.shape[1:]))}), got {tuple(baselines.shape)}")
            return baselines.to(inputs.dtype)
        value = checks.number(baselines, "baselines", low=0, high=1)
        return torch.full_like(inputs[:1], value)

    def _feature_mask(self, mask, inputs: torch.Tensor):
        """The mask expanded to the channels: ``(1 or B, C, H, W)``."""
        if mask is None:
            return None
        if not isinstance(mask, torch.Tensor) or mask.dim() != 4 or mask.is_floating_point():
            raise ValueError(f"feature_mask must be an integer tensor (1 or B, 1 or C, H, W) over the "
                             f"centred spectrum (see band_mask), got {getattr(mask, 'shape', type(mask).__name__)}")
        c = inputs.shape[1]
        if mask.shape[-2:] != inputs.shape[-2:] or mask.shape[1] not in (1, c) \
                or mask.shape[0] not in (1, inputs.shape[0]):
            raise ValueError(f"feature_mask must have shape (1 or {inputs.shape[0]}, 1 or {c}, "
                             f"{inputs.shape[-2]}, {inputs.shape[-1]}), got {tuple(mask.shape)}")
        return mask.expand(mask.shape[0], c, *mask.shape[-2:])

    def _takes(self, name: str) -> bool:
        return name in inspect.signature(self.method.attribute).parameters

    def attribute(self, inputs: torch.Tensor, target=None, baselines=None, feature_mask=None, **kwargs):
        """Attributions over the centred spectrum, ``(B, C, H, W)``; with Captum's
        ``return_convergence_delta=True``, ``(attributions, delta)``.

        Keyword arguments other than these go to the Captum method unchanged
        (``n_steps``, ``internal_batch_size``, ``nt_samples``, ...). The images go
        through :func:`freqlens.execution.run`: on the model's device, in eval mode, in
        chunks of ``internal_batch_size`` images (default: the device's batch for the
        model), and for methods that take it Captum's ``internal_batch_size`` is set to
        the same, so that no forward pass sees more images than that.
        """
        checks.in_unit_range(checks.images(inputs, "inputs"), "inputs")
        n = inputs.shape[0]
        if target is not None:
            target = checks.target(target, n, num_classes(self.model, inputs)).to(inputs.device)
        if "n_steps" in kwargs:
            kwargs["n_steps"] = checks.integer(kwargs["n_steps"], "n_steps", minimum=1)
        batch = checks.batch_size(kwargs.get("internal_batch_size"), "internal_batch_size") \
            or default_batch_size(self.model, grad=True)
        if self._takes("internal_batch_size"):
            kwargs["internal_batch_size"] = batch
        else:   # the method runs one forward pass per chunk: the chunks are the batches
            kwargs.pop("internal_batch_size", None)
        base = self._baselines(baselines, inputs)
        mask = self._feature_mask(feature_mask, inputs)
        # per-image baselines and masks travel with their images; shared ones go whole
        per_image = {k: v for k, v in (("baselines", base), ("feature_mask", mask))
                     if v is not None and v.shape[0] == n and n > 1}
        shared = {k: v for k, v in (("baselines", base), ("feature_mask", mask))
                  if v is not None and k not in per_image}
        names = list(per_image)
        c = inputs.shape[1]

        def attribute(model, xb, tb, *rest):
            extra = {**{k: v.to(xb.device) for k, v in shared.items()}, **dict(zip(names, rest))}
            if "baselines" in extra:
                extra["baselines"] = spectrum(extra["baselines"])
            if "feature_mask" in extra:   # a coefficient's real and imaginary parts together
                extra["feature_mask"] = torch.cat([extra["feature_mask"]] * 2, dim=1)
            z = spectrum(xb).detach().requires_grad_()
            out = self.method.attribute(z, target=tb if target is not None else None, **extra, **kwargs)
            attr, more = (out[0], out[1:]) if isinstance(out, tuple) else (out, ())
            # A feature group gives each of its elements the group's whole effect; a coefficient's
            # two parts are in the same group, so one of them carries it. Otherwise the two
            # parts' shares add up to the coefficient's.
            folded = (attr[:, :c] if "feature_mask" in extra else attr[:, :c] + attr[:, c:]).detach()
            return (folded, *(m.detach() for m in more)) if more else folded

        targets = target if target is not None else torch.zeros(n, dtype=torch.long, device=inputs.device)
        return run(self.model, attribute, inputs, targets, *per_image.values(), batch_size=batch, grad=True)


# --------------------------------------------------------------------------- Noise Mask

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
                  beta: float | None = None, init: float = 0.95, seed: int = 0,
                  show_progress: bool = False, batch_size: int | None = None) -> torch.Tensor:
        """The masks, ``(B, 1, H, W)`` in (0, 1), after ``n_steps`` steps of Adam.

        ``target`` (an int or one class per image) keeps only that class's output;
        ``None`` keeps the whole output vector, as the thesis does. The images are
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
        settings = dict(n_steps=n_steps, lr=lr, beta=beta, init=init, seed=seed, picked=picked,
                        show_progress=show_progress)
        return run(self.model, lambda m, x, i, t: self._optimise(x, i, t, **settings), inputs,
                   torch.arange(b, device=inputs.device), targets, batch_size=batch_size, grad=True)

    def _optimise(self, inputs, index, target, *, n_steps, lr, beta, init, seed, picked, show_progress):
        """Adam on the masks of one batch (on the model's device, inside :func:`run`)."""
        b = inputs.shape[0]
        draw = _NoiseDraws(inputs, seed, index)
        pick = (lambda out: out.gather(1, target[:, None])) if picked else (lambda out: out)
        with torch.no_grad():
            reference = pick(self._output(inputs))
            if beta is None:
                far = (pick(self._output(draw())) - reference).pow(2).flatten(1).mean(1)
                weight = 1.0 / far.clamp_min(1e-12)
            else:
                weight = torch.full((b,), beta, device=inputs.device)
        v = torch.full((b, 1, *inputs.shape[-2:]), float(np.log(init / (1 - init))),
                       device=inputs.device, requires_grad=True)
        adam = torch.optim.Adam([v], lr=lr)
        steps = range(n_steps)
        if show_progress:
            from tqdm.auto import tqdm

            steps = tqdm(steps, desc="Noise Mask", unit="step", leave=False)
        for _ in steps:
            m = torch.sigmoid(v)
            shown = inputs * m + draw() * (1 - m)
            kept = (pick(self._output(shown)) - reference).pow(2).flatten(1).mean(1)
            loss = (m.flatten(1).mean(1) + weight * kept).sum()   # images are independent
            (grad,) = torch.autograd.grad(loss, v)
            v.grad = grad
            adam.step()
        return torch.sigmoid(v).detach()
