"""What one trained network is: its config (every field checked), its history and the result.

:class:`TrainConfig` holds everything that changes a trained network; its canonical JSON
is the network's cache key (with the training code's fingerprint, see
:mod:`freqlens.experiments`). Each field has a rule in ``_RULES`` that checks it and gives
its canonical form, so two configs that train the same network are equal. :class:`History`
holds the measurements along the epochs, :class:`Result` the network with both.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from torch import nn

from freqlens import checks, profiles
from freqlens.models import MODELS

__all__ = ["ADV_ATTACKS", "NONROBUST_BANDS", "History", "NonRobustSet", "OPTIMIZERS", "Result", "SCHEDULES",
           "TrainConfig", "VIEWS"]

VIEWS = ("original", "lfc", "hfc")
OPTIMIZERS = ("sgd", "adam")
SCHEDULES = ("linear", "cosine", "step", "constant")
ADV_ATTACKS = ("pgd", "fgsm", "fgsm_ll")
NONROBUST_BANDS = ("all", "lfc", "hfc", "none")
_SIDE = 32  # CIFAR-10 images are 32 x 32
_DEFAULT_WIDTH = {"small_cnn": 16, "resnet18": 64}


def _rule(check, **kwargs):
    """A field's rule: ``check(value, name, **kwargs)``, returning the canonical value."""
    return lambda value, name: check(value, name, **kwargs)


def _eval_radii(value, name):
    return tuple(sorted(set(checks.radii(value, _SIDE, _SIDE, name=name, allow_empty=True))))


def _radius(value, name):
    return None if value is None else checks.radius(value, _SIDE, _SIDE, name)


def _nonrobust(value, name):
    if value is None or isinstance(value, NonRobustSet):
        return value
    if isinstance(value, dict):   # read back from the config's JSON
        return NonRobustSet(**value)
    raise ValueError(f"{name} must be a NonRobustSet or None, got {type(value).__name__}")


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
    "hf_radius": _radius,
    "hf_drop": _FRACTION,
    "hf_gradient_penalty": _rule(checks.number, low=0),
    "kernel_penalty": _rule(checks.number, low=0),
    "nonrobust": _nonrobust,
    "eval_radii": _eval_radii,
    "train_eval_size": _rule(checks.integer, minimum=0),
    "eval_pgd_size": _rule(checks.integer, minimum=0),
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
    epochs: int = 8
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
    adv_attack: str = "pgd"            # "fgsm": one step of adv_eps (adv_steps and the step unused);
    #                                    "fgsm_ll": one step towards the least-likely class (Dong et al.)
    # Dong et al.'s consistency-regularised adversarial training: the loss is
    # w * CE(x) + (1 - w) * CE(x*) + beta * mean ||phi(x) - phi(x*)||_2, with phi the last
    # convolutional stage's output (its last ReLU), w = adv_clean_weight, beta = adv_consistency.
    adv_clean_weight: float = 0.0      # weight of the clean images' loss; 0: Madry's (adversarial only)
    adv_consistency: float = 0.0       # beta on the L2 distance of last-conv features
    # steering the network towards the low frequencies (chapter 6): each training image loses
    # its high frequencies (distance >= hf_radius) with probability hf_drop, and the loss gets
    # hf_gradient_penalty times the mean over images of the energy of the input gradient's
    # high frequencies, ||HFC(grad_x loss_i)||^2 (double backpropagation)
    hf_radius: float | None = None
    hf_drop: float = 0.0
    hf_gradient_penalty: float = 0.0
    # smoother first-layer kernels (chapter 5; the blog's "regularization schemes limiting the
    # differences of adjacent values of kernels during training"): the loss gets kernel_penalty
    # times the mean over the first convolution's slices of defenses.roughness, their squared
    # adjacent differences over their energy (2.67 for noise, 0 for a flat slice)
    kernel_penalty: float = 0.0
    # train on Ilyas et al.'s non-robust set instead of the images: see NonRobustSet
    nonrobust: "NonRobustSet | None" = None
    # what the history measures each epoch
    eval_radii: tuple = (4.0, 8.0, 12.0, 16.0)
    train_eval_size: int = 250         # training images whose LFC/HFC accuracy is tracked
    # test images attacked each epoch with PGD at adv_eps (10 steps, seeded random start): the
    # check against catastrophic overfitting of FGSM training (Wong et al., 2020)
    eval_pgd_size: int = 0
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
        if self.eval_pgd_size and self.adv_eps == 0:
            raise ValueError(f"eval_pgd_size must be 0 without adversarial training (PGD is run at adv_eps): "
                             f"set adv_eps > 0, got eval_pgd_size={self.eval_pgd_size}")
        if self.mixup_alpha > 0 and (self.adv_clean_weight or self.adv_consistency):
            raise ValueError("mixup_alpha must be 0 with adv_clean_weight or adv_consistency (a mixed batch "
                             f"has no clean twin to compare with), got mixup_alpha={self.mixup_alpha}")
        steered = self.hf_drop > 0 or self.hf_gradient_penalty > 0
        if steered != (self.hf_radius is not None):
            raise ValueError("hf_radius must be given exactly when hf_drop or hf_gradient_penalty is > 0 (it is "
                             f"the radius above which they act), got hf_radius={self.hf_radius!r}, "
                             f"hf_drop={self.hf_drop}, hf_gradient_penalty={self.hf_gradient_penalty}")
        if self.hf_gradient_penalty > 0 and (self.adv_eps > 0 or self.mixup_alpha > 0):
            raise ValueError("hf_gradient_penalty must be 0 with adversarial training or mixup (the penalty "
                             f"is on the clean images' gradient), got adv_eps={self.adv_eps}, "
                             f"mixup_alpha={self.mixup_alpha}")
        if self.nonrobust is not None and (self.view != "original" or self.shuffled_labels):
            raise ValueError("nonrobust needs view='original' and shuffled_labels=0 (the set brings its own "
                             f"images and labels), got view={self.view!r}, shuffled_labels={self.shuffled_labels}")
        n_train = self.train_size or 50000
        if self.train_eval_size > n_train:
            raise ValueError(f"train_eval_size must be at most train_size ({n_train}), "
                             f"got {self.train_eval_size}")

    @classmethod
    def for_profile(cls, profile: str | None = None, budget: str = "standard",
                    **overrides) -> "TrainConfig":
        """Budget ``budget`` of ``profile`` (default :func:`current_profile`) with ``overrides`` on top.

        The budgets are :data:`freqlens.profiles.BUDGETS`: ``"standard"`` (quick: ``small_cnn``
        of width 16, 20,000 training and 1,000 test images, 8 epochs; full: ``resnet18`` of
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

    def describe(self) -> str:
        """A short name for messages: the network, its view and what sets it apart.

        Example:
            >>> TrainConfig(view="hfc", radius=4, adv_eps=8 / 255, seed=2).describe()
            'small_cnn-16 on hfc r=4, 8 epochs, adversarial eps=0.0314, seed 2'
        """
        view = self.view + (f" r={self.radius:g}" if self.radius else "")
        text = f"{self.model}-{self.width} on {view}, {self.epochs} epochs"
        if self.adv_eps:
            text += f", adversarial eps={self.adv_eps:.3g}"
        if self.hf_drop:
            text += f", HFC r={self.hf_radius:g} dropped at {self.hf_drop:g}"
        if self.hf_gradient_penalty:
            text += f", HFC gradient penalty {self.hf_gradient_penalty:g} at r={self.hf_radius:g}"
        if self.kernel_penalty:
            text += f", kernel roughness penalty {self.kernel_penalty:g}"
        if self.nonrobust is not None:
            band = self.nonrobust.band + (f" r={self.nonrobust.radius:g}" if self.nonrobust.radius else "")
            text += f", non-robust set ({band})"
        return text + (f", seed {self.seed}" if self.seed else "")


@dataclass(frozen=True)
class NonRobustSet:
    """Ilyas et al.'s "deterministic" non-robust training set, made from a trained network.

    Each training image ``x`` of class ``y`` is attacked on the ``source`` network towards
    the class ``t = (y + 1) mod 10`` (targeted PGD under L2, ``steps`` steps of ``alpha``
    within ``eps``, no random start) and relabelled ``t``. ``band`` cuts the perturbation
    ``delta = x_adv - x`` before it is added: ``"all"`` keeps it, ``"lfc"`` / ``"hfc"`` keep
    its low / high frequencies at ``radius`` (the book's split), ``"none"`` drops it (the
    control: the images relabelled without any perturbation). The images are then
    clamped into [0, 1]. A network that learns from the set what makes the source say
    ``t`` and is right on the real test set has learnt features that generalise.

    Example:
        >>> s = NonRobustSet(TrainConfig(epochs=1), band="hfc", radius=8)
        >>> s.band, s.radius, s.eps
        ('hfc', 8.0, 0.5)
    """

    source: TrainConfig
    eps: float = 0.5
    alpha: float = 0.1
    steps: int = 10
    band: str = "all"
    radius: float | None = None

    def __post_init__(self):
        source = self.source
        if isinstance(source, dict):
            source = TrainConfig(**source)
        if not isinstance(source, TrainConfig):
            raise ValueError(f"source must be a TrainConfig, got {type(source).__name__}")
        object.__setattr__(self, "source", source)
        object.__setattr__(self, "eps", checks.number(self.eps, "eps", low=0, low_open=True))
        object.__setattr__(self, "alpha", checks.number(self.alpha, "alpha", low=0, low_open=True))
        object.__setattr__(self, "steps", checks.integer(self.steps, "steps", minimum=1))
        object.__setattr__(self, "band", checks.one_of(self.band, "band", options=NONROBUST_BANDS))
        object.__setattr__(self, "radius", _radius(self.radius, "radius"))
        if (self.band in ("lfc", "hfc")) != (self.radius is not None):
            raise ValueError(f"radius must be given exactly when band is 'lfc' or 'hfc', got band={self.band!r}, "
                             f"radius={self.radius!r}")


@dataclass
class History:
    """Per-epoch measurements, one list entry per epoch (index 0 is epoch 1).

    ``train_loss`` / ``train_acc``: running means over the epoch's (augmented) batches;
    ``train_eval_acc``: clean accuracy on ``train_eval_size`` training images in the
    trained view, against the labels trained on (shuffled ones included);
    ``test_acc``: on the original test images; ``test_lfc_acc[r]`` / ``test_hfc_acc[r]``:
    on their LFC / HFC copies at radius ``r``; ``train_lfc_acc[r]`` / ``train_hfc_acc[r]``:
    on LFC / HFC copies of the tracked training images, against the labels trained on;
    ``test_pgd_acc``: on PGD images of the first ``eval_pgd_size`` test images (empty when 0).

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
    test_pgd_acc: list = field(default_factory=list)
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
                elif v:   # a measure a run does not take (test_pgd_acc without eval_pgd_size) is left out
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

