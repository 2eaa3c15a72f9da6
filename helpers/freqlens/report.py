"""Printed results that fit the page: wrapped lines and a few numbers, about 80 columns wide.

A chapter prints verdicts and numbers beside its prose; on the website and in a
notebook the page is about 80 characters wide (a folded cell's a few fewer, hence
:data:`WIDTH`), so a long line would make a reader scroll sideways. :func:`say`
wraps a sentence, :func:`numbers` lays out a few named numbers, one per line, and
:func:`glue` hands numbers to the prose around the cell (myst-nb's glue: the page's
``{glue:text}`name:.2f``` shows the number this run computed, never a typed one).

Example:
    >>> say("verdict: the gain is smaller on LFC r = 4, as the hypothesis predicts, "
    ...     "but by less than the seeds' spread", width=40)
    verdict: the gain is smaller on LFC r =
      4, as the hypothesis predicts, but by
      less than the seeds' spread
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping

__all__ = ["WIDTH", "glue", "numbers", "say"]

WIDTH = 74   # the page holds about 80 characters, a folded cell a few fewer


def say(*parts: str, width: int = WIDTH) -> None:
    """Prints the parts joined by spaces, wrapped to ``width`` columns, continuation lines indented."""
    text = " ".join(str(p) for p in parts)
    print(textwrap.fill(text, width=width, subsequent_indent="  ", break_on_hyphens=False))


def numbers(values: Mapping[str, object], fmt: str = "{}", width: int = WIDTH) -> None:
    """Prints one ``name: value`` line per entry, names aligned, each line wrapped to ``width``.

    Example:
        >>> numbers({"vanilla": 0.1234, "adversarial": 0.5}, "{:.3f}")
        vanilla     : 0.123
        adversarial : 0.500
    """
    pad = max((len(str(k)) for k in values), default=0)
    for name, value in values.items():
        text = fmt.format(value) if not isinstance(value, str) else value
        print(textwrap.fill(f"{str(name):<{pad}} : {text}", width=width,
                            subsequent_indent=" " * (pad + 3), break_on_hyphens=False))


def glue(**values) -> None:
    """Hands each named number to the page's prose (myst-nb's ``glue``, shown nowhere in the cell).

    Outside a notebook kernel, or without myst-nb, it does nothing: the numbers are
    for the rendered page.

    Example:
        >>> glue(alpha=2.4)
    """
    try:
        from myst_nb import glue as _glue
        from IPython import get_ipython
    except ImportError:
        return
    if get_ipython() is None:
        return
    for name, value in values.items():
        # a NumPy or 0-d torch scalar as a Python number: the page formats its plain-text form
        if hasattr(value, "item") and not isinstance(value, (str, bytes)):
            value = value.item()
        _glue(name, value, display=False)
