"""Train a CIFAR-10 model from a config, with LFC/HFC accuracy along the epochs, cached.

``train(TrainConfig(...))`` returns a :class:`Result`: the model (in eval mode), its
per-epoch :class:`History` and the config. A result is stored under a hash of its
config and of the training code (see :mod:`freqlens.experiments`), so asking again
returns it at once; a checkpoint each epoch lets a killed run resume; on the CPU the
same config gives the same history bit for bit, resumed or not. Under ``torchrun
--nproc_per_node=N`` the same call trains with DistributedDataParallel (Gloo on CPU,
NCCL on CUDA).

The steps of a run are public where a reader may want to look at them:
:func:`learning_rate` (the schedule), :func:`augment` (flips and crops) and
:func:`mixup`. Budgets per profile live in :mod:`freqlens.profiles`;
``TrainConfig.for_profile(budget="table1", view="lfc", radius=8)`` gives the same
notebook code under both profiles.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from freqlens import attacks, checks, experiments, fourier, profiles
from freqlens.data import cifar10_tensors
from freqlens.device import autocast, get_device
from freqlens.evaluate import accuracy, default_batch_size
from freqlens.models import MODELS, build_model
from freqlens.profiles import PROFILES, current_profile

__all__ = ["History", "PROFILES", "Result", "TrainConfig", "augment", "consistency_loss",
           "current_profile", "last_conv_layer", "learning_rate", "mixup", "tracked_training_images", "train"]

VIEWS = ("original", "lfc", "hfc")
OPTIMIZERS = ("sgd", "adam")
SCHEDULES = ("linear", "cosine", "step", "constant")
ADV_ATTACKS = ("pgd", "fgsm")
_SIDE = 32  # CIFAR-10 images are 32 x 32
_DEFAULT_WIDTH = {"small_cnn": 16, "resnet18": 64}


def _rule(check, **kwargs):
    """A field's rule: ``check(value, name, **kwargs)``, returning the canonical value."""
    return lambda value, name: check(value, name, **kwargs)


def _eval_radii(value, name):
    return tuple(sorted(set(checks.radii(value, _SIDE, _SIDE, name=name, allow_empty=True))))


def _radius(value, name):
    return None if value is None else checks.radius(value, _SIDE, _SIDE, name)


_FRACTION = _rule(checks.number, low=0, high=1)
_FLAG = _rule(checks.boolean)
_SEED = _rule(checks.integer)

# Every field of TrainConfig with the rule that checks it and gives its canonical form.
_RULES = {
    "model": _rule(checks.one_of, options=sorted(MODELS)),
    "width": _rule(checks.integer, minimum=1, allow_none=True, none_means="for the model's default"),
    "batchnorm": _FLAG,
    "dropout": _rule(checks.number, low=0, high=1, high_open=True),
    "train_size": _rule(checks.integer, minimum=10, maximum=50000, allow_none=True,
                        none_means="for all images"),
    "test_size": _rule(checks.integer, minimum=10, maximum=10000, allow_none=True,
                       none_means="for all images"),
    "subset_seed": _SEED,
    "view": _rule(checks.one_of, options=VIEWS),
    "radius": _radius,
    "rescale": _FLAG,
    "shuffled_labels": _FRACTION,
    "epochs": _rule(checks.integer, minimum=0),
    "batch_size": _rule(checks.batch_size, allow_none=False),
    "optimizer": _rule(checks.one_of, options=OPTIMIZERS),
    "lr": _rule(checks.number, low=0, low_open=True),
    "momentum": _FRACTION,
    "nesterov": _FLAG,
    "weight_decay": _rule(checks.number, low=0),
    "schedule": _rule(checks.one_of, options=SCHEDULES),
    "warmup": _FRACTION,
    "label_smoothing": _FRACTION,
    "augment": _FLAG,
    "mixup_alpha": _rule(checks.number, low=0),
    "adv_eps": checks.eps,
    "adv_steps": _rule(checks.integer, minimum=1),
    "adv_step_size": lambda v, name: None if v is None else checks.number(v, name, low=0, low_open=True),
    "adv_random_start": _FLAG,
    "adv_attack": _rule(checks.one_of, options=ADV_ATTACKS),
    "adv_clean_weight": _rule(checks.number, low=0, high=1, high_open=True),
    "adv_consistency": _rule(checks.number, low=0),
    "eval_radii": _eval_radii,
    "train_eval_size": _rule(checks.integer, minimum=0),
    "seed": _SEED,
}


@dataclass(frozen=True)
class TrainConfig:
    """Everything that changes a trained model's result; its hash is the cache key.

    The defaults are the quick profile's standard network; prefer :meth:`for_profile`,
    which picks the profile (the full one on a GPU), a named budget and a lower learning
    rate without BatchNorm.

    Views: ``"original"`` images, or their ``"lfc"`` / ``"hfc"`` copies at ``radius``
    (``rescale=True`` divides each copy by its own maximum, as Wang et al.'s code did;
    the same scaling then applies to the LFC/HFC copies the history is measured on).

    Example:
        >>> c = TrainConfig(view="lfc", radius=8, epochs=2)
        >>> c.replace(epochs=3).epochs, hash(c) == hash(TrainConfig(view="lfc", radius=8, epochs=2))
        (3, True)
    """

    # the network
    model: str = "small_cnn"
    width: int | None = None          # None: the model's default (16 small_cnn, 64 resnet18)
    batchnorm: bool = True
    dropout: float = 0.0
    # the data
    train_size: int | None = 20000     # stratified subset of the 50,000; None for all
    test_size: int | None = 1000       # stratified subset of the 10,000; None for all
    subset_seed: int = 0
    view: str = "original"
    radius: float | None = None
    rescale: bool = False
    shuffled_labels: float = 0.0       # fraction of training labels permuted among themselves
    # the optimisation
    epochs: int = 6
    batch_size: int = 256
    optimizer: str = "sgd"
    lr: float = 0.2
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4         # on weights of convolutions and linear layers only
    schedule: str = "linear"           # warm up for `warmup` of the steps, then decay to 0
    warmup: float = 0.2
    label_smoothing: float = 0.2
    augment: bool = True               # random horizontal flip + random crop (padding 4)
    mixup_alpha: float = 0.0
    adv_eps: float = 0.0               # PGD adversarial training when > 0 (L-inf, [0, 1] scale)
    adv_steps: int = 7
    adv_step_size: float | None = None  # None: 2.5 * adv_eps / adv_steps
    adv_random_start: bool = True
    adv_attack: str = "pgd"            # "fgsm": one step of adv_eps (adv_steps and the step unused)
    # Dong et al.'s consistency-regularised adversarial training: the loss is
    # w * CE(x) + (1 - w) * CE(x*) + beta * mean ||phi(x) - phi(x*)||_2, with phi the last
    # convolutional stage's output (its last ReLU), w = adv_clean_weight, beta = adv_consistency.
    adv_clean_weight: float = 0.0      # weight of the clean images' loss; 0: Madry's (adversarial only)
    adv_consistency: float = 0.0       # beta on the L2 distance of last-conv features
    # what the history measures each epoch
    eval_radii: tuple = (4.0, 8.0, 12.0, 16.0)
    train_eval_size: int = 250         # training images whose LFC/HFC accuracy is tracked
    seed: int = 0

    def __post_init__(self):
        for name, rule in _RULES.items():
            object.__setattr__(self, name, rule(getattr(self, name), name))
        if self.width is None:
            object.__setattr__(self, "width", _DEFAULT_WIDTH[self.model])
        if self.view == "original" and self.radius is not None:
            raise ValueError(f"radius must be None when view='original' (a radius only makes an "
                             f"LFC or HFC view), got {self.radius!r}")
        if self.view != "original" and not self.radius:
            raise ValueError(f"radius must be a number > 0 for view={self.view!r}, got {self.radius!r}")
        if self.adv_eps == 0 and (self.adv_clean_weight or self.adv_consistency or self.adv_attack != "pgd"):
            raise ValueError("adv_attack, adv_clean_weight and adv_consistency need adversarial training: "
                             f"set adv_eps > 0 (got adv_eps=0, adv_attack={self.adv_attack!r}, "
                             f"adv_clean_weight={self.adv_clean_weight}, adv_consistency={self.adv_consistency})")
        if self.mixup_alpha > 0 and (self.adv_clean_weight or self.adv_consistency):
            raise ValueError("mixup_alpha must be 0 with adv_clean_weight or adv_consistency (a mixed batch "
                             f"has no clean twin to compare with), got mixup_alpha={self.mixup_alpha}")
        n_train = self.train_size or 50000
        if self.train_eval_size > n_train:
            raise ValueError(f"train_eval_size must be at most train_size ({n_train}), "
                             f"got {self.train_eval_size}")

    @classmethod
    def for_profile(cls, profile: str | None = None, budget: str = "standard",
                    **overrides) -> "TrainConfig":
        """Budget ``budget`` of ``profile`` (default :func:`current_profile`) with ``overrides`` on top.

        The budgets are :data:`freqlens.profiles.BUDGETS`: ``"standard"`` (quick: ``small_cnn``
        of width 16, 20,000 training and 1,000 test images, 6 epochs; full: ``resnet18`` of
        width 64 on all images, 40 epochs), ``"table1"``, ``"memorise"``, ... With
        ``batchnorm=False`` the learning rate drops to the one such a network trains at,
        unless ``lr`` is given too.

        Example:
            >>> TrainConfig.for_profile("quick", view="hfc", radius=4).model
            'small_cnn'
            >>> TrainConfig.for_profile("quick", budget="table1").train_size
            2000
        """
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(overrides) - names)
        if unknown:
            raise ValueError(f"unknown TrainConfig fields {unknown}; the fields are {sorted(names)}")
        fields = profiles.budget(budget, profile, batchnorm=overrides.get("batchnorm", True) is not False)
        return cls(**{**fields, **overrides})

    @classmethod
    def quick(cls, **overrides) -> "TrainConfig":
        """The quick profile's standard network with ``overrides``: a small CNN, minutes on a CPU."""
        return cls.for_profile("quick", **overrides)

    @classmethod
    def full(cls, **overrides) -> "TrainConfig":
        """The full profile's standard network with ``overrides``: ResNet-18 on all of CIFAR-10."""
        return cls.for_profile("full", **overrides)

    def replace(self, **changes) -> "TrainConfig":
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)


@dataclass
class History:
    """Per-epoch measurements, one list entry per epoch (index 0 is epoch 1).

    ``train_loss`` / ``train_acc``: running means over the epoch's (augmented) batches;
    ``train_eval_acc``: clean accuracy on ``train_eval_size`` training images in the
    trained view, against the labels trained on (shuffled ones included);
    ``test_acc``: on the original test images; ``test_lfc_acc[r]`` / ``test_hfc_acc[r]``:
    on their LFC / HFC copies at radius ``r``; ``train_lfc_acc[r]`` / ``train_hfc_acc[r]``:
    on LFC / HFC copies of the tracked training images, against the labels trained on.

    Example:
        >>> h = History.empty([4.0])
        >>> h.test_lfc_acc
        {4.0: []}
    """

    epoch: list = field(default_factory=list)
    train_loss: list = field(default_factory=list)
    train_acc: list = field(default_factory=list)
    train_eval_acc: list = field(default_factory=list)
    test_acc: list = field(default_factory=list)
    test_lfc_acc: dict = field(default_factory=dict)
    test_hfc_acc: dict = field(default_factory=dict)
    train_lfc_acc: dict = field(default_factory=dict)
    train_hfc_acc: dict = field(default_factory=dict)
    lr: list = field(default_factory=list)
    seconds: list = field(default_factory=list)        # training time of the epoch
    eval_seconds: list = field(default_factory=list)   # time spent measuring it afterwards

    @classmethod
    def empty(cls, radii) -> "History":
        return cls(**{k: {float(r): [] for r in radii}
                      for k in ("test_lfc_acc", "test_hfc_acc", "train_lfc_acc", "train_hfc_acc")})

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "History":
        return cls(**d)

    def __len__(self) -> int:
        return len(self.epoch)

    def records(self) -> list[dict]:
        """One flat dict per epoch (``test_lfc_acc@4.0`` and so on), e.g. for ``pandas.DataFrame``."""
        rows = []
        for i in range(len(self)):
            row = {}
            for k, v in self.as_dict().items():
                if isinstance(v, dict):
                    row.update({f"{k}@{r:g}": vals[i] for r, vals in v.items()})
                else:
                    row[k] = v[i]
            rows.append(row)
        return rows


@dataclass
class Result:
    """A trained model (eval mode, on the training device), its history and its config."""

    model: nn.Module
    history: History
    config: TrainConfig
    cached: bool = False    # True when it came from the cache without training
    key: str = ""


# --------------------------------------------------------------------------- the steps of a batch

def _progress_enabled(progress: bool) -> bool:
    return bool(progress) and os.environ.get("FREQLENS_PROGRESS", "1") not in ("0", "false", "no")


def learning_rate(config: TrainConfig, step: int, total: int) -> float:
    """The learning rate at optimisation step ``step`` of ``total`` (steps count from 0).

    ``"linear"`` and ``"cosine"`` warm up linearly over the first ``warmup`` share of the
    steps to ``config.lr``, then decay to 0; ``"step"`` multiplies the rate by 0.1 at
    half and at three quarters of training; ``"constant"`` keeps it. A pure function of
    the step, so a resumed run needs no scheduler state.

    Example:
        >>> c = TrainConfig(lr=0.2, warmup=0.2, schedule="linear")
        >>> [round(learning_rate(c, s, 10), 3) for s in (0, 1, 2, 6, 10)]
        [0.1, 0.2, 0.2, 0.1, 0.0]
    """
    peak, t = config.lr, step / max(total, 1)
    if config.schedule == "constant":
        return peak
    if config.schedule == "step":
        return peak * (0.1 ** ((t >= 0.5) + (t >= 0.75)))
    w = config.warmup
    if t < w:
        return peak * (step + 1) / max(w * total, 1)
    u = (t - w) / max(1 - w, 1e-12)
    if config.schedule == "linear":
        return peak * max(1.0 - u, 0.0)
    return peak * 0.5 * (1.0 + math.cos(math.pi * min(u, 1.0)))


def augment(images: torch.Tensor, generator: torch.Generator, group: int = 16) -> torch.Tensor:
    """Random horizontal flips per image, and random crops of the zero-padded (by 4) batch.

    Each run of ``group`` images in the (already shuffled) batch shares one crop offset:
    per-image gathers cost more than the convolutions of a small CNN on a CPU, and a
    random offset per small group of randomly batched images augments just as well.
    All randomness comes from ``generator`` (a CPU generator): the flips first, then the
    offsets.

    Shapes: ``(B, C, H, W) -> (B, C, H, W)``.

    Example:
        >>> x = torch.rand(32, 3, 32, 32)
        >>> augment(x, torch.Generator().manual_seed(0)).shape
        torch.Size([32, 3, 32, 32])
    """
    b, _, h, w = images.shape
    flip = (torch.rand(b, generator=generator) < 0.5).to(images.device)
    n_groups = -(-b // group)
    shifts = torch.randint(0, 9, (n_groups, 2), generator=generator).tolist()
    images = torch.where(flip[:, None, None, None], images.flip(3), images)
    padded = F.pad(images, (4, 4, 4, 4))
    return torch.cat([padded[i * group:(i + 1) * group, :, dy:dy + h, dx:dx + w]
                      for i, (dy, dx) in enumerate(shifts)])


def mixup(images: torch.Tensor, labels: torch.Tensor, alpha: float,
          generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Mix the batch with a shuffled copy of itself: ``lam * x + (1 - lam) * x[perm]``.

    One ``lam ~ Beta(alpha, alpha)`` per batch, as in the reference code. The loss is then
    ``lam * loss(labels) + (1 - lam) * loss(partner_labels)``. Everything is drawn from
    ``generator``, so a checkpoint of the generator's state resumes mixup too: torch has
    no seeded Beta sampler, so the Beta draw uses NumPy seeded by an integer drawn from
    ``generator``.

    Shapes: ``images (B, C, H, W)``, ``labels (B,)`` -> ``(mixed (B, C, H, W), partner
    labels (B,), lam)``.

    Example:
        >>> x, y = torch.rand(4, 3, 8, 8), torch.arange(4)
        >>> mixed, y2, lam = mixup(x, y, 1.0, torch.Generator().manual_seed(0))
        >>> 0 <= lam <= 1, sorted(y2.tolist())
        (True, [0, 1, 2, 3])
    """
    seed = int(torch.randint(2**62, (1,), generator=generator))
    lam = float(np.random.default_rng(seed).beta(alpha, alpha))
    partner = torch.randperm(images.shape[0], generator=generator).to(images.device)
    return lam * images + (1 - lam) * images[partner], labels[partner], lam


def _attack_generator(generator: torch.Generator, rank: int) -> torch.Generator:
    """A generator for this rank's attack starts, drawn from the shared one.

    Every rank draws the same seed, so the shared generator stays in step across ranks
    whatever the size of each rank's share; adding the rank gives each its own starts.
    """
    seed = int(torch.randint(2**62, (1,), generator=generator))
    return torch.Generator().manual_seed(seed + rank)


def _adversarial(model, xb, yb, config: TrainConfig, generator: torch.Generator, rank: int):
    """The batch's adversarial examples (L-inf): Madry's PGD, or FGSM with ``adv_attack="fgsm"``."""
    # Only the original images live in [0, 1]; LFC/HFC copies are not boxed.
    clip = (0.0, 1.0) if config.view == "original" else None
    with autocast(xb.device):
        if config.adv_attack == "fgsm":
            return attacks.fgsm(model, xb, yb, config.adv_eps, clip=clip)
        step = config.adv_step_size or 2.5 * config.adv_eps / config.adv_steps
        return attacks.pgd(model, xb, yb, config.adv_eps, step, config.adv_steps,
                           random_start=config.adv_random_start,
                           generator=_attack_generator(generator, rank), clip=clip)


def last_conv_layer(model: nn.Module) -> nn.Module:
    """The module whose output is the last convolutional stage's features: the network's last ReLU.

    Example:
        >>> from freqlens.models import SmallCNN
        >>> net = SmallCNN(width=8)
        >>> last_conv_layer(net) is net.features[3].relu
        True
    """
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    if not relus:
        raise ValueError(f"model must have an nn.ReLU module after its last convolution, "
                         f"found none in {type(model).__name__}")
    return relus[-1]


def consistency_loss(features: torch.Tensor, adv_features: torch.Tensor) -> torch.Tensor:
    """Mean over images of the L2 distance between two feature maps: ``(B, ...) x 2 -> ()``.

    Example:
        >>> consistency_loss(torch.zeros(2, 1, 2, 2), torch.ones(2, 1, 2, 2))
        tensor(2.)
    """
    return torch.linalg.vector_norm((features - adv_features).flatten(1).float(), dim=1).mean()


def _paired_loss(run: "_Run", net: nn.Module, xb, x_adv, yb):
    """Dong et al.'s loss on clean and adversarial twins, in one pass over both halves.

    ``w * CE(x) + (1 - w) * CE(x*) + beta * mean ||phi(x) - phi(x*)||_2``; the
    returned logits are the adversarial half's (what Madry's training reports too).
    """
    config, b = run.config, xb.shape[0]
    captured = []
    hook = last_conv_layer(run.model).register_forward_hook(lambda m, i, out: captured.append(out))
    try:
        with autocast(run.device):
            logits = net(torch.cat([xb, x_adv]).contiguous(memory_format=torch.channels_last)).float()
    finally:
        hook.remove()
    ce = lambda z: F.cross_entropy(z, yb, label_smoothing=config.label_smoothing)
    w = config.adv_clean_weight
    loss = w * ce(logits[:b]) + (1 - w) * ce(logits[b:])
    if config.adv_consistency > 0:
        loss = loss + config.adv_consistency * consistency_loss(captured[-1][:b], captured[-1][b:])
    return loss, logits[b:], yb


def _shuffle_labels(y: torch.Tensor, fraction: float, seed: int) -> torch.Tensor:
    """Permute the labels of a seeded ``fraction`` of the images among themselves."""
    if fraction == 0:
        return y
    g = torch.Generator().manual_seed(seed + 7919)
    n = y.shape[0]
    chosen = torch.randperm(n, generator=g)[: int(round(fraction * n))]
    y = y.clone()
    y[chosen] = y[chosen[torch.randperm(len(chosen), generator=g)]]
    return y


def _optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    # Decaying BatchNorm scales and biases only fights the normalisation; decay weights only.
    decay = [p for p in model.parameters() if p.dim() > 1]
    rest = [p for p in model.parameters() if p.dim() <= 1]
    groups = [{"params": decay, "weight_decay": config.weight_decay},
              {"params": rest, "weight_decay": 0.0}]
    if config.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum,
                               nesterov=config.nesterov and config.momentum > 0)
    return torch.optim.Adam(groups, lr=config.lr)


# --------------------------------------------------------------------------- the data

def _split_in_chunks(x: torch.Tensor, radius: float, rescale: bool, chunk: int = 5000):
    """``(lfc, hfc)`` of ``x`` chunk by chunk: a caller keeps what it needs of each chunk."""
    for i in range(0, x.shape[0], chunk):
        yield fourier.split(x[i:i + chunk], radius, rescale=rescale)


def _copies(x: torch.Tensor, radius: float, rescale: bool) -> tuple[torch.Tensor, torch.Tensor]:
    if x.shape[0] == 0:  # e.g. train_eval_size=0: nothing to split
        return x, x
    lfcs, hfcs = zip(*_split_in_chunks(x, radius, rescale))
    return torch.cat(lfcs), torch.cat(hfcs)


def _view(x: torch.Tensor, config: TrainConfig) -> torch.Tensor:
    """The images the model trains on: the originals, or their LFC/HFC copies, computed once.

    Only the one component is kept chunk by chunk, which halves the peak memory on all
    50,000 images.
    """
    if config.view == "original":
        return x
    index = 0 if config.view == "lfc" else 1
    return torch.cat([copies[index] for copies in _split_in_chunks(x, config.radius, config.rescale)])


class _EvalSet:
    """Images with their LFC/HFC copies at every eval radius, split once and kept on the device."""

    def __init__(self, x, y, radii, rescale, device):
        self.x = x.to(device)
        self.y = y.to(device)
        self.copies = {r: _copies(self.x, r, rescale) for r in radii}

    def accuracies(self, model, batch_size, clean=True):
        if len(self.y) == 0:
            nan = {r: float("nan") for r in self.copies}
            return float("nan"), nan, dict(nan)
        acc = float("nan") if not clean else accuracy(model, self.x, self.y, batch_size)
        lfc = {r: accuracy(model, c[0], self.y, batch_size) for r, c in self.copies.items()}
        hfc = {r: accuracy(model, c[1], self.y, batch_size) for r, c in self.copies.items()}
        return acc, lfc, hfc


def _training_data(config: TrainConfig):
    """The training subset, its labels as trained on (shuffled ones included) and the tracked indices."""
    x, y = cifar10_tensors("train", n=config.train_size, seed=config.subset_seed)
    y = _shuffle_labels(y, config.shuffled_labels, config.seed)
    tracked = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(
        config.seed + 104729))[: config.train_eval_size].sort().values
    return x, y, tracked


def tracked_training_images(config: TrainConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """The training images whose accuracies the history tracks, with the labels trained on.

    The original images (not the config's LFC/HFC view) and their labels after any
    shuffling, so that a trained model can be measured on them in other ways, e.g.
    on rescaled copies: ``evaluate.frequency_accuracy(result.model, *tracked_training_images(config), ...)``.

    Shapes: ``-> (x (K, 3, 32, 32) float32 in [0, 1], y (K,) int64)``, K = ``config.train_eval_size``.

    Example:
        >>> x, y = tracked_training_images(TrainConfig(train_size=100, train_eval_size=10))
        >>> x.shape, y.shape
        (torch.Size([10, 3, 32, 32]), torch.Size([10]))
    """
    if not isinstance(config, TrainConfig):
        raise ValueError(f"config must be a TrainConfig, got {type(config).__name__}")
    x, y, tracked = _training_data(config)
    return x[tracked], y[tracked]


@dataclass
class _Data:
    """What one run trains and measures on, all on the training device."""

    x: torch.Tensor            # the training view
    y: torch.Tensor
    test: _EvalSet
    tracked: _EvalSet          # tracked training images (originals) and their copies
    tracked_view: torch.Tensor  # the same images in the training view


def _prepare_data(config: TrainConfig, device: torch.device) -> _Data:
    """The training view, the test set and the tracked training images, split once on the device."""
    x_raw, y, tracked = _training_data(config)
    x_test, y_test = cifar10_tensors("test", n=config.test_size, seed=config.subset_seed)
    if device.type == "cuda":  # pinned host memory makes the one copy to the GPU asynchronous
        x_raw, y = x_raw.pin_memory(), y.pin_memory()
    x_raw = x_raw.to(device, non_blocking=True)
    y = y.to(device, non_blocking=True)
    tracked = tracked.to(device)
    x = _view(x_raw, config)
    return _Data(x, y,
                 test=_EvalSet(x_test, y_test, config.eval_radii, config.rescale, device),
                 tracked=_EvalSet(x_raw[tracked], y[tracked], config.eval_radii, config.rescale, device),
                 tracked_view=x[tracked])


# --------------------------------------------------------------------------- a run

@dataclass
class _Run:
    """The state of one training run: what a checkpoint saves, and where it trains."""

    config: TrainConfig
    model: nn.Module
    optimizer: torch.optim.Optimizer
    generator: torch.Generator   # batches, augmentation, mixup and attack starts
    history: History
    device: torch.device
    rank: int = 0
    world: int = 1
    epoch: int = 0               # epochs finished

    def state(self) -> dict:
        state = {"config": experiments.canonical_json(self.config),
                 "code": experiments.code_fingerprint(), "epoch": self.epoch,
                 "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                 "generator": self.generator.get_state(), "torch_rng": torch.get_rng_state(),
                 "history": self.history.as_dict()}
        if self.device.type == "cuda":
            state["cuda_rng"] = torch.cuda.get_rng_state(self.device)
        return state

    def restore(self, ckpt: dict) -> None:
        self.model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.generator.set_state(ckpt["generator"])
        torch.set_rng_state(ckpt["torch_rng"])
        if self.device.type == "cuda" and "cuda_rng" in ckpt:
            torch.cuda.set_rng_state(ckpt["cuda_rng"], self.device)
        self.history = History.from_dict(ckpt["history"])
        self.epoch = ckpt["epoch"]


def _new_run(config: TrainConfig, device: torch.device, rank: int, world: int) -> _Run:
    torch.manual_seed(config.seed)   # dropout and initialisation draw from the global RNG
    model = build_model(config.model, config.width, config.batchnorm, config.dropout)
    model = model.to(device).to(memory_format=torch.channels_last)
    return _Run(config, model, _optimizer(model, config), torch.Generator().manual_seed(config.seed),
                History.empty(config.eval_radii), device, rank, world)


def _batch_loss(run: _Run, net: nn.Module, xb, yb):
    """The loss of one batch, after augmentation, mixup and the attack the config asks for."""
    config, g = run.config, run.generator
    if config.augment:
        xb = augment(xb, g)
    mix = None
    if config.mixup_alpha > 0:
        xb, partner, lam = mixup(xb, yb, config.mixup_alpha, g)
        mix = (lam, partner)
    if run.world > 1:  # every rank drew the same global batch; each trains on its share
        xb, yb = xb.tensor_split(run.world)[run.rank], yb.tensor_split(run.world)[run.rank]
        if mix is not None:
            mix = (mix[0], mix[1].tensor_split(run.world)[run.rank])
    if config.adv_eps > 0:  # each rank attacks only its own share
        x_adv = _adversarial(run.model, xb, yb, config, g, run.rank)
        if config.adv_clean_weight > 0 or config.adv_consistency > 0:
            return _paired_loss(run, net, xb, x_adv, yb)
        xb = x_adv
    xb = xb.contiguous(memory_format=torch.channels_last)
    with autocast(run.device):
        logits = net(xb).float()
    loss = F.cross_entropy(logits, yb, label_smoothing=config.label_smoothing)
    if mix is not None:
        loss = mix[0] * loss + (1 - mix[0]) * F.cross_entropy(
            logits, mix[1], label_smoothing=config.label_smoothing)
    return loss, logits, yb


def _train_epoch(run: _Run, net: nn.Module, data: _Data, scaler, bar) -> dict:
    """One pass over the training view; returns the epoch's running loss and accuracy and its time."""
    config, device = run.config, run.device
    t0 = time.perf_counter()
    net.train()
    n = data.x.shape[0]
    steps = math.ceil(n / config.batch_size)
    total = steps * config.epochs
    perm = torch.randperm(n, generator=run.generator)
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device)
    seen = 0
    for s in range(steps):
        lr = learning_rate(config, run.epoch * steps + s, total)
        for group in run.optimizer.param_groups:
            group["lr"] = lr
        idx = perm[s * config.batch_size:(s + 1) * config.batch_size].to(device)
        loss, logits, yb = _batch_loss(run, net, data.x[idx], data.y[idx])
        run.optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(run.optimizer)
        scaler.update()
        loss_sum += loss.detach() * yb.shape[0]
        correct += (logits.detach().argmax(1) == yb).sum()
        seen += yb.shape[0]
        if bar is not None:
            bar.update(1)
    stats = torch.stack([loss_sum, correct.float(), torch.tensor(float(seen), device=device)])
    if run.world > 1:
        import torch.distributed as dist

        dist.all_reduce(stats)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seen = max(float(stats[2]), 1.0)
    return {"train_loss": float(stats[0]) / seen, "train_acc": float(stats[1]) / seen, "lr": lr,
            "seconds": time.perf_counter() - t0}


def _measure(run: _Run, data: _Data, trained: dict) -> None:
    """Measure the model after an epoch and append the epoch's row to the history."""
    config, h = run.config, run.history
    t0 = time.perf_counter()
    batch = default_batch_size(run.device)
    test_acc, test_lfc, test_hfc = data.test.accuracies(run.model, batch)
    _, train_lfc, train_hfc = data.tracked.accuracies(run.model, batch, clean=False)
    h.train_eval_acc.append(accuracy(run.model, data.tracked_view, data.tracked.y, batch)
                            if config.train_eval_size else float("nan"))
    h.epoch.append(run.epoch + 1)
    h.test_acc.append(test_acc)
    for name in ("train_loss", "train_acc", "lr", "seconds"):
        getattr(h, name).append(trained[name])
    for r in config.eval_radii:
        h.test_lfc_acc[r].append(test_lfc[r])
        h.test_hfc_acc[r].append(test_hfc[r])
        h.train_lfc_acc[r].append(train_lfc.get(r, float("nan")))
        h.train_hfc_acc[r].append(train_hfc.get(r, float("nan")))
    h.eval_seconds.append(time.perf_counter() - t0)


def _progress_bar(run: _Run, steps_per_epoch: int, progress: bool):
    config = run.config
    if not (_progress_enabled(progress) and run.rank == 0 and config.epochs > run.epoch):
        return None
    from tqdm.auto import tqdm

    desc = f"{config.model} {config.view}" + (f" r={config.radius:g}" if config.radius else "")
    return tqdm(total=steps_per_epoch * config.epochs, initial=run.epoch * steps_per_epoch,
                unit="step", desc=desc, leave=False)


def _fit(config, progress, cache, device, rank, world, key) -> Result:
    """Prepare the data, restore a checkpoint if there is one, train epoch by epoch, store."""
    data = _prepare_data(config, device)
    run = _new_run(config, device, rank, world)
    ckpt_path = experiments.checkpoint_path(config)
    if cache:
        ckpt = experiments.read(ckpt_path, config, what="checkpoint")
        if ckpt is not None:
            run.restore(ckpt)
    net = run.model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(run.model, device_ids=[device.index] if device.type == "cuda" else None)
    scaler = torch.amp.GradScaler("cuda", enabled=device.type == "cuda" and not torch.cuda.is_bf16_supported())
    bar = _progress_bar(run, math.ceil(data.x.shape[0] / config.batch_size), progress)
    while run.epoch < config.epochs:
        _measure(run, data, _train_epoch(run, net, data, scaler, bar))
        run.epoch += 1
        if bar is not None:
            h = run.history
            bar.set_postfix(loss=f"{h.train_loss[-1]:.3f}", train=f"{h.train_acc[-1]:.3f}",
                            test=f"{h.test_acc[-1]:.3f}")
        if cache and rank == 0 and run.epoch < config.epochs:
            experiments.write(run.state(), ckpt_path)
    if bar is not None:
        bar.close()
    return _finish(run, cache, key, ckpt_path)


def _finish(run: _Run, cache: bool, key: str, ckpt_path) -> Result:
    """Store the finished result (rank 0 only) and drop the checkpoint."""
    run.model.eval()
    if cache and run.rank == 0:
        experiments.write({"config": experiments.canonical_json(run.config),
                           "code": experiments.code_fingerprint(),
                           "model": run.model.state_dict(), "history": run.history.as_dict()},
                          experiments.entry_path(run.config))
        ckpt_path.unlink(missing_ok=True)
    if run.world > 1:
        import torch.distributed as dist

        dist.barrier()
    return Result(run.model, run.history, run.config, False, key)


def _dist_info(device: torch.device):
    """(rank, world size, whether this call started the process group) under torchrun."""
    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, False
    started = False
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        started = True
    return dist.get_rank(), dist.get_world_size(), started


def _load_model(config: TrainConfig, state: dict, device: torch.device) -> nn.Module:
    model = build_model(config.model, config.width, config.batchnorm, config.dropout)
    model.load_state_dict(state)
    return model.to(device).to(memory_format=torch.channels_last).eval()


# --------------------------------------------------------------------------- train

def _file_state(path) -> tuple | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_mtime_ns, st.st_size, st.st_ino


def _cached(config: TrainConfig, device: torch.device, key: str) -> Result | None:
    entry = experiments.read(experiments.entry_path(config), config)
    if entry is None:
        return None
    return Result(_load_model(config, entry["model"], device), History.from_dict(entry["history"]), config,
                  True, key)


def train(config: TrainConfig, progress: bool = True, cache: bool = True,
          device: str | torch.device | None = None) -> Result:
    """Train the model ``config`` describes (or load it from the cache) and return it with its history.

    The whole (sub)set of CIFAR-10 is held in memory as tensors on the device; the
    LFC/HFC views are computed once; augmentation is batched; on CUDA training runs
    in mixed precision with channels-last tensors. A checkpoint is written after
    every epoch and a killed run resumes from it. Under ``torchrun`` only rank 0
    writes to the cache.

    Args:
        config: what to train.
        progress: show a progress bar (also silenced by ``FREQLENS_PROGRESS=0``).
        cache: read and write the experiment cache (``$FREQLENS_CACHE``, default
            ``data/cache``); ``False`` trains from scratch and stores nothing.
        device: where to train; default :func:`freqlens.device.get_device`.

    Example:
        >>> r = train(TrainConfig(train_size=500, test_size=100, epochs=1, width=8), progress=False)
        >>> len(r.history), sorted(r.history.test_hfc_acc)
        (1, [4.0, 8.0, 12.0, 16.0])
    """
    if not isinstance(config, TrainConfig):
        raise ValueError(f"config must be a TrainConfig, got {type(config).__name__}")
    experiments.log_request(config)
    import torch.distributed as dist

    device = get_device(device)
    rank, world, started_group = _dist_info(device)
    if world > 1 and device.type == "cuda" and device.index is None:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", rank)))
    if device.type == "cuda" and device.index is not None:
        torch.cuda.set_device(device)
    key = experiments.config_key(config)
    try:
        if cache:
            result = _cached(config, device, key)
            if result is not None:
                return result
        # One process at a time trains a config (a notebook beside a sweep, two kernels):
        # whoever waited finds the other's result. torchrun's ranks train together instead.
        locking = cache and world == 1
        seen = _file_state(experiments.entry_path(config)) if locking else None
        with experiments.training_lock(config) if locking else contextlib.nullcontext():
            if locking and _file_state(experiments.entry_path(config)) != seen:
                result = _cached(config, device, key)   # written while we waited
                if result is not None:
                    return result
            # Seeding inside a forked RNG leaves the caller's random streams as they were.
            with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
                return _fit(config, progress, cache, device, rank, world, key)
    finally:
        if started_group:
            dist.destroy_process_group()
