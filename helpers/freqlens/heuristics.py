"""Training heuristics side by side, as Wang et al.'s Figs. 4-6 compare them.

Each heuristic is one change to the same vanilla network (no BatchNorm, as in the
reference code): a smaller or larger batch, dropout before the classifier, mixup,
BatchNorm, or Madry's adversarial training. :func:`config` gives its
:class:`~freqlens.train.TrainConfig` for a profile and a seed, with any further change
on top; asking for the same config twice gets the same cached network.

Higher accuracy on HFC copies may only mean a more accurate network, so
:func:`at_clean_accuracy` reads a history at a given *clean* test accuracy instead of at
a given epoch, and :func:`matched_level` picks the level every run reaches.

Example:
    >>> config("batchnorm", "quick").batchnorm, config("vanilla", "quick").batchnorm
    (True, False)
    >>> config("small batch", "quick").batch_size < config("vanilla", "quick").batch_size
    True
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from freqlens import checks, profiles
from freqlens.train import History, TrainConfig

__all__ = ["HEURISTICS", "at_clean_accuracy", "config", "matched_level", "seeds", "spread"]

# Each heuristic's change to the vanilla network, on top of the profile's "heuristics" budget.
# The batch sizes are a quarter and four times the budget's; the learning rate stays.
_CHANGES = {
    "vanilla": lambda b: {},
    "small batch": lambda b: {"batch_size": b["batch_size"] // 4},
    "large batch": lambda b: {"batch_size": b["batch_size"] * 4},
    "dropout": lambda b: {"dropout": 0.5},
    "mixup": lambda b: {"mixup_alpha": 1.0},
    "batchnorm": lambda b: {"batchnorm": True},
    "adversarial": lambda b: dict(profiles.ADVERSARIAL[b["profile"]]),
}
HEURISTICS = tuple(_CHANGES)

# Seeds per heuristic and profile: the verdict on BatchNorm rests on the vanilla and
# BatchNorm networks, so they always run over three seeds; on a laptop the others run once.
_SEEDS = {"quick": {"vanilla": 3, "batchnorm": 3}, "full": {}, "smoke": {}}
_DEFAULT_SEEDS = {"quick": 1, "full": 3, "smoke": 1}


def _heuristic(name: str) -> str:
    return checks.one_of(name, "heuristic", options=HEURISTICS)


def seeds(heuristic: str, profile: str | None = None) -> tuple[int, ...]:
    """The seeds a heuristic's network is trained with under ``profile``.

    Example:
        >>> seeds("batchnorm", "quick"), seeds("mixup", "quick"), seeds("mixup", "full")
        ((0, 1, 2), (0,), (0, 1, 2))
    """
    profile = profiles.resolve(profile)
    n = _SEEDS[profile].get(_heuristic(heuristic), _DEFAULT_SEEDS[profile])
    return tuple(range(n))


def config(heuristic: str, profile: str | None = None, seed: int = 0, **overrides) -> TrainConfig:
    """The network of ``heuristic`` (one of :data:`HEURISTICS`) under ``profile``, with ``overrides``.

    The profile's ``"heuristics"`` budget without BatchNorm, and the heuristic's one change.
    ``overrides`` go on top, e.g. ``view="lfc", radius=4`` for Fig. 6.

    Example:
        >>> c = config("adversarial", "full")
        >>> c.model, c.adv_eps, c.adv_steps, c.adv_step_size, c.adv_random_start
        ('resnet18', 0.03, 10, 0.003, False)
    """
    profile = profiles.resolve(profile)
    change = _CHANGES[_heuristic(heuristic)]({**profiles.budget("heuristics", profile),
                                              "profile": profile})
    batchnorm = overrides.get("batchnorm", change.get("batchnorm", False))
    # A network with BatchNorm and one without train at their own learning rates.
    fields = profiles.budget("heuristics", profile, batchnorm=batchnorm is not False)
    return TrainConfig(**{**fields, **change, "batchnorm": batchnorm, "seed": seed, **overrides})


def _series(history: History, component: str, radius) -> list:
    if component == "test":
        return list(history.test_acc)
    table = history.test_hfc_acc if component == "hfc" else history.test_lfc_acc
    r = checks.radius(radius, name="radius")
    if r not in table:
        raise ValueError(f"radius must be one of the history's radii {sorted(table)}, got {radius!r}")
    return list(table[r])


def at_clean_accuracy(history: History, level: float, component: str = "hfc",
                      radius: float = 4.0) -> float:
    """Test accuracy on the ``component`` copies at ``radius`` when clean test accuracy first reached ``level``.

    The history is read up to the first epoch whose clean test accuracy is at least
    ``level``, interpolating linearly between that epoch and the one before (the
    untrained network, at chance, is the point before epoch 1). ``nan`` if the run
    never reached ``level``.

    Example:
        >>> h = History(epoch=[1, 2], test_acc=[0.3, 0.5], test_hfc_acc={4.0: [0.2, 0.4]})
        >>> round(at_clean_accuracy(h, 0.4), 3)
        0.3
    """
    level = checks.number(level, "level", low=0, high=1)
    component = checks.one_of(component, "component", options=("lfc", "hfc"))
    clean = [0.1] + _series(history, "test", None)
    other = [0.1] + _series(history, component, radius)
    for i in range(1, len(clean)):
        if clean[i] >= level:
            lo, hi = clean[i - 1], clean[i]
            t = 1.0 if hi <= lo else min(max((level - lo) / (hi - lo), 0.0), 1.0)
            return other[i - 1] + t * (other[i] - other[i - 1])
    return float("nan")


def matched_level(histories: Iterable[History], margin: float = 0.0) -> float:
    """The highest clean test accuracy every history reaches (less ``margin``): the level to compare at.

    Example:
        >>> matched_level([History(test_acc=[0.3, 0.5]), History(test_acc=[0.4, 0.45])])
        0.45
    """
    peaks = [max(h.test_acc) for h in histories if len(h.test_acc)]
    if not peaks:
        raise ValueError("histories must hold at least one history with a measured epoch")
    return float(min(peaks) - checks.number(margin, "margin", low=0))


def spread(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value) of ``values``, NaNs left out.

    Example:
        >>> [round(v, 3) for v in spread([0.2, 0.4, float("nan")])]
        [0.3, 0.141]
    """
    v = np.asarray([x for x in values if not np.isnan(x)], dtype=float)
    if v.size == 0:
        return float("nan"), float("nan")
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0
