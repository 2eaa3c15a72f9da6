"""The steps of the training recipe: schedule, augmentation, mixup, adversarial examples, the loss.

Each step is a function of the config and of its inputs, with its randomness drawn from
a generator the run owns (so a resumed run draws what it would have drawn):
:func:`learning_rate` (the schedule), :func:`augment` (flips and crops), :func:`mixup`,
the batch's adversarial examples (Madry's PGD or FGSM), Dong et al.'s
:func:`consistency_loss`, the two ways of steering a network towards the low frequencies
(:func:`drop_high_frequencies`, and a penalty on :func:`high_frequency_gradient_energy`),
a penalty on rough first-layer kernels (:func:`freqlens.defenses.roughness`),
:func:`build_optimizer`, and :func:`batch_loss`, which puts a batch through them.
:func:`prepare_data` makes the views a run trains and measures on: the training images as
the config sees them (original, LFC or HFC, or a non-robust set) and the LFC/HFC copies
of the test and tracked training images, split once on the device.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from freqlens import attacks, defenses, fourier
from freqlens.config import TrainConfig
from freqlens.data import cifar10_tensors
from freqlens.device import autocast, bfloat16_autocast
from freqlens.evaluate import accuracy, least_likely

__all__ = ["EvalSet", "TrainingData", "augment", "batch_loss", "build_optimizer", "consistency_loss",
           "drop_high_frequencies", "high_frequency_gradient_energy", "last_conv_layer", "learning_rate",
           "mixup", "prepare_data", "tracked_training_images"]


# --------------------------------------------------------------------------- the steps of a batch

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
    """The batch's adversarial examples (L-inf): Madry's PGD, FGSM with ``adv_attack="fgsm"``, or
    Dong et al.'s twins with ``"fgsm_ll"``: one FGSM step towards each image's least-likely class."""
    # Only the original images live in [0, 1]; LFC/HFC copies are not boxed.
    clip = (0.0, 1.0) if config.view == "original" else None
    # Mixed precision only in bfloat16, whose range is float32's: a float16 input gradient
    # can underflow without loss scaling and silently weaken the attack.
    settings = dict(batch_size=xb.shape[0], autocast=bfloat16_autocast(xb.device))
    if config.adv_attack == "fgsm":
        return attacks.fgsm(model, xb, yb, config.adv_eps, clip=clip, **settings)
    if config.adv_attack == "fgsm_ll":
        target = least_likely(model, xb, batch_size=xb.shape[0])
        return attacks.fgsm(model, xb, target, config.adv_eps, targeted=True, clip=clip, **settings)
    step = config.adv_step_size or 2.5 * config.adv_eps / config.adv_steps
    return attacks.pgd(model, xb, yb, config.adv_eps, step, config.adv_steps,
                       random_start=config.adv_random_start,
                       generator=_attack_generator(generator, rank), clip=clip, **settings)


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


def _paired_loss(run, net: nn.Module, xb, x_adv, yb):
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


def drop_high_frequencies(images: torch.Tensor, radius: float, p: float,
                          generator: torch.Generator) -> torch.Tensor:
    """Each image replaced by its LFC at ``radius`` with probability ``p`` (drawn from ``generator``).

    Shapes: ``(B, C, H, W) -> (B, C, H, W)``.

    Example:
        >>> x = torch.rand(4, 3, 8, 8)
        >>> g = torch.Generator().manual_seed(0)
        >>> torch.allclose(drop_high_frequencies(x, 2, 1.0, g), fourier.low_pass(x, 2), atol=1e-6)
        True
    """
    dropped = (torch.rand(images.shape[0], generator=generator) < p).to(images.device)
    return torch.where(dropped[:, None, None, None], fourier.LowPass(radius)(images), images)


def high_frequency_gradient_energy(grad: torch.Tensor, radius: float) -> torch.Tensor:
    """Per image, the energy of a gradient's high frequencies: ``||HFC_r(grad)||_2^2``. ``(B, C, H, W) -> (B,)``.

    Example:
        >>> g = torch.ones(1, 3, 8, 8)   # a constant holds no high frequency
        >>> float(high_frequency_gradient_energy(g, 1).abs()) < 1e-9
        True
    """
    return fourier.HighPass(radius)(grad).flatten(1).square().sum(1)


# The gradient penalty is taken on this many images of each batch: double backpropagation
# costs several times a step, and the batches are shuffled, so the mean over the first
# images of a batch estimates the batch's mean without bias.
PENALTY_IMAGES = 32


def _penalised_loss(run, net: nn.Module, xb, yb):
    """Cross-entropy plus ``hf_gradient_penalty`` times the mean high-frequency energy of each image's input gradient.

    The gradient of each image's own loss (that of the summed loss, image by image) is
    taken with ``create_graph=True``, so the penalty is trained through: double
    backpropagation, as input-gradient regularisation does it. It is taken on the first
    :data:`PENALTY_IMAGES` images of the batch; the cross-entropy on all of them. The two
    parts go through the network apart, so a network with BatchNorm normalises each part
    by its own statistics (the book steers the vanilla network, which has none).
    """
    config = run.config
    k = min(PENALTY_IMAGES, xb.shape[0])
    head = xb[:k].detach().requires_grad_(True)
    with autocast(run.device):
        logits = torch.cat([net(head), net(xb[k:])]).float() if k < xb.shape[0] else net(head).float()
    losses = F.cross_entropy(logits, yb, label_smoothing=config.label_smoothing, reduction="none")
    (grad,) = torch.autograd.grad(losses[:k].sum(), head, create_graph=True)
    penalty = high_frequency_gradient_energy(grad.float(), config.hf_radius).mean()
    return losses.mean() + config.hf_gradient_penalty * penalty, logits, yb


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


def build_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """SGD (Nesterov momentum) or Adam, as the config says, with weight decay on weights only.

    Example:
        >>> from freqlens.models import SmallCNN
        >>> type(build_optimizer(SmallCNN(width=8), TrainConfig())).__name__
        'SGD'
    """
    # Decaying BatchNorm scales and biases only fights the normalisation; decay weights only.
    decay = [p for p in model.parameters() if p.dim() > 1]
    rest = [p for p in model.parameters() if p.dim() <= 1]
    groups = [{"params": decay, "weight_decay": config.weight_decay},
              {"params": rest, "weight_decay": 0.0}]
    if config.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum,
                               nesterov=config.nesterov and config.momentum > 0)
    return torch.optim.Adam(groups, lr=config.lr)


def batch_loss(run, net: nn.Module, xb, yb):
    """The loss of one batch, after augmentation, mixup and the attack the config asks for.

    ``run`` is the :class:`freqlens.training_loop.Run` being trained (its config, model,
    generator, device and rank); ``net`` is the model to call (a DistributedDataParallel
    wrapper of ``run.model`` under torchrun). Returns ``(loss, logits, labels)`` of this
    rank's share of the batch. With ``kernel_penalty``, the loss gets that times the mean
    :func:`freqlens.defenses.roughness` of the first convolution's slices.
    """
    loss, logits, yb = _data_loss(run, net, xb, yb)
    if run.config.kernel_penalty > 0:
        weights = defenses.first_conv(run.model).weight.float()
        loss = loss + run.config.kernel_penalty * defenses.roughness(weights).mean()
    return loss, logits, yb


def _data_loss(run, net: nn.Module, xb, yb):
    config, g = run.config, run.generator
    if config.augment:
        xb = augment(xb, g)
    if config.hf_drop > 0:   # on the global batch, so every rank draws alike
        xb = drop_high_frequencies(xb, config.hf_radius, config.hf_drop, g)
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
    if config.hf_gradient_penalty > 0:
        return _penalised_loss(run, net, xb, yb)
    with autocast(run.device):
        logits = net(xb).float()
    loss = F.cross_entropy(logits, yb, label_smoothing=config.label_smoothing)
    if mix is not None:
        loss = mix[0] * loss + (1 - mix[0]) * F.cross_entropy(
            logits, mix[1], label_smoothing=config.label_smoothing)
    return loss, logits, yb


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


class EvalSet:
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
    if config.nonrobust is not None:
        from freqlens import nonrobust

        x, y = nonrobust.build(config.nonrobust, x, y)
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
class TrainingData:
    """What one run trains and measures on, all on the training device."""

    x: torch.Tensor            # the training view
    y: torch.Tensor
    test: EvalSet
    tracked: EvalSet          # tracked training images (originals) and their copies
    tracked_view: torch.Tensor  # the same images in the training view


def prepare_data(config: TrainConfig, device: torch.device) -> TrainingData:
    """The training view, the test set and the tracked training images, split once on the device."""
    x_raw, y, tracked = _training_data(config)
    x_test, y_test = cifar10_tensors("test", n=config.test_size, seed=config.subset_seed)
    if device.type == "cuda":  # pinned host memory makes the one copy to the GPU asynchronous
        x_raw, y = x_raw.pin_memory(), y.pin_memory()
    x_raw = x_raw.to(device, non_blocking=True)
    y = y.to(device, non_blocking=True)
    tracked = tracked.to(device)
    x = _view(x_raw, config)
    return TrainingData(x, y,
                        test=EvalSet(x_test, y_test, config.eval_radii, config.rescale, device),
                        tracked=EvalSet(x_raw[tracked], y[tracked], config.eval_radii, config.rescale,
                                        device),
                        tracked_view=x[tracked])
