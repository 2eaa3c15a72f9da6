"""How the book's self-checks judge an answer: a verdict, and the usual slip named.

A check never raises on a wrong or missing answer (a student's notebook keeps running);
it prints one verdict and returns ``True`` or ``False``, so a solution cell can
``assert`` it. The hints name the usual slips, recognised by recomputing the answer
the slip would give. The checks themselves live with their chapters
(``freqlens.chapters.ch1_frequencies.check_energy_below``, ...); this module holds
what every one of them shares.

Example:
    >>> judge_number(0.25, 0.25, [], 1e-3, "{value:.2f} is right.")
    ✓ correct: 0.25 is right.
    True
    >>> judge_number(25.0, 0.25, [("a fraction, not a percentage.", 25.0)], 1e-3, "")
    ✗ not yet: 25 is off by more than 0.001. Hint: a fraction, not a
      percentage.
    False
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from freqlens import report

__all__ = ["FAIL", "PASS", "TODO", "as_number", "as_tensor", "hint", "judge_number", "judge_reason",
           "matches", "note_prediction", "slips_matching", "todo", "verdict"]

PASS = "✓ correct"
FAIL = "✗ not yet"
TODO = "… not answered yet"


def as_tensor(answer) -> torch.Tensor | None:
    """A float64 CPU tensor from a number, a list, an array or a tensor of numbers; ``None`` otherwise.

    Example:
        >>> as_tensor([0.5, 1]).tolist(), as_tensor("0.5"), as_tensor(True)
        ([0.5, 1.0], None, None)
    """
    if isinstance(answer, (bool, str, bytes)):
        return None
    try:
        t = torch.as_tensor(answer)
    except (TypeError, ValueError, RuntimeError):
        return None
    if t.is_complex() or t.dtype == torch.bool:
        return None
    return t.detach().cpu().double()


def as_number(answer) -> float | None:
    """A float from a Python number, a one-element tensor or array; ``None`` otherwise.

    Example:
        >>> as_number(torch.tensor([0.5])), as_number([1, 2])
        (0.5, None)
    """
    t = as_tensor(answer)
    return float(t.reshape(())) if t is not None and t.numel() == 1 else None


def verdict(ok: bool, message: str) -> bool:
    """Prints ``message`` after the mark of a pass or a fail, wrapped to the page, and returns ``ok``.

    Example:
        >>> verdict(False, "0.3 is off.")
        ✗ not yet: 0.3 is off.
        False
    """
    report.say(f"{PASS if ok else FAIL}: {message}")
    return ok


def todo(message: str) -> bool:
    """Prints that the answer is missing and what to do (``message``), and returns ``False``.

    Example:
        >>> todo("replace None with your number, then run the cell.")
        … not answered yet: replace None with your number, then run the cell.
        False
    """
    report.say(f"{TODO}: {message}")
    return False


def matches(value: float, slip: float | None, expected: float, tol: float) -> bool:
    """Whether ``value`` is the slip's answer while the slip's answer is not the right one.

    The tolerance is ``tol`` on fractions and relative for larger answers (a
    percentage, an energy left undivided). A slip of ``None`` (one the inputs cannot
    give) matches nothing.

    Example:
        >>> matches(50.0, 50.0, 0.5, 1e-3), matches(0.5, 0.5, 0.5, 1e-3), matches(0.5, None, 0.4, 1e-3)
        (True, False, False)
    """
    return (slip is not None and math.isclose(value, slip, rel_tol=tol, abs_tol=tol)
            and not math.isclose(slip, expected, rel_tol=tol, abs_tol=tol))


def slips_matching(value: float, slips: Sequence[tuple[str, float | None]], expected: float,
                   tol: float) -> list[str]:
    """The hints of the slips ``(hint, answer)`` whose answer ``value`` is (:func:`matches`), in order.

    Example:
        >>> slips_matching(50.0, [("d < r", 0.6), ("a fraction", 50.0)], 0.5, 1e-3)
        ['a fraction']
    """
    return [text for text, slip in slips if matches(value, slip, expected, tol)]


def hint(hints: Sequence[str]) -> str:
    """One line of hints, each once, in order.

    Example:
        >>> hint(["Use d < r.", "Use d < r.", "Divide."])
        'Hint: Use d < r. Or: Divide.'
    """
    return "Hint: " + " Or: ".join(dict.fromkeys(hints))


def judge_number(answer, expected: float, slips: Sequence[tuple[str, float | None]], tol: float,
                 right: str, what: str = "number") -> bool:
    """The verdict on a single-number answer: right within ``tol``, else the hints of the slips it matches.

    ``slips`` are ``(hint, the answer that slip gives)``; ``right`` is the message of a
    right answer, formatted with ``{value}``; ``what`` names the answer in the line
    that asks for one when ``answer`` is ``None``.
    """
    if answer is None or answer is Ellipsis:
        return todo(f"replace None with your {what}, then run the cell.")
    value = as_number(answer)
    if value is None or not math.isfinite(value):
        return verdict(False, f"expected a single finite number (a float or a one-element tensor), "
                              f"got {answer!r}.")
    if math.isclose(value, expected, abs_tol=tol):
        return verdict(True, right.format(value=value))
    hints = slips_matching(value, slips, expected, tol)
    fact = f"{value:.4g} is off by more than {tol:g}."
    return verdict(False, f"{fact} {hint(hints)}" if hints else fact)


def judge_reason(reason, right: str, wrong: dict[str, str]) -> bool:
    """The verdict on a multiple-choice explanation: ``right`` is the right letter, ``wrong`` says why each other is not.

    Example:
        >>> judge_reason("(b)", "a", {"b": "the filter is differentiable."})
        ✗ not yet: (b) does not explain it: the filter is differentiable.
        False
    """
    if reason is None:
        return todo("replace None with the letter of your explanation, then run the cell.")
    letter = reason.strip().lower().strip("()") if isinstance(reason, str) else None
    options = sorted([right, *wrong])
    if letter not in options:
        return verdict(False, f"expected one of the letters {options}, got {reason!r}.")
    if letter == right:
        return verdict(True, f"({right}) is the explanation.")
    return verdict(False, f"({letter}) does not explain it: {wrong[letter]}")


def note_prediction(prediction, held: bool, options: tuple[str, str]) -> None:
    """Says whether a recorded prediction held; a prediction is noted, never graded.

    Example:
        >>> note_prediction("less", True, ("more", "less"))
        Your prediction 'less' held.
    """
    if prediction is None:
        print(f"(no prediction recorded: write {options[0]!r} or {options[1]!r} before you compute)")
    elif prediction not in options:
        print(f"(your prediction {prediction!r} is neither {options[0]!r} nor {options[1]!r})")
    else:
        print(f"Your prediction {prediction!r} {'held' if held else 'did not hold'}.")
