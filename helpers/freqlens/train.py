"""Train a CIFAR-10 model from a config, with LFC/HFC accuracy along the epochs, cached.

``train(TrainConfig(...))`` returns a :class:`Result`: the model (in eval mode), its
per-epoch :class:`History` and the config. A result is stored under a hash of its
config (see :mod:`freqlens.experiments`), so asking again returns it at once; a
checkpoint each epoch lets a killed run resume; on the CPU the same config gives the
same history bit for bit, resumed or not. Under ``torchrun --nproc_per_node=N`` the
same call trains with DistributedDataParallel (Gloo on CPU, NCCL on CUDA).

Profiles: ``quick`` (a small CNN on a stratified subset, minutes on a laptop CPU) and
``full`` (ResNet-18 on all of CIFAR-10, for a GPU). :func:`current_profile` picks one;
``TrainConfig.for_profile(view="lfc", radius=8)`` gives the same notebook code under both.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from freqlens import experiments, fourier
from freqlens.data import cifar10_tensors
from freqlens.device import autocast, get_device
from freqlens.evaluate import accuracy, default_batch_size
from freqlens.models import MODELS, build_model

__all__ = ["History", "PROFILES", "Result", "TrainConfig", "current_profile", "tracked_training_images",
           "train"]

PROFILES = ("quick", "full")
VIEWS = ("original", "lfc", "hfc")
OPTIMIZERS = ("sgd", "adam")
SCHEDULES = ("linear", "cosine", "step", "constant")
_CORNER = fourier.corner_radius(32, 32)
_DEFAULT_WIDTH = {"small_cnn": 16, "resnet18": 64}


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


# The two profiles' presets. quick: one model in well under a minute on 2 CPU cores;
# full: the paper's scale (ResNet-18, all 50,000 images), for a GPU. Networks without
# BatchNorm diverge at BatchNorm's learning rate, so they get their own (_LR_NO_BN).
_PRESETS = {
    "quick": dict(model="small_cnn", width=16, train_size=20000, test_size=1000, epochs=6,
                  batch_size=256, lr=0.2, label_smoothing=0.2, train_eval_size=250),
    "full": dict(model="resnet18", width=64, train_size=None, test_size=None, epochs=40,
                 batch_size=512, lr=0.2, label_smoothing=0.1, train_eval_size=2000),
}
_LR_NO_BN = {"quick": 0.1, "full": 0.05}


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _is_num(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) \
        and math.isfinite(float(v))


@dataclass(frozen=True)
class TrainConfig:
    """Everything that changes a trained model's result; its hash is the cache key.

    The defaults are the quick profile's preset; prefer :meth:`for_profile`, which also
    picks the full profile on a GPU and a lower learning rate without BatchNorm.

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
    # what the history measures each epoch
    eval_radii: tuple = (4.0, 8.0, 12.0, 16.0)
    train_eval_size: int = 250         # training images whose LFC/HFC accuracy is tracked
    seed: int = 0

    def __post_init__(self):
        def bad(name, expected):
            raise ValueError(f"{name} must be {expected}, got {getattr(self, name)!r}")

        def norm(name, value):
            object.__setattr__(self, name, value)

        if self.model not in MODELS:
            bad("model", f"one of {sorted(MODELS)}")
        if self.width is None:
            norm("width", _DEFAULT_WIDTH[self.model])
        if not _is_int(self.width) or self.width < 1:
            bad("width", "an integer >= 1 (or None for the model's default)")
        norm("width", int(self.width))
        for name in ("batchnorm", "nesterov", "augment", "rescale"):
            if not isinstance(getattr(self, name), bool):
                bad(name, "True or False")
        for name, lo, hi in (("dropout", 0, 1), ("shuffled_labels", 0, 1), ("warmup", 0, 1),
                             ("label_smoothing", 0, 1), ("momentum", 0, 1)):
            v = getattr(self, name)
            if not _is_num(v) or not lo <= v <= hi or (name == "dropout" and v == 1):
                bad(name, f"a number in [{lo}, {hi}{')' if name == 'dropout' else ']'}")
            norm(name, float(v))
        for name, n_max in (("train_size", 50000), ("test_size", 10000)):
            v = getattr(self, name)
            if v is not None:
                if not _is_int(v) or not 10 <= v <= n_max:
                    bad(name, f"an integer in [10, {n_max}] or None for all images")
                norm(name, int(v))
        for name in ("subset_seed", "seed"):
            if not _is_int(getattr(self, name)):
                bad(name, "an integer")
            norm(name, int(getattr(self, name)))
        if self.view not in VIEWS:
            bad("view", f"one of {VIEWS}")
        if self.view == "original":
            if self.radius is not None:
                bad("radius", "None when view='original' (a radius only makes an LFC or HFC view)")
        else:
            if not _is_num(self.radius) or not 0 < self.radius <= _CORNER:
                bad("radius", f"a number in (0, {_CORNER:.3f}] (the corner of a 32x32 spectrum) "
                              f"for view={self.view!r}")
            norm("radius", float(self.radius))
        if not _is_int(self.epochs) or self.epochs < 0:
            bad("epochs", "an integer >= 0")
        if not _is_int(self.batch_size) or self.batch_size < 1:
            bad("batch_size", "an integer >= 1")
        if self.optimizer not in OPTIMIZERS:
            bad("optimizer", f"one of {OPTIMIZERS}")
        if self.schedule not in SCHEDULES:
            bad("schedule", f"one of {SCHEDULES}")
        for name in ("lr", "weight_decay", "mixup_alpha", "adv_eps"):
            v = getattr(self, name)
            if not _is_num(v) or v < 0 or (name == "lr" and v == 0):
                bad(name, "a finite number " + ("> 0" if name == "lr" else ">= 0"))
            norm(name, float(v))
        if self.adv_eps > 1:
            bad("adv_eps", "at most 1 (images are on the [0, 1] scale; 8/255 is typical)")
        if not _is_int(self.adv_steps) or self.adv_steps < 1:
            bad("adv_steps", "an integer >= 1")
        if self.adv_step_size is not None:
            if not _is_num(self.adv_step_size) or self.adv_step_size <= 0:
                bad("adv_step_size", "a finite number > 0 or None for 2.5 * adv_eps / adv_steps")
            norm("adv_step_size", float(self.adv_step_size))
        radii = self.eval_radii
        if isinstance(radii, (int, float)) or not isinstance(radii, (tuple, list)):
            bad("eval_radii", "a tuple of radii")
        for r in radii:
            if not _is_num(r) or not 0 <= r <= _CORNER:
                raise ValueError(f"eval_radii must hold numbers in [0, {_CORNER:.3f}] (the corner of "
                                 f"a 32x32 spectrum), got {r!r} in {radii!r}")
        norm("eval_radii", tuple(sorted({float(r) for r in radii})))
        if not _is_int(self.train_eval_size) or self.train_eval_size < 0:
            bad("train_eval_size", "an integer >= 0")
        n_train = self.train_size or 50000
        if self.train_eval_size > n_train:
            bad("train_eval_size", f"at most train_size ({n_train})")

    @classmethod
    def for_profile(cls, profile: str | None = None, **overrides) -> "TrainConfig":
        """The profile's preset (default :func:`current_profile`) with ``overrides`` on top.

        quick: ``small_cnn`` of width 16, 20,000 training and 1,000 test images, 6 epochs,
        batch 256, lr 0.2. full: ``resnet18`` of width 64, all images, 40 epochs, batch
        512, lr 0.2. With ``batchnorm=False`` the preset's lr drops to 0.1 (quick) or 0.05
        (full), unless ``lr`` is given too.

        Example:
            >>> TrainConfig.for_profile("quick", view="hfc", radius=4).model
            'small_cnn'
        """
        profile = current_profile() if profile is None else profile
        if profile not in PROFILES:
            raise ValueError(f"profile must be one of {PROFILES}, got {profile!r}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(overrides) - names)
        if unknown:
            raise ValueError(f"unknown TrainConfig fields {unknown}; the fields are {sorted(names)}")
        preset = dict(_PRESETS[profile])
        if overrides.get("batchnorm") is False:
            preset["lr"] = _LR_NO_BN[profile]
        return cls(**{**preset, **overrides})

    @classmethod
    def quick(cls, **overrides) -> "TrainConfig":
        """The quick profile's preset with ``overrides``: a small CNN, minutes on a CPU."""
        return cls.for_profile("quick", **overrides)

    @classmethod
    def full(cls, **overrides) -> "TrainConfig":
        """The full profile's preset with ``overrides``: ResNet-18 on all of CIFAR-10."""
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


# --------------------------------------------------------------------------- pieces

def _progress_enabled(progress: bool) -> bool:
    return bool(progress) and os.environ.get("FREQLENS_PROGRESS", "1") not in ("0", "false", "no")


def _lr_at(config: TrainConfig, step: int, total: int) -> float:
    """Learning rate for step ``step`` of ``total``: a pure function, so resuming needs no scheduler state."""
    peak, t = config.lr, step / max(total, 1)
    if config.schedule == "constant":
        return peak
    if config.schedule == "step":  # x0.1 at half and at three quarters of training
        return peak * (0.1 ** ((t >= 0.5) + (t >= 0.75)))
    w = config.warmup
    if t < w:
        return peak * (step + 1) / max(w * total, 1)
    u = (t - w) / max(1 - w, 1e-12)
    if config.schedule == "linear":
        return peak * max(1.0 - u, 0.0)
    return peak * 0.5 * (1.0 + math.cos(math.pi * min(u, 1.0)))


def _view(x: torch.Tensor, config: TrainConfig, chunk: int = 5000) -> torch.Tensor:
    """The images the model trains on: the originals, or their LFC/HFC copies, computed once."""
    if config.view == "original":
        return x
    parts = []
    for i in range(0, x.shape[0], chunk):
        lfc, hfc = fourier.split(x[i:i + chunk], config.radius, rescale=config.rescale)
        parts.append(lfc if config.view == "lfc" else hfc)
    return torch.cat(parts)


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


def _augment(xb: torch.Tensor, g: torch.Generator, group: int = 16) -> torch.Tensor:
    """Random horizontal flips per image, and random 32x32 crops of the zero-padded (by 4) batch.

    Each run of ``group`` images in the (already shuffled) batch shares one crop offset:
    per-image gathers cost more than the convolutions of a small CNN on a CPU, and a
    random offset per small group of randomly batched images augments just as well.
    """
    b, _, h, w = xb.shape
    flip = (torch.rand(b, generator=g) < 0.5).to(xb.device)
    n_groups = -(-b // group)
    shifts = torch.randint(0, 9, (n_groups, 2), generator=g).tolist()
    xb = torch.where(flip[:, None, None, None], xb.flip(3), xb)
    padded = F.pad(xb, (4, 4, 4, 4))
    return torch.cat([padded[i * group:(i + 1) * group, :, dy:dy + h, dx:dx + w]
                      for i, (dy, dx) in enumerate(shifts)])


def _pgd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, config: TrainConfig,
         g: torch.Generator, device: torch.device) -> torch.Tensor:
    """L-inf PGD with a random start (Madry et al.), on the model in eval mode so BN statistics stay clean."""
    eps = config.adv_eps
    step = config.adv_step_size or 2.5 * eps / config.adv_steps
    was_training = model.training
    model.eval()
    delta = (torch.rand(x.shape, generator=g) * 2 - 1).mul_(eps).to(device)
    for _ in range(config.adv_steps):
        delta.requires_grad_(True)
        with autocast(device):
            loss = F.cross_entropy(model(x + delta).float(), y)
        grad, = torch.autograd.grad(loss, delta)
        delta = (delta.detach() + step * grad.sign()).clamp_(-eps, eps)
        if config.view == "original":  # only the original images live in [0, 1]
            delta = (x + delta).clamp_(0, 1) - x
    model.train(was_training)
    return (x + delta).detach()


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


def _frequency_copies(x: torch.Tensor, radii, rescale: bool, chunk: int = 5000) -> dict:
    out = {}
    for r in radii:
        if x.shape[0] == 0:  # e.g. train_eval_size=0: nothing to split, nothing to measure
            out[r] = (x, x)
            continue
        lfcs, hfcs = [], []
        for i in range(0, x.shape[0], chunk):
            lfc, hfc = fourier.split(x[i:i + chunk], r, rescale=rescale)
            lfcs.append(lfc)
            hfcs.append(hfc)
        out[r] = (torch.cat(lfcs), torch.cat(hfcs))
    return out


class _EvalSet:
    """Images with their LFC/HFC copies at every eval radius, split once and kept on the device."""

    def __init__(self, x, y, radii, rescale, device):
        self.x = x.to(device)
        self.y = y.to(device)
        self.copies = {r: (lfc.to(device), hfc.to(device))
                       for r, (lfc, hfc) in _frequency_copies(x, radii, rescale).items()}

    def accuracies(self, model, batch_size, clean=True):
        if len(self.y) == 0:
            nan = {r: float("nan") for r in self.copies}
            return float("nan"), nan, dict(nan)
        acc = float("nan") if not clean else accuracy(model, self.x, self.y, batch_size)
        lfc = {r: accuracy(model, c[0], self.y, batch_size) for r, c in self.copies.items()}
        hfc = {r: accuracy(model, c[1], self.y, batch_size) for r, c in self.copies.items()}
        return acc, lfc, hfc


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


def _load_model(config: TrainConfig, state: dict, device: torch.device) -> nn.Module:
    model = build_model(config.model, config.width, config.batchnorm, config.dropout)
    model.load_state_dict(state)
    return model.to(device).to(memory_format=torch.channels_last).eval()


# --------------------------------------------------------------------------- train

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
            entry = experiments.read(experiments.entry_path(config), config)
            if entry is not None:
                model = _load_model(config, entry["model"], device)
                return Result(model, History.from_dict(entry["history"]), config, True, key)
        # Seeding inside a forked RNG leaves the caller's random streams as they were.
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            return _fit(config, progress, cache, device, rank, world, key)
    finally:
        if started_group:
            dist.destroy_process_group()


def _fit(config, progress, cache, device, rank, world, key) -> Result:
    import torch.distributed as dist

    cuda = device.type == "cuda"
    torch.manual_seed(config.seed)   # dropout and initialisation draw from the global RNG
    g = torch.Generator().manual_seed(config.seed)  # batches, augmentation, PGD starts

    x_raw, y_train, tracked = _training_data(config)
    x_test, y_test = cifar10_tensors("test", n=config.test_size, seed=config.subset_seed)
    if cuda:  # pinned host memory makes the one copy to the GPU asynchronous
        x_raw, y_train = x_raw.pin_memory(), y_train.pin_memory()
    # Everything lives on the device from here: the Fourier splits run there, once.
    x_raw = x_raw.to(device, non_blocking=True)
    y_train = y_train.to(device, non_blocking=True)
    tracked = tracked.to(device)
    x_train = _view(x_raw, config)
    test_set = _EvalSet(x_test.to(device), y_test, config.eval_radii, config.rescale, device)
    train_set = _EvalSet(x_raw[tracked], y_train[tracked], config.eval_radii, config.rescale,
                         device)
    train_view_tracked = x_train[tracked]
    del x_raw

    model = build_model(config.model, config.width, config.batchnorm, config.dropout)
    model = model.to(device).to(memory_format=torch.channels_last)
    optimizer = _optimizer(model, config)
    history = History.empty(config.eval_radii)
    start_epoch = 0

    ckpt_path = experiments.checkpoint_path(config)
    if cache:
        ckpt = experiments.read(ckpt_path, config, what="checkpoint")
        if ckpt is not None:
            model.load_state_dict(ckpt["model"])
            optimizer.load_state_dict(ckpt["optimizer"])
            g.set_state(ckpt["generator"])
            torch.set_rng_state(ckpt["torch_rng"])
            if cuda and "cuda_rng" in ckpt:
                torch.cuda.set_rng_state(ckpt["cuda_rng"])
            history = History.from_dict(ckpt["history"])
            start_epoch = ckpt["epoch"]

    net = model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(model, device_ids=[device.index] if cuda else None)

    n = x_train.shape[0]
    steps_per_epoch = math.ceil(n / config.batch_size)
    total = steps_per_epoch * config.epochs
    amp_fp16 = cuda and not torch.cuda.is_bf16_supported()
    scaler = torch.amp.GradScaler("cuda", enabled=amp_fp16)
    eval_batch = default_batch_size(device)

    bar = None
    if _progress_enabled(progress) and rank == 0 and config.epochs > start_epoch:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, initial=start_epoch * steps_per_epoch, unit="step",
                   desc=f"{config.model} {config.view}" + (f" r={config.radius:g}" if config.radius else ""),
                   leave=False)

    for epoch in range(start_epoch, config.epochs):
        t0 = time.perf_counter()
        net.train()
        perm = torch.randperm(n, generator=g)
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device)
        seen = 0
        for s in range(steps_per_epoch):
            step = epoch * steps_per_epoch + s
            lr = _lr_at(config, step, total)
            for group in optimizer.param_groups:
                group["lr"] = lr
            idx = perm[s * config.batch_size:(s + 1) * config.batch_size].to(device)
            xb, yb = x_train[idx], y_train[idx]
            if config.augment:
                xb = _augment(xb, g)
            mix = None
            if config.mixup_alpha > 0:
                lam = float(np.random.default_rng([config.seed, epoch, s]).beta(
                    config.mixup_alpha, config.mixup_alpha))
                partner = torch.randperm(xb.shape[0], generator=g).to(device)
                xb = lam * xb + (1 - lam) * xb[partner]
                mix = (lam, yb[partner])
            if config.adv_eps > 0:
                xb = _pgd(model, xb, yb, config, g, device)
            if world > 1:  # every rank drew the same global batch; each trains on its share
                xb = xb.tensor_split(world)[rank]
                yb = yb.tensor_split(world)[rank]
                if mix is not None:
                    mix = (mix[0], mix[1].tensor_split(world)[rank])
            xb = xb.contiguous(memory_format=torch.channels_last)
            with autocast(device):
                logits = net(xb).float()
            loss = F.cross_entropy(logits, yb, label_smoothing=config.label_smoothing)
            if mix is not None:
                loss = mix[0] * loss + (1 - mix[0]) * F.cross_entropy(
                    logits, mix[1], label_smoothing=config.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            loss_sum += loss.detach() * yb.shape[0]
            correct += (logits.detach().argmax(1) == yb).sum()
            seen += yb.shape[0]
            if bar is not None:
                bar.update(1)
        if world > 1:
            stats = torch.stack([loss_sum, correct.float(),
                                 torch.tensor(float(seen), device=device)])
            dist.all_reduce(stats)
            loss_sum, correct, seen = stats[0], stats[1], float(stats[2])
        if cuda:
            torch.cuda.synchronize(device)
        t1 = time.perf_counter()

        test_acc, test_lfc, test_hfc = test_set.accuracies(model, eval_batch)
        _, train_lfc, train_hfc = train_set.accuracies(model, eval_batch, clean=False)
        train_eval = (accuracy(model, train_view_tracked, train_set.y, eval_batch)
                      if config.train_eval_size else float("nan"))
        history.epoch.append(epoch + 1)
        history.train_loss.append(float(loss_sum) / max(seen, 1))
        history.train_acc.append(float(correct) / max(seen, 1))
        history.train_eval_acc.append(train_eval)
        history.test_acc.append(test_acc)
        for r in config.eval_radii:
            history.test_lfc_acc[r].append(test_lfc[r])
            history.test_hfc_acc[r].append(test_hfc[r])
            history.train_lfc_acc[r].append(train_lfc.get(r, float("nan")))
            history.train_hfc_acc[r].append(train_hfc.get(r, float("nan")))
        history.lr.append(lr)
        history.seconds.append(t1 - t0)
        history.eval_seconds.append(time.perf_counter() - t1)
        if bar is not None:
            bar.set_postfix(loss=f"{history.train_loss[-1]:.3f}",
                            train=f"{history.train_acc[-1]:.3f}", test=f"{test_acc:.3f}")
        if cache and rank == 0 and epoch + 1 < config.epochs:
            state = {"config": experiments.canonical_json(config),
                     "code_version": experiments.CODE_VERSION, "epoch": epoch + 1,
                     "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                     "generator": g.get_state(), "torch_rng": torch.get_rng_state(),
                     "history": history.as_dict()}
            if cuda:
                state["cuda_rng"] = torch.cuda.get_rng_state()
            experiments.write(state, ckpt_path)
    if bar is not None:
        bar.close()

    model.eval()
    if cache and rank == 0:
        experiments.write({"config": experiments.canonical_json(config),
                           "code_version": experiments.CODE_VERSION,
                           "model": model.state_dict(), "history": history.as_dict()},
                          experiments.entry_path(config))
        ckpt_path.unlink(missing_ok=True)
    if world > 1:
        dist.barrier()
    return Result(model, history, config, False, key)
