"""freqlens.fourier.split against the per-image NumPy loop of the reference code.

Both split all 10,000 CIFAR-10 test images into low- and high-frequency components;
the output is checked to agree (max abs difference on the 0-255 scale) and the speed
ratio printed. Run: ``python benchmarks/bench_fourier.py [--radii 4 8 12 16] [--threads N]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from freqlens.data import load_cifar10  # noqa: E402
from freqlens.fourier import split  # noqa: E402
from reference import split_reference  # noqa: E402


def timed(fn, repeats):
    """Median wall-clock and CPU seconds over ``repeats`` runs, and the last result.

    CPU time (all threads) is printed too: on a machine shared with other work it is
    steadier than the wall clock.
    """
    walls, cpus, out = [], [], None
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        out = fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus), out


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
    print(f"{'radius':>6} {'reference':>10} {'split':>8} {'ratio':>6} {'CPU ratio':>10} "
          f"{'max |diff| (0-255)':>19}")
    split(x[:64], args.radii[0])  # warm-up: FFT plans and the thread pool

    totals = np.zeros(4)
    for r in args.radii:
        ref_wall, ref_cpu, (ref_low, ref_high) = timed(lambda: split_reference(images, r), 1)
        new_wall, new_cpu, (lfc, hfc) = timed(lambda: split(x, r), 5)
        diff = max(np.abs(lfc.permute(0, 2, 3, 1).double().numpy() * 255 - ref_low).max(),
                   np.abs(hfc.permute(0, 2, 3, 1).double().numpy() * 255 - ref_high).max())
        totals += (ref_wall, new_wall, ref_cpu, new_cpu)
        print(f"{r:>6g} {ref_wall:>9.2f}s {new_wall:>7.3f}s {ref_wall / new_wall:>5.1f}x "
              f"{ref_cpu / new_cpu:>9.1f}x {diff:>19.2e}")
        if diff > 1e-4:
            raise SystemExit(f"split disagrees with the reference at r={r:g}: {diff:.2e} > 1e-4")
    print(f"all radii: reference {totals[0]:.1f} s, split {totals[1]:.2f} s: split is "
          f"{totals[0] / totals[1]:.1f}x faster (CPU time {totals[2] / totals[3]:.1f}x), "
          "same output to 1e-4 on the 0-255 scale")

if __name__ == "__main__":
    main()
