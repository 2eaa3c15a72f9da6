"""Self-checks for the book's exercises: each prints whether an answer is right, with a hint.

A check never raises on a wrong or missing answer (a student's notebook keeps running);
it prints one verdict and returns ``True`` or ``False``, so a solution cell can
``assert`` it. The hints name the usual slips, recognised by recomputing the answer
the slip would give.
"""

from __future__ import annotations

import math

import torch

from freqlens import checks, fourier

__all__ = ["check_ch1_energy_below", "check_ch1_gaussian_energy", "check_ch2_radius_for_90_percent",
           "check_ch2_hfc_accuracy", "check_ch3_least_hfc", "check_ch3_matched_lfc", "check_ch4_share_below",
           "check_ch4_black_baseline", "check_ch5_low_pass_radius"]

PASS = "✓ correct"
FAIL = "✗ not yet"
TODO = "… not answered yet"


def _as_tensor(answer) -> torch.Tensor | None:
    """A float64 tensor from a number, a list, an array or a tensor of numbers; ``None`` otherwise."""
    if isinstance(answer, (bool, str, bytes)):
        return None
    try:
        t = torch.as_tensor(answer)
    except (TypeError, ValueError, RuntimeError):
        return None
    if t.is_complex() or t.dtype == torch.bool:
        return None
    return t.detach().cpu().double()


def _as_number(answer) -> float | None:
    """A float from a Python number, a one-element tensor or array; ``None`` otherwise."""
    t = _as_tensor(answer)
    return float(t.reshape(())) if t is not None and t.numel() == 1 else None


def _verdict(ok: bool, message: str) -> bool:
    print(f"{PASS if ok else FAIL}: {message}")
    return ok


def _matches(value: float, slip: float | None, expected: float, tol: float) -> bool:
    """``value`` is the slip's answer and the slip's answer is not the right one.

    The tolerance is ``tol`` on fractions and relative for larger answers (a
    percentage, an energy left undivided).
    """
    return (slip is not None and math.isclose(value, slip, rel_tol=tol, abs_tol=tol)
            and not math.isclose(slip, expected, rel_tol=tol, abs_tol=tol))


def _hints(hints: list[str]) -> str:
    """The hints of every slip that gives the answer, each once, in order."""
    return "Hint: " + " Or: ".join(dict.fromkeys(hints))


def _judge_number(answer, expected: float, slips: list[tuple[str, float]], tol: float,
                  right: str, what: str = "number") -> bool:
    """The verdict on a single-number answer: right within ``tol``, else the hints of the slips it matches.

    ``right`` is the message of a right answer, formatted with ``{value}``.
    """
    if answer is None or answer is Ellipsis:
        print(f"{TODO}: replace None with your {what} and run the cell again.")
        return False
    value = _as_number(answer)
    if value is None or not math.isfinite(value):
        return _verdict(False, f"expected a single finite number (a float or a one-element tensor), "
                               f"got {answer!r}.")
    if math.isclose(value, expected, abs_tol=tol):
        return _verdict(True, right.format(value=value))
    hints = [hint for hint, slip in slips if _matches(value, slip, expected, tol)]
    fact = f"{value:.4g} is off by more than {tol:g}."
    return _verdict(False, f"{fact} {_hints(hints)}" if hints else fact)


def _judge_reason(reason, right: str, wrong: dict[str, str]) -> bool:
    """The verdict on a multiple-choice explanation: ``right`` is the right letter, ``wrong`` says why each other is not."""
    if reason is None:
        print(f"{TODO}: replace None with the letter of your explanation and run the cell again.")
        return False
    letter = reason.strip().lower().strip("()") if isinstance(reason, str) else None
    options = sorted([right, *wrong])
    if letter not in options:
        return _verdict(False, f"expected one of the letters {options}, got {reason!r}.")
    if letter == right:
        return _verdict(True, f"({right}) is the explanation.")
    return _verdict(False, f"({letter}) does not explain it: {wrong[letter]}")


def _prediction(prediction, held: bool, options: tuple[str, str]) -> None:
    """Says whether a recorded prediction held; a prediction is noted, never graded."""
    if prediction is None:
        print(f"(no prediction recorded: write {options[0]!r} or {options[1]!r} before you compute)")
    elif prediction not in options:
        print(f"(your prediction {prediction!r} is neither {options[0]!r} nor {options[1]!r})")
    else:
        print(f"Your prediction {prediction!r} {'held' if held else 'did not hold'}.")


# --------------------------------------------------------------------------- chapter 1

def _power(x: torch.Tensor, shift: bool = True) -> torch.Tensor:
    f = torch.fft.fft2(x.double())
    return (torch.fft.fftshift(f, dim=(-2, -1)) if shift else f).abs().square()


def _distance(h: int, w: int) -> torch.Tensor:
    u = torch.arange(h, dtype=torch.float64)[:, None] - h // 2
    v = torch.arange(w, dtype=torch.float64)[None, :] - w // 2
    return torch.sqrt(u * u + v * v)


def _fractions(power: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """Each image's share of ``power`` where ``keep`` is 1: ``(B, C, H, W) -> (B,)``."""
    return (power * keep).sum(dim=(1, 2, 3)) / power.sum(dim=(1, 2, 3))


def _ch1_slips(x: torch.Tensor, radius: float, expected: float) -> list[tuple[str, float]]:
    """``(hint, answer)`` for each usual slip: the answer that slip gives on ``x``."""
    power = _power(x)
    distance = _distance(*x.shape[-2:])
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
    return [(hint, float(answer)) for hint, answer in slips]


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
    x = checks.images(x)
    radius = checks.radius(radius, *x.shape[-2:])
    tol = checks.number(tol, "tol", low=0, low_open=True)
    if answer is None or answer is Ellipsis:
        print(f"{TODO}: replace None with your number and run the cell again.")
        return False
    given = _as_tensor(answer)
    if given is None or given.numel() != 1:
        return _not_one_number(answer, given, x, radius, tol)
    value = float(given.reshape(()))
    if not math.isfinite(value):
        return _verdict(False, f"the answer is {value}, not a fraction between 0 and 1.")
    expected = float(fourier.energy_below(x.double(), radius).mean())
    if abs(value - expected) <= tol:
        return _verdict(True, f"{value:.4f} of the energy lies strictly below r = {radius:g}.")
    hints = [hint for hint, slip in _ch1_slips(x, radius, expected) if _matches(value, slip, expected, tol)]
    if hints:
        return _verdict(False, f"{value:.4g} is off. {_hints(hints)}")
    if not 0.0 <= value <= 1.0:
        return _verdict(False, f"{value:.4g} is not a fraction: it must lie between 0 and 1.")
    return _verdict(False, f"{value:.4f} is off by more than {tol:g}. Hint: take fft2 of each "
                           "channel, fftshift it, keep |F|^2 where the distance from (H//2, W//2) is "
                           "< r, divide by the total |F|^2 of that image, and average over images.")


def _not_one_number(answer, given: torch.Tensor | None, x: torch.Tensor, radius: float, tol: float) -> bool:
    """The verdict on an answer that is not a single number, with a hint if it is each image's fraction."""
    if given is None:
        return _verdict(False, f"expected a single number (a float or a one-element tensor), "
                               f"got {type(answer).__name__}.")
    per_image = fourier.energy_below(x.double(), radius)
    if given.shape == per_image.shape and bool(torch.allclose(given, per_image, rtol=0, atol=tol)):
        return _verdict(False, f"you gave {given.numel()} numbers, each image's fraction; the answer "
                               "is their mean (a single number).")
    return _verdict(False, f"expected a single number (a float or a one-element tensor), got "
                           f"{given.numel()} numbers.")


def check_ch1_gaussian_energy(answer, x: torch.Tensor, radius: float = 8, prediction: str | None = None,
                              tol: float = 1e-4) -> bool:
    """Chapter 1: the mean share of energy a Gaussian low-pass with ``sigma = radius / sqrt(2)`` keeps.

    The expected answer is the mean over the images of ``x`` ``(B, C, H, W)`` of
    ``||low_pass(x, sigma, "gaussian")||^2 / ||x||^2`` (:func:`freqlens.fourier.energy_below`
    with ``mask="gaussian"``). ``prediction``, ``"more"`` or ``"less"`` energy than the
    circle of the same radius keeps, is noted once the answer is right, never graded.
    Prints a verdict (with a hint when wrong) and returns whether it passed.

    Example:
        >>> x = torch.rand(4, 3, 32, 32)
        >>> check_ch1_gaussian_energy(None, x)
        … not answered yet: replace None with your number and run the cell again.
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
    ok = _judge_number(answer, expected, slips, tol,
                       f"{{value:.4f}} of the energy passes the Gaussian cut (sigma = {sigma:.3f}); "
                       f"the circle of radius {radius:g} keeps {circle:.4f}.")
    if ok:
        _prediction(prediction, (prediction == "more") == (expected > circle), ("more", "less"))
    return ok


# --------------------------------------------------------------------------- chapter 2

def _first(accuracies: dict[float, float], target: float) -> int | None:
    """The smallest radius whose accuracy reaches ``target``; ``None`` if none does."""
    return next((int(r) for r, a in sorted(accuracies.items()) if a >= target), None)


def _ch2_slips(model, x: torch.Tensor, y: torch.Tensor, fraction: float,
               top: int) -> tuple[dict, int | None, list[tuple[str, int | None]]]:
    """The accuracies at radii ``1 .. top``, the right radius, and ``(hint, answer)`` for each usual slip."""
    from freqlens import evaluate

    radii = range(1, top + 1)
    raw = evaluate.frequency_accuracy(model, x, y, radii=radii)
    rescaled = evaluate.frequency_accuracy(model, x, y, radii=radii, rescale=True, components=["lfc"])
    target = fraction * raw["original"]
    expected = _first(raw["lfc"], target)
    reached = [a >= target for _, a in sorted(raw["lfc"].items())]
    slips = [
        (f"compare with {fraction} * the accuracy on the originals, not with {fraction} itself.",
         _first(raw["lfc"], fraction)),
        ("that is the first radius's position in range(1, ...), which starts at radius 1, not 0: "
         "the radius is one more.", reached.index(True) if expected is not None else None),
        ("those are the HFC copies' accuracies: the LFC copy keeps the frequencies below r "
         "(the \"lfc\" entry).", _first(raw["hfc"], target)),
        ("measure the LFC copies without rescaling (rescale=False, the default).",
         _first(rescaled["lfc"], target)),
    ]
    return raw, expected, slips


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

    x = checks.images(x)
    checks.labels(y, x.shape[0])
    fraction = checks.number(fraction, "fraction", 0, 1, low_open=True)
    if answer is None or answer is Ellipsis:
        print(f"{TODO}: replace None with your radius and run the cell again.")
        return False
    value = _as_number(answer)
    if value is None or not math.isfinite(value) or value != int(value):
        return _verdict(False, f"expected a whole number (an integer radius), got {answer!r}.")
    top = math.floor(checks.corner_radius(*x.shape[-2:]))
    if not 1 <= value <= top:
        return _verdict(False, f"{value:g} is outside 1 .. {top}: the radius of a "
                               f"{x.shape[-2]}x{x.shape[-1]} spectrum stops at its corner.")
    # Radii 1 .. answer decide a right answer (LFC copies only: half the cost of both kinds);
    # the slips are recomputed only for a wrong one.
    value = int(value)
    accs = evaluate.frequency_accuracy(model, x, y, radii=range(1, value + 1), components=["lfc"])
    if _first(accs["lfc"], fraction * accs["original"]) == value:
        return _verdict(True, f"at r = {value} the LFC copies score {accs['lfc'][value]:.3f}, "
                              f"at least {fraction:.0%} of the original's {accs['original']:.3f}.")
    raw, expected, slips = _ch2_slips(model, x, y, fraction, top)
    if expected is None:
        # possible only for a model worse than chance on its own LFC copies
        return _verdict(False, f"no radius up to {top} reaches {fraction:.0%} of the clean accuracy "
                               "for this model, so there is no right answer to check against.")
    hints = [hint for hint, slip in slips if slip == value]
    score, original = raw["lfc"][value], raw["original"]
    if score >= fraction * original:
        fact = (f"r = {value} works, but a smaller radius already reaches {fraction:.0%} of the clean "
                "accuracy.")
        hints = hints or ["look for the first radius."]
    else:
        fact = (f"at r = {value} the LFC copies score {score:.3f}, below {fraction:.0%} of the "
                f"original's {original:.3f}.")
    return _verdict(False, f"{fact} {_hints(hints)}" if hints else fact)


def check_ch2_hfc_accuracy(answer, reason, model, x: torch.Tensor, y: torch.Tensor, radius: float = 12,
                           tol: float = 1e-3) -> bool:
    """Chapter 2: the accuracy on HFC copies at ``radius`` (as they are, no rescaling), and why it falls.

    ``answer`` is the accuracy of ``model`` on ``fourier.high_pass(x, radius)``;
    ``reason`` the letter of the explanation the chapter offers. Prints a verdict for
    each (with a hint when wrong) and returns whether both passed.

    Example:
        >>> from freqlens.data import cifar10_tensors
        >>> from freqlens.models import SmallCNN
        >>> x, y = cifar10_tensors("test", n=50)
        >>> check_ch2_hfc_accuracy(None, "b", SmallCNN(width=8), x, y)
        … not answered yet: replace None with your accuracy and run the cell again.
        ✗ not yet: (b) does not explain it: the network trained on the original images, which hold every frequency.
        False
    """
    from freqlens import evaluate

    x = checks.images(x)
    checks.labels(y, x.shape[0])
    radius = checks.radius(radius, *x.shape[-2:])
    expected = evaluate.accuracy(model, fourier.high_pass(x, radius), y)
    slips = [
        ("that is the accuracy at r = 4, the radius before the change.",
         evaluate.accuracy(model, fourier.high_pass(x, 4), y)),
        ("that is the LFC copies' accuracy: the HFC copy keeps the frequencies at or above r.",
         evaluate.accuracy(model, fourier.low_pass(x, radius), y)),
        ("measure the copies as they are, without rescaling them by their maximum.",
         evaluate.accuracy(model, fourier.rescale_by_max(fourier.high_pass(x, radius)), y)),
        ("The answer is a fraction between 0 and 1, not a percentage.", 100 * expected),
    ]
    number = _judge_number(answer, expected, slips, tol,
                           f"the HFC copies at r = {radius:g} score {{value:.3f}}.", what="accuracy")
    why = _judge_reason(reason, "a", {
        "b": "the network trained on the original images, which hold every frequency.",
        "c": "LFC + HFC = x exactly (chapter 1): nothing is lost in the transform."})
    return number and why


# --------------------------------------------------------------------------- chapter 3

def _ch3_means(runs: dict, read) -> dict[str, float]:
    """Each heuristic's mean over its seeds of ``read(history)``, NaNs left out (never reached)."""
    means = {}
    for name, histories in runs.items():
        values = [v for v in (read(h) for h in histories) if not math.isnan(v)]
        if values:
            means[name] = sum(values) / len(values)
    return means


def check_ch3_least_hfc(answer, runs: dict, level: float, radius: float = 4.0) -> bool:
    """Chapter 3: the heuristic whose networks score lowest on HFC copies at matched clean accuracy.

    ``runs`` maps a heuristic to its histories (one per seed). The expected answer is the
    name whose mean over seeds of :func:`freqlens.heuristics.at_clean_accuracy` (HFC
    copies at ``radius``, read where clean test accuracy first reached ``level``) is the
    lowest, among the heuristics whose networks reach ``level``. Prints a verdict (with
    a hint when wrong) and returns whether it passed.

    Example:
        >>> from freqlens.train import History
        >>> h = lambda hfc: History(epoch=[1], test_acc=[0.5], test_hfc_acc={4.0: [hfc]})
        >>> check_ch3_least_hfc("mixup", {"mixup": [h(0.2)], "dropout": [h(0.3)]}, 0.5)
        ✓ correct: at clean accuracy 0.50, mixup scores 0.200 on HFC copies at r = 4, the lowest.
        True
    """
    from freqlens.heuristics import at_clean_accuracy

    level = checks.number(level, "level", low=0, high=1)
    matched = _ch3_means(runs, lambda h: at_clean_accuracy(h, level, "hfc", radius))
    if not matched:
        raise ValueError(f"runs must hold at least one heuristic whose networks reach level {level:g}")
    expected = min(matched, key=matched.get)
    if answer is None:
        print(f"{TODO}: replace None with the heuristic's name (e.g. \"dropout\") and run the cell again.")
        return False
    if not isinstance(answer, str) or answer not in runs:
        return _verdict(False, f"expected one of the heuristics' names {sorted(runs)}, got {answer!r}.")
    if answer == expected:
        return _verdict(True, f"at clean accuracy {level:.2f}, {answer} scores {matched[answer]:.3f} "
                              f"on HFC copies at r = {radius:g}, the lowest.")
    if answer not in matched:
        return _verdict(False, f"{answer}'s networks never reach clean accuracy {level:.2f}, so they "
                               f"cannot be compared there.")
    last = _ch3_means(runs, lambda h: h.test_hfc_acc[float(radius)][-1])
    hints = []
    if answer == max(matched, key=matched.get):
        hints.append("Lowest, not highest: the question asks which heuristic uses the least HFC.")
    if last and answer == min(last, key=last.get):
        hints.append("Read every run where its clean accuracy reaches the level "
                     "(heuristics.at_clean_accuracy), not at its last epoch.")
    fact = f"{answer} scores {matched[answer]:.3f} at clean accuracy {level:.2f}; another scores lower."
    return _verdict(False, f"{fact} {_hints(hints)}" if hints else fact)


def check_ch3_matched_lfc(answer, histories, level: float, radius: float = 8.0, tol: float = 1e-3) -> bool:
    """Chapter 3: the mean over seeds of LFC accuracy at ``radius``, read at matched clean accuracy ``level``.

    ``histories`` are one heuristic's histories, one per seed. The expected answer is
    the mean of :func:`freqlens.heuristics.at_clean_accuracy` ``(h, level, "lfc",
    radius)`` over them. Prints a verdict (with a hint when wrong) and returns whether it
    passed.

    Example:
        >>> from freqlens.train import History
        >>> h = History(epoch=[1, 2], test_acc=[0.3, 0.5], test_lfc_acc={8.0: [0.2, 0.4]})
        >>> check_ch3_matched_lfc(0.3, [h], 0.4)
        ✓ correct: 0.3000 on LFC copies at r = 8, read at clean accuracy 0.40.
        True
    """
    from freqlens.heuristics import at_clean_accuracy

    histories = list(histories)
    level = checks.number(level, "level", low=0, high=1)
    if not histories:
        raise ValueError("histories must hold at least one history, got none")
    mean = lambda values: sum(values) / len(values)

    def slip(read):   # a reading the histories cannot give is no slip
        try:
            return read()
        except (KeyError, IndexError, ValueError):
            return None

    expected = mean([at_clean_accuracy(h, level, "lfc", radius) for h in histories])
    if math.isnan(expected):
        raise ValueError(f"every history must reach clean accuracy {level:g}")
    slips = [
        ("those are the HFC copies: take component=\"lfc\".",
         slip(lambda: mean([at_clean_accuracy(h, level, "hfc", radius) for h in histories]))),
        (f"at_clean_accuracy reads r = 4 unless told: pass radius={radius:g}.",
         slip(lambda: mean([at_clean_accuracy(h, level, "lfc", 4.0) for h in histories]))),
        ("read every run where its clean accuracy reaches the level, not at its last epoch.",
         slip(lambda: mean([h.test_lfc_acc[float(radius)][-1] for h in histories]))),
        ("average over every seed, not the first one only.",
         at_clean_accuracy(histories[0], level, "lfc", radius)),
        ("The answer is a fraction between 0 and 1, not a percentage.", 100 * expected),
    ]
    return _judge_number(answer, expected, slips, tol,
                         f"{{value:.4f}} on LFC copies at r = {radius:g}, read at clean accuracy {level:.2f}.",
                         what="accuracy")


# --------------------------------------------------------------------------- chapter 4

def _shares_below(attributions: torch.Tensor, radius: float, strict: bool = True, absolute: bool = True,
                  rounded: bool = False) -> torch.Tensor:
    """Each map's share of its attribution at distance below ``radius`` from the centre: ``(B,)``."""
    from freqlens.attribution import _centred_distance

    a = attributions.detach().double().cpu()
    a = a.abs().sum(1) if absolute else a.sum(1)
    d = _centred_distance(*a.shape[-2:])
    d = torch.round(d) if rounded else d
    inside = (d < radius) if strict else (d <= radius)
    return (a * inside).sum(dim=(1, 2)) / a.sum(dim=(1, 2))


def check_ch4_share_below(answer, attributions: torch.Tensor, radius: float = 8, tol: float = 1e-3) -> bool:
    """Chapter 4: the mean share of |attribution| at frequencies strictly closer than ``radius`` to the centre.

    ``attributions`` are frequency maps ``(B, C, H, W)`` over the centred spectrum. For
    each image, the absolute attributions (summed over channels after taking absolute
    values), at distance strictly below
    ``radius`` from the zero frequency ``(H//2, W//2)``, over all of them; the mean over
    the images. Prints a verdict (with a hint when wrong) and returns whether it passed.

    Example:
        >>> check_ch4_share_below(None, torch.randn(2, 3, 32, 32))
        … not answered yet: replace None with your number and run the cell again.
        False
    """
    checks.images(attributions, "attributions")
    radius = checks.radius(radius, *attributions.shape[-2:])
    expected = float(_shares_below(attributions, radius).mean())
    if answer is None:
        print(f"{TODO}: replace None with your number and run the cell again.")
        return False
    value = _as_number(answer)
    if value is None:
        return _verdict(False, f"expected a single number (a float or a one-element tensor), got {answer!r}.")
    if math.isclose(value, expected, abs_tol=tol):
        return _verdict(True, f"{value:.4f} of the |attribution| lies strictly below r = {radius:g}.")
    from freqlens.attribution import _centred_distance

    a = attributions
    pooled = a.detach().double().cpu().abs().sum(1)
    slips = [
        ("Take absolute values first: positive and negative attributions would cancel.",
         float(_shares_below(a, radius, absolute=False).mean())),
        ("'Below r' means strictly below (d < r), as everywhere in the book.",
         float(_shares_below(a, radius, strict=False).mean())),
        ("Use each frequency's exact distance, not the ring it rounds to.",
         float(_shares_below(a, radius, rounded=True).mean())),
        ("Average each image's share; do not pool all images' attributions first.",
         float((pooled * (_centred_distance(*a.shape[-2:]) < radius)).sum() / pooled.sum())),
        ("The answer is a fraction between 0 and 1, not a percentage.", 100 * expected),
    ]
    hints = [hint for hint, slip in slips if _matches(value, slip, expected, tol)]
    fact = f"{value:.4g} is off by more than {tol:g}."
    return _verdict(False, f"{fact} {_hints(hints)}" if hints else fact)


def _centre_share(attributions: torch.Tensor, absolute: bool = True, pooled: bool = False) -> float:
    """The mean share of attribution (summed over channels) at the zero frequency of centred maps."""
    a = attributions.detach().double().cpu()
    a = a.abs().sum(1) if absolute else a.sum(1)
    h, w = a.shape[-2:]
    centre = a[:, h // 2, w // 2]
    if pooled:
        return float(centre.sum() / a.sum())
    return float((centre / a.sum(dim=(1, 2))).mean())


def check_ch4_black_baseline(answer, reason, model, x: torch.Tensor, target: torch.Tensor, n_steps: int = 32,
                             tol: float = 2e-3) -> bool:
    """Chapter 4: with a black baseline, the mean share of |frequency IG| at the zero frequency, and why.

    The expected answer is, for Integrated Gradients over frequencies
    (:class:`freqlens.attribution.FrequencyAttribution`) of ``model`` at ``x`` ``(B, C,
    H, W)`` for ``target``, baseline the black image and ``n_steps`` steps, each map's
    absolute attribution (summed over channels) at the centre ``(H//2, W//2)`` over its
    total, averaged over the images. ``reason`` is the letter of the explanation. Prints
    a verdict for each and returns whether both passed.

    Example:
        >>> from freqlens.models import SmallCNN
        >>> x = torch.rand(2, 3, 32, 32)
        >>> check_ch4_black_baseline(None, "a", SmallCNN(width=8).eval(), x, torch.tensor([0, 1]))
        … not answered yet: replace None with your number and run the cell again.
        ✓ correct: (a) is the explanation.
        False
    """
    from captum.attr import IntegratedGradients

    from freqlens.attribution import FrequencyAttribution

    x = checks.images(x)
    ig = lambda baselines: FrequencyAttribution(IntegratedGradients, model).attribute(
        x, target=target, baselines=baselines, n_steps=n_steps)
    black = ig(torch.zeros_like(x))
    expected = _centre_share(black)
    value = _as_number(answer)
    slips = []
    if value is not None and not math.isclose(value, expected, abs_tol=tol):
        flat = x.mean(dim=(2, 3), keepdim=True).expand_as(x).contiguous()
        slips = [
            ("that is the flat baseline's share (it is zero there): change the baseline to the black image.",
             _centre_share(ig(flat))),
            ("Take absolute values first: positive and negative attributions would cancel.",
             _centre_share(black, absolute=False)),
            ("Average each image's share; do not pool all images' attributions first.",
             _centre_share(black, pooled=True)),
            ("The answer is a fraction between 0 and 1, not a percentage.", 100 * expected),
        ]
    number = _judge_number(answer, expected, slips, tol,
                           "{value:.4f} of |attribution| sits at the zero frequency with a black baseline.")
    why = _judge_reason(reason, "a", {
        "b": "a black image is flat too: its only frequency is the zero frequency, and it is 0 there.",
        "c": "Integrated Gradients is complete for any baseline: the maps sum to f(x) - f(baseline)."})
    return number and why


# --------------------------------------------------------------------------- chapter 5

def _pgd_8(model, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    from freqlens import attacks

    return attacks.pgd(model, x, y, eps=8 / 255, alpha=2 / 255, steps=10, random_start=False)


def check_ch5_low_pass_radius(answer, reason, model, x: torch.Tensor, y: torch.Tensor, radius: float = 4,
                              tol: float = 0.011) -> bool:
    """Chapter 5: accuracy of ``model`` behind a low-pass filter of ``radius`` under PGD through the filter, and why.

    The expected answer is the accuracy on ``x`` ``(B, C, H, W)`` with labels ``y`` of
    :func:`freqlens.defenses.low_pass_defense` ``(model, radius)`` on PGD images crafted
    against that defended network (L-inf 8/255, 10 steps of 2/255, no random start): the
    adaptive attack; ``tol`` lets a prediction or two flip (a different batching rounds
    differently). ``reason`` is the letter of the explanation. Prints a verdict for
    each and returns whether both passed.

    Example:
        >>> from freqlens.data import cifar10_tensors
        >>> from freqlens.models import SmallCNN
        >>> x, y = cifar10_tensors("test", n=8)
        >>> check_ch5_low_pass_radius(None, "a", SmallCNN(width=8).eval(), x, y)
        … not answered yet: replace None with your accuracy and run the cell again.
        ✓ correct: (a) is the explanation.
        False
    """
    from freqlens import defenses
    from freqlens.evaluate import accuracy

    x = checks.images(x)
    y = checks.labels(y, len(x))
    defended = defenses.low_pass_defense(model, radius)
    adaptive = _pgd_8(defended, x, y)
    expected = accuracy(defended, adaptive, y)
    value = _as_number(answer)
    slips = []
    if value is not None and not math.isclose(value, expected, abs_tol=tol):
        other_radius = 8 if radius != 8 else 4
        other = defenses.low_pass_defense(model, other_radius)
        slips = [
            (f"that is the filter at r = {other_radius:g}: pass radius={radius:g} to low_pass_defense.",
             accuracy(other, _pgd_8(other, x, y), y)),
            ("that is a transfer attack, crafted on the undefended network: run PGD on the defended one.",
             accuracy(defended, _pgd_8(model, x, y), y)),
            ("that is the undefended network on the adaptive images: evaluate the defended network.",
             accuracy(model, adaptive, y)),
            ("The answer is a fraction between 0 and 1, not a percentage.", 100 * expected),
        ]
    number = _judge_number(answer, expected, slips, tol,
                           f"{{value:.3f}} of the images stay right behind the r = {radius:g} filter "
                           "under PGD through it.", what="accuracy")
    why = _judge_reason(reason, "a", {
        "b": "the filter is a mask in Fourier space between two linear transforms: it is differentiable, "
             "and PGD's gradient flows through it.",
        "c": "nothing above the radius reaches the network: the filter removes it from the perturbation "
             "as from the image."})
    return number and why
