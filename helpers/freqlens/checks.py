"""The book's input checks: one function per kind of argument, one message per mistake.

Every public function of ``freqlens`` checks its arguments here, so the same bad input
gets the same message wherever it is passed: what was wrong, what was expected, what
came. Each check returns the value in its canonical form (a radius as a ``float``, a
batch size as an ``int``), so a caller writes ``r = checks.radius(radius, h, w)``.

None of these checks reads a tensor's values except :func:`finite`, which has to (it
synchronises with the device): keep it off paths that run inside a forward pass or an
attack step.

Example:
    >>> radius(np.int64(4))
    4.0
    >>> radius(-3)
    Traceback (most recent call last):
    ...
    ValueError: radius must be a finite number >= 0, got -3
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable

import numpy as np
import torch

__all__ = ["batch_size", "boolean", "corner_radius", "eps", "finite", "images", "in_unit_range", "integer",
           "labels", "model", "number", "one_of", "radii", "radius", "subset", "target"]


def corner_radius(height: int, width: int) -> float:
    """Distance from the spectrum's centre ``(H//2, W//2)`` to its farthest frequency.

    Example:
        >>> round(corner_radius(32, 32), 3)
        22.627
    """
    return math.hypot(height // 2, width // 2)


def _is_real(value) -> bool:
    """A real number: Python's, NumPy's, or a one-element tensor; not a bool."""
    if isinstance(value, (bool, np.bool_)):
        return False
    if isinstance(value, torch.Tensor):
        return value.numel() == 1 and not value.is_complex() and value.dtype != torch.bool
    return isinstance(value, numbers.Real)


def _finite(value) -> float | None:
    """``value`` as a finite ``float`` if it is a real number; ``None`` otherwise."""
    if not _is_real(value):
        return None
    try:
        v = float(value)
    except OverflowError:  # an int beyond float's range, e.g. 10**400
        return None
    return v if math.isfinite(v) else None


def _is_integer(value) -> bool:
    if isinstance(value, torch.Tensor):
        return _is_real(value) and not value.is_floating_point()
    return _is_real(value) and isinstance(value, (numbers.Integral, np.integer))


# --------------------------------------------------------------------------- scalars

def _span(low, high, low_open: bool = False, high_open: bool = False) -> str:
    """The range in words for a message: `` in [0, 1)``, `` >= 1``, `` < 5`` or nothing."""
    if low is not None and high is not None:
        return f" in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if low is not None:
        return f" {'>' if low_open else '>='} {low:g}"
    if high is not None:
        return f" {'<' if high_open else '<='} {high:g}"
    return ""


def number(value, name: str, low: float | None = None, high: float | None = None,
           low_open: bool = False, high_open: bool = False) -> float:
    """A finite real number in ``[low, high]`` (ends open where asked), as a ``float``.

    Example:
        >>> number(0.5, "dropout", 0, 1, high_open=True)
        0.5
        >>> number(1, "dropout", 0, 1, high_open=True)
        Traceback (most recent call last):
        ...
        ValueError: dropout must be a finite number in [0, 1), got 1
    """
    v = _finite(value)
    ok = v is not None
    if ok:
        ok = ((low is None or (v > low if low_open else v >= low))
              and (high is None or (v < high if high_open else v <= high)))
    if not ok:
        raise ValueError(f"{name} must be a finite number{_span(low, high, low_open, high_open)}, "
                         f"got {value!r}")
    return v


def integer(value, name: str, minimum: int | None = None, maximum: int | None = None,
            allow_none: bool = False, none_means: str = "") -> int | None:
    """An integer (Python's or NumPy's, not a bool) in ``[minimum, maximum]``, as an ``int``.

    ``allow_none`` lets ``None`` through; ``none_means`` says what it stands for in the message.

    Example:
        >>> integer(np.int32(3), "epochs", minimum=0)
        3
        >>> integer(2.0, "epochs", minimum=0)
        Traceback (most recent call last):
        ...
        ValueError: epochs must be an integer >= 0, got 2.0
    """
    if value is None and allow_none:
        return None
    ok = _is_integer(value)
    if ok:
        v = int(value)
        ok = (minimum is None or v >= minimum) and (maximum is None or v <= maximum)
    if not ok:
        span = _span(minimum, maximum)
        alt = ""
        if allow_none:
            alt = f" (or None {none_means})" if none_means else " or None"
        raise ValueError(f"{name} must be an integer{span}{alt}, got {value!r}")
    return int(value)


def model(value, name: str = "model"):
    """A network: a ``torch.nn.Module``.

    Example:
        >>> model(lambda x: x)
        Traceback (most recent call last):
        ...
        ValueError: model must be a torch.nn.Module, got function
    """
    if not isinstance(value, torch.nn.Module):
        raise ValueError(f"{name} must be a torch.nn.Module, got {type(value).__name__}")
    return value


def boolean(value, name: str) -> bool:
    """``True`` or ``False`` (a NumPy bool too), as a ``bool``.

    Example:
        >>> boolean(1, "rescale")
        Traceback (most recent call last):
        ...
        ValueError: rescale must be True or False, got 1
    """
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def one_of(value, name: str, options: Iterable):
    """``value`` if it is one of ``options``.

    Example:
        >>> one_of("circle", "mask", ("circle", "square"))
        'circle'
    """
    options = tuple(options)
    try:
        ok = value in options
    except (TypeError, ValueError):  # e.g. an array, whose comparison has no single truth value
        ok = False
    if not ok:
        raise ValueError(f"{name} must be one of {options}, got {value!r}")
    return value


def subset(values, name: str, options: Iterable) -> tuple:
    """One or more of ``options`` (one value or an iterable of them), as a tuple in ``options``' order.

    Example:
        >>> subset(["hfc", "lfc"], "components", ("lfc", "hfc"))
        ('lfc', 'hfc')
        >>> subset(["band"], "components", ("lfc", "hfc"))
        Traceback (most recent call last):
        ...
        ValueError: components must be one or more of ('lfc', 'hfc'), got ['band']
    """
    options = tuple(options)
    try:
        chosen = [values] if isinstance(values, str) else list(values)
        for v in chosen:
            one_of(v, name, options)
    except (TypeError, ValueError):  # not iterable, or an element not among the options
        chosen = []
    if not chosen:
        raise ValueError(f"{name} must be one or more of {options}, got {values!r}")
    return tuple(o for o in options if o in chosen)


def radius(value, height: int | None = None, width: int | None = None,
           name: str = "radius") -> float:
    """A radius in the centred spectrum: a finite number >= 0, at most the corner of ``H x W``.

    Example:
        >>> radius(23, 32, 32)
        Traceback (most recent call last):
        ...
        ValueError: radius must be at most 22.627, the distance from the centre to the corner of a 32x32 spectrum, got 23
    """
    r = _finite(value)
    if r is None or r < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    if height is not None and width is not None:
        corner = corner_radius(height, width)
        if r > corner:
            raise ValueError(
                f"{name} must be at most {corner:.3f}, the distance from the centre to the corner "
                f"of a {height}x{width} spectrum, got {value!r}")
    return r


def radii(values, height: int | None = None, width: int | None = None, name: str = "radii",
          allow_empty: bool = False) -> tuple[float, ...]:
    """One radius or several (any iterable), each checked by :func:`radius`, as a tuple of floats.

    A bad element gets :func:`radius`'s message, followed by where it was.

    Example:
        >>> radii(np.arange(4, 17, 4), 32, 32)
        (4.0, 8.0, 12.0, 16.0)
        >>> radii([4, -3], 32, 32)
        Traceback (most recent call last):
        ...
        ValueError: radius must be a finite number >= 0, got -3 (in radii)
    """
    if _is_real(values) or isinstance(values, str):
        values = [values]
    try:
        values = list(values)
    except TypeError:
        raise ValueError(f"{name} must be a radius or an iterable of radii, got {values!r}") from None
    if not values and not allow_empty:
        raise ValueError(f"{name} must hold at least one radius, got an empty {type(values).__name__}")
    out = []
    for v in values:
        try:
            out.append(radius(v, height, width))
        except ValueError as e:
            raise ValueError(f"{e} (in {name})") from None
    return tuple(out)


def eps(value, name: str = "eps") -> float:
    """A perturbation budget on the [0, 1] scale of the images: a finite number in [0, 1].

    Example:
        >>> eps(8)
        Traceback (most recent call last):
        ...
        ValueError: eps must be a finite number in [0, 1] (images are on the [0, 1] scale: 8/255 is 0.0314), got 8
    """
    v = _finite(value)
    if v is None or not 0 <= v <= 1:
        raise ValueError(f"{name} must be a finite number in [0, 1] (images are on the [0, 1] "
                         f"scale: 8/255 is 0.0314), got {value!r}")
    return v


def batch_size(value, name: str = "batch_size", allow_none: bool = True) -> int | None:
    """A batch size: an integer >= 1 (``None`` for the device's default where allowed).

    Example:
        >>> batch_size(0)
        Traceback (most recent call last):
        ...
        ValueError: batch_size must be an integer >= 1 (or None for the device's default), got 0
    """
    return integer(value, name, minimum=1, allow_none=allow_none,
                   none_means="for the device's default")


# --------------------------------------------------------------------------- tensors

def images(x, name: str = "x", channels: Iterable[int] | None = None,
           allow_single: bool = False) -> torch.Tensor:
    """Float images ``(B, C, H, W)`` as a tensor (``(C, H, W)`` too, as a batch of one, where allowed).

    Checks the type, the number of dimensions, the dtype (integers are refused: divide by
    255 first) and, if given, the channel count. Reads no values: safe on a hot path.

    Example:
        >>> images(torch.zeros(2, 3, 4, 4, dtype=torch.uint8))
        Traceback (most recent call last):
        ...
        ValueError: x must be float images (B, C, H, W) (e.g. images / 255.0), got torch.uint8
    """
    shape = "(B, C, H, W) or (C, H, W)" if allow_single else "(B, C, H, W)"
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be float images {shape} as a torch.Tensor, "
                         f"got {type(x).__name__}")
    if allow_single and x.dim() == 3:
        x = x.unsqueeze(0)
    if x.dim() != 4:
        raise ValueError(f"{name} must be float images {shape}, got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"{name} must be float images {shape} (e.g. images / 255.0), got {x.dtype}")
    if channels is not None:
        channels = tuple(channels)
        if x.shape[1] not in channels:
            expected = " or ".join(map(str, channels))
            raise ValueError(f"{name} must have {expected} channels (B, C, H, W), "
                             f"got shape {tuple(x.shape)}")
    return x


def finite(x: torch.Tensor, name: str = "x") -> torch.Tensor:
    """``x`` if it holds no NaN or infinity. Reads the values: it waits for the device.

    Example:
        >>> finite(torch.tensor([1.0, float("nan")]))
        Traceback (most recent call last):
        ...
        ValueError: x must be finite: it contains NaN or infinity
    """
    if x.numel():
        # min and max carry any NaN or infinity along, in one pass and without a mask tensor.
        low, high = torch.aminmax(x)
        if not bool(torch.isfinite(low) & torch.isfinite(high)):
            raise ValueError(f"{name} must be finite: it contains NaN or infinity")
    return x


def labels(y, n: int, name: str = "y") -> torch.Tensor:
    """Class labels for ``n`` images: an integer tensor of shape ``(n,)``.

    Example:
        >>> labels(torch.zeros(3), 3)
        Traceback (most recent call last):
        ...
        ValueError: y must be integer class labels of shape (3,), got torch.float32
    """
    if not isinstance(y, torch.Tensor):
        raise ValueError(f"{name} must be integer class labels of shape ({n},) as a torch.Tensor, "
                         f"got {type(y).__name__}")
    if y.dtype.is_floating_point or y.dtype.is_complex or y.dtype == torch.bool:
        raise ValueError(f"{name} must be integer class labels of shape ({n},), got {y.dtype}")
    if tuple(y.shape) != (n,):
        raise ValueError(f"{name} must be integer class labels of shape ({n},), one per image, "
                         f"got shape {tuple(y.shape)}")
    return y


def in_unit_range(x: torch.Tensor, name: str = "inputs") -> torch.Tensor:
    """``x`` if every value lies in [0, 1], the scale the book's models take. Reads the values.

    Example:
        >>> in_unit_range(torch.tensor([0.5, 255.0]))
        Traceback (most recent call last):
        ...
        ValueError: inputs must be images in [0, 1] (the models normalise them inside), got values from 0.5 to 255
    """
    if x.numel():
        low, high = (float(v) for v in torch.aminmax(x.detach()))
        if not (low >= 0 and high <= 1):  # also refuses NaN
            raise ValueError(f"{name} must be images in [0, 1] (the models normalise them inside), "
                             f"got values from {low:g} to {high:g}")
    return x


def target(value, n: int, num_classes: int, name: str = "target") -> torch.Tensor:
    """A class for each of ``n`` images: an int in ``[0, num_classes)`` or an integer tensor ``(n,)``.

    Returns the classes as an int64 tensor ``(n,)`` (on the CPU for an int). Reads the values.

    Example:
        >>> target(3, 2, 10)
        tensor([3, 3])
        >>> target(10, 2, 10)
        Traceback (most recent call last):
        ...
        ValueError: target must be a class in [0, 9] (an int, or one per image as an integer tensor of shape (2,)), got 10
    """
    what = (f"{name} must be a class in [0, {num_classes - 1}] (an int, or one per image as an "
            f"integer tensor of shape ({n},))")
    if isinstance(value, torch.Tensor) and value.dim() == 1:
        if value.dtype.is_floating_point or value.dtype.is_complex or value.dtype == torch.bool \
                or tuple(value.shape) != (n,):
            raise ValueError(f"{what}, got a {value.dtype} tensor of shape {tuple(value.shape)}")
        if value.numel() and (int(value.min()) < 0 or int(value.max()) >= num_classes):
            raise ValueError(f"{what}, got classes from {int(value.min())} to {int(value.max())}")
        return value.long()
    if not _is_integer(value) or not 0 <= int(value) < num_classes:
        raise ValueError(f"{what}, got {value!r}")
    return torch.full((n,), int(value), dtype=torch.long)
