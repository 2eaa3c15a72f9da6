"""Self-checks for the book's exercises: each prints whether an answer is right, with a hint.

A check never raises on a wrong or missing answer (a student's notebook keeps running);
it prints one verdict and returns ``True`` or ``False``, so a solution cell can
``assert`` it. The hints name the usual slips, recognised by recomputing the answer
the slip would give.
"""

from __future__ import annotations

import math

import torch

from freqlens import fourier

__all__ = ["check_ch1_energy_below", "check_ch2_radius_for_90_percent"]

PASS = "✓ correct"
FAIL = "✗ not yet"
TODO = "… not answered yet"


def _as_number(answer) -> float | None:
    """A float from a Python number, a one-element tensor or array; ``None`` otherwise."""
    if isinstance(answer, bool):
        return None
    if isinstance(answer, (int, float)):
        return float(answer)
    try:
        t = torch.as_tensor(answer)
    except (TypeError, ValueError, RuntimeError):
        return None
    if t.numel() != 1 or not (t.is_floating_point() or t.dtype in (torch.int32, torch.int64)):
        return None
    return float(t.reshape(()))


def _verdict(ok: bool, message: str) -> bool:
    print(f"{PASS if ok else FAIL}: {message}")
    return ok


def _power(x: torch.Tensor) -> torch.Tensor:
    return torch.fft.fftshift(torch.fft.fft2(x.double()), dim=(-2, -1)).abs().square()


def _distance(h: int, w: int) -> torch.Tensor:
    u = torch.arange(h, dtype=torch.float64)[:, None] - h // 2
    v = torch.arange(w, dtype=torch.float64)[None, :] - w // 2
    return torch.sqrt(u * u + v * v)


def _ch1_slips(x: torch.Tensor, radius: float) -> dict[str, float]:
    """The answers that common mistakes give, each with the hint that explains it."""
    h, w = x.shape[-2:]
    power = _power(x)
    d = _distance(h, w)
    total = power.sum(dim=(1, 2, 3))

    def mean_fraction(p, keep):
        return float(((p * keep).sum(dim=(1, 2, 3)) / p.sum(dim=(1, 2, 3))).mean())

    inside = (d < radius).double()
    no_dc = _power(x - x.mean(dim=(-2, -1), keepdim=True))
    amplitude = power.sqrt()
    unshifted = torch.fft.ifftshift(inside)  # the mask laid on a spectrum that was never shifted
    return {
        "The mean (zero frequency, the centre of the spectrum) belongs to the energy too: "
        "keep it, both inside the circle and in the total.": mean_fraction(no_dc, inside),
        "'Below r' means strictly below: a frequency at distance exactly r is high "
        "(use d < r, not d <= r).": mean_fraction(power, (d <= radius).double()),
        "Energy is the squared magnitude |F|^2, not the magnitude |F|.": mean_fraction(amplitude, inside),
        "The circle is centred on the zero frequency: shift the spectrum with "
        "torch.fft.fftshift before laying the mask on it, or the circle sits on the highest "
        "frequencies.": mean_fraction(power, unshifted),
        "The task asks for the mean of each image's own fraction, not the energy of all "
        "images pooled together.": float((power * inside).sum() / total.sum()),
    }


def check_ch1_energy_below(answer, x: torch.Tensor, radius: float = 8, tol: float = 1e-4) -> bool:
    """Chapter 1: the mean fraction of spectral energy strictly within ``radius`` of the centre.

    The expected answer is, for each image of ``x`` ``(B, C, H, W)``, the energy
    ``|F|^2`` of its per-channel 2-D DFT at frequencies whose distance from the
    zero frequency ``(H//2, W//2)`` of the centred spectrum is strictly below
    ``radius``, divided by its total energy (zero frequency included), averaged over
    the images. Prints a verdict (with a hint when wrong) and returns whether it passed.

    Example:
        >>> x = torch.rand(4, 3, 32, 32)
        >>> check_ch1_energy_below(None, x)
        … not answered yet: replace None with your number and run the cell again.
        False
    """
    if answer is None or answer is Ellipsis:
        print(f"{TODO}: replace None with your number and run the cell again.")
        return False
    if isinstance(answer, torch.Tensor) and answer.numel() == len(x) > 1:
        return _verdict(False, f"you gave {answer.numel()} numbers, one per image; the answer is "
                               "their mean (a single number).")
    value = _as_number(answer)
    if value is None:
        return _verdict(False, f"expected a single number (a float or a one-element tensor), "
                               f"got {type(answer).__name__}.")
    if not math.isfinite(value):
        return _verdict(False, f"the answer is {value}; check for a division by zero.")
    if not 0.0 <= value <= 1.0:
        return _verdict(False, f"{value:.4g} is not a fraction: it must lie between 0 and 1. "
                               "Divide the energy inside the circle by the total energy.")
    expected = float(fourier.energy_below(x.double(), radius).mean())
    if abs(value - expected) <= tol:
        return _verdict(True, f"{value:.4f} of the energy lies strictly below r = {radius:g}.")
    for hint, slip in _ch1_slips(x, radius).items():
        if abs(value - slip) <= tol and abs(slip - expected) > tol:
            return _verdict(False, f"{value:.4f} is off. Hint: {hint}")
    return _verdict(False, f"{value:.4f} is off by more than {tol:g}. Hint: take fft2 of each "
                           "channel, fftshift it, keep |F|^2 where the distance from (H//2, W//2) is "
                           "< r, divide by the total |F|^2 of that image, and average over images "
                           "(don't round the result).")


def check_ch2_radius_for_90_percent(answer, model, x: torch.Tensor, y: torch.Tensor,
                                    fraction: float = 0.9) -> bool:
    """Chapter 2: the smallest integer radius whose LFC copies keep ``fraction`` of the clean accuracy.

    The expected answer is the smallest integer ``r`` in ``1 .. floor(corner)`` at which
    the model's accuracy on the LFC copies of ``x`` (no rescaling) is at least
    ``fraction`` times its accuracy on ``x`` itself. Prints a verdict (with a hint when
    wrong) and returns whether it passed.

    Example:
        >>> from freqlens.data import cifar10_tensors
        >>> from freqlens.models import SmallCNN
        >>> x, y = cifar10_tensors("test", n=50)
        >>> check_ch2_radius_for_90_percent(None, SmallCNN(width=8), x, y)
        … not answered yet: replace None with your radius and run the cell again.
        False
    """
    from freqlens import evaluate

    if answer is None or answer is Ellipsis:
        print(f"{TODO}: replace None with your radius and run the cell again.")
        return False
    value = _as_number(answer)
    if value is None or not math.isfinite(value) or value != int(value):
        return _verdict(False, f"expected a whole number (an integer radius), got {answer!r}.")
    top = math.floor(fourier.corner_radius(*x.shape[-2:]))
    if not 1 <= value <= top:
        return _verdict(False, f"{value:g} is outside 1 .. {top}: the radius of a "
                               f"{x.shape[-2]}x{x.shape[-1]} spectrum stops at its corner.")
    # Radii 1 .. answer decide a right or too-large answer; the rest is measured only when
    # the answer falls short (LFC copies only: half the cost of both kinds).
    value = int(value)
    accs = evaluate.frequency_accuracy(model, x, y, radii=range(1, value + 1), components=["lfc"])
    target = fraction * accs["original"]
    reached = [r for r, a in accs["lfc"].items() if a >= target]
    if reached and int(min(reached)) == value:
        return _verdict(True, f"at r = {value} the LFC copies score {accs['lfc'][value]:.3f}, "
                              f"at least {fraction:.0%} of the original's {accs['original']:.3f}.")
    if reached:
        return _verdict(False, f"r = {value} works, but a smaller radius already reaches "
                               f"{fraction:.0%} of the clean accuracy. Hint: look for the first radius.")
    rest = (evaluate.frequency_accuracy(model, x, y, radii=range(value + 1, top + 1), components=["lfc"])
            if value < top else {"lfc": {}})
    if not any(a >= target for a in rest["lfc"].values()):
        # possible only for a model worse than chance on its own LFC copies
        return _verdict(False, f"no radius up to {top} reaches {fraction:.0%} of the clean accuracy "
                               "for this model, so there is no right answer to check against.")
    return _verdict(False, f"at r = {value} the LFC copies score {accs['lfc'][value]:.3f}, "
                           f"below {fraction:.0%} of {accs['original']:.3f}. Hint: compare with "
                           f"{fraction} * accuracy on the originals, not with {fraction} itself.")
