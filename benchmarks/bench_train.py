"""Trainer benchmarks, printed as ratios: quick-profile time to 70 % and throughput vs a textbook loop.

(a) The quick profile's network on all 50,000 training images: training seconds until the
    test accuracy (all 10,000 test images, measured after each epoch, not counted as
    training time) first reaches 70 %, against the 3-minute target.
(b) The same network, stratified subset, epochs, optimiser, learning-rate schedule and
    augmentation (flip + crop), trained by ``freqlens.train`` (tensors in memory, batched
    augmentation, channels-last) and by the textbook loop (a Dataset of PIL images,
    per-sample transforms and ``ToTensor``, a ``DataLoader``), in alternating rounds.
    Images per second of training (median ratio), and both test accuracies; and the floor:
    the same number of forward and backward passes (to the weights, train mode,
    channels-last, batch 256) of the same network on the same images, with no data
    pipeline, augmentation or optimiser step around them.
(c) One quick-profile model exactly as a chapter asks for it, LFC/HFC measurements
    included, against the 90-second target.

Run: ``.venv/bin/python benchmarks/bench_train.py`` (``make bench``). ``BENCH_QUICK=1``
shrinks every part to a smoke test.
"""

from __future__ import annotations

import math
import os
import time

import numpy as np
import torch
from torch.nn import functional as F

os.environ.setdefault("FREQLENS_PROGRESS", "0")

from freqlens.data import cifar10_tensors, load_cifar10, stratified_indices  # noqa: E402
from freqlens.device import banner  # noqa: E402
from freqlens.evaluate import accuracy  # noqa: E402
from freqlens.models import build_model  # noqa: E402
from freqlens.train import TrainConfig, _optimizer, learning_rate, train  # noqa: E402
from sidebyside import bare_passes, compare, describe, target, timed, training_passes  # noqa: E402

SMOKE = os.environ.get("BENCH_QUICK") == "1"


def quick_model(budget_s: float = 90.0) -> None:
    config = TrainConfig.quick(**(dict(train_size=1000, epochs=1) if SMOKE else {}))
    seconds, result = timed(lambda: train(config, progress=False, cache=False, device="cpu"), 1)
    h = result.history
    print(f"(c) one quick-profile model as a chapter asks for it ({config.train_size} images x "
          f"{config.epochs} epochs, LFC/HFC measured at radii {list(config.eval_radii)} each epoch):")
    print(f"    {seconds:.1f} s in all = {seconds / budget_s:.2f} x the {budget_s:.0f} s target "
          f"({sum(h.seconds):.1f} s training, {sum(h.eval_seconds):.1f} s measuring); "
          f"test accuracy {h.test_acc[-1]:.4f}")
    target("train", f"one quick-profile model ({config.train_size:,} images × {config.epochs} epochs, "
           "LFC/HFC measured)", seconds, budget_s, "s", f"test accuracy {h.test_acc[-1]:.4f}")


def time_to_accuracy(goal: float = 0.70, budget_s: float = 180.0) -> None:
    config = TrainConfig.quick(train_size=2000 if SMOKE else None, test_size=None,
                               epochs=1 if SMOKE else 4, eval_radii=(), train_eval_size=0)
    result = train(config, progress=False, cache=False, device="cpu")
    h = result.history
    elapsed = np.cumsum(h.seconds)
    reached = [t for t, a in zip(elapsed, h.test_acc) if a >= goal]
    print(f"(a) quick profile on all training images: {config.model} width {config.width}, "
          f"{config.epochs} epochs, batch {config.batch_size}")
    for e, t, a in zip(h.epoch, elapsed, h.test_acc):
        print(f"    epoch {e}: {t:6.1f} s of training, test accuracy {a:.4f}")
    if reached:
        print(f"    time to {goal:.0%}: {reached[0]:.1f} s = {reached[0] / budget_s:.2f} x the "
              f"{budget_s:.0f} s target; final accuracy {h.test_acc[-1]:.4f}")
        target("train", f"quick profile's network, all training images: time to {goal:.0%} test accuracy",
               float(reached[0]), budget_s, "s", f"final accuracy {h.test_acc[-1]:.4f}")
    else:
        print(f"    {goal:.0%} not reached; final accuracy {h.test_acc[-1]:.4f} "
              f"after {elapsed[-1]:.1f} s")


class _TextbookCIFAR(torch.utils.data.Dataset):
    """The way tutorials load CIFAR-10: one PIL image per item, per-sample transforms."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, train: bool):
        from torchvision import transforms

        self.images, self.labels = images, labels
        steps = [transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip()] if train else []
        self.transform = transforms.Compose(steps + [transforms.ToTensor()])

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        from PIL import Image

        return self.transform(Image.fromarray(self.images[i])), int(self.labels[i])


def _textbook_run(config: TrainConfig, workers: int) -> tuple[float, float]:
    data = load_cifar10(quiet=True)
    idx = stratified_indices(data.y_train, config.train_size, config.subset_seed)
    loader = torch.utils.data.DataLoader(
        _TextbookCIFAR(data.x_train[idx], data.y_train[idx], train=True),
        batch_size=config.batch_size, shuffle=True, num_workers=workers,
        persistent_workers=workers > 0)
    torch.manual_seed(config.seed)
    model = build_model(config.model, config.width, config.batchnorm, config.dropout)
    optimizer = _optimizer(model, config)
    total = len(loader) * config.epochs
    step, seconds = 0, 0.0
    for _ in range(config.epochs):
        model.train()
        t0 = time.perf_counter()
        for xb, yb in loader:
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(config, step, total)
            loss = F.cross_entropy(model(xb), yb, label_smoothing=config.label_smoothing)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step += 1
        seconds += time.perf_counter() - t0
    x_test, y_test = cifar10_tensors("test", n=config.test_size, seed=config.subset_seed)
    return seconds, accuracy(model, x_test, y_test)


def throughput(rounds: int = 3) -> None:
    config = TrainConfig.quick(train_size=1000 if SMOKE else 10000, test_size=2000,
                               epochs=1 if SMOKE else 2, eval_radii=(), train_eval_size=0)
    images = config.train_size * config.epochs
    print(f"(b) epoch throughput, {config.model} width {config.width}, {config.train_size} images "
          f"x {config.epochs} epochs, batch {config.batch_size}, {torch.get_num_threads()} threads; "
          f"{rounds} rounds, the two loops alternating so that a shared machine's load "
          f"falls on both alike")
    x, y = cifar10_tensors("train", n=config.train_size, seed=config.subset_seed)
    net = build_model(config.model, config.width, config.batchnorm, config.dropout)
    net = net.to(memory_format=torch.channels_last)
    passes = training_passes(x.shape[0], config.batch_size, config.epochs)
    bare = bare_passes(net, passes, x, y, channels_last=True)
    ratios, ours_acc, theirs_acc, times = [], [], [], []
    for seed in range(rounds):
        c = config.replace(seed=seed)
        theirs, acc_theirs = _textbook_run(c, 0)
        h = train(c, progress=False, cache=False, device="cpu").history
        ours, acc_ours = sum(h.seconds), h.test_acc[-1]
        floor, _ = timed(bare, 1)
        ratios.append(theirs / ours)
        times.append((ours, theirs, floor))
        ours_acc.append(acc_ours)
        theirs_acc.append(acc_theirs)
        print(f"    round {seed + 1}: textbook loop {images / theirs:6.0f} images/s (test accuracy "
              f"{acc_theirs:.4f}), freqlens.train {images / ours:6.0f} images/s (test accuracy "
              f"{acc_ours:.4f}): {theirs / ours:.2f}x; bare passes {images / floor:6.0f} images/s")
    print(f"    freqlens.train vs the textbook loop: {float(np.median(ratios)):.2f}x the throughput "
          f"(median of {rounds}); mean test accuracy {np.mean(ours_acc):.4f} vs "
          f"{np.mean(theirs_acc):.4f}")
    ours, theirs, floor = times[int(np.argsort(ratios)[len(ratios) // 2])]   # the round of the median ratio
    gap = abs(np.mean(ours_acc) - np.mean(theirs_acc))
    compare("train", f"training throughput, {config.train_size:,} images × {config.epochs} epochs "
            f"(median of {rounds} rounds)", ours, theirs, "textbook DataLoader loop",
            f"mean test accuracy {np.mean(ours_acc):.4f} vs {np.mean(theirs_acc):.4f} (within 0.05)",
            gap <= 0.05, floor=floor, passes=describe(passes))


if __name__ == "__main__":
    print(banner("cpu"))
    t = time.perf_counter()
    throughput()
    quick_model()
    time_to_accuracy()
    print(f"benchmark took {math.ceil(time.perf_counter() - t)} s")
