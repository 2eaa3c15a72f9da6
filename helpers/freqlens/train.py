"""Train a CIFAR-10 model from a config, with LFC/HFC accuracy along the epochs, cached.

``train(TrainConfig(...))`` returns a :class:`Result`: the model (in eval mode), its
per-epoch :class:`History` and the config. A result is stored under a hash of its
config and of the training code (see :mod:`freqlens.experiments`), so asking again
returns it at once; a checkpoint each epoch lets a killed run resume; on the CPU the
same config gives the same history bit for bit, resumed or not. Under ``torchrun
--nproc_per_node=N`` the same call trains with DistributedDataParallel (Gloo on CPU,
NCCL on CUDA).

The trainer is four modules, one idea each, whose public names this module gathers:
:mod:`freqlens.config` (:class:`TrainConfig` and its rules, :class:`History`,
:class:`Result`), :mod:`freqlens.recipe` (the steps: :func:`learning_rate`,
:func:`augment`, :func:`mixup`, adversarial examples, :func:`consistency_loss`, the
optimiser, the LFC/HFC views), :mod:`freqlens.training_loop` (the epochs, the
measurements, the checkpoints) and, here, the cache and its lock around them. Budgets
per profile live in :mod:`freqlens.profiles`;
``TrainConfig.for_profile(budget="table1", view="lfc", radius=8)`` gives the same
notebook code under both profiles.
"""

from __future__ import annotations

import contextlib
import os
import sys

import torch

from freqlens import experiments
from freqlens.config import ADV_ATTACKS, OPTIMIZERS, SCHEDULES, VIEWS, History, Result, TrainConfig
from freqlens.device import get_device
from freqlens.profiles import PROFILES, current_profile
from freqlens.recipe import (augment, build_optimizer, consistency_loss, last_conv_layer, learning_rate,
                             mixup, tracked_training_images)
from freqlens.training_loop import dist_info, fit, load_model

__all__ = ["ADV_ATTACKS", "History", "OPTIMIZERS", "PROFILES", "Result", "SCHEDULES", "TrainConfig", "VIEWS",
           "augment", "build_optimizer", "consistency_loss", "current_profile", "last_conv_layer",
           "learning_rate", "mixup", "tracked_training_images", "train"]

# The optimiser's earlier name here, which benchmarks/bench_train.py imports.
_optimizer = build_optimizer


def _file_state(path) -> tuple | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_mtime_ns, st.st_size, st.st_ino


def _cached(config: TrainConfig, device: torch.device, key: str) -> Result | None:
    """The config's result from the cache, or ``None`` when there is none that can be used."""
    path = experiments.entry_path(config)
    entry = experiments.read(path, config)
    if entry is None:
        return None
    try:
        history = History.from_dict(entry["history"])
        model = load_model(config, entry["model"], device)
    except (TypeError, KeyError, RuntimeError) as e:   # stored by a History or a network of another shape
        reason = f"{type(e).__name__}: {e}".splitlines()[0][:200]
        print(f"freqlens.train: cache entry {path.name} is unusable ({reason}); training again",
              file=sys.stderr)
        return None
    return Result(model, history, config, True, key)


def train(config: TrainConfig, progress: bool = True, cache: bool = True,
          device: str | torch.device | None = None) -> Result:
    """Train the model ``config`` describes (or load it from the cache) and return it with its history.

    The whole (sub)set of CIFAR-10 is held in memory as tensors on the device; the
    LFC/HFC views are computed once; augmentation is batched; on CUDA training runs
    in mixed precision with channels-last tensors. A checkpoint is written after
    every epoch and a killed run resumes from it. Under ``torchrun`` only rank 0
    writes to the cache.

    On a cache miss, ``train`` takes the config's lock (:func:`freqlens.experiments.training_lock`)
    and, once it holds it, looks in the cache again: a process that waited for another
    one training the same config (a notebook beside a sweep, two kernels) gets that
    network instead of training it a second time.

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
    rank, world, started_group = dist_info(device)
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
        # torchrun's ranks train one config together, so only a single process locks.
        locking = cache and world == 1
        seen = _file_state(experiments.entry_path(config)) if locking else None
        with experiments.training_lock(config) if locking else contextlib.nullcontext():
            if locking and _file_state(experiments.entry_path(config)) != seen:
                result = _cached(config, device, key)   # written while this process waited
                if result is not None:
                    return result
            # Seeding inside a forked RNG leaves the caller's random streams as they were.
            with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
                return fit(config, progress, cache, device, rank, world, key)
    finally:
        if started_group:
            dist.destroy_process_group()
