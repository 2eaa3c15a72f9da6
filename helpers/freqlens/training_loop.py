"""The training loop: a run's state, its epochs, the measurements after each, its checkpoints.

:func:`fit` trains one config from its first epoch, or from the checkpoint a killed run
left: after every epoch it measures the model (:func:`measure`, the history's row) and
saves the run's whole state (:class:`Run`: weights, optimiser, random generators, history)
into the cache, so a resumed run ends bit for bit where an uninterrupted one ends. Under
``torchrun`` every rank runs the loop over its share of each batch (DistributedDataParallel)
and rank 0 alone writes. The steps inside a batch are :mod:`freqlens.recipe`'s.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass

import torch
from torch import nn

from freqlens import attacks, experiments
from freqlens.config import History, Result, TrainConfig
from freqlens.evaluate import accuracy, default_batch_size
from freqlens.models import build_model
from freqlens.recipe import TrainingData, batch_loss, build_optimizer, learning_rate, prepare_data

__all__ = ["Run", "dist_info", "fit", "load_model", "measure", "new_run", "progress_bar", "train_epoch"]


@dataclass
class Run:
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


def new_run(config: TrainConfig, device: torch.device, rank: int = 0, world: int = 1) -> Run:
    """A run at epoch 0: the network initialised from the config's seed, its optimiser, its generator.

    Example:
        >>> run = new_run(TrainConfig(width=8), torch.device("cpu"))
        >>> run.epoch, type(run.model).__name__, len(run.history)
        (0, 'SmallCNN', 0)
    """
    torch.manual_seed(config.seed)   # dropout and initialisation draw from the global RNG
    model = build_model(config.model, config.width, config.batchnorm, config.dropout)
    model = model.to(device).to(memory_format=torch.channels_last)
    return Run(config, model, build_optimizer(model, config), torch.Generator().manual_seed(config.seed),
               History.empty(config.eval_radii), device, rank, world)


def train_epoch(run: Run, net: nn.Module, data: TrainingData, scaler, bar) -> dict:
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
        loss, logits, yb = batch_loss(run, net, data.x[idx], data.y[idx])
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


def measure(run: Run, data: TrainingData, trained: dict) -> None:
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
    if config.eval_pgd_size:
        h.test_pgd_acc.append(pgd_accuracy(run.model, data.test.x[:config.eval_pgd_size],
                                           data.test.y[:config.eval_pgd_size], config.adv_eps, batch))
    for name in ("train_loss", "train_acc", "lr", "seconds"):
        getattr(h, name).append(trained[name])
    for r in config.eval_radii:
        h.test_lfc_acc[r].append(test_lfc[r])
        h.test_hfc_acc[r].append(test_hfc[r])
        h.train_lfc_acc[r].append(train_lfc.get(r, float("nan")))
        h.train_hfc_acc[r].append(train_hfc.get(r, float("nan")))
    h.eval_seconds.append(time.perf_counter() - t0)


def pgd_accuracy(model, x: torch.Tensor, y: torch.Tensor, eps: float, batch_size: int) -> float:
    """Accuracy under PGD L-inf at ``eps``: 10 steps of ``eps / 4`` from a random start seeded 0."""
    adv = attacks.pgd(model, x, y, eps, eps / 4, 10, generator=torch.Generator().manual_seed(0),
                      batch_size=batch_size)
    return accuracy(model, adv, y, batch_size)


def _progress_enabled(progress: bool) -> bool:
    return bool(progress) and os.environ.get("FREQLENS_PROGRESS", "1") not in ("0", "false", "no")


def progress_bar(run: Run, steps_per_epoch: int, progress: bool):
    """A tqdm bar over the run's remaining steps (rank 0 only), or ``None`` when it is off."""
    config = run.config
    if not (_progress_enabled(progress) and run.rank == 0 and config.epochs > run.epoch):
        return None
    from tqdm.auto import tqdm

    desc = f"{config.model} {config.view}" + (f" r={config.radius:g}" if config.radius else "")
    return tqdm(total=steps_per_epoch * config.epochs, initial=run.epoch * steps_per_epoch,
                unit="step", desc=desc, leave=False)


def fit(config: TrainConfig, progress: bool, cache: bool, device: torch.device, rank: int, world: int,
        key: str) -> Result:
    """Prepare the data, restore a checkpoint if there is one, train epoch by epoch, store.

    With ``cache`` the run resumes from the config's checkpoint and writes one after each
    epoch but the last; the finished result goes to the cache under ``key`` (rank 0 only).
    The caller holds the config's lock (see :func:`freqlens.train.train`).
    """
    data = prepare_data(config, device)
    run = new_run(config, device, rank, world)
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
    bar = progress_bar(run, math.ceil(data.x.shape[0] / config.batch_size), progress)
    while run.epoch < config.epochs:
        measure(run, data, train_epoch(run, net, data, scaler, bar))
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


def _finish(run: Run, cache: bool, key: str, ckpt_path) -> Result:
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


def dist_info(device: torch.device):
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


def load_model(config: TrainConfig, state: dict, device: torch.device) -> nn.Module:
    """The config's network with the weights ``state``, on ``device``, channels-last, in eval mode."""
    model = build_model(config.model, config.width, config.batchnorm, config.dropout)
    model.load_state_dict(state)
    return model.to(device).to(memory_format=torch.channels_last).eval()
