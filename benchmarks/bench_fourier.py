"""freqlens.fourier.split against the per-image NumPy loop of the reference code.

Both split all 10,000 CIFAR-10 test images into low- and high-frequency components;
the output is checked to agree (max abs difference on the 0-255 scale) and the speed
ratio printed. Run: ``python benchmarks/bench_fourier.py [--radii 4 8 12 16] [--threads N]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from freqlens.data import load_cifar10  # noqa: E402
from freqlens.fourier import split  # noqa: E402
from reference import split_reference  # noqa: E402


def best_of(fn, repeats):
    """The fastest of ``repeats`` runs, in seconds, and the last result."""
    best, out = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--radii", type=float, nargs="+", default=[4, 8, 12, 16])
    parser.add_argument("--n", type=int, default=10000, help="number of test images")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    images = load_cifar10(quiet=True).x_test[: args.n]
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float().div(255.0).contiguous()
    print(f"{len(images)} CIFAR-10 test images, float32 in [0, 1], torch {torch.__version__}, "
          f"{torch.get_num_threads()} CPU threads")
    print(f"{'radius':>6} {'reference':>10} {'split':>9} {'ratio':>7} {'max |diff| (0-255)':>19}")
    split(x[:64], args.radii[0])  # warm-up: plans and thread pool

    ratios = []
    for r in args.radii:
        t_ref, (ref_low, ref_high) = best_of(lambda: split_reference(images, r), 1)
        t_new, (lfc, hfc) = best_of(lambda: split(x, r), 3)
        diff = max(np.abs(lfc.permute(0, 2, 3, 1).double().numpy() * 255 - ref_low).max(),
                   np.abs(hfc.permute(0, 2, 3, 1).double().numpy() * 255 - ref_high).max())
        ratios.append(t_ref / t_new)
        print(f"{r:>6g} {t_ref:>9.2f}s {t_new:>8.3f}s {t_ref / t_new:>6.0f}x {diff:>19.2e}")
        if diff > 1e-4:
            raise SystemExit(f"split disagrees with the reference at r={r:g}: {diff:.2e} > 1e-4")
    print(f"split is {min(ratios):.0f}x to {max(ratios):.0f}x faster than the per-image NumPy loop, "
          "same output to 1e-4 on the 0-255 scale")


if __name__ == "__main__":
    main()
