"""Chapter 5's networks: chapter 3's, Dong et al.'s pair and the kernel penalty's, and their PGD
accuracy along training.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from freqlens import heuristics, profiles, train
from freqlens.train import TrainConfig

__all__ = ["ADVERSARIAL", "DONG", "DONG_NAMES", "NAMES", "config", "configs", "networks",
           "overfitting_verdicts", "pgd_along_training", "train_networks"]


# Dong et al.'s two networks: FGSM adversarial training without (beta = 0) and with (beta =
# 0.1) the consistency term, on top of the heuristics' vanilla network.
DONG = ("fgsm adversarial", "consistency")
# The attacked networks, by the name the chapter gives them: the heuristic or Dong et al.'s network.
NAMES = {"vanilla": "vanilla", "BatchNorm": "batchnorm", "adversarial": "adversarial",
         "FGSM adversarial": "fgsm adversarial", "consistency": "consistency"}


# --------------------------------------------------------------------------- networks

def config(name: str, profile: str | None = None, seed: int = 0) -> TrainConfig:
    """The network ``name``: one of :data:`DONG`, or a heuristic of :func:`freqlens.heuristics.config`.

    Dong et al.'s networks train on each batch and its twin made by one FGSM step
    towards each image's least-likely class at the same eps, weighting the clean and
    adversarial losses 0.5 each; ``"consistency"`` adds beta =
    0.1 times the L2 distance of the last convolutional stage's features
    (:data:`freqlens.profiles.CONSISTENCY`), ``"fgsm adversarial"`` the same training
    without it.
    """
    if name not in DONG:
        return heuristics.config(name, profile, seed=seed)
    dong = dict(profiles.CONSISTENCY[profiles.resolve(profile)])
    if name == "fgsm adversarial":
        dong["adv_consistency"] = 0.0
    return heuristics.config("vanilla", profile, seed=seed, **dong)


def configs(profile: str | None = None) -> dict[str, TrainConfig]:
    """The chapter's networks by name: :data:`NAMES`, the LFC r = 4 control for the heat maps, and
    the vanilla network trained with a penalty on its first-layer kernels' roughness."""
    out = {name: config(h, profile) for name, h in NAMES.items()}
    out["LFC r = 4"] = heuristics.config("vanilla", profile, view="lfc", radius=4)
    out["kernel penalty"] = heuristics.config("vanilla", profile, kernel_penalty=profiles.KERNEL_PENALTY)
    return out


def networks(profile: str | None = None) -> list[TrainConfig]:
    """Chapter 3's vanilla and adversarial networks, Dong et al.'s pair, chapter 3's LFC r = 4 control, the kernel penalty's."""
    return list(configs(profile).values())


def train_networks(profile: str | None = None) -> dict[str, train.Result]:
    """The chapter's trained networks (from the cache, or trained), by name, with their histories."""
    return {name: train.train(c) for name, c in configs(profile).items()}


# The adversarially trained networks, whose PGD accuracy is measured along training, and
# Dong et al.'s two among them, by the names the chapter gives them.
ADVERSARIAL = ("adversarial", "FGSM adversarial", "consistency")
DONG_NAMES = ("FGSM adversarial", "consistency")


def pgd_along_training(results: Mapping[str, train.Result]) -> pd.DataFrame:
    """PGD accuracy (at the training eps, on the first test images) after each epoch, per adversarial network.

    ``results`` is :func:`train_networks`: the histories the networks were trained with.
    """
    rows = {name: pd.Series(results[name].history.test_pgd_acc, dtype=float) for name in ADVERSARIAL}
    table = pd.DataFrame(rows).T   # NaN past a network's last epoch: they train for different lengths
    table.columns = [f"epoch {e + 1}" for e in table.columns]
    return table


def overfitting_verdicts(along: pd.DataFrame, drop: float = 0.5, floor: float = 0.05) -> dict[str, str]:
    """Per network, what its PGD accuracy along training did: ``"held"``, ``"collapsed"`` or ``"never robust"``.

    Collapsed: the last epoch's accuracy below ``drop`` of the best, the catastrophic
    overfitting of single-step adversarial training (Wong et al., 2020). Never robust:
    the best epoch below ``floor``, a training that bought no multi-step robustness.

    Example:
        >>> t = pd.DataFrame({"epoch 1": [0.2, 0.2, 0.01], "epoch 2": [0.25, 0.02, 0.02]},
        ...                  index=["a", "b", "c"])
        >>> overfitting_verdicts(t)
        {'a': 'held', 'b': 'collapsed', 'c': 'never robust'}
    """
    out = {}
    for name, row in along.iterrows():
        row = row.dropna()
        best = row.max()
        out[name] = "never robust" if best < floor else "collapsed" if row.iloc[-1] < drop * best else "held"
    return out
