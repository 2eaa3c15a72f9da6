"""Chapter 6's networks: chapter 3's, the two steered towards the low frequencies, and those
trained on Ilyas et al.'s non-robust sets.
"""

from __future__ import annotations

from collections.abc import Sequence

from freqlens import checks, heuristics, profiles, train
from freqlens.chapters import ch5_attacks_defenses as ch5
from freqlens.config import NonRobustSet
from freqlens.train import TrainConfig
from freqlens.chapters.ch6_explaining_and_steering.settings import ATTACKED, BANDS_OF_SETS, RADIUS

__all__ = ["configs", "networks", "nonrobust_configs", "steered_configs", "train_networks"]


# --------------------------------------------------------------------------- networks

def steered_configs(profile: str | None = None) -> dict[str, TrainConfig]:
    """The two steered networks: the vanilla recipe with :data:`freqlens.profiles.STEERING`'s change."""
    profile = profiles.resolve(profile)
    return {name: heuristics.config("vanilla", profile, **change[profile])
            for name, change in profiles.STEERING.items()}


def nonrobust_configs(profile: str | None = None) -> dict[str, TrainConfig]:
    """The vanilla recipe trained on each of the vanilla network's non-robust sets, by :data:`BANDS_OF_SETS`."""
    profile = profiles.resolve(profile)
    source = heuristics.config("vanilla", profile)
    attack = profiles.NONROBUST[profile]
    return {name: source.replace(nonrobust=NonRobustSet(source, band=band,
                                                        radius=RADIUS if band in ("lfc", "hfc") else None,
                                                        **attack))
            for name, band in BANDS_OF_SETS.items()}


def configs(profile: str | None = None) -> dict[str, TrainConfig]:
    """Every network of the chapter by name: chapter 3's three, the steered two, the non-robust sets' four."""
    out = {name: ch5.config(ch5.NAMES[name], profile) for name in ATTACKED}
    out.update(steered_configs(profile))
    out.update({f"non-robust set, {name}": c for name, c in nonrobust_configs(profile).items()})
    return out


def networks(profile: str | None = None) -> list[TrainConfig]:
    """The chapter's networks, in the order it trains them."""
    return list(configs(profile).values())


def train_networks(names: Sequence[str], profile: str | None = None) -> dict[str, train.Result]:
    """The results (network and history) of the chapter's networks ``names``, from the cache or trained."""
    cs = configs(profile)
    return {name: train.train(cs[checks.one_of(name, "name", options=tuple(cs))]) for name in names}
