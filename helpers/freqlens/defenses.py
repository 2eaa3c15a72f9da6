"""Defenses and what they do to a network's frequencies: kernel smoothness, kernel smoothing, input filters.

Adversarial training itself lives in the trainer (``TrainConfig(adv_eps=...)``; chapter
3's ``heuristics.config("adversarial")`` is the reference recipe). Here:

* Smoothness of the first-layer kernels, which robust networks are said to have more of
  (Wang et al., Fig. 3), as the sources define it: :func:`adjacent_differences` ("the
  differences between adjacent values are small", the blog) and :func:`kernel_high_share`
  ("negligible weights at the high end of the kernel's spectrum", the slides); beside
  them :func:`kernel_smoothness`, the share at the zero frequency alone (1 for a flat
  kernel, 0 for a smooth ramp that sums to zero: another quantity).
* :func:`smooth_kernels`: the reference code's smoothing of the first convolution, each
  3 x 3 slice convolved spatially with ``[[r, r, r], [r, 1, r], [r, r, r]]`` (symmetric
  boundary, same size, no renormalisation). The reference's PyTorch port applied it
  across the channel axes of an ``(out, in, 3, 3)`` tensor by mistake; this one does not.
  The blog names two more ways it tried without reporting them: :func:`low_pass_kernels`
  filters each slice's high frequencies away, and a penalty on :func:`roughness` during
  training (``TrainConfig(kernel_penalty=...)``) limits the differences of adjacent weights.
* :func:`low_pass_defense`: a network behind a low-pass filter of its input;
  :func:`band_stop_defense` and :class:`BandStop`: behind a filter that attenuates one
  ring of frequencies (a band chosen from where attacks act) and passes the rest; and
  :class:`StraightThrough`, which makes any input transformation look like the
  identity to gradients (BPDA, Athalye et al. 2018) for attacking a defense whose step
  is not differentiable; :class:`Rounding`, such a step (a rounding to a few grey
  levels, whose gradient is zero almost everywhere: it masks the gradient).

Example:
    >>> from freqlens.models import SmallCNN
    >>> net = SmallCNN(width=8)
    >>> kernel_smoothness(net).shape
    torch.Size([8, 3])
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn import functional as F

from freqlens import checks, fourier

__all__ = ["BandStop", "Rounding", "StraightThrough", "adjacent_differences", "band_stop_defense", "first_conv",
           "kernel_high_share", "kernel_smoothness", "low_pass_defense", "low_pass_kernels", "roughness",
           "smooth_kernels"]


def first_conv(model: nn.Module) -> nn.Conv2d:
    """The model's first ``nn.Conv2d``, the one that sees the image.

    Example:
        >>> from freqlens.models import SmallCNN
        >>> first_conv(SmallCNN(width=8)).weight.shape
        torch.Size([8, 3, 3, 3])
    """
    checks.model(model)
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            return m
    raise ValueError(f"model must hold a torch.nn.Conv2d, found none in {type(model).__name__}")


def _weights(kernels) -> torch.Tensor:
    w = first_conv(kernels).weight if isinstance(kernels, nn.Module) else kernels
    if not isinstance(w, torch.Tensor) or w.dim() != 4 or not w.is_floating_point():
        raise ValueError(f"kernels must be a model or float convolution weights (out, in, kh, kw), "
                         f"got {getattr(w, 'shape', type(w).__name__)}")
    return w.detach()


def kernel_smoothness(kernels) -> torch.Tensor:
    """Share of each kernel slice's spectral energy at the zero frequency: ``(sum k)^2 / (kh kw sum k^2)``.

    1 for a constant slice, near 0 for a slice that sums to zero (a pure edge or
    checkerboard detector). ``kernels`` is a model (its first convolution) or weights.

    Shapes: ``(out, in, kh, kw) -> (out, in)``.

    Example:
        >>> kernel_smoothness(torch.ones(1, 1, 3, 3)), kernel_smoothness(torch.tensor([[[[1., -1.], [-1., 1.]]]]))
        (tensor([[1.]]), tensor([[0.]]))
    """
    weights = _weights(kernels)
    w = weights.cpu().double()   # on the CPU: an MPS device has no float64
    total = w.square().sum(dim=(2, 3))
    dc = w.sum(dim=(2, 3)).square() / (w.shape[2] * w.shape[3])
    return (dc / total.clamp_min(1e-30)).to(torch.float32).to(weights.device)


def roughness(weights: torch.Tensor) -> torch.Tensor:
    """The squared differences of adjacent weights of each slice over its energy, differentiably.

    The quantity :func:`adjacent_differences` reports, on the weights as given (their
    dtype and device, in the graph): what a penalty on rough kernels trains against.

    Shapes: ``(out, in, kh, kw) -> (out, in)``.

    Example:
        >>> w = torch.tensor([[[[-1., 0., 1.], [-1., 0., 1.], [-1., 0., 1.]]]], requires_grad=True)
        >>> r = roughness(w); r.sum().backward(); r.detach(), w.grad.shape
        (tensor([[1.]]), torch.Size([1, 1, 3, 3]))
    """
    if not isinstance(weights, torch.Tensor) or weights.dim() != 4 or not weights.is_floating_point():
        raise ValueError(f"weights must be float convolution weights (out, in, kh, kw), "
                         f"got {getattr(weights, 'shape', type(weights).__name__)}")
    rows = (weights[..., :, 1:] - weights[..., :, :-1]).square().sum(dim=(2, 3))
    cols = (weights[..., 1:, :] - weights[..., :-1, :]).square().sum(dim=(2, 3))
    return (rows + cols) / weights.square().sum(dim=(2, 3)).clamp_min(1e-30)


def adjacent_differences(kernels) -> torch.Tensor:
    """Roughness of each kernel slice: the squared differences of adjacent weights over its energy.

    ``sum (k[i, j] - k[i, j+1])^2 + sum (k[i, j] - k[i+1, j])^2``, over ``sum k^2``: 0 for
    a constant slice, about 2.67 for a 3 x 3 slice of independent noise (12 adjacent pairs
    of expected squared difference 2 sigma^2, over 9 sigma^2), 5.33 for a checkerboard.
    Lower is smoother, in the blog's sense. :func:`roughness` is the same, in the graph.

    Shapes: ``(out, in, kh, kw) -> (out, in)``; ``kernels`` is a model (its first
    convolution) or weights.

    Example:
        >>> ramp = torch.tensor([[[[-1., 0., 1.], [-1., 0., 1.], [-1., 0., 1.]]]])
        >>> adjacent_differences(ramp), adjacent_differences(torch.ones(1, 1, 3, 3))
        (tensor([[1.]]), tensor([[0.]]))
    """
    weights = _weights(kernels)
    # in float64 on the CPU: an MPS device has no float64
    return roughness(weights.cpu().double()).to(torch.float32).to(weights.device)


def kernel_high_share(kernels, size: int = 32, radius: float = 8) -> torch.Tensor:
    """Share of each kernel slice's spectral energy at distance ``radius`` or more, zero-padded to ``size``.

    The slice's frequency response on a ``size`` x ``size`` image (its DFT after zero
    padding, centred as the book's spectra are), and the share of its energy at the
    frequencies :func:`freqlens.fourier.high_pass` keeps at ``radius``. A slice of
    independent noise has a flat expected response, so its expected share is that of the
    frequencies: 831 of 1,024 (0.81) at r = 8 on 32 x 32. Lower is smoother, in the
    slides' sense.

    Shapes: ``(out, in, kh, kw) -> (out, in)``.

    Example:
        >>> delta = torch.zeros(1, 1, 3, 3); delta[..., 1, 1] = 1
        >>> round(float(kernel_high_share(delta)), 3), round(float(kernel_high_share(torch.ones(1, 1, 3, 3))), 3)
        (0.812, 0.195)
    """
    weights = _weights(kernels)
    size = checks.integer(size, "size", minimum=max(weights.shape[-2:]))
    radius = checks.radius(radius, size, size)
    w = weights.cpu().double()
    response = torch.fft.fftshift(torch.fft.fft2(w, s=(size, size)), dim=(-2, -1)).abs().square()
    keep = 1 - fourier.frequency_mask(size, size, radius)   # centred, as the response is
    share = (response * keep).sum(dim=(2, 3)) / response.sum(dim=(2, 3)).clamp_min(1e-30)
    return share.to(torch.float32).to(weights.device)


def smooth_kernels(model: nn.Module, rho: float) -> nn.Module:
    """A copy of ``model`` whose first convolution's 3 x 3 slices are convolved with ``[[r, r, r], [r, 1, r], [r, r, r]]``.

    As the reference code: spatially, per slice, with a symmetric boundary, the same
    size, no renormalisation (a slice's sum grows by about ``1 + 8 rho``). ``rho = 0``
    returns an equal copy.

    Example:
        >>> from freqlens.models import SmallCNN
        >>> net = SmallCNN(width=8)
        >>> smoothed = smooth_kernels(net, 0.1)
        >>> bool((kernel_smoothness(smoothed) >= kernel_smoothness(net) - 1e-6).float().mean() > 0.9)
        True
    """
    rho = checks.number(rho, "rho", low=0)
    smoothed = copy.deepcopy(model)
    conv = first_conv(smoothed)
    w = conv.weight.data
    if w.shape[-2:] != (3, 3):
        raise ValueError(f"the first convolution's kernels must be 3 x 3, got {tuple(w.shape[-2:])}")
    m = torch.full((3, 3), rho, dtype=w.dtype, device=w.device)
    m[1, 1] = 1.0
    # for a border of one, the symmetric boundary repeats the edge
    padded = F.pad(w.reshape(-1, 1, 3, 3), (1, 1, 1, 1), mode="replicate")
    conv.weight.data = F.conv2d(padded, m.view(1, 1, 3, 3)).reshape(w.shape).contiguous(
        memory_format=torch.channels_last if w.is_contiguous(memory_format=torch.channels_last)
        else torch.contiguous_format)
    return smoothed


def low_pass_kernels(model: nn.Module, order: int) -> nn.Module:
    """A copy of ``model`` whose first convolution keeps only the low frequencies of each slice.

    Each ``kh x kw`` slice goes to its orthonormal 2-D DCT-II (:func:`freqlens.fourier.dct2`;
    for 3 x 3, the bases are the flat slice, the ramp and the bump along each axis and
    their products); the coefficients ``(u, v)`` with ``u + v > order`` are set to zero,
    and the slice comes back. ``order = kh + kw - 2`` keeps everything (an equal copy),
    ``0`` only each slice's mean. The blog's second way of smoothing trained kernels
    ("filter out the high-frequency information"), which it names without its numbers.

    Example:
        >>> from freqlens.models import SmallCNN
        >>> net = SmallCNN(width=8)
        >>> flat = first_conv(low_pass_kernels(net, 0)).weight
        >>> bool(torch.allclose(flat, flat.mean(dim=(2, 3), keepdim=True), atol=1e-6))
        True
    """
    filtered = copy.deepcopy(model)
    conv = first_conv(filtered)
    w = conv.weight.data
    kh, kw = w.shape[-2:]
    order = checks.integer(order, "order", minimum=0, maximum=kh + kw - 2)
    u = torch.arange(kh, device=w.device)[:, None] + torch.arange(kw, device=w.device)[None, :]
    kept = fourier.idct2(fourier.dct2(w.contiguous()) * (u <= order).to(w.dtype))
    conv.weight.data = kept.contiguous(
        memory_format=torch.channels_last if w.is_contiguous(memory_format=torch.channels_last)
        else torch.contiguous_format)
    return filtered


def low_pass_defense(model: nn.Module, radius: float) -> nn.Module:
    """``model`` behind a low-pass filter of its input: ``nn.Sequential(fourier.LowPass(radius), model)``.

    The filter is differentiable, so an attack through the whole (an adaptive attack)
    sees it; an attack crafted on ``model`` alone does not.

    Example:
        >>> from freqlens.models import SmallCNN
        >>> low_pass_defense(SmallCNN(width=8), 8)[0]
        LowPass(radius=8, mask='circle')
    """
    checks.model(model)
    return nn.Sequential(fourier.LowPass(radius), model)


class BandStop(nn.Module):
    """Attenuate the frequencies at distance in ``[r_in, r_out)``: ``x - (1 - gain) * band_pass(x)``.

    ``gain=0`` removes the ring, ``gain=1`` is the identity; the other frequencies pass
    unchanged. Linear and differentiable: an attack through it sees it. Reads no values
    (no device sync inside an attack step).

    Shapes: ``(B, C, H, W) -> (B, C, H, W)``.

    Example:
        >>> x = torch.rand(1, 3, 32, 32)
        >>> torch.allclose(BandStop(4, 8)(x), fourier.low_pass(x, 4) + fourier.high_pass(x, 8), atol=1e-6)
        True
    """

    def __init__(self, r_in: float, r_out: float, gain: float = 0.0):
        super().__init__()
        self.ring = fourier.BandPass(r_in, r_out)
        self.gain = checks.number(gain, "gain", low=0, high=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x - (1 - self.gain) * self.ring(x)

    def extra_repr(self) -> str:
        return f"gain={self.gain:g}"


def band_stop_defense(model: nn.Module, r_in: float, r_out: float, gain: float = 0.0) -> nn.Module:
    """``model`` behind :class:`BandStop`: ``nn.Sequential(BandStop(r_in, r_out, gain), model)``.

    Example:
        >>> from freqlens.models import SmallCNN
        >>> band_stop_defense(SmallCNN(width=8), 8, 16, gain=0.25)[0]
        BandStop(
          gain=0.25
          (ring): BandPass(r_in=8, r_out=16, mask='circle')
        )
    """
    checks.model(model)
    return nn.Sequential(BandStop(r_in, r_out, gain), model)


class _Identity(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, y):
        return y

    @staticmethod
    def backward(ctx, grad):
        return grad, None


class Rounding(nn.Module):
    """Rounds a [0, 1] image to ``levels`` evenly spaced grey levels (0 and 1 among them).

    Its gradient is zero wherever it is defined, so an attack that follows the
    gradient through it does not move: the rounding masks the gradient.

    Example:
        >>> x = torch.tensor([0.0, 0.2, 0.55, 1.0], requires_grad=True)
        >>> r = Rounding(3)(x)
        >>> r.tolist()
        [0.0, 0.0, 0.5, 1.0]
        >>> r.sum().backward(); x.grad.tolist()
        [0.0, 0.0, 0.0, 0.0]
    """

    def __init__(self, levels: int):
        super().__init__()
        self.levels = checks.integer(levels, "levels", minimum=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        steps = self.levels - 1
        return torch.round(x * steps) / steps

    def extra_repr(self) -> str:
        return f"levels={self.levels}"


class StraightThrough(nn.Module):
    """``transform`` in the forward pass, the identity in the backward pass (BPDA).

    For attacking a defense whose input transformation has no useful gradient (a
    quantisation, a rounding, a JPEG round trip): the attack differentiates as if the
    transformation were not there, and sees its effect through the forward passes.

    Example:
        >>> round8 = StraightThrough(lambda x: torch.round(x * 255) / 255)
        >>> x = torch.rand(1, 3, 4, 4, requires_grad=True)
        >>> round8(x).sum().backward()
        >>> bool((x.grad == 1).all())
        True
    """

    def __init__(self, transform):
        super().__init__()
        if not callable(transform):
            raise ValueError(f"transform must be a function or module of the images, got {transform!r}")
        self.transform = transform

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _Identity.apply(x, self.transform(x.detach()))
