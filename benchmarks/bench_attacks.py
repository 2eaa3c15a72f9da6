"""Chapter 5's building blocks beside their peers, on real CIFAR-10 images and the quick vanilla network.

1. PGD (L-inf, 10 steps, no random start) against torchattacks' PGD: same images out.
2. DeepFool on the whole batch against torchattacks' DeepFool, which loops image by image.
3. The Fourier heat map, batched over images and bases, against the per-basis loop of the
   public implementations (each basis over all images in turn), with the same signs.

Each line prints both timings, their ratio and how far the outputs differ.
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
from sidebyside import compare, timed


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

    ours_s, ours = timed(lambda: attacks.PGD(net, eps=8 / 255, alpha=2 / 255, steps=10, random_start=False)(x, y))
    peer_s, peer = timed(lambda: torchattacks.PGD(net, eps=8 / 255, alpha=2 / 255, steps=10, random_start=False)(x, y))
    diff = float((ours - peer).abs().max())
    compare("attacks", "PGD L-inf (10 steps)", ours_s, peer_s, "torchattacks", f"max |diff| {diff:.1e}", diff == 0)

    n = min(50, args.n)
    ours_s, ours = timed(lambda: attacks.DeepFool(net, steps=50, overshoot=0.02)(x[:n], y[:n]))
    peer_s, peer = timed(lambda: torchattacks.DeepFool(net, steps=50, overshoot=0.02)(x[:n], y[:n]))
    with torch.no_grad():
        rate = lambda adv: float((net(adv).argmax(1) != y[:n]).float().mean())
    norms = lambda adv: (adv - x[:n]).flatten(1).norm(dim=1)
    l2_ours, l2_peer = float(norms(ours).median()), float(norms(peer).median())
    # images on a decision boundary may go either way: agreement is up to two images and 10 % in L2
    agree = abs(rate(ours) - rate(peer)) <= 2 / n and abs(l2_ours - l2_peer) <= 0.1 * l2_peer
    compare("attacks", f"DeepFool ({n} images)", ours_s, peer_s, "torchattacks",
            f"success {rate(ours):.3f} vs {rate(peer):.3f}, median L2 {l2_ours:.4f} vs {l2_peer:.4f}", agree)

    ours_s, ours = timed(lambda: fourier_heat_map(net, x, y, eps=4.0, seed=0), repeats=1)
    peer_s, peer = timed(lambda: per_basis_heat_map(net, x, y, 4.0, 0), repeats=1)
    diff = float((ours - peer).abs().max())
    compare("attacks", "Fourier heat map (31 x 31)", ours_s, peer_s, "per basis", f"max |diff| {diff:.1e}",
            diff == 0)


if __name__ == "__main__":
    main()
