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

:class:`PixelAttribution` runs a Captum method over the pixels the same way, a batch at
a time on the model's device, and :class:`NoiseMask` is the thesis's optimised mask.

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

import copy
import functools
import inspect
from collections.abc import Sequence

import numpy as np
import torch
from captum.attr import DeepLift, LayerDeepLift
from torch import nn

from freqlens import checks
from freqlens.execution import default_batch_size, num_classes, run
from freqlens.noise_mask import NoiseMask   # the thesis's method, in its own module

__all__ = ["FrequencyAttribution", "LogitDifferences", "NoiseMask", "PixelAttribution", "band_mask",
           "class_average", "from_spectrum", "lrp_ready", "radial_profile", "spectrum"]


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


def lrp_ready(model: nn.Module) -> nn.Module:
    """A copy of ``model`` that Captum's ``LRP`` runs on, computing the same function.

    Captum's LRP needs a rule for every leaf module: it has them for convolutions,
    linear layers, BatchNorm and pooling (ε-LRP), and passes ReLU and dropout through.
    The copy swaps the two leaves it lacks rules for: each ``nn.Identity`` for a dropout
    of rate 0, and the input's :class:`~freqlens.models.Normalize` for the equivalent
    per-channel 1 x 1 convolution (so its relevance is that of an affine layer).

    Example:
        >>> from captum.attr import LRP
        >>> from freqlens.models import SmallCNN
        >>> net = SmallCNN(width=8).eval()
        >>> x = torch.rand(2, 3, 32, 32)
        >>> ready = lrp_ready(net)
        >>> bool(torch.allclose(ready(x), net(x), atol=1e-5))
        True
        >>> PixelAttribution(LRP, ready).attribute(x, target=0).shape
        torch.Size([2, 3, 32, 32])
    """
    from freqlens.models import Normalize

    checks.model(model)
    ready = copy.deepcopy(model).eval()
    for parent in list(ready.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.Identity):
                setattr(parent, name, nn.Dropout(0.0))
            elif isinstance(child, Normalize):
                c = child.mean.shape[1]
                conv = nn.Conv2d(c, c, 1, groups=c).to(device=child.mean.device, dtype=child.mean.dtype)
                with torch.no_grad():
                    conv.weight.copy_((1 / child.std).reshape(c, 1, 1, 1))
                    conv.bias.copy_((-child.mean / child.std).reshape(c))
                conv.requires_grad_(False)
                setattr(parent, name, conv)
    return ready


class LogitDifferences(nn.Module):
    """A classifier's logits as every difference of two: output ``a * K + b`` is ``f_a - f_b``.

    Attributing ``target=a * K + b`` attributes the margin of class ``a`` over class ``b``
    in one pass, where attributing ``f_a`` and ``f_b`` apart and subtracting takes two
    (the same result for methods linear in the output, such as Integrated Gradients).
    :meth:`target` gives the index of the pair per image.

    Shapes: ``(B, 3, H, W) -> (B, K * K)``.

    Example:
        >>> from freqlens.models import SmallCNN
        >>> net = SmallCNN(width=8).eval()
        >>> x = torch.rand(2, 3, 32, 32)
        >>> pairs = LogitDifferences(net)
        >>> t = pairs.target(torch.tensor([1, 2]), torch.tensor([0, 0]))
        >>> logits = net(x)
        >>> torch.allclose(pairs(x).gather(1, t[:, None])[:, 0], logits[:, 1:3].diagonal() - logits[:, 0])
        True
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.model(x)
        return (logits[:, :, None] - logits[:, None, :]).flatten(1)

    def target(self, a: torch.Tensor, b: torch.Tensor, num_classes: int = 10) -> torch.Tensor:
        """The output index of ``f_a - f_b`` per image, for logits of ``num_classes`` classes.

        ``a`` and ``b`` are classes as :func:`freqlens.checks.target` takes them: an int, or
        one per image as an integer tensor.
        """
        n = next((len(c) for c in (a, b) if isinstance(c, torch.Tensor) and c.dim() == 1), 1)
        return checks.target(a, n, num_classes, "a") * num_classes + checks.target(b, n, num_classes, "b")


class PixelAttribution:
    """A Captum attribution method over the pixels, run as every network call of the book is.

    ``method`` is a Captum class whose first argument is the forward function
    (``IntegratedGradients``, ``Saliency``, ``GuidedBackprop``, ``DeepLift``,
    ``LayerGradCam``, ``FeatureAblation``, ...), or any function of the forward function
    that returns an attribution object (``lambda f: NoiseTunnel(Saliency(f))``); further
    arguments go to it (a layer, for Captum's layer methods). :meth:`attribute` takes
    Captum's arguments; the images go through :func:`freqlens.execution.run`, so the
    same call works with the model on a GPU and the images on the CPU, and no forward
    pass sees more than a batch.

    Example:
        >>> from captum.attr import Saliency
        >>> from freqlens.models import SmallCNN
        >>> sal = PixelAttribution(Saliency, SmallCNN(width=8))
        >>> sal.attribute(torch.rand(2, 3, 32, 32), target=0).shape
        torch.Size([2, 3, 32, 32])
    """

    def __init__(self, method, model: nn.Module, *args, **kwargs):
        checks.model(model)
        if not callable(method):
            raise ValueError(f"method must be a Captum attribution class (e.g. IntegratedGradients) "
                             f"or a function of the forward function, got {method!r}")
        self.model = model
        self.forward_func = self._forward_func(model)
        self.method = method(self.forward_func, *args, **kwargs)
        if not hasattr(self.method, "attribute"):
            raise ValueError(f"method must build an object with an attribute() method, as Captum's "
                             f"do, got {type(self.method).__name__}")

    # What the method sees (the pixels here; the spectrum in FrequencyAttribution), and how
    # its attributions come back to the images' channels.
    def _forward_func(self, model: nn.Module):
        return model

    def _encode(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def _encode_mask(self, mask: torch.Tensor) -> torch.Tensor:
        return mask

    def _fold(self, attr: torch.Tensor, channels: int, masked: bool) -> torch.Tensor:
        return attr

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
            raise ValueError(f"feature_mask must be an integer tensor (1 or B, 1 or C, H, W) such as "
                             f"band_mask(...), got {getattr(mask, 'shape', type(mask).__name__)}")
        c = inputs.shape[1]
        if mask.shape[-2:] != inputs.shape[-2:] or mask.shape[1] not in (1, c) \
                or mask.shape[0] not in (1, inputs.shape[0]):
            raise ValueError(f"feature_mask must have shape (1 or {inputs.shape[0]}, 1 or {c}, "
                             f"{inputs.shape[-2]}, {inputs.shape[-1]}), got {tuple(mask.shape)}")
        return mask.expand(mask.shape[0], c, *mask.shape[-2:])

    def _takes(self, name: str) -> bool:
        return name in inspect.signature(self.method.attribute).parameters

    def attribute(self, inputs: torch.Tensor, target=None, baselines=None, feature_mask=None, **kwargs):
        """The attributions, ``(B, C, H, W)`` (a layer method's own shape); with Captum's
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
            if isinstance(self.method, (DeepLift, LayerDeepLift)):   # it runs images and baselines at once
                batch = max(1, batch // 2)
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
                extra["baselines"] = self._encode(extra["baselines"])
            if "feature_mask" in extra:
                extra["feature_mask"] = self._encode_mask(extra["feature_mask"])
            z = self._encode(xb).detach().requires_grad_()
            out = self.method.attribute(z, target=tb if target is not None else None, **extra, **kwargs)
            attr, more = (out[0], out[1:]) if isinstance(out, tuple) else (out, ())
            folded = self._fold(attr, c, "feature_mask" in extra).detach()
            return (folded, *(m.detach() for m in more)) if more else folded

        targets = target if target is not None else torch.zeros(n, dtype=torch.long, device=inputs.device)
        return run(self.model, attribute, inputs, targets, *per_image.values(), batch_size=batch, grad=True)


class FrequencyAttribution(PixelAttribution):
    """A Captum attribution method applied over the Fourier coefficients of the input.

    ``method`` is a Captum class whose first argument is the forward function
    (``IntegratedGradients``, ``Saliency``, ``InputXGradient``, ``FeatureAblation``,
    ``Occlusion``, ...), or any function of the forward function that returns an
    attribution object (``lambda f: NoiseTunnel(Saliency(f))``); further arguments go
    to it. :meth:`attribute` takes Captum's arguments with images in place of the
    spectrum: ``inputs`` and ``baselines`` are images in [0, 1] (``baselines`` also a
    number, a constant image; ``None``, Captum's default, is the black image), and
    ``feature_mask`` a map over the centred spectrum such as :func:`band_mask`: each
    frequency of a group then carries the group's effect, as in Captum. It runs as
    :class:`PixelAttribution` does, a batch at a time on the model's device.

    Example:
        >>> from captum.attr import Saliency
        >>> from freqlens.models import SmallCNN
        >>> sal = FrequencyAttribution(Saliency, SmallCNN(width=8).eval())
        >>> sal.attribute(torch.rand(1, 3, 32, 32), target=0).shape
        torch.Size([1, 3, 32, 32])
    """

    def _forward_func(self, model: nn.Module):
        return _OnSpectrum(model)

    def _encode(self, x: torch.Tensor) -> torch.Tensor:
        return spectrum(x)

    def _encode_mask(self, mask: torch.Tensor) -> torch.Tensor:
        return torch.cat([mask] * 2, dim=1)   # a coefficient's real and imaginary parts together

    def _fold(self, attr: torch.Tensor, channels: int, masked: bool) -> torch.Tensor:
        # A feature group gives each of its elements the group's whole effect; a coefficient's
        # two parts are in the same group, so one of them carries it. Otherwise the two
        # parts' shares add up to the coefficient's.
        return attr[:, :channels] if masked else attr[:, :channels] + attr[:, channels:]
