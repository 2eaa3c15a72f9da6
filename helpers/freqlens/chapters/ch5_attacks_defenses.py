"""Chapter 5, attacks and defenses in frequency: its networks, experiments and checks.

The chapter reuses chapter 3's vanilla, BatchNorm and adversarially trained networks and
its LFC r = 4 control, and trains two networks as Dong et al. train theirs: adversarial
training on one FGSM step towards the least-likely class that keeps half the loss on the
clean images, with and without their consistency term on the last convolutional stage's
features (:func:`config`). Its
experiments attack the networks (FGSM, PGD, DeepFool, band-limited PGD), smooth their
kernels, put them behind a low-pass filter, draw their Fourier heat maps and measure
neuron consistency. Every slow measurement goes through :func:`freqlens.memo.cached`, so
the chapter re-executes warm.

Example:
    >>> c = config("consistency", "quick")
    >>> c.adv_attack, c.adv_consistency, config("fgsm adversarial", "quick").adv_consistency
    ('fgsm_ll', 0.1, 0.0)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import pandas as pd
import torch

from freqlens import activations, attacks, checks, defenses, evaluate, exercises, fourier, heatmaps, heuristics
from freqlens import memo, neurons, profiles, train
from freqlens.chapters import ch1_frequencies
from freqlens.train import TrainConfig

__all__ = ["ADVERSARIAL", "DONG", "DONG_NAMES", "DONG_TABLE1", "DONG_TABLE3", "NAMES", "NOTEBOOK",
           "accuracy_against_eps", "adversarial_images", "attack_table_row", "band_verdicts", "bands",
           "check_energy_below", "check_low_pass_radius", "claims", "config", "configs", "consistency_row",
           "consistency_table", "consistency_values", "consistency_verdicts", "defense_rows",
           "defense_table", "defense_verdicts", "distortion_row", "distortion_table", "dong_tables",
           "energy_verdicts",
           "ensemble_set", "eps_curves", "fixed_set_consistency", "heat_maps", "high_share", "kernel_table",
           "kernel_verdicts", "networks", "neuron_consistencies", "overfitting_verdicts",
           "perturbation_spectra", "pgd_accuracy", "pgd_along_training", "pgd_images", "ring_errors",
           "robustness_table",
           "smoothed_networks", "smoothing_gains", "smoothing_row", "smoothing_table", "summary",
           "term_effects", "top_images", "train_networks"]

NOTEBOOK = "05_attacks_defenses"
# Dong et al.'s two networks: FGSM adversarial training without (beta = 0) and with (beta =
# 0.1) the consistency term, on top of the heuristics' vanilla network.
DONG = ("fgsm adversarial", "consistency")
# The attacked networks, by the name the chapter gives them: the heuristic or Dong et al.'s network.
NAMES = {"vanilla": "vanilla", "BatchNorm": "batchnorm", "adversarial": "adversarial",
         "FGSM adversarial": "fgsm adversarial", "consistency": "consistency"}


# --------------------------------------------------------------------------- networks

def config(name: str, profile: str | None = None, seed: int = 0) -> TrainConfig:
    """The network ``name``: one of :data:`DONG`, or a heuristic of :func:`freqlens.heuristics.config`.

    Dong et al.'s networks train on each batch and its twin made by one FGSM step
    towards each image's least-likely class at the same eps, weighting the clean and
    adversarial losses 0.5 each; ``"consistency"`` adds beta =
    0.1 times the L2 distance of the last convolutional stage's features
    (:data:`freqlens.profiles.CONSISTENCY`), ``"fgsm adversarial"`` the same training
    without it.
    """
    if name not in DONG:
        return heuristics.config(name, profile, seed=seed)
    dong = dict(profiles.CONSISTENCY[profiles.resolve(profile)])
    if name == "fgsm adversarial":
        dong["adv_consistency"] = 0.0
    return heuristics.config("vanilla", profile, seed=seed, **dong)


def configs(profile: str | None = None) -> dict[str, TrainConfig]:
    """The chapter's networks by name: :data:`NAMES`, the LFC r = 4 control for the heat maps, and
    the vanilla network trained with a penalty on its first-layer kernels' roughness."""
    out = {name: config(h, profile) for name, h in NAMES.items()}
    out["LFC r = 4"] = heuristics.config("vanilla", profile, view="lfc", radius=4)
    out["kernel penalty"] = heuristics.config("vanilla", profile, kernel_penalty=profiles.KERNEL_PENALTY)
    return out


def networks(profile: str | None = None) -> list[TrainConfig]:
    """Chapter 3's vanilla and adversarial networks, Dong et al.'s pair, chapter 3's LFC r = 4 control, the kernel penalty's."""
    return list(configs(profile).values())


def train_networks(profile: str | None = None) -> dict[str, train.Result]:
    """The chapter's trained networks (from the cache, or trained), by name, with their histories."""
    return {name: train.train(c) for name, c in configs(profile).items()}


# The adversarially trained networks, whose PGD accuracy is measured along training, and
# Dong et al.'s two among them, by the names the chapter gives them.
ADVERSARIAL = ("adversarial", "FGSM adversarial", "consistency")
DONG_NAMES = ("FGSM adversarial", "consistency")


def pgd_along_training(results: Mapping[str, train.Result]) -> pd.DataFrame:
    """PGD accuracy (at the training eps, on the first test images) after each epoch, per adversarial network.

    ``results`` is :func:`train_networks`: the histories the networks were trained with.
    """
    rows = {name: pd.Series(results[name].history.test_pgd_acc, dtype=float) for name in ADVERSARIAL}
    table = pd.DataFrame(rows).T   # NaN past a network's last epoch: they train for different lengths
    table.columns = [f"epoch {e + 1}" for e in table.columns]
    return table


def overfitting_verdicts(along: pd.DataFrame, drop: float = 0.5, floor: float = 0.05) -> dict[str, str]:
    """Per network, what its PGD accuracy along training did: ``"held"``, ``"collapsed"`` or ``"never robust"``.

    Collapsed: the last epoch's accuracy below ``drop`` of the best, the catastrophic
    overfitting of single-step adversarial training (Wong et al., 2020). Never robust:
    the best epoch below ``floor``, a training that bought no multi-step robustness.

    Example:
        >>> t = pd.DataFrame({"epoch 1": [0.2, 0.2, 0.01], "epoch 2": [0.25, 0.02, 0.02]},
        ...                  index=["a", "b", "c"])
        >>> overfitting_verdicts(t)
        {'a': 'held', 'b': 'collapsed', 'c': 'never robust'}
    """
    out = {}
    for name, row in along.iterrows():
        row = row.dropna()
        best = row.max()
        out[name] = "never robust" if best < floor else "collapsed" if row.iloc[-1] < drop * best else "held"
    return out


def pgd_images(model, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """PGD under L-inf at 8/255, 10 steps of 2/255, no random start: the chapter's attack."""
    return attacks.PGD(model, eps=8 / 255, alpha=2 / 255, steps=10, random_start=False)(x, y)


def adversarial_images(models: Mapping, x: torch.Tensor, y: torch.Tensor,
                       names: Sequence[str] = tuple(NAMES)) -> dict[str, torch.Tensor]:
    """:func:`pgd_images` of each network of ``names`` (kept in the cache)."""
    return {name: memo.cached("pgd", pgd_images, models[name], x, y) for name in names}


def attack_table_row(model, x: torch.Tensor, y: torch.Tensor, adv: torch.Tensor) -> dict[str, float]:
    """Clean accuracy, accuracy under FGSM and PGD (``adv``) at 8/255, and DeepFool's median L2 on 100 images.

    DeepFool's size is the median over the first 100 images that the network gets
    right and DeepFool flips.
    """
    fooled = attacks.DeepFool(model, steps=50, overshoot=0.02)(x[:100], y[:100])
    flipped = ((evaluate.predictions(model, x[:100]) == y[:100])
               & (evaluate.predictions(model, fooled) != y[:100]))
    return {"clean": evaluate.accuracy(model, x, y),
            "FGSM 8/255": evaluate.accuracy(model, attacks.FGSM(model, eps=8 / 255)(x, y), y),
            "PGD 8/255": evaluate.accuracy(model, adv, y),
            "DeepFool median L2": float((fooled - x[:100]).flatten(1).norm(dim=1)[flipped].median())}


def accuracy_against_eps(model, x: torch.Tensor, y: torch.Tensor,
                         eps: Sequence[float] = (0, 1, 2, 4, 8, 16)) -> dict[str, list[float]]:
    """Accuracy under FGSM and PGD at each L-inf ``eps`` (in 1/255), PGD with 10 steps of eps / 4."""
    out = {"FGSM": [], "PGD": []}
    for e in eps:
        e = e / 255
        if e == 0:
            clean = evaluate.accuracy(model, x, y)
            out["FGSM"].append(clean)
            out["PGD"].append(clean)
            continue
        out["FGSM"].append(evaluate.accuracy(model, attacks.FGSM(model, eps=e)(x, y), y))
        out["PGD"].append(pgd_accuracy(model, x, y, e))
    return out


def pgd_accuracy(model, x: torch.Tensor, y: torch.Tensor, eps: float) -> float:
    """Accuracy under the chapter's PGD at L-inf ``eps`` (on the [0, 1] scale): 10 steps of eps / 4, no random start."""
    adv = attacks.PGD(model, eps=eps, alpha=eps / 4, steps=10, random_start=False)(x, y)
    return evaluate.accuracy(model, adv, y)


def eps_curves(models: Mapping, x: torch.Tensor, y: torch.Tensor, names: Sequence[str],
               eps: Sequence[float] = (0, 1, 2, 4, 8, 16)) -> dict[str, dict[str, tuple]]:
    """:func:`accuracy_against_eps` per network (kept in the cache), as ``{attack: {network: (eps, accuracies)}}``."""
    per = {name: memo.cached("accuracy against eps", accuracy_against_eps, models[name], x, y, tuple(eps))
           for name in names}
    return {attack: {name: (list(eps), per[name][attack]) for name in names} for attack in ("FGSM", "PGD")}


def robustness_table(models: Mapping, x: torch.Tensor, y: torch.Tensor, adv: Mapping) -> pd.DataFrame:
    """:func:`attack_table_row` for each network of ``adv`` (kept in the cache)."""
    return pd.DataFrame({name: memo.cached("attacks", attack_table_row, models[name], x, y, adv[name])
                         for name in adv}).T


def perturbation_spectra(delta: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Each network's perturbations' share of energy per ring of the spectrum."""
    return {name: fourier.radial_energy_share(d) for name, d in delta.items()}


def high_share(delta: Mapping[str, torch.Tensor], radius: float = 8) -> dict[str, float]:
    """Each network's perturbations' mean share of energy at distance ``radius`` or more, and white noise's.

    White noise (uniform, of the same shape, seeded 0) spreads its energy evenly over the
    frequencies, so its share is that of the frequencies (0.81 at r = 8 on 32 x 32): a
    perturbation puts its energy in the high frequencies only as far as it exceeds that.
    """
    shares = {name: float(1 - fourier.energy_below(d, radius).mean()) for name, d in delta.items()}
    like = next(iter(delta.values()))
    noise = torch.rand(like.shape, generator=torch.Generator().manual_seed(0)) - 0.5
    shares["white noise"] = float(1 - fourier.energy_below(noise, radius).mean())
    return shares


def energy_verdicts(share_high: Mapping[str, float]) -> dict[str, str]:
    """Per network, whether its perturbations lean to the high frequencies more than white noise does."""
    noise = share_high["white noise"]
    return {name: f"{share:.3f} vs white noise {noise:.3f}: "
                  + ("more in the high frequencies than noise" if share > noise else
                     "no more in the high frequencies than noise")
            for name, share in share_high.items() if name != "white noise"}


def bands(radius: float = 8) -> dict[str, tuple[torch.nn.Module | None, int]]:
    """The bands a perturbation is held to, with their dimensions, each followed by a random subspace of its size.

    ``{name: (projection, dimension per channel)}``: all frequencies (no projection), the
    LFC disk, its complement and the DCT's low block; after each band its control,
    ``"random d"``, a random subspace of the same dimension ``d``
    (:func:`freqlens.attacks.band_dimension`), which tells whether the band is special
    or merely as large as it is.

    Example:
        >>> {name: dim for name, (_, dim) in bands().items()}["random 831"]
        831
    """
    named = {f"LFC r < {radius:g}": ("low", radius), f"HFC r ≥ {radius:g}": ("high", radius),
             f"DCT low {radius:g} × {radius:g}": ("dct_low", int(radius))}
    out: dict[str, tuple[torch.nn.Module | None, int]] = {"all frequencies": (None, 32 * 32)}
    for seed, (name, (kind, size)) in enumerate(named.items()):
        dim = attacks.band_dimension(kind, size)
        out[name] = (attacks.frequency_band(kind, size), dim)
        out[f"random {dim}"] = (attacks.frequency_band("random", dim, seed=seed), dim)
    return out


def distortion_table(models: Mapping, x: torch.Tensor, y: torch.Tensor,
                     names: Sequence[str] = ("vanilla", "adversarial")) -> pd.DataFrame:
    """Per network and band: the median L2 budget at which band-limited PGD flips an image, and the share flipped.

    :func:`freqlens.attacks.minimal_distortion` (up to L2 = 4, 6 bisection steps of 10
    PGD steps), kept in the cache, every row unboxed (a band cannot be clamped into
    [0, 1] and stay a band, so the row of all frequencies is not clamped either); the
    median is over the images flipped, the share over those the network gets right.
    ``"dimension"`` is the band's per channel.
    """
    distortion = {}
    for name in names:
        for band_name, (band, dimension) in bands().items():
            row, _ = distortion_row(models[name], x, y, band)
            distortion[name, band_name] = {"dimension": dimension, **row}
    return pd.DataFrame(distortion).T


def distortion_row(model, x: torch.Tensor, y: torch.Tensor, band) -> tuple[dict[str, float], torch.Tensor]:
    """One row of :func:`distortion_table` and the perturbations of the images flipped, ``(n, C, H, W)``.

    The search (kept in the cache) and the row's reading: the median budget over the images
    flipped and the share flipped of those the network gets right.
    """
    budgets, adv = memo.cached("distortion", attacks.minimal_distortion, model, x, y, norm="l2", band=band,
                               high=4.0, iterations=6, steps=10, clip=None)
    right = budgets > 0
    flipped = right & torch.isfinite(budgets)
    median = float(budgets[flipped].median()) if flipped.any() else float("nan")
    return ({"median L2": median, "flipped": float(flipped.sum() / right.sum().clamp_min(1))},
            (adv - x)[flipped])


def band_verdicts(distortion: pd.DataFrame) -> dict[str, str]:
    """Per network and band: its median budget against its random control's, and what that says."""
    med = distortion["median L2"]
    out = {}
    for name in med.index.get_level_values(0).unique():
        rows = list(med[name].index)
        for band_name, control in zip(rows[1::2], rows[2::2]):
            ratio = med[name, band_name] / med[name, control]
            word = ("less than" if ratio < 0.9 else "more than" if ratio > 1.1 else "about as much as")
            out[f"{name}, {band_name}"] = (f"{med[name, band_name]:.3f} vs {med[name, control]:.3f} "
                                           f"({control}): {word} a random subspace of its size")
    return out


# --------------------------------------------------------------------------- defenses

def kernel_table(models: Mapping, names: Sequence[str] = ("vanilla", "adversarial")) -> pd.DataFrame:
    """The first-layer kernels' smoothness by the sources' two measures and the DC share, per network and for noise.

    Means over the 3 x 3 slices: ``"adjacent differences"`` (the blog's sense; lower is
    smoother), ``"high share"`` (the share of the zero-padded response at distance 8 or
    more, the slides' sense; lower is smoother) and ``"DC share"`` (the share at the zero
    frequency; higher is flatter). The row ``"noise"`` is independent Gaussian kernels of
    the same shape (seeded 0): where a network's row sits against it says how far
    training moved the kernels from random.
    """
    weights = {name: defenses.first_conv(models[name]).weight.detach().cpu() for name in names}
    like = next(iter(weights.values()))
    weights["noise"] = torch.randn(like.shape, generator=torch.Generator().manual_seed(0))
    return pd.DataFrame({name: {"adjacent differences": float(defenses.adjacent_differences(w).mean()),
                                "high share": float(defenses.kernel_high_share(w).mean()),
                                "DC share": float(defenses.kernel_smoothness(w).mean())}
                         for name, w in weights.items()}).T


def kernel_verdicts(table: pd.DataFrame, robust: str = "adversarial", plain: str = "vanilla") -> dict[str, str]:
    """Per measure of :func:`kernel_table`: whether the robust network's kernels are the smoother."""
    lower_is_smoother = {"adjacent differences": True, "high share": True, "DC share": False}
    out = {}
    for measure, lower in lower_is_smoother.items():
        r, p = table.loc[robust, measure], table.loc[plain, measure]
        smoother = r < p if lower else r > p
        out[measure] = (f"{robust} {r:.3f}, {plain} {p:.3f}, noise {table.loc['noise', measure]:.3f}: the "
                        f"robust kernels are {'smoother' if smoother else 'not smoother'}")
    return out


def smoothing_row(model, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    """The first-layer kernels' roughness (:func:`freqlens.defenses.adjacent_differences`), clean and PGD accuracy."""
    return {"adjacent differences": float(defenses.adjacent_differences(model).mean()),
            "clean": evaluate.accuracy(model, x, y),
            **{f"PGD {k}/255": pgd_accuracy(model, x, y, k / 255) for k in (2, 8)}}


def smoothed_networks(models: Mapping, rhos: Sequence[float] = (0.05, 0.1, 0.2),
                      orders: Sequence[int] = (2, 1)) -> dict[tuple[str, str], torch.nn.Module]:
    """The vanilla network and its smoothed versions, by ``(method, setting)``, with the adversarial one.

    The three ways the blog tried: the reference code's smoothing for each ``rho``
    (:func:`freqlens.defenses.smooth_kernels`), the kernels' high frequencies filtered
    away for each DCT ``order`` (:func:`freqlens.defenses.low_pass_kernels`), and the
    network trained with a penalty on its kernels' roughness (``models["kernel
    penalty"]``); adversarial training last, as the yardstick.
    """
    vanilla = models["vanilla"]
    out = {("none", "vanilla"): vanilla}
    out.update({("reference smoothing", f"ρ = {rho:g}"): defenses.smooth_kernels(vanilla, rho) for rho in rhos})
    out.update({("kernel low-pass", f"DCT u + v ≤ {k}"): defenses.low_pass_kernels(vanilla, k) for k in orders})
    out[("penalty in training", f"λ = {profiles.KERNEL_PENALTY:g}")] = models["kernel penalty"]
    out[("adversarial training", "Madry")] = models["adversarial"]
    return out


def smoothing_table(models: Mapping, x: torch.Tensor, y: torch.Tensor, **settings) -> pd.DataFrame:
    """:func:`smoothing_row` of each of :func:`smoothed_networks` (kept in the cache), a row each."""
    rows = {key: memo.cached("smoothing", smoothing_row, net, x, y)
            for key, net in smoothed_networks(models, **settings).items()}
    table = pd.DataFrame(rows).T
    table.index.names = ["method", "setting"]
    return table


def smoothing_gains(table: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Per method of :func:`smoothing_table`, its best PGD accuracy above the vanilla network's, per eps.

    Example:
        >>> t = pd.DataFrame({"PGD 2/255": [0.1, 0.15, 0.12, 0.4], "PGD 8/255": [0.0, 0.01, 0.0, 0.3]},
        ...                  index=pd.MultiIndex.from_tuples([("none", "vanilla"), ("a", "1"), ("a", "2"),
        ...                                                   ("adversarial training", "Madry")]))
        >>> {m: {e: round(g, 2) for e, g in d.items()} for m, d in smoothing_gains(t).items()}
        {'a': {'PGD 2/255': 0.05, 'PGD 8/255': 0.01}, 'adversarial training': {'PGD 2/255': 0.3, 'PGD 8/255': 0.3}}
    """
    columns = [c for c in table.columns if c.startswith("PGD")]
    base = table.loc[("none", "vanilla"), columns]
    return {method: {c: float(rows[c].max() - base[c]) for c in columns}
            for method, rows in table.drop(index="none", level=0).groupby(level=0, sort=False)}


def defense_rows(net, x: torch.Tensor, y: torch.Tensor, transfer: torch.Tensor) -> dict[str, dict]:
    """Clean, transfer, plain-PGD and adaptive accuracy, undefended and behind two defenses.

    ``transfer`` is PGD on ``net`` alone. The defenses: a low-pass filter at r = 8, and
    the same filter after rounding the image to 16 grey levels. Plain PGD attacks
    each defended network with its own gradient; the adaptive attack is the same PGD
    for the filter (it is differentiable: nothing to get around) and BPDA for the
    rounding (whose gradient is zero: PGD's steps are taken as if it were the
    identity). Where plain PGD fails and the adaptive attack succeeds, the gradient
    was masked.
    """
    low = defenses.low_pass_defense(net, 8)
    rounding = defenses.Rounding(16)
    rounded = torch.nn.Sequential(rounding, low)
    bpda = torch.nn.Sequential(defenses.StraightThrough(rounding), low)

    def row(model, plain, adaptive):
        return {"clean": evaluate.accuracy(model, x, y),
                "transfer": evaluate.accuracy(model, transfer, y),
                "plain PGD": evaluate.accuracy(model, plain, y),
                "adaptive": evaluate.accuracy(model, adaptive, y)}

    through_filter = pgd_images(low, x, y)
    return {"undefended": row(net, transfer, transfer),
            "low-pass r = 8": row(low, through_filter, through_filter),
            "rounding + low-pass": row(rounded, pgd_images(rounded, x, y),
                                       pgd_images(bpda, x, y))}


def defense_table(net, x: torch.Tensor, y: torch.Tensor, transfer: torch.Tensor) -> pd.DataFrame:
    """:func:`defense_rows` as a table (kept in the cache)."""
    return pd.DataFrame(memo.cached("low-pass defense", defense_rows, net, x, y, transfer)).T


def defense_verdicts(table: pd.DataFrame, margin: float = 0.02) -> dict[str, str]:
    """What :func:`defense_table` says of each defense: a transfer attack's weakness, or a masked gradient.

    Example:
        >>> t = pd.DataFrame({"clean": [0.6, 0.5, 0.5], "transfer": [0.0, 0.4, 0.4],
        ...                   "plain PGD": [0.0, 0.1, 0.5], "adaptive": [0.0, 0.1, 0.1]},
        ...                  index=["undefended", "low-pass r = 8", "rounding + low-pass"])
        >>> defense_verdicts(t)["rounding + low-pass"].split(", so ")[1]
        'the rounding masked the gradient (+0.400 of robustness that was not there)'
        >>> "transfer attack's weakness" in defense_verdicts(t)["low-pass r = 8"]
        True
    """
    low, rounded = table.loc["low-pass r = 8"], table.loc["rounding + low-pass"]
    gap = low["transfer"] - low["adaptive"]
    out = {"low-pass r = 8": (
        f"low-pass r = 8: {low['transfer']:.3f} right under the transfer attack, {low['adaptive']:.3f} "
        f"under PGD through the filter; " + (
            f"the {gap:+.3f} is the transfer attack's weakness (the filter is differentiable: "
            "no gradient was masked)" if gap > margin else
            "the filter buys nothing against either attack"))}
    masked = rounded["plain PGD"] - rounded["adaptive"]
    out["rounding + low-pass"] = (
        f"rounding + low-pass: plain PGD leaves {rounded['plain PGD']:.3f} right and BPDA "
        f"{rounded['adaptive']:.3f}, so " + (
            f"the rounding masked the gradient ({masked:+.3f} of robustness that was not there)"
            if masked > margin else "no masking shows here"))
    return out


# --------------------------------------------------------------------------- heat maps

def heat_maps(models: Mapping, x: torch.Tensor, y: torch.Tensor,
              names: Sequence[str] = ("vanilla", "adversarial", "LFC r = 4")) -> dict[str, torch.Tensor]:
    """The Fourier heat map (L2 norm 4) of each network of ``names`` (kept in the cache)."""
    return {name: memo.cached("heat map", heatmaps.fourier_heat_map, models[name], x, y, eps=4.0)
            for name in names}


def ring_errors(maps: Mapping[str, torch.Tensor], models: Mapping, x: torch.Tensor, y: torch.Tensor,
                radius: float = 8) -> pd.DataFrame:
    """Per heat map: the mean error below and above ``radius``, and each minus the network's clean error on ``x``."""
    n = next(iter(maps.values())).shape[-1] // 2
    offsets = torch.arange(-n, n + 1.)
    distance = torch.sqrt(offsets[:, None] ** 2 + offsets[None, :] ** 2)
    rows = {}
    for name, m in maps.items():
        lo, hi = float(m[distance < radius].mean()), float(m[distance >= radius].mean())
        clean = 1 - evaluate.accuracy(models[name], x, y)
        rows[name] = {"below": lo, "above": hi, "below - clean": lo - clean, "above - clean": hi - clean}
    return pd.DataFrame(rows).T


# --------------------------------------------------------------------------- neuron consistency

def neuron_consistencies(model, x: torch.Tensor, y: torch.Tensor) -> dict:
    """Each last-stage neuron's consistency on ``x`` and on its PGD images, and PGD's relative feature shift.

    ``{"real": (channels,), "adversarial": (channels,), "feature shift": float}``; the PGD
    images are kept in the cache (:func:`pgd_images`).
    """
    layer = activations.layer_names(model)[-1]
    x_adv = memo.cached("pgd", pgd_images, model, x, y)
    phi = activations.record(model, torch.cat([x, x_adv]), [layer])[layer].flatten(1)
    clean, moved = phi[:len(x)], phi[len(x):]
    return {"real": neurons.consistency(model, x, y, layer).cpu(),
            "adversarial": neurons.consistency(model, x_adv, y, layer).cpu(),
            "feature shift": float((clean - moved).norm(dim=1).mean() / clean.norm(dim=1).mean())}


def consistency_values(models: Mapping, x: torch.Tensor, y: torch.Tensor,
                       names: Sequence[str] = tuple(NAMES)) -> dict[str, dict]:
    """:func:`neuron_consistencies` for each network of ``names`` (kept in the cache)."""
    return {name: memo.cached("neuron consistency", neuron_consistencies, models[name], x, y)
            for name in names}


def consistency_row(model, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    """Mean neuron consistency of the last stage on ``x`` and its PGD images, and PGD's relative feature shift."""
    v = memo.cached("neuron consistency", neuron_consistencies, model, x, y)
    return {"real": float(v["real"].mean()), "adversarial": float(v["adversarial"].mean()),
            "feature shift": v["feature shift"]}


def consistency_table(models: Mapping, x: torch.Tensor, y: torch.Tensor,
                      names: Sequence[str] = tuple(NAMES)) -> pd.DataFrame:
    """:func:`consistency_row` for each network of ``names`` (from the cache where measured)."""
    return pd.DataFrame({name: consistency_row(models[name], x, y) for name in names}).T


def top_images(model, x: torch.Tensor, y: torch.Tensor, n: int = 3, k: int = 6) -> dict[str, torch.Tensor]:
    """The ``k`` top-activating real and PGD images of the ``n`` last-stage neurons most consistent on ``x``.

    ``{"neuron c, real": (k, 3, H, W), "neuron c, PGD": (k, 3, H, W), ...}`` for
    :func:`freqlens.plot.top_images_grid` (Dong et al.'s Figs. 2-4).
    """
    layer = activations.layer_names(model)[-1]
    v = memo.cached("neuron consistency", neuron_consistencies, model, x, y)
    x_adv = memo.cached("pgd", pgd_images, model, x, y)
    chosen = torch.argsort(v["real"], descending=True)[:n].tolist()
    rows = {}
    for kind, images in (("real", x), ("PGD", x_adv)):
        top = neurons.top_activating(model, images, layer, fraction=k / len(images)).cpu()
        for c in chosen:
            rows[f"neuron {c}, {kind}"] = images[top[c][:k]]
    return dict(sorted(rows.items(), key=lambda kv: int(kv[0].split()[1].rstrip(","))))


class _Ensemble(torch.nn.Module):
    """The mean of several networks' logits: one network to attack for a set shared by all."""

    def __init__(self, members: Sequence[torch.nn.Module]):
        super().__init__()
        self.members = torch.nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([m(x) for m in self.members]).mean(0)


def ensemble_set(members: Sequence[torch.nn.Module], x: torch.Tensor, eps: float = 8 / 255,
                 steps: int = 10) -> torch.Tensor:
    """One adversarial set for every network: ``steps`` targeted PGD steps of ``eps / 4`` towards each image's least-likely class.

    The class and the steps are those of the ensemble of ``members`` (their mean
    logits), each step projected back within L-inf ``eps`` of the image and into [0, 1]
    (:func:`freqlens.attacks.pgd` with ``targeted=True``, no random start): Dong et al.
    attack an ensemble of their three networks towards least-likely classes, with Adam;
    this is the signed-gradient form of the same attack.
    """
    ensemble = _Ensemble(members)   # the execution path puts it in eval mode, and back
    target = evaluate.least_likely(ensemble, x)
    return attacks.pgd(ensemble, x, target, eps, eps / 4, steps, random_start=False, targeted=True)


def fixed_set_consistency(models: Mapping, x: torch.Tensor, y: torch.Tensor, names: Sequence[str],
                          makers: Sequence[str] = ("vanilla", "BatchNorm", "adversarial")) -> dict[str, float]:
    """Each network's mean last-stage consistency on one adversarial set made by the ensemble of ``makers``.

    The set is :func:`ensemble_set` (kept in the cache), the same images for every
    network, as Dong et al. measure theirs.
    """
    fixed = memo.cached("ensemble set", ensemble_set, [models[n] for n in makers], x)
    return {name: float(neurons.consistency(models[name], fixed, y,
                                            activations.layer_names(models[name])[-1]).mean())
            for name in names}


# Dong et al.'s Table 1 (consis, consis_adv on ImageNet) and Table 3 (top-1 accuracy, %, on
# clean images and FGSM at eps = 1 on the 0-255 scale), the numbers as their slides print them.
DONG_TABLE1 = {"AlexNet": (0.0162, 0.0116), "AlexNet-Adv": (0.0161, 0.0121), "VGG-16": (0.0296, 0.0187),
               "VGG-16-Adv": (0.0287, 0.0220), "ResNet-18": (0.0261, 0.0133),
               "ResNet-18-Adv": (0.0251, 0.0206)}
DONG_TABLE3 = {"AlexNet": (54.58, 4.44), "AlexNet-Adv": (43.92, 17.45), "VGG16": (68.15, 8.60),
               "VGG16-Adv": (62.55, 25.62), "ResNet18": (66.30, 4.41), "ResNet18-Adv": (54.01, 27.56)}


def term_effects(consistency: pd.DataFrame) -> dict[str, float]:
    """The consistency term's own effect: the network trained with it minus Dong's same training without it.

    One entry per column of ``consistency`` (:func:`consistency_table`, with the
    ``"fixed set"`` column where :func:`fixed_set_consistency` was added).

    Example:
        >>> t = pd.DataFrame({"adversarial": [0.30, 0.32], "feature shift": [0.5, 0.6]},
        ...                  index=["FGSM adversarial", "consistency"])
        >>> {k: round(v, 2) for k, v in term_effects(t).items()}
        {'adversarial': 0.02, 'feature shift': 0.1}
    """
    return {column: float(consistency.loc["consistency", column] - consistency.loc["FGSM adversarial", column])
            for column in consistency.columns}


def dong_tables(consistency: pd.DataFrame, curves: Mapping) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Dong et al.'s Tables 1 and 3 with this run's rows below theirs.

    ``consistency`` is :func:`consistency_table` (with its ``"fixed set"`` column where
    measured); ``curves`` :func:`eps_curves`, whose FGSM at eps = 1/255 is their
    Table 3's budget.
    """
    t1 = {name: {"real": r, "adversarial": a, "from": "Dong et al., ImageNet"}
          for name, (r, a) in DONG_TABLE1.items()}
    column = "fixed set" if "fixed set" in consistency else "adversarial"
    for name, row in consistency.iterrows():
        t1[name] = {"real": row["real"], "adversarial": row[column], "from": f"here, {column}"}
    eps, _ = next(iter(curves["FGSM"].values()))
    at = list(eps).index(1)
    t3 = {name: {"clean": c / 100, "FGSM ε = 1/255": f / 100, "from": "Dong et al., ImageNet top-1"}
          for name, (c, f) in DONG_TABLE3.items()}
    for name, (_, accs) in curves["FGSM"].items():
        t3[name] = {"clean": accs[0], "FGSM ε = 1/255": accs[at], "from": "here"}
    return pd.DataFrame(t1).T, pd.DataFrame(t3).T


def consistency_verdicts(table: pd.DataFrame) -> dict[str, str]:
    """What the consistency table says: per network, and of each kind of adversarial training against vanilla."""
    out = {name: f"{'lower' if row['adversarial'] < row['real'] else 'not lower'} on adversarial images"
           for name, row in table.iterrows()}
    for trained in ("adversarial", "consistency"):
        raised = table.loc[trained, "adversarial"] > table.loc["vanilla", "adversarial"]
        out[f"{trained} vs vanilla"] = ("training raises consistency on adversarial images, as in the paper"
                                        if raised else
                                        "training does not raise consistency on adversarial images here")
    return out


def summary(robustness: pd.DataFrame, share_high: Mapping[str, float], distortion: pd.DataFrame,
            kernels: pd.DataFrame, smoothing: pd.DataFrame, defense: pd.DataFrame,
            consistency: pd.DataFrame) -> dict[str, str]:
    """The chapter's numbers of this run, one line each: what was measured, and the numbers.

    The tables are :func:`robustness_table`, :func:`distortion_table`, :func:`kernel_table`,
    :func:`smoothing_table`, :func:`defense_table` and :func:`consistency_table`;
    ``share_high`` is :func:`high_share`.
    """
    pair = ("vanilla", "adversarial")
    listed = lambda pairs: ", ".join(f"{k} {v}" for k, v in pairs)
    med, low_pass = distortion["median L2"], defense.loc["low-pass r = 8"]
    rounded = defense.loc["rounding + low-pass"]
    return {
        "PGD 8/255 accuracy": listed((n, f"{robustness.loc[n, 'PGD 8/255']:.3f}") for n in pair),
        "perturbation energy at distance >= 8": listed((n, f"{v:.3f}") for n, v in share_high.items()
                                                       if n != "white noise"),
        "perturbation energy, white noise's share": f"{share_high['white noise']:.3f}",
        "median L2 to flip, LFC / HFC only": listed(
            (n, f"{med[n, 'LFC r < 8']:.3f} / {med[n, 'HFC r ≥ 8']:.3f}") for n in pair),
        "kernel adjacent differences / DC share": listed(
            (n, f"{kernels.loc[n, 'adjacent differences']:.3f} / {kernels.loc[n, 'DC share']:.3f}") for n in pair),
        "smoothing's best PGD 8/255 gain": listed(
            (m, f"{g['PGD 8/255']:+.3f}") for m, g in smoothing_gains(smoothing).items()),
        "low-pass defense": f"transfer {low_pass['transfer']:.3f}, adaptive {low_pass['adaptive']:.3f}",
        "rounding + low-pass": f"plain PGD {rounded['plain PGD']:.3f}, BPDA {rounded['adaptive']:.3f}",
        "FGSM / DeepFool": listed(
            (n, f"{row['FGSM 8/255']:.3f} / {row['DeepFool median L2']:.3f}") for n, row in robustness.iterrows()),
        "consistency real / adversarial": listed(
            (n, f"{row['real']:.4f} / {row['adversarial']:.4f}") for n, row in consistency.iterrows()),
    }


# --------------------------------------------------------------------------- verdicts

def _ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def _by_count(holds: Sequence[bool], why: str = "scale") -> tuple[str, str | None]:
    """Reproduced where every case holds, partly where some do, not where none does."""
    if all(holds):
        return "reproduced", None
    return ("partly" if any(holds) else "not reproduced"), why


def claims(robustness: pd.DataFrame, share_high: Mapping[str, float], distortion: pd.DataFrame,
           kernels: pd.DataFrame, smoothing: pd.DataFrame, defense: pd.DataFrame, rings: pd.DataFrame,
           consistency: pd.DataFrame) -> dict[str, tuple[str, str, str | None]]:
    """The chapter's verdicts on the sources' claims (:data:`freqlens.verdicts.CLAIMS`), from its tables.

    ``{claim: (what was measured, verdict, why)}`` for :func:`freqlens.verdicts.record_all`.
    """
    out = {}
    pgd = robustness["PGD 8/255"]
    v, a = share_high["vanilla"], share_high["adversarial"]
    noise = share_high["white noise"]
    out["perturbations_high_frequency"] = (
        f"PGD's energy at distance ≥ 8: vanilla {v:.3f}, adversarial {a:.3f}; white noise {noise:.3f}",
        *(("reproduced", None) if v > noise + 0.02 else
          ("not reproduced", "the claim: no more high-frequency energy than white noise")))
    med, flipped = distortion["median L2"], distortion["flipped"]
    lfc_band = next(b for b in med["vanilla"].index if b.startswith("LFC"))
    lfc_control = med["vanilla"].index[list(med["vanilla"].index).index(lfc_band) + 1]
    share = flipped["vanilla", lfc_band]
    out["low_frequency_attacks_succeed"] = (
        f"vanilla, {lfc_band} alone: flips {share:.2f} of the images within L2 4, median "
        f"{med['vanilla', lfc_band]:.3f} ({lfc_control}: {med['vanilla', lfc_control]:.3f})",
        *(("reproduced", None) if share > 0.5 else ("not reproduced", "scale")))
    gain_low = _ratio(med["adversarial", lfc_band], med["vanilla", lfc_band])
    gain_all = _ratio(med["adversarial", "all frequencies"], med["vanilla", "all frequencies"])
    out["sharma_low_frequency"] = (
        f"median L2 to flip, adversarial over vanilla: {gain_low:.2f}x in {lfc_band}, {gain_all:.2f}x "
        "over all frequencies",
        *(("reproduced", None) if gain_low < 1.2 else
          ("partly", "the claim: the defended network gains less in the low band")
          if gain_low < gain_all - 0.1 else
          ("not reproduced", "the claim: the defended network gains as much in the low band")))
    adj, high = kernels["adjacent differences"], kernels["high share"]
    smoother = [adj["adversarial"] < adj["vanilla"], high["adversarial"] < high["vanilla"]]
    near_noise = abs(adj["vanilla"] - adj["noise"]) < 0.1 * adj["noise"]
    out["robust_kernels_smoother"] = (
        f"adjacent differences: adversarial {adj['adversarial']:.2f}, vanilla {adj['vanilla']:.2f}, noise "
        f"{adj['noise']:.2f}; high share {high['adversarial']:.3f}, {high['vanilla']:.3f}, "
        f"{high['noise']:.3f}",
        *_by_count(smoother, "scale: the kernels are still near random" if near_noise else "the claim"))
    gains = smoothing_gains(smoothing)
    trained = gains.pop("adversarial training")
    # marginal: under a quarter of what adversarial training buys, at each eps
    marginal = [g[a] < 0.25 * max(trained[a], 1e-9) for g in gains.values() for a in trained]
    beyond = sorted({a for g in gains.values() for a in trained if g[a] >= 0.25 * max(trained[a], 1e-9)})
    out["smoothing_marginal"] = (
        "best PGD 2/255 / 8/255 gain over vanilla: "
        + "; ".join(f"{m} {g['PGD 2/255']:+.3f} / {g['PGD 8/255']:+.3f}" for m, g in gains.items())
        + f"; adversarial training {trained['PGD 2/255']:+.3f} / {trained['PGD 8/255']:+.3f}",
        *(("reproduced", None) if all(marginal) else
          ("partly", "the claim: against " + " and ".join(beyond) + ", smoothing buys a quarter or more "
                     "of what adversarial training does") if any(marginal) else
          ("not reproduced", "the claim")))
    low = defense.loc["low-pass r = 8"]
    rounded = defense.loc["rounding + low-pass"]
    out["low_pass_masks_gradients"] = (
        f"low-pass r = 8: transfer {low['transfer']:.3f}, PGD through it {low['adaptive']:.3f}; "
        f"rounding first: plain PGD {rounded['plain PGD']:.3f}, BPDA {rounded['adaptive']:.3f}",
        *(("partly", "the claim: it defends against the transfer attack only; the filter is "
                     "differentiable, so nothing is masked")
          if low["transfer"] > low["adaptive"] + 0.05 else
          ("not reproduced", "the claim: the filter defends against neither attack")))
    deepfool = robustness["DeepFool median L2"]
    worse = [pgd["BatchNorm"] <= pgd["vanilla"], deepfool["BatchNorm"] < deepfool["vanilla"]]
    out["batchnorm_adversarial_vulnerability"] = (
        f"PGD 8/255 accuracy: BatchNorm {pgd['BatchNorm']:.3f}, vanilla {pgd['vanilla']:.3f}; DeepFool "
        f"median L2 {deepfool['BatchNorm']:.3f}, {deepfool['vanilla']:.3f} (clean "
        f"{robustness.loc['BatchNorm', 'clean']:.3f}, {robustness.loc['vanilla', 'clean']:.3f})",
        *_by_count(worse))
    clean, fgsm = robustness["clean"], robustness["FGSM 8/255"]
    dong = [n for n in DONG_NAMES if n in robustness.index]
    holds = [clean[n] < clean["vanilla"] and fgsm[n] > fgsm["vanilla"] for n in dong]
    out["adversarial_training_fgsm"] = (
        "clean / FGSM 8/255: vanilla " + f"{clean['vanilla']:.3f} / {fgsm['vanilla']:.3f}; "
        + "; ".join(f"{n} {clean[n]:.3f} / {fgsm[n]:.3f}" for n in dong),
        *_by_count(holds))
    real = consistency["real"]
    fixed = "fixed set" in consistency
    column = "fixed set" if fixed else "adversarial"
    adv = consistency[column]
    where = "one ensemble's least-likely set" if fixed else "each network's own PGD images"
    lower = [adv[n] < real[n] for n in consistency.index]
    out["consistency_lower_on_adversarial"] = (
        f"real / adversarial ({where}): "
        + "; ".join(f"{n} {real[n]:.4f} / {adv[n]:.4f}" for n in consistency.index),
        *_by_count(lower))
    raised = [adv[n] > adv["vanilla"] for n in ("adversarial", "FGSM adversarial")]
    out["adversarial_training_raises_consistency"] = (
        f"on adversarial images ({where}): vanilla {adv['vanilla']:.4f}, adversarial {adv['adversarial']:.4f}, "
        f"FGSM adversarial {adv['FGSM adversarial']:.4f}",
        *_by_count(raised))
    term = term_effects(consistency)[column]
    out["consistency_term_raises_consistency"] = (
        f"on adversarial images ({where}), β = 0.1 against β = 0: {term:+.4f}",
        *(("reproduced", None) if term > 0 else ("not reproduced", "scale")))
    above, below = rings["above - clean"], rings["below - clean"]
    # robust above the radius, fragile below it, against vanilla
    shape = [above["adversarial"] < above["vanilla"], below["adversarial"] > below["vanilla"]]
    out["heat_map_robust_high"] = (
        f"error above clean, at distance ≥ 8: adversarial {above['adversarial']:+.3f}, vanilla "
        f"{above['vanilla']:+.3f}; below 8: {below['adversarial']:+.3f}, {below['vanilla']:+.3f}",
        *_by_count(shape))
    return out


# --------------------------------------------------------------------------- exercises

def check_energy_below(answer, delta: torch.Tensor, radius: float = 8, tol: float = 1e-4) -> bool:
    """Exercise 1: the mean fraction of the perturbations' spectral energy strictly within ``radius``.

    Chapter 1's check (:func:`freqlens.chapters.ch1_frequencies.check_energy_below`) on
    the perturbations ``delta`` ``(B, C, H, W)`` in place of images.

    Example:
        >>> check_energy_below(None, torch.randn(2, 3, 32, 32) / 100)
        … not answered yet: replace None with your number, then run the cell.
        False
    """
    return ch1_frequencies.check_energy_below(answer, delta, radius=radius, tol=tol)


def check_low_pass_radius(answer, reason, model, x: torch.Tensor, y: torch.Tensor, radius: float = 4,
                          tol: float = 0.011) -> bool:
    """Exercise 2: accuracy of ``model`` behind a low-pass filter of ``radius`` under PGD through the filter, and why.

    The expected answer is the accuracy on ``x`` ``(B, C, H, W)`` with labels ``y`` of
    :func:`freqlens.defenses.low_pass_defense` ``(model, radius)`` on PGD images crafted
    against that defended network (:func:`pgd_images`: L-inf 8/255, 10 steps of 2/255,
    no random start): the adaptive attack; ``tol`` lets a prediction or two flip (a
    different batching rounds differently). ``reason`` is the letter of the
    explanation. Prints a verdict for each and returns whether both passed.

    Example:
        >>> from freqlens.data import cifar10_tensors
        >>> from freqlens.models import SmallCNN
        >>> x, y = cifar10_tensors("test", n=8)
        >>> check_low_pass_radius(None, "a", SmallCNN(width=8).eval(), x, y)
        … not answered yet: replace None with your accuracy, then run the cell.
        ✓ correct: (a) is the explanation.
        False
    """
    x = checks.images(x)
    y = checks.labels(y, len(x))
    defended = defenses.low_pass_defense(model, radius)
    adaptive = pgd_images(defended, x, y)
    expected = evaluate.accuracy(defended, adaptive, y)
    value = exercises.as_number(answer)
    slips = []
    if value is not None and not math.isclose(value, expected, abs_tol=tol):
        other_radius = 8 if radius != 8 else 4
        other = defenses.low_pass_defense(model, other_radius)
        slips = [
            (f"that is the filter at r = {other_radius:g}: pass radius={radius:g} to low_pass_defense.",
             evaluate.accuracy(other, pgd_images(other, x, y), y)),
            ("that is a transfer attack, crafted on the undefended network: run PGD on the defended one.",
             evaluate.accuracy(defended, pgd_images(model, x, y), y)),
            ("that is the undefended network on the adaptive images: evaluate the defended network.",
             evaluate.accuracy(model, adaptive, y)),
            ("The answer is a fraction between 0 and 1, not a percentage.", 100 * expected),
        ]
    number = exercises.judge_number(answer, expected, slips, tol,
                                    f"{{value:.3f}} of the images stay right behind the r = {radius:g} filter "
                                    "under PGD through it.", what="accuracy")
    why = exercises.judge_reason(reason, "a", {
        "b": "the filter is a mask in Fourier space between two linear transforms: it is differentiable, "
             "and PGD's gradient flows through it.",
        "c": "nothing above the radius reaches the network: the filter removes it from the perturbation "
             "as from the image."})
    return number and why
