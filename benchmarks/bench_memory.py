"""Peak memory with every image in one batch against the default batch, each case in a fresh process.

1. PGD (L-inf, one step: the peak comes with the first) on 1,000 CIFAR-10 test images with
   the full profile's network (ResNet-18, width 64, channels-last as the trainer returns
   it): ``batch_size=1000``, every image at once as the package ran it before every model
   call went through ``freqlens.execution.run``, against the default batch (256 on a CPU).
2. ``activations.record`` of the network's last ReLU for 4,000 test images, all at once
   against the default batch.

Each case runs in a new Python process, so that no case inherits another's high-water
mark: it loads the images (saved by this process) and the network, notes its resident
memory, makes the call, and reports its peak resident memory (``getrusage``) above that.
The network is untrained: the memory does not depend on the weights.

Run: ``python benchmarks/bench_memory.py [--pgd-images 1000] [--record-images 4000]``
(``make bench``). ``BENCH_QUICK=1`` shrinks them to 512 and 1,024 images. Needs a POSIX
system (``resource``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sidebyside import memory

SMOKE = os.environ.get("BENCH_QUICK") == "1"
MODEL = "resnet18"


def _resident_bytes() -> int:
    """The process's resident memory now (psutil if installed, else /proc)."""
    try:
        import psutil

        return int(psutil.Process().memory_info().rss)
    except ImportError:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")


def _peak_bytes() -> int:
    """The process's peak resident memory so far (``ru_maxrss``: kilobytes on Linux, bytes on macOS)."""
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak) if sys.platform == "darwin" else int(peak) * 1024


def child(case: str, batch: int | None, images: Path) -> None:
    """One case, in this (fresh) process: prints its peak above the start as one JSON line."""
    import torch

    from freqlens import activations, attacks
    from freqlens.execution import default_batch_size
    from freqlens.models import build_model

    x, y = torch.load(images)
    torch.manual_seed(0)
    net = build_model(MODEL).to(memory_format=torch.channels_last).eval()
    grad = case == "pgd"
    used = batch or default_batch_size(net, grad=grad)
    start = _resident_bytes()
    t0 = time.perf_counter()
    if case == "pgd":
        attacks.pgd(net, x, y, eps=8 / 255, alpha=2 / 255, steps=1, random_start=False, batch_size=batch)
    else:
        last = activations.layer_names(net)[-1]
        activations.record(net, x, [last], batch_size=batch)
    seconds = time.perf_counter() - t0
    print(json.dumps({"peak_bytes": _peak_bytes() - start, "batch": used, "seconds": seconds}))


def measure(case: str, batch: int | None, images: Path) -> dict:
    """Run one case in a fresh process and read back what it printed."""
    command = [sys.executable, __file__, "--case", case, "--images", str(images)]
    if batch is not None:
        command += ["--batch", str(batch)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the {case} case (batch {batch or 'default'}) failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def compare_batches(name: str, case: str, n: int, images: Path) -> None:
    whole = measure(case, n, images)
    default = measure(case, None, images)
    print(f"    {name}: all at once {whole['seconds']:.1f} s, default batch {default['seconds']:.1f} s")
    memory("memory", name, whole["peak_bytes"], default["peak_bytes"],
           f"batch {whole['batch']:,} (all at once)", f"batch {default['batch']:,} (the default)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pgd-images", type=int, default=512 if SMOKE else 1000)
    parser.add_argument("--record-images", type=int, default=1024 if SMOKE else 4000)
    parser.add_argument("--case", choices=("pgd", "record"), help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--images", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        child(args.case, args.batch, args.images)
        return

    import torch

    from freqlens.data import cifar10_tensors

    print(f"peak resident memory above each process's start, {MODEL} (the full profile's network), "
          f"{torch.get_num_threads()} torch threads")
    with tempfile.TemporaryDirectory() as tmp:
        for case, n, name in (("pgd", args.pgd_images, f"PGD L-inf (1 step), {args.pgd_images:,} images"),
                              ("record", args.record_images,
                               f"activations.record, last ReLU, {args.record_images:,} images")):
            path = Path(tmp) / f"{case}.pt"
            torch.save(cifar10_tensors("test", n=n, seed=0), path)
            compare_batches(f"{name}, {MODEL}", case, n, path)


if __name__ == "__main__":
    main()
