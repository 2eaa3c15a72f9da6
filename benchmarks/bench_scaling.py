"""How throughput grows: images per second of the Fourier split and of a forward pass, by batch and by count.

1. ``freqlens.fourier.split`` at r = 8: all images in one call as their number grows, and
   10,000 images split in batches of growing size.
2. A forward pass (inference, no gradients) of the quick profile's small CNN and of the full
   profile's ResNet-18 (untrained: the time does not depend on the weights), channels-last
   as the trainer runs them: a fixed set of images in batches of growing size, and batches
   of 256 as the number of images grows.

Run: ``python benchmarks/bench_scaling.py`` (``make bench``). ``BENCH_QUICK=1`` shrinks it
to a smoke test.
"""

from __future__ import annotations

import os

import torch

from freqlens.data import cifar10_tensors
from freqlens.fourier import split
from freqlens.models import build_model
from sidebyside import scaling, timed

SMOKE = os.environ.get("BENCH_QUICK") == "1"


def in_batches(fn, x, batch):
    for i in range(0, x.shape[0], batch):
        fn(x[i:i + batch])


def fourier_split(x) -> None:
    name = "fourier.split, r = 8"
    split(x[:64], 8)   # warm-up: FFT plans and the thread pool
    for n in (100, 1000, 10000):
        if n <= x.shape[0]:
            seconds, _ = timed(lambda: split(x[:n], 8), 3)
            scaling("scaling", name, "images", n, n, seconds)
    for batch in (16, 256, 4096):
        seconds, _ = timed(lambda: in_batches(lambda b: split(b, 8), x, batch), 2)
        scaling("scaling", f"{name}, {x.shape[0]:,} images", "batch", batch, x.shape[0], seconds)


def forward(model_name: str, x, batch_images, batches, counts) -> None:
    model = build_model(model_name).eval().to(memory_format=torch.channels_last)
    name = f"forward pass, {model_name} (inference)"

    def run(images, batch):
        with torch.inference_mode():
            in_batches(lambda b: model(b.contiguous(memory_format=torch.channels_last)), images, batch)

    run(x[:256], 256)   # warm-up
    for batch in batches:
        seconds, _ = timed(lambda: run(x[:batch_images], batch), 2)
        scaling("scaling", f"{name}, {batch_images:,} images", "batch", batch, batch_images, seconds)
    for n in counts:
        seconds, _ = timed(lambda: run(x[:n], 256), 2)
        scaling("scaling", f"{name}, batches of 256", "images", n, n, seconds)


def main() -> None:
    x, _ = cifar10_tensors("test", n=1000 if SMOKE else None)
    print(f"{x.shape[0]} CIFAR-10 test images, {torch.get_num_threads()} torch threads")
    fourier_split(x)
    if SMOKE:
        forward("small_cnn", x, 256, (16, 256), (256, 1000))
        return
    forward("small_cnn", x, 1024, (16, 64, 256, 1024), (256, 1024, 4096))
    forward("resnet18", x, 256, (16, 64, 256), (64, 256, 1024))


if __name__ == "__main__":
    main()
