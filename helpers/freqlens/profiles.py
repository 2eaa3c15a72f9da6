"""The book's profiles and the training budgets each gives its experiments.

``quick`` trains small CNNs on subsets of CIFAR-10 in minutes on a laptop CPU; ``full``
trains the paper's ResNet-18 on all of it, for a GPU. ``smoke`` is the full profile's
networks and code paths (ResNet-18, its optimisers, schedules, adversarial steps and
views) cut to a few batches of a few hundred images: a check, in minutes on a CPU,
that the full profile runs end to end; it settles no claim. A chapter never writes
``if profile == "quick"``: it asks for a named budget (``"table1"``, ``"memorise"``, ...)
and gets the right one for the profile it runs under, through
``TrainConfig.for_profile(budget=...)``. Adding an experiment's budget is one entry in
:data:`BUDGETS`.

Example:
    >>> budget("table1", "quick")["train_size"]
    2000
"""

from __future__ import annotations

import os

import torch

__all__ = ["ADVERSARIAL", "BUDGETS", "CONSISTENCY", "KERNEL_PENALTY", "NONROBUST", "PROFILES",
           "SMOKE_CUTS", "SMOKE_MAX_BATCH", "STEERING", "budget", "current_profile", "resolve", "smoke"]

PROFILES = ("quick", "full", "smoke")

# The smoke profile: the full profile's fields with its sizes cut to these (two batches
# of a training set, a small test set, one epoch, no more than these batch sizes).
SMOKE_CUTS = dict(train_size=64, test_size=16, train_eval_size=16, epochs=1)
SMOKE_MAX_BATCH = 32

# The standard network of each profile. quick: one model in a couple of minutes on 2 CPU
# cores (8 epochs: 0.732 test accuracy, where 6 gave 0.702); full: the paper's scale
# (ResNet-18, all 50,000 images), for a GPU.
_STANDARD = {
    "quick": dict(model="small_cnn", width=16, train_size=20000, test_size=1000, epochs=8,
                  batch_size=256, lr=0.2, label_smoothing=0.2, train_eval_size=250),
    "full": dict(model="resnet18", width=64, train_size=None, test_size=None, epochs=40,
                 batch_size=512, lr=0.2, label_smoothing=0.1, train_eval_size=2000),
}

# Networks without BatchNorm diverge at BatchNorm's learning rate, so they get their own.
LR_WITHOUT_BATCHNORM = {"quick": 0.1, "full": 0.05}

# Each budget is laid over the profile's standard network: {profile: fields}.
BUDGETS = {
    "standard": {"quick": {}, "full": {}},
    # Chapter 2, Table 1: a network trained on one band must *fit* its copies, as the
    # paper's do (training accuracies 0.94-0.99); on a laptop that takes a small set
    # trained longer, without augmentation or label smoothing.
    "table1": {"quick": dict(train_size=2000, epochs=10, batch_size=64, augment=False,
                             label_smoothing=0.0),
               "full": {}},
    # Chapter 2, true against shuffled labels: memorisation, with the regularisers off
    # (as Zhang et al. had them).
    "memorise": {
        "quick": dict(augment=False, label_smoothing=0.0, weight_decay=0.0, train_size=1000,
                      epochs=30, batch_size=32, train_eval_size=250, test_size=200),
        "full": dict(augment=False, label_smoothing=0.0, weight_decay=0.0, train_size=10000,
                     epochs=80),
    },
    # Chapter 3, the training heuristics: plain training as in the reference code (Adam, no
    # weight decay, no augmentation, no label smoothing), with the test copies measured
    # every epoch (the tracked training copies are left out). Departures from the
    # reference (Adam at 1e-4, batch 100, 100 epochs): batch 128 and, on a laptop, 20,000
    # images for 4 epochs at 3e-3 with the default warm-up and linear decay, so that the
    # networks learn within a minute each (measured on 2 cores, vanilla over three seeds:
    # 0.612, 0.607, 0.621 test accuracy, BatchNorm 0.686 and 0.677, where 5,000 images for
    # 12 epochs at 1e-3 gave 0.49 and 0.51 in about as long, and 20,000 for 6 epochs at
    # 2e-3 gave 0.615 and 0.690 in half as long again).
    "heuristics": {
        "quick": dict(train_size=20000, epochs=4, batch_size=128, optimizer="adam", lr=3e-3,
                      weight_decay=0.0, augment=False, label_smoothing=0.0, train_eval_size=0),
        "full": dict(epochs=40, batch_size=128, optimizer="adam", lr=1e-3, weight_decay=0.0,
                     augment=False, label_smoothing=0.0),
    },
}

# Test images attacked with PGD after every epoch of adversarial training (its accuracy
# along training: the check against catastrophic overfitting, Wong et al. 2020).
_PGD_ALONG = {"quick": 200, "full": 1000, "smoke": 16}

# Madry's adversarial training, PGD L-inf on the [0, 1] scale without a random start, as in
# the reference code (10 steps of 0.003 to eps = 0.03); on a laptop 3 steps of 0.01 reach
# the same eps at a third of the cost.
ADVERSARIAL = {
    # adversarial training learns more slowly: on a laptop it gets two and a half times the
    # heuristics' epochs (measured, 20,000 images: 0.347 clean test accuracy after 4 epochs;
    # after 8, 0.410 on one machine and 0.393 on another, after 10 0.419), and chapter 3
    # compares it at matched clean accuracy, not at an epoch
    "quick": dict(adv_eps=0.03, adv_steps=3, adv_step_size=0.01, adv_random_start=False, epochs=10,
                  eval_pgd_size=_PGD_ALONG["quick"]),
    "full": dict(adv_eps=0.03, adv_steps=10, adv_step_size=0.003, adv_random_start=False,
                 eval_pgd_size=_PGD_ALONG["full"]),
}
ADVERSARIAL["smoke"] = {**ADVERSARIAL["full"], "eval_pgd_size": _PGD_ALONG["smoke"]}

# Dong et al.'s consistency-regularised adversarial training, as their paper states it:
# twins by one FGSM step of the same eps towards each image's least-likely class (x* = x -
# eps sign grad l(x, y_ll)), the clean and adversarial losses weighted alpha = 0.5, the L2
# distance of last-conv features weighted beta = 0.1. One step, no random start: the
# recipe known to overfit catastrophically, hence PGD accuracy along training.
CONSISTENCY = {
    profile: dict(adv_eps=0.03, adv_attack="fgsm_ll", adv_clean_weight=0.5, adv_consistency=0.1,
                  eval_pgd_size=_PGD_ALONG[profile])
    for profile in PROFILES
}


# Chapter 6: two ways of steering the heuristics' vanilla network towards the low frequencies,
# the same in every profile. Each training image loses its HFC at r = 8 with probability
# 0.5; or the loss gets 0.1 times the high-frequency energy of each image's input gradient.
# Measured on 2 cores (20,000 images, 4 epochs; vanilla 0.612 clean, 0.342 on LFC r = 4,
# 0.158 under PGD at 2/255): dropping 0.589 / 0.457 / 0.182; the penalty at 0.1, 0.585 /
# 0.467 / 0.396, and at 1, 0.485 / 0.466 / 0.382 (0.1 loses less clean accuracy for as much).
STEERING = {
    "HFC dropped": {profile: dict(hf_radius=8.0, hf_drop=0.5) for profile in PROFILES},
    "HFC gradient penalty": {profile: dict(hf_radius=8.0, hf_gradient_penalty=0.1) for profile in PROFILES},
}

# Chapter 5: the blog's third way of smoothing kernels, a penalty during training on the
# first convolution's roughness (mean squared adjacent differences over energy; the same in
# every profile). Measured on 2 cores, the heuristics' vanilla network (0.612 clean, mean
# roughness 2.48, noise 2.67): 0.3 took it to 0.755 at 0.596 clean, 3 to 0.044 (kernels
# nearly flat) at 0.566: 0.3 smooths as much as a reader would call smooth, for little.
KERNEL_PENALTY = 0.3

# Chapter 6: Ilyas et al.'s non-robust sets, L2 PGD towards the next class. Full: within 0.5
# in 100 steps of 0.1, as public reproductions of their CIFAR-10 sets make them. On a laptop
# the budget that makes the attack succeed (the source network must say the new label): on
# 1,000 of the vanilla network's training images, 10 steps of 0.1 within 0.5 gave it on
# 0.550 of them (20 steps: 0.558), 10 steps of 0.2 within 1.0 on 0.928, in 3.4 s.
NONROBUST = {"quick": dict(eps=1.0, alpha=0.2, steps=10), "full": dict(eps=0.5, alpha=0.1, steps=100),
             "smoke": dict(eps=0.5, alpha=0.1, steps=2)}


def current_profile() -> str:
    """``$FREQLENS_PROFILE`` if set, else ``"full"`` where CUDA is available and ``"quick"`` otherwise.

    Example:
        >>> current_profile() in PROFILES
        True
    """
    env = os.environ.get("FREQLENS_PROFILE")
    if env:
        if env not in PROFILES:
            raise ValueError(f"FREQLENS_PROFILE must be one of {PROFILES}, got {env!r}")
        return env
    return "full" if torch.cuda.is_available() else "quick"


def resolve(profile: str | None = None) -> str:
    """``profile`` if it names a profile, :func:`current_profile` for ``None``; ``ValueError`` otherwise.

    Example:
        >>> resolve("full"), resolve() == current_profile()
        ('full', True)
    """
    profile = current_profile() if profile is None else profile
    if profile not in PROFILES:
        raise ValueError(f"profile must be one of {PROFILES} (or None for the current one), "
                         f"got {profile!r}")
    return profile


def budget(name: str, profile: str | None = None, batchnorm: bool = True) -> dict:
    """The training fields of budget ``name`` under ``profile`` (default :func:`current_profile`).

    The standard network's fields with the budget's own on top; ``batchnorm=False`` lowers
    an SGD learning rate to the one a network without BatchNorm trains at.

    Example:
        >>> budget("standard", "full")["model"]
        'resnet18'
        >>> budget("standard", "quick", batchnorm=False)["lr"]
        0.1
    """
    if name not in BUDGETS:
        raise ValueError(f"budget must be one of {tuple(BUDGETS)}, got {name!r}")
    profile = resolve(profile)
    if profile == "smoke":
        return smoke(budget(name, "full", batchnorm))
    fields = {**_STANDARD[profile], **BUDGETS[name][profile]}
    if not batchnorm and fields.get("optimizer", "sgd") == "sgd":  # Adam adapts its own steps
        fields["lr"] = LR_WITHOUT_BATCHNORM[profile]
    return fields


def smoke(fields: dict) -> dict:
    """Training ``fields`` of the full profile cut to the smoke profile's sizes.

    Sizes that are already smaller stay; a batch size is cut to :data:`SMOKE_MAX_BATCH`
    (a quarter of it for a budget's small batches), so every run takes a few steps.

    Example:
        >>> f = smoke(budget("standard", "full"))
        >>> f["model"], f["train_size"], f["epochs"], f["batch_size"]
        ('resnet18', 64, 1, 32)
    """
    out = dict(fields)
    for key, cut in SMOKE_CUTS.items():
        out[key] = cut if out.get(key) is None else min(out[key], cut)
    if "batch_size" in out:
        out["batch_size"] = min(out["batch_size"], SMOKE_MAX_BATCH)
    return out
