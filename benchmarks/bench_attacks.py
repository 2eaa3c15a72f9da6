"""Chapter 5's building blocks beside their peers, on real CIFAR-10 images and the quick vanilla network.

1. PGD (L-inf, 10 steps, no random start) against torchattacks' PGD: same images out.
2. FGSM against torchattacks' FGSM: same images out.
3. DeepFool on the whole batch against torchattacks' DeepFool, which loops image by image.
4. The Fourier heat map, batched over images and bases, against the per-basis loop of the
   public implementations (each basis over all images in turn), with the same signs.

Each line prints both timings, their ratio and how far the outputs differ, and the floor:
the same network passes as ours makes (counted in one run of it: PGD, one forward and one
backward pass per step; DeepFool, per step one forward and one backward pass per class over
the images not yet fooled; the heat map, forward passes over the 481 noisy copies of each
image), made bare.
Run: ``python benchmarks/bench_attacks.py [--n N]``.
"""

from __future__ import annotations

import argparse
import copy

import torch
import torchattacks

from freqlens import attacks, heuristics, train
from freqlens.data import cifar10_tensors
from freqlens.heatmaps import _half_bases, fourier_heat_map
from sidebyside import compare, side_by_side


def per_basis_heat_map(model, x, y, eps, seed):
    """Every one of the 31 x 31 bases in turn over all images, as the public implementations do.

    The same bases and signs as ``fourier_heat_map`` (a frequency and its mirror share them),
    so the maps must agree exactly.
    """
    n, c, h, w = x.shape
    bases, pairs = _half_bases(h, w, min(h, w) // 2 - 1)
    index = {p: k for k, p in enumerate(pairs)}
    g = torch.Generator().manual_seed(seed)
    signs = (torch.randint(0, 2, (n, len(pairs), c), generator=g) * 2 - 1).float()
    grid = torch.zeros(31, 31)
    with torch.no_grad():
        for u in range(-15, 16):
            for v in range(-15, 16):
                k = index.get((u, v), index.get((-u, -v)))
                noisy = (x + eps * bases[k] * signs[:, k, :, None, None]).clamp(0, 1)
                grid[u + 15, v + 15] = float((model(noisy).argmax(1) != y).float().mean())
    return grid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="number of test images")
    args = parser.parse_args()
    net = train.train(heuristics.config("vanilla", "quick"), progress=False).model
    # torchattacks reshapes gradients with .view, which needs the default memory format
    net = copy.deepcopy(net).to(memory_format=torch.contiguous_format).eval()
    x, y = cifar10_tensors("test", n=args.n, seed=5)
    print(f"{args.n} CIFAR-10 test images, the quick profile's vanilla network, {torch.get_num_threads()} torch threads")
    with torch.no_grad():
        net(x)   # warm-up

    pgd = side_by_side(net, lambda: attacks.PGD(net, eps=8 / 255, alpha=2 / 255, steps=10, random_start=False)(x, y),
                       lambda: torchattacks.PGD(net, eps=8 / 255, alpha=2 / 255, steps=10, random_start=False)(x, y),
                       x, y)
    diff = float((pgd.ours - pgd.peer).abs().max())
    compare("attacks", "PGD L-inf (10 steps)", pgd.ours_s, pgd.peer_s, "torchattacks", f"max |diff| {diff:.1e}",
            diff == 0, floor=pgd.floor_s, passes=pgd.passes)

    # one forward and one backward pass: short enough for noise to matter, so the best of five runs
    fgsm = side_by_side(net, lambda: attacks.FGSM(net, eps=8 / 255)(x, y),
                        lambda: torchattacks.FGSM(net, eps=8 / 255)(x, y), x, y, repeats=5)
    diff = float((fgsm.ours - fgsm.peer).abs().max())
    compare("attacks", "FGSM", fgsm.ours_s, fgsm.peer_s, "torchattacks", f"max |diff| {diff:.1e}", diff == 0,
            floor=fgsm.floor_s, passes=fgsm.passes)

    n = min(50, args.n)
    df = side_by_side(net, lambda: attacks.DeepFool(net, steps=50, overshoot=0.02)(x[:n], y[:n]),
                      lambda: torchattacks.DeepFool(net, steps=50, overshoot=0.02)(x[:n], y[:n]), x[:n], y[:n])
    with torch.no_grad():
        rate = lambda adv: float((net(adv).argmax(1) != y[:n]).float().mean())
    norms = lambda adv: (adv - x[:n]).flatten(1).norm(dim=1)
    l2_ours, l2_peer = float(norms(df.ours).median()), float(norms(df.peer).median())
    # images on a decision boundary may go either way: agreement is up to two images and 10 % in L2
    agree = abs(rate(df.ours) - rate(df.peer)) <= 2 / n and abs(l2_ours - l2_peer) <= 0.1 * l2_peer
    compare("attacks", f"DeepFool ({n} images)", df.ours_s, df.peer_s, "torchattacks",
            f"success {rate(df.ours):.3f} vs {rate(df.peer):.3f}, median L2 {l2_ours:.4f} vs {l2_peer:.4f}", agree,
            floor=df.floor_s, passes=df.passes)

    heat = side_by_side(net, lambda: fourier_heat_map(net, x, y, eps=4.0, seed=0),
                        lambda: per_basis_heat_map(net, x, y, 4.0, 0), x, y, repeats=1)
    diff = float((heat.ours - heat.peer).abs().max())
    compare("attacks", "Fourier heat map (31 x 31)", heat.ours_s, heat.peer_s, "per basis", f"max |diff| {diff:.1e}",
            diff == 0, floor=heat.floor_s, passes=heat.passes)


if __name__ == "__main__":
    main()
