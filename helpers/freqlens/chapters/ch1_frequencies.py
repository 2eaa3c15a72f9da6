"""Chapter 1, images as sums of frequencies: its experiments and its exercises' checks.

The chapter trains no network. Its experiments measure CIFAR-10 itself: how much of
an image's energy lies below each radius, how much the reference code's rescaling
brightens a copy, the power law of the average spectrum, and how much each mask
rings. Each returns a table (a pandas DataFrame) or the few numbers the chapter's
prose and assertions read.

Example:
    >>> import torch
    >>> energy_table(torch.rand(4, 3, 32, 32), radii=(4, 8)).columns.tolist()
    ['with the mean', 'mean removed', 'rms of the HFC']
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from freqlens import checks, data, exercises, fourier

__all__ = ["NOTEBOOK", "RADII", "check_energy_below", "check_gaussian_energy", "claims", "cosine_waves",
           "energy_table", "first_of_classes", "fit_power_law", "rescale_gains", "ringing_table"]

NOTEBOOK = "01_frequencies"
RADII = (4, 8, 12, 16)   # the radii Wang et al. cut at


# --------------------------------------------------------------------------- experiments

def first_of_classes(labels: torch.Tensor, names: Sequence[str]) -> list[int]:
    """The index of the first image of each class in ``names`` (CIFAR-10's class names).

    Example:
        >>> first_of_classes(torch.tensor([3, 0, 3, 6]), ["cat", "frog"])
        [0, 3]
    """
    return [int((labels == data.CLASSES.index(n)).nonzero()[0]) for n in names]


def cosine_waves(freqs: Sequence[tuple[int, int]], n: int = 32) -> torch.Tensor:
    """One grey 2-D cosine wave ``0.5 + 0.5 cos(2 pi (u m + v k) / n)`` per frequency ``(u, v)``.

    Shapes: ``-> (len(freqs), 1, n, n)`` in ``[0, 1]``.

    Example:
        >>> w = cosine_waves([(0, 0), (0, 16)])
        >>> w.shape, float(w[0].min()), w[1, 0, 0, :3].tolist()
        (torch.Size([2, 1, 32, 32]), 1.0, [1.0, 0.0, 1.0])
    """
    m, k = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    waves = [0.5 + 0.5 * torch.cos(2 * math.pi * (u * m + v * k) / n) for u, v in freqs]
    return torch.stack(waves)[:, None]


def energy_table(x: torch.Tensor, radii: Sequence[float] = RADII) -> pd.DataFrame:
    """Per radius: the mean share of energy below it, with and without each channel's mean, and the HFC's rms.

    Shapes: ``x (B, C, H, W)`` -> one row per radius (the index ``r``).

    The rms of the HFC is on the images' own scale; set it beside ``x``'s rms.
    """
    no_mean = x - x.mean(dim=(-2, -1), keepdim=True)
    rows = {r: {"with the mean": float(fourier.energy_below(x, r).mean()),
                "mean removed": float(fourier.energy_below(no_mean, r).mean()),
                "rms of the HFC": float(fourier.high_pass(x, r).square().mean().sqrt())}
            for r in radii}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("r")


def rescale_gains(x: torch.Tensor, radii: Sequence[float] = RADII) -> pd.DataFrame:
    """Per radius, the median factor by which dividing each LFC and HFC copy by its maximum multiplies it.

    What :func:`freqlens.fourier.rescale_by_max` (the reference code's scaling) does to
    the copies of ``x`` ``(B, C, H, W)``: one row per radius, columns ``"LFC gain"`` and
    ``"HFC gain"``.

    Example:
        >>> g = rescale_gains(data.cifar10_tensors("test", n=20)[0], radii=(16,))
        >>> bool(g.loc[16, "HFC gain"] > 10 * g.loc[16, "LFC gain"])   # an HFC copy is faint
        True
    """
    rows = {}
    for r in radii:
        lfc, hfc = fourier.split(x, r)
        rows[r] = {"LFC gain": float((1 / lfc.amax(dim=(1, 2, 3))).median()),
                   "HFC gain": float((1 / hfc.amax(dim=(1, 2, 3))).median())}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("r")


def fit_power_law(radii: torch.Tensor, power: torch.Tensor, lo: float, hi: float) -> tuple[float, float]:
    """``(A, alpha)`` of the least-squares line through ``log P`` against ``log f`` for ``lo <= f <= hi``.

    ``radii`` and ``power`` as :func:`freqlens.fourier.radial_power_spectrum` returns
    them; the fit is ``P(f) ~ A f^-alpha``.

    Example:
        >>> f = torch.arange(1., 17.)
        >>> [round(v, 6) for v in fit_power_law(f, 3 * f ** -2.5, 1, 8)]
        [3.0, 2.5]
    """
    f, logp = radii.double().numpy(), power.double().log().numpy()
    band = (f >= lo) & (f <= hi)
    slope, intercept = np.polyfit(np.log(f[band]), logp[band], 1)
    return math.exp(intercept), float(-slope)


def _ringing_of(x: torch.Tensor, bar: torch.Tensor, kind: str, radius: float) -> dict[str, float]:
    h, w = x.shape[-2:]
    lo = x.amin(dim=(-2, -1), keepdim=True)   # each channel's own range
    hi = x.amax(dim=(-2, -1), keepdim=True)
    kernel = fourier.spatial_kernel(h, w, radius, kind)
    smooth = fourier.low_pass(x, radius, kind)
    outside = (smooth - hi).clamp_min(0) + (lo - smooth).clamp_min(0)
    return {"side lobe": float(-kernel.min() / kernel.max()),
            "bar overshoot": float(fourier.low_pass(bar, radius, kind).max() - 1),
            "image overshoot": float(outside.amax(dim=(-2, -1)).mean())}


def ringing_table(x: torch.Tensor, specs: Sequence[tuple[str, float]], bar: torch.Tensor | None = None
                  ) -> pd.DataFrame:
    """How much each mask ``(kind, radius)`` rings, three ways: one row per mask.

    ``"side lobe"``: the spatial kernel's most negative value over its peak; ``"bar
    overshoot"``: how far the low-pass copy of ``bar`` (default
    :func:`freqlens.data.edge_bar`, a white bar on black) rises above 1; ``"image
    overshoot"``: the mean over the images and channels of ``x`` of how far their
    low-pass copies leave the channel's own range of values.

    Example:
        >>> t = ringing_table(torch.rand(2, 3, 32, 32), [("circle", 8), ("gaussian", 5.7)])
        >>> bool(t.loc["gaussian", "bar overshoot"] < t.loc["circle", "bar overshoot"])
        True
    """
    bar = data.edge_bar(*x.shape[-2:]) if bar is None else bar
    rows = {kind: _ringing_of(x, bar, kind, radius) for kind, radius in specs}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("mask")


# --------------------------------------------------------------------------- verdicts

def claims(hfc_share: float, radius: float = 4) -> dict[str, tuple[str, str, str | None]]:
    """The chapter's verdict on the sources' claim it measures: the HFC is faint.

    ``hfc_share`` is the rms of the HFC at ``radius`` over the images' own rms.

    Example:
        >>> claims(0.1)["hfc_small_magnitude"][1]
        'reproduced'
    """
    return {"hfc_small_magnitude": (
        f"rms of the HFC at r = {radius:g}: {hfc_share:.2f} of the images' own",
        *(("reproduced", None) if hfc_share < 1 / 3 else ("not reproduced", "the claim")))}


# --------------------------------------------------------------------------- exercise 1

def _power(x: torch.Tensor, shift: bool = True) -> torch.Tensor:
    f = torch.fft.fft2(x.double())
    return (torch.fft.fftshift(f, dim=(-2, -1)) if shift else f).abs().square()


def _fractions(power: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """Each image's share of ``power`` where ``keep`` is 1: ``(B, C, H, W) -> (B,)``."""
    return (power * keep).sum(dim=(1, 2, 3)) / power.sum(dim=(1, 2, 3))


def _energy_slips(x: torch.Tensor, radius: float, expected: float) -> list[tuple[str, float]]:
    """``(hint, answer)`` for each usual slip: the answer that slip gives on ``x``."""
    power = _power(x)
    u = torch.arange(x.shape[-2], dtype=torch.float64)[:, None] - x.shape[-2] // 2
    v = torch.arange(x.shape[-1], dtype=torch.float64)[None, :] - x.shape[-1] // 2
    distance = torch.sqrt(u * u + v * v)
    inside = (distance < radius).double()
    slips = [
        ("The mean (zero frequency, the centre of the spectrum) belongs to the energy too: "
         "keep it, both inside the circle and in the total.",
         _fractions(_power(x - x.mean(dim=(-2, -1), keepdim=True)), inside).mean()),
        ("'Below r' means strictly below: a frequency at distance exactly r is high "
         "(use d < r, not d <= r).", _fractions(power, (distance <= radius).double()).mean()),
        ("Energy is the squared magnitude |F|^2, not the magnitude |F|.",
         _fractions(power.sqrt(), inside).mean()),
        ("The circle is centred on the zero frequency: shift the spectrum with "
         "torch.fft.fftshift before laying the mask on it, or the circle sits on the highest "
         "frequencies.", _fractions(_power(x, shift=False), inside).mean()),
        ("The task asks for the mean of each image's own fraction, not the energy of all "
         "images pooled together.", (power * inside).sum() / power.sum()),
        ("Divide each image's energy inside the circle by its total energy.",
         (power * inside).sum(dim=(1, 2, 3)).mean()),
        ("The answer is a fraction between 0 and 1, not a percentage.", 100 * expected),
    ]
    # rounded to 4 decimals an answer is still within the default tolerance
    slips += [("Don't round the result.", round(expected, digits)) for digits in (1, 2, 3)]
    return [(text, float(answer)) for text, answer in slips]


def check_energy_below(answer, x: torch.Tensor, radius: float = 8, tol: float = 1e-4) -> bool:
    """Exercise 1: the mean fraction of spectral energy strictly within ``radius`` of the centre.

    The expected answer is, for each image of ``x`` ``(B, C, H, W)``, the energy
    ``|F|^2`` of its per-channel 2-D DFT at frequencies whose distance from the
    zero frequency ``(H//2, W//2)`` of the centred spectrum is strictly below
    ``radius``, divided by its total energy (zero frequency included), averaged over
    the images. Prints a verdict (with a hint when wrong) and returns whether it passed.

    Example:
        >>> x = torch.rand(4, 3, 32, 32)
        >>> check_energy_below(None, x)
        … not answered yet: replace None with your number, then run the cell.
        False
    """
    x = checks.images(x)
    radius = checks.radius(radius, *x.shape[-2:])
    tol = checks.number(tol, "tol", low=0, low_open=True)
    if answer is None or answer is Ellipsis:
        return exercises.todo("replace None with your number, then run the cell.")
    given = exercises.as_tensor(answer)
    if given is None or given.numel() != 1:
        return _not_one_number(answer, given, x, radius, tol)
    value = float(given.reshape(()))
    if not math.isfinite(value):
        return exercises.verdict(False, f"the answer is {value}, not a fraction between 0 and 1.")
    expected = float(fourier.energy_below(x.double(), radius).mean())
    if abs(value - expected) <= tol:
        return exercises.verdict(True, f"{value:.4f} of the energy lies strictly below r = {radius:g}.")
    hints = exercises.slips_matching(value, _energy_slips(x, radius, expected), expected, tol)
    if hints:
        return exercises.verdict(False, f"{value:.4g} is off. {exercises.hint(hints)}")
    if not 0.0 <= value <= 1.0:
        return exercises.verdict(False, f"{value:.4g} is not a fraction: it must lie between 0 and 1.")
    return exercises.verdict(False, f"{value:.4f} is off by more than {tol:g}. Hint: take fft2 of each "
                                    "channel, fftshift it, keep |F|^2 where the distance from (H//2, W//2) "
                                    "is < r, divide by the total |F|^2 of that image, and average over "
                                    "images.")


def _not_one_number(answer, given: torch.Tensor | None, x: torch.Tensor, radius: float, tol: float) -> bool:
    """The verdict on an answer that is not a single number, with a hint if it is each image's fraction."""
    if given is None:
        return exercises.verdict(False, f"expected a single number (a float or a one-element tensor), "
                                        f"got {type(answer).__name__}.")
    per_image = fourier.energy_below(x.double(), radius)
    if given.shape == per_image.shape and bool(torch.allclose(given, per_image, rtol=0, atol=tol)):
        return exercises.verdict(False, f"you gave {given.numel()} numbers, each image's fraction; the "
                                        "answer is their mean (a single number).")
    return exercises.verdict(False, f"expected a single number (a float or a one-element tensor), got "
                                    f"{given.numel()} numbers.")


# --------------------------------------------------------------------------- exercise 2

def check_gaussian_energy(answer, x: torch.Tensor, radius: float = 8, prediction: str | None = None,
                          tol: float = 1e-4) -> bool:
    """Exercise 2: the mean share of energy a Gaussian low-pass with ``sigma = radius / sqrt(2)`` keeps.

    The expected answer is the mean over the images of ``x`` ``(B, C, H, W)`` of
    ``||low_pass(x, sigma, "gaussian")||^2 / ||x||^2`` (:func:`freqlens.fourier.energy_below`
    with ``mask="gaussian"``). ``prediction``, ``"more"`` or ``"less"`` energy than the
    circle of the same radius keeps, is noted once the answer is right, never graded.
    Prints a verdict (with a hint when wrong) and returns whether it passed.

    Example:
        >>> x = torch.rand(4, 3, 32, 32)
        >>> check_gaussian_energy(None, x)
        … not answered yet: replace None with your number, then run the cell.
        False
    """
    x = checks.images(x).double()
    radius = checks.radius(radius, *x.shape[-2:])
    tol = checks.number(tol, "tol", low=0, low_open=True)
    sigma = radius / math.sqrt(2)
    expected = float(fourier.energy_below(x, sigma, "gaussian").mean())
    circle = float(fourier.energy_below(x, radius).mean())
    power = torch.fft.fft2(x).abs().square()
    mask = fourier.frequency_mask(*x.shape[-2:], sigma, "gaussian", centred=False)
    slips = [
        (f"sigma is r / sqrt(2) = {sigma:.3f}, not r itself.",
         float(fourier.energy_below(x, radius, "gaussian").mean())),
        ("that is the circle's share: change the mask to \"gaussian\".", circle),
        ("the copy's spectrum is mask * F, so its energy weighs |F|^2 by the mask squared, "
         "not by the mask.", float(_fractions(power, mask).mean())),
        ("The answer is a fraction between 0 and 1, not a percentage.", 100 * expected),
    ]
    ok = exercises.judge_number(answer, expected, slips, tol,
                                f"{{value:.4f}} of the energy passes the Gaussian cut (sigma = {sigma:.3f}); "
                                f"the circle of radius {radius:g} keeps {circle:.4f}.")
    if ok:
        exercises.note_prediction(prediction, (prediction == "more") == (expected > circle), ("more", "less"))
    return ok
