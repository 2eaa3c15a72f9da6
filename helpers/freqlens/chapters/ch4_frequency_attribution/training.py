"""Chapter 4's networks: chapter 3's vanilla, BatchNorm and adversarial networks, and the LFC r = 4
control.
"""

from __future__ import annotations

import torch

from freqlens import heuristics, train
from freqlens.train import TrainConfig

__all__ = ["configs", "networks", "train_networks"]


# --------------------------------------------------------------------------- networks

def configs(profile: str | None = None) -> dict[str, TrainConfig]:
    """The chapter's networks by the name it gives them: chapter 3's, and the LFC r = 4 control."""
    return {"vanilla": heuristics.config("vanilla", profile), "BatchNorm": heuristics.config("batchnorm", profile),
            "adversarial": heuristics.config("adversarial", profile),
            "LFC r = 4 (control)": heuristics.config("vanilla", profile, view="lfc", radius=4)}


def networks(profile: str | None = None) -> list[TrainConfig]:
    """Chapter 3's vanilla, BatchNorm and adversarial networks, and its LFC r = 4 control."""
    return list(configs(profile).values())


def train_networks(profile: str | None = None) -> dict[str, torch.nn.Module]:
    """The chapter's trained networks (from the cache, or trained), by name."""
    return {name: train.train(c).model for name, c in configs(profile).items()}
