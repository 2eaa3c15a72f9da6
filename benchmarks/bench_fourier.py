"""freqlens.fourier.split against the per-image NumPy loop of the reference code.

Both split all 10,000 CIFAR-10 test images into low- and high-frequency components;
the output is checked to agree (max abs difference on the 0-255 scale) and the speed
ratio printed, for split on one thread (the reference's share of the machine) and on
all of torch's threads.

Run: ``python benchmarks/bench_fourier.py [--radii 4 8 12 16] [--threads N] [--n N]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from freqlens.data import load_cifar10  # noqa: E402
from freqlens.fourier import split  # noqa: E402
from reference import split_reference  # noqa: E402
from sidebyside import record, timed  # noqa: E402


def median_time(fn, repeats):
    """Median wall-clock seconds over ``repeats`` runs, and the last result."""
    return timed(fn, repeats, pick=statistics.median)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--radii", type=float, nargs="+", default=[4, 8, 12, 16])
    parser.add_argument("--n", type=int, default=10000, help="number of test images")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(),
                        help="torch CPU threads for the second timing of split")
    args = parser.parse_args()
    threads = sorted({1, args.threads})

    images = load_cifar10(quiet=True).x_test[: args.n]
    x = torch.from_numpy(images.copy()).permute(0, 3, 1, 2).float().div(255.0).contiguous()
    print(f"{len(images)} CIFAR-10 test images, float32 in [0, 1], torch {torch.__version__}; "
          f"reference on one core, split on {' and '.join(map(str, threads))} thread(s)")
    header = f"{'radius':>6} {'reference':>10}"
    for t in threads:
        header += f" {f'split {t}T':>9} {'ratio':>6}"
    print(header + f" {'max |diff| (0-255)':>19}")
    split(x[:64], args.radii[0])  # warm-up: FFT plans and the thread pool

    totals = dict.fromkeys(["reference", *threads], 0.0)
    for r in args.radii:
        ref_time, (ref_low, ref_high) = median_time(lambda: split_reference(images, r), 1)
        totals["reference"] += ref_time
        line = f"{r:>6g} {ref_time:>9.2f}s"
        times = {}
        for t in threads:
            torch.set_num_threads(t)
            times[t], (lfc, hfc) = median_time(lambda: split(x, r), 5)
            totals[t] += times[t]
            line += f" {times[t]:>8.3f}s {ref_time / times[t]:>5.1f}x"
        torch.set_num_threads(args.threads)
        diff = max(np.abs(lfc.permute(0, 2, 3, 1).double().numpy() * 255 - ref_low).max(),
                   np.abs(hfc.permute(0, 2, 3, 1).double().numpy() * 255 - ref_high).max())
        print(line + f" {diff:>19.2e}")
        for t in threads:
            record("fourier", "peer", what=f"split, {len(images):,} images, r = {r:g}, {t} thread(s)",
                   peer="per-image NumPy loop", ours_s=times[t], peer_s=ref_time, ratio=ref_time / times[t],
                   outputs=f"max diff {diff:.1e} on 0-255 (≤ 1e-4)", agree=bool(diff <= 1e-4))
        if diff > 1e-4:
            raise SystemExit(f"split disagrees with the reference at r={r:g}: {diff:.2e} > 1e-4")
    ratios = ", ".join(f"{totals['reference'] / totals[t]:.1f}x on {t} thread(s)" for t in threads)
    print(f"all radii: split is {ratios} faster than the per-image NumPy loop, "
          "same output to 1e-4 on the 0-255 scale")


if __name__ == "__main__":
    main()
