"""Judging attribution maps: faithfulness (MoRF, LeRF, ABPC), noisiness (PNG size), structure (SSIM).

:func:`perturbation_curve` replaces an image's features step by step, most relevant
first (MoRF) or least relevant first (LeRF), and records the network's softmax
probability of the target class after each step; features are pixels (all channels
of a pixel together) or Fourier frequencies (a frequency and its mirror through the
centre together, one feature, in every channel, so that the image stays real and every
map replaces as many frequencies a step). All steps of all
images run as batches on the model's device. :func:`abpc` is the area between the two
curves. :func:`png_size` and :func:`ssim_to_input` measure a map as a picture, as
Liao's thesis does (its Tables 1-2).

Example:
    >>> from freqlens.models import SmallCNN
    >>> net, x = SmallCNN(width=8).eval(), torch.rand(2, 3, 32, 32)
    >>> curve = perturbation_curve(net, x, 0, torch.rand(2, 1, 32, 32), order="morf", n_steps=4)
    >>> curve.shape
    torch.Size([2, 5])
"""

from __future__ import annotations

import io

import numpy as np
import torch
from torch import nn

from freqlens import checks
from freqlens.attribution import from_spectrum, spectrum
from freqlens.execution import default_batch_size, num_classes, run
from freqlens.fourier import LUMA

__all__ = ["SPACES", "abpc", "n_features", "perturbation_curve", "png_size", "ssim_to_input"]

SPACES = ("pixel", "frequency")
ORDERS = ("morf", "lerf")


def _scores(attributions: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """One relevance per pixel (or frequency): the attributions summed over channels, ``(B, H*W)``."""
    checks.images(attributions, "attributions")
    b, _, h, w = inputs.shape
    if attributions.shape[0] != b or attributions.shape[-2:] != (h, w) or attributions.shape[1] not in (1, inputs.shape[1]):
        raise ValueError(f"attributions must have shape ({b}, 1 or {inputs.shape[1]}, {h}, {w}), "
                         f"got {tuple(attributions.shape)}")
    # float64 sums where the device has them (MPS has not): ties are broken by position
    wide = torch.float32 if inputs.device.type == "mps" else torch.float64
    return attributions.detach().to(wide).to(inputs.device).sum(1).flatten(1)


def _mirror_index(h: int, w: int, device) -> torch.Tensor:
    """For each position of a centred spectrum, the flat index of its mirror through the centre."""
    i = (h - torch.arange(h, device=device)) % h
    j = (w - torch.arange(w, device=device)) % w
    return (i[:, None] * w + j[None, :]).flatten()


def _orbits(h: int, w: int, device) -> tuple[torch.Tensor, int]:
    """Each position of a centred spectrum's feature: the index of its pair {frequency, mirror}, and their number.

    A real image's spectrum is Hermitian, so a frequency and its mirror through the centre
    are one real feature of two numbers; a frequency that is its own mirror is one alone.
    """
    flat = torch.arange(h * w, device=device)
    first = torch.minimum(flat, _mirror_index(h, w, device))
    _, orbit = torch.unique(first, return_inverse=True)
    return orbit, int(orbit.max()) + 1


def _masks(scores: torch.Tensor, order: str, per_step: int, n_steps: int, space: str, h: int, w: int):
    """``(n_steps + 1, B, H*W)`` boolean: the features replaced after each step (none at step 0).

    In frequency space a feature is a frequency with its mirror (one score: their mean),
    so that every map replaces the same number of frequencies at each step and the image
    stays real.
    """
    if space == "frequency":
        orbit, n = _orbits(h, w, scores.device)
        index = orbit.expand_as(scores)
        size = torch.zeros(n, dtype=scores.dtype, device=scores.device).index_add_(
            0, orbit, torch.ones_like(orbit, dtype=scores.dtype))
        feature_scores = torch.zeros(scores.shape[0], n, dtype=scores.dtype,
                                     device=scores.device).scatter_add_(1, index, scores) / size
    else:
        feature_scores = scores
    ranking = torch.sort(feature_scores, dim=1, descending=order == "morf", stable=True).indices
    rank = torch.empty_like(ranking).scatter_(
        1, ranking, torch.arange(feature_scores.shape[1], device=scores.device).expand_as(ranking))
    if space == "frequency":
        rank = rank[:, orbit]   # each position takes its feature's rank
    counts = torch.arange(n_steps + 1, device=scores.device) * per_step
    return rank[None] < counts[:, None, None]


def n_features(space: str, height: int, width: int) -> int:
    """How many features :func:`perturbation_curve` ranks: pixels, or frequencies paired with their mirrors.

    Example:
        >>> n_features("pixel", 32, 32), n_features("frequency", 32, 32)
        (1024, 514)
    """
    space = checks.one_of(space, "space", options=SPACES)
    return height * width if space == "pixel" else _orbits(height, width, "cpu")[1]


def _replacement(inputs: torch.Tensor, replacement, seed: int) -> torch.Tensor:
    if isinstance(replacement, str):
        checks.one_of(replacement, "replacement", options=("uniform",))
        g = torch.Generator().manual_seed(seed)
        return torch.rand(inputs.shape, generator=g, dtype=inputs.dtype).to(inputs.device)
    value = checks.number(replacement, "replacement", low=0, high=1)
    return torch.full_like(inputs, value)


def perturbation_curve(model: nn.Module, inputs: torch.Tensor, target, attributions: torch.Tensor, *,
                       order: str = "morf", space: str = "pixel", features_in_step: int = 16,
                       n_steps: int | None = None, replacement="uniform", seed: int = 0,
                       batch_size: int | None = None) -> torch.Tensor:
    """The target's softmax probability as features are replaced, most (``"morf"``) or least (``"lerf"``) relevant first.

    ``attributions`` are ``(B, 1 or C, H, W)`` maps over pixels (``space="pixel"``) or
    over the centred spectrum (``space="frequency"``, as :mod:`freqlens.attribution`
    returns them); they are summed over channels into one relevance per pixel or
    frequency, ties broken by position. Each step replaces ``features_in_step`` more of
    them: a pixel by the same pixel of a replacement image; in frequency space a feature
    is a frequency with its mirror through the centre (scored by their mean, so that a
    map that is not symmetric replaces as many frequencies a step as one that is: 514
    features on 32 x 32, :func:`n_features`), replaced by the same frequencies of the
    replacement image's spectrum. The replacement
    is an image of uniform noise, one per image, drawn from ``seed`` (the thesis's
    "random colours"), or a constant in [0, 1]. ``n_steps`` defaults to as many steps as
    replace 90 % of the features.

    Shapes: ``inputs (B, C, H, W)`` -> ``(B, n_steps + 1)``; column 0 is the unperturbed image.
    """
    checks.in_unit_range(checks.images(inputs, "inputs"), "inputs")
    b, c, h, w = inputs.shape
    order = checks.one_of(order, "order", options=ORDERS)
    space = checks.one_of(space, "space", options=SPACES)
    features = n_features(space, h, w)
    per_step = checks.integer(features_in_step, "features_in_step", minimum=1, maximum=features)
    n_steps = (int(np.ceil(0.9 * features / per_step)) if n_steps is None
               else checks.integer(n_steps, "n_steps", minimum=1))
    scores = _scores(attributions, inputs)
    checks.model(model)
    target = checks.target(target, b, num_classes(model, inputs)).to(inputs.device)
    batch_size = checks.batch_size(batch_size) or default_batch_size(model)
    fill = _replacement(inputs, replacement, seed)

    def curve(m, x, s, f, t):
        return _curve(m, x, s, f, t, order, per_step, n_steps, space, batch_size)

    return run(model, curve, inputs, scores, fill, target, batch_size=batch_size)


def _curve(model, inputs, scores, fill, target, order, per_step, n_steps, space, batch_size):
    """:func:`perturbation_curve` for one batch of images on the model's device: ``(B, n_steps + 1)``.

    The batch's steps are run ``batch_size`` perturbed images at a time.
    """
    b, c, h, w = inputs.shape
    masks = _masks(scores, order, per_step, n_steps, space, h, w).view(n_steps + 1, b, 1, h, w)
    if space == "frequency":
        source, fill = spectrum(inputs), spectrum(fill)
        masks = masks.expand(-1, -1, 2 * c, -1, -1)   # real and imaginary parts together
    else:
        source = inputs
    out = torch.empty(n_steps + 1, b, dtype=inputs.dtype, device=inputs.device)
    flat_masks = masks.flatten(0, 1)
    for start in range(0, flat_masks.shape[0], batch_size):
        m = flat_masks[start:start + batch_size]
        idx = torch.arange(start, start + m.shape[0], device=inputs.device) % b
        x = torch.where(m, fill[idx], source[idx])
        if space == "frequency":
            x = from_spectrum(x)
        prob = torch.softmax(model(x).float(), dim=1).gather(1, target[idx, None])[:, 0]
        out.view(-1)[start:start + m.shape[0]] = prob.to(out.dtype)
    return out.T.contiguous()


def abpc(morf: torch.Tensor, lerf: torch.Tensor) -> torch.Tensor:
    """Area between the LeRF and MoRF curves, per image, by the trapezoid rule over steps scaled to [0, 1].

    Positive when removing the least relevant features first hurts less than removing the
    most relevant first, as it should; at most 1.

    Shapes: ``(B, S + 1)`` twice -> ``(B,)``.

    Example:
        >>> abpc(torch.tensor([[1.0, 0.0, 0.0]]), torch.tensor([[1.0, 1.0, 1.0]]))
        tensor([0.7500])
    """
    if not isinstance(morf, torch.Tensor) or not isinstance(lerf, torch.Tensor) or morf.shape != lerf.shape \
            or morf.dim() != 2 or morf.shape[1] < 2:
        raise ValueError(f"morf and lerf must be curves of the same shape (B, steps + 1), steps >= 1, got "
                         f"{tuple(getattr(morf, 'shape', ()))} and {tuple(getattr(lerf, 'shape', ()))}")
    gap = lerf - morf
    return torch.trapezoid(gap, dx=1.0 / (gap.shape[1] - 1), dim=1)


def _grey_maps(attributions: torch.Tensor) -> np.ndarray:
    """Each map as a grey picture in [0, 1]: absolute values summed over channels, divided by the maximum."""
    a = attributions.detach().abs().sum(1).double()
    peak = a.flatten(1).amax(1).clamp_min(1e-30).view(-1, 1, 1)
    return (a / peak).cpu().numpy()


def png_size(attributions: torch.Tensor) -> torch.Tensor:
    """Bytes of each map saved as an 8-bit grayscale PNG (Pillow's default compression): noisier maps are bigger.

    The map is ``|attributions|`` summed over channels and scaled to 0..255 by its maximum.

    Shapes: ``(B, C, H, W) -> (B,)`` int64.

    Example:
        >>> flat, noisy = torch.ones(1, 1, 32, 32), torch.rand(1, 1, 32, 32, generator=torch.Generator().manual_seed(0))
        >>> bool(png_size(flat) < png_size(noisy))
        True
    """
    from PIL import Image

    checks.images(attributions, "attributions")
    sizes = []
    for grey in _grey_maps(attributions):
        buffer = io.BytesIO()
        Image.fromarray(np.round(grey * 255).astype(np.uint8), mode="L").save(buffer, format="PNG")
        sizes.append(buffer.tell())
    return torch.tensor(sizes)


def ssim_to_input(attributions: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
    """SSIM (scikit-image's) between each grey map and the grayscale input, both on [0, 1].

    The input is made grey with the ITU-R BT.601 weights; the map as in :func:`png_size`.

    Shapes: ``attributions (B, C', H, W)``, ``inputs (B, C, H, W)`` -> ``(B,)`` float64.

    Example:
        >>> x = torch.rand(2, 3, 32, 32)
        >>> ssim_to_input(x, x).shape
        torch.Size([2])
    """
    from skimage.metrics import structural_similarity

    checks.images(attributions, "attributions")
    checks.in_unit_range(checks.images(inputs, "inputs", channels=(1, 3)), "inputs")
    if attributions.shape[0] != inputs.shape[0] or attributions.shape[-2:] != inputs.shape[-2:]:
        raise ValueError(f"attributions must have shape ({inputs.shape[0]}, C, {inputs.shape[-2]}, "
                         f"{inputs.shape[-1]}) to match inputs, got {tuple(attributions.shape)}")
    weights = torch.tensor(LUMA if inputs.shape[1] == 3 else (1.0,), dtype=torch.float64).view(1, -1, 1, 1)
    grey_inputs = (inputs.detach().double().cpu() * weights).sum(1).numpy()
    return torch.tensor([structural_similarity(a, x, data_range=1.0)
                         for a, x in zip(_grey_maps(attributions), grey_inputs)], dtype=torch.float64)
