"""Chapter 6, explaining and steering frequency use: the class proposal's own programme.

The chapter reuses chapter 3's vanilla, BatchNorm and adversarially trained networks. It
attributes attacks to frequencies (Integrated Gradients over the Fourier coefficients
from each clean image to its adversarial twin, :func:`attack_split`), rebuilds images
from their most- and least-attributed frequencies (:func:`rebuilt`), attacks with
smoothed steps (:func:`smooth_distortion_table`), builds Ilyas et al.'s non-robust
training sets with their perturbations cut to a band (:func:`nonrobust_configs`),
chooses a band-stop defense from where the attacks act (:func:`choose_band`), and
trains two networks steered towards the low frequencies (:func:`steered_configs`).
Every slow measurement goes through :func:`freqlens.memo.cached`.

Example:
    >>> sorted(configs("quick"))[:3]
    ['BatchNorm', 'HFC dropped', 'HFC gradient penalty']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd
import torch
from captum.attr import IntegratedGradients

from freqlens import attacks, checks, data, defenses, evaluate, exercises, fourier, heuristics, memo, profiles
from freqlens import train
from freqlens.attribution import FrequencyAttribution, LogitDifferences, from_spectrum, radial_profile, spectrum
from freqlens.chapters import ch4_frequency_attribution as ch4
from freqlens.chapters import ch5_attacks_defenses as ch5
from freqlens.config import NonRobustSet
from freqlens.execution import forward
from freqlens.train import TrainConfig

__all__ = ["ATTACKED", "BANDS_OF_SETS", "ILYAS", "NOISE_SHARE", "NOTEBOOK", "RADIUS", "RINGS", "STEERED",
           "attack_bands", "attack_split", "attack_table", "attacked", "attribution_map", "band_candidates",
           "beside_the_sources", "check_effect_share", "check_rebuilt_answer", "choose_band", "claims",
           "configs", "defense_claim", "defense_table", "effect_profiles", "keep_mask", "networks",
           "nonrobust_claims", "nonrobust_configs", "nonrobust_table", "rebuilt", "rebuilt_accuracy",
           "rebuilt_images", "ring_shares", "smooth_claim", "smooth_distortion_table", "split_verdicts",
           "steered_configs", "steered_table", "steering_claim", "steering_verdicts", "summary",
           "train_networks"]

NOTEBOOK = "06_explaining_and_steering"
RADIUS = 8   # the chapter's split between the low and the high frequencies
# White noise's share of energy at distance RADIUS or more on 32 x 32 images: the share of the
# frequencies that lie there, since its spectrum is flat (831 of 1,024, about 0.81).
NOISE_SHARE = 1 - float(fourier.frequency_mask(32, 32, RADIUS).float().mean())
# The rings the chapter reads a profile in: the lowest frequencies, the rest of the LFC, the HFC.
RINGS = ((0.0, 4.0), (4.0, 8.0), (8.0, 23.0))
# The networks attacked and attributed: chapter 3's, by chapter 5's names.
ATTACKED = ("vanilla", "BatchNorm", "adversarial")
STEERED = ("HFC dropped", "HFC gradient penalty")
# The bands a non-robust set's perturbations are cut to, and their names in the chapter.
BANDS_OF_SETS = {"whole perturbation": "all", f"its LFC r < {RADIUS}": "lfc", f"its HFC r ≥ {RADIUS}": "hfc",
                 "no perturbation": "none"}
# Ilyas et al.'s CIFAR-10 test accuracies of networks trained on their sets (the authors'
# published datasets' README, rounded): the deterministic set, the random one, the images.
ILYAS = {"D_det": 0.44, "D_rand": 0.63}


# --------------------------------------------------------------------------- networks

def steered_configs(profile: str | None = None) -> dict[str, TrainConfig]:
    """The two steered networks: the vanilla recipe with :data:`freqlens.profiles.STEERING`'s change."""
    profile = profiles.resolve(profile)
    return {name: heuristics.config("vanilla", profile, **change[profile])
            for name, change in profiles.STEERING.items()}


def nonrobust_configs(profile: str | None = None) -> dict[str, TrainConfig]:
    """The vanilla recipe trained on each of the vanilla network's non-robust sets, by :data:`BANDS_OF_SETS`."""
    profile = profiles.resolve(profile)
    source = heuristics.config("vanilla", profile)
    attack = profiles.NONROBUST[profile]
    return {name: source.replace(nonrobust=NonRobustSet(source, band=band,
                                                        radius=RADIUS if band in ("lfc", "hfc") else None,
                                                        **attack))
            for name, band in BANDS_OF_SETS.items()}


def configs(profile: str | None = None) -> dict[str, TrainConfig]:
    """Every network of the chapter by name: chapter 3's three, the steered two, the non-robust sets' four."""
    out = {name: ch5.config(ch5.NAMES[name], profile) for name in ATTACKED}
    out.update(steered_configs(profile))
    out.update({f"non-robust set, {name}": c for name, c in nonrobust_configs(profile).items()})
    return out


def networks(profile: str | None = None) -> list[TrainConfig]:
    """The chapter's networks, in the order it trains them."""
    return list(configs(profile).values())


def train_networks(names: Sequence[str], profile: str | None = None) -> dict[str, train.Result]:
    """The results (network and history) of the chapter's networks ``names``, from the cache or trained."""
    cs = configs(profile)
    return {name: train.train(cs[checks.one_of(name, "name", options=tuple(cs))]) for name in names}


# --------------------------------------------------------------------------- attacks split by frequency

def attack_bands(radius: float = RADIUS) -> dict[str, tuple[str, torch.nn.Module | None]]:
    """The attacks by name, as ``(norm, band)``: PGD in all frequencies under L2 and under L-inf, and
    under L2 in the LFC disk, in the HFC and in the DCT's low block."""
    return {"all frequencies, L2": ("l2", None), "all frequencies, L∞": ("linf", None),
            f"LFC r < {radius:g}": ("l2", attacks.frequency_band("low", radius)),
            f"HFC r ≥ {radius:g}": ("l2", attacks.frequency_band("high", radius)),
            f"DCT low {int(radius)} × {int(radius)}": ("l2", attacks.frequency_band("dct_low", int(radius)))}


def attacked(model, x: torch.Tensor, y: torch.Tensor, band, norm: str = "l2", steps: int = 10) -> torch.Tensor:
    """PGD without a random start in ``band`` (``None``: all frequencies), clamped into [0, 1].

    Under L2 within 0.5 in steps of 0.1; under L-inf chapter 5's attack, within 8/255 in
    steps of 2/255. A band-limited perturbation cannot be clamped while it is made (see
    :mod:`freqlens.attacks`); the images are clamped once at the end, which moves a
    little of its energy out of its band (:func:`attack_table` shows how much).
    """
    eps, alpha = (0.5, 0.1) if norm == "l2" else (8 / 255, 2 / 255)
    return attacks.pgd(model, x, y, eps, alpha, steps, norm=norm, random_start=False, band=band,
                       clip=None).clamp(0, 1)


def _runner_up(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The highest-scoring class other than ``y``, per image."""
    return logits.scatter(1, y[:, None], float("-inf")).argmax(1)


def _margin(logits: torch.Tensor, y: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
    return (logits.gather(1, other[:, None]) - logits.gather(1, y[:, None]))[:, 0]


def attack_split(model, x: torch.Tensor, y: torch.Tensor, adv: torch.Tensor, n_steps: int = 32) -> dict:
    """Integrated Gradients over frequencies of the change of the margin from ``x`` to ``adv``.

    The margin is ``f_a - f_y``: the logit of the adversarial class ``a`` (the runner-up
    on ``adv``, the class the attack pushes towards) less that of the true class. The
    baseline is the clean image, so by completeness the attributions share out the
    margin's change ``m(adv) - m(x)`` among the frequencies; IG being linear in the
    output, the margin's attributions are those of ``f_a`` less those of ``f_y``.

    Returns ``{"attributions" (B, C, H, W), "change" (B,), "gap" (B,) the completeness
    gap, "other" (B,) the class a, "fooled" (B,) bool}`` on the CPU.
    """
    logits = forward(model, adv)
    other = _runner_up(logits, y)
    margins = LogitDifferences(model)   # f_a - f_y, attributed in one pass
    ig = FrequencyAttribution(IntegratedGradients, margins)
    attr = ig.attribute(adv, target=margins.target(other, y, logits.shape[1]), baselines=x, n_steps=n_steps)
    change = _margin(logits, y, other) - _margin(forward(model, x), y, other)
    return {"attributions": attr.cpu(), "change": change.cpu(), "gap": (attr.flatten(1).sum(1) - change).cpu(),
            "other": other.cpu(), "fooled": (logits.argmax(1) != y).cpu()}


def ring_shares(per_ring: torch.Tensor, rings=RINGS) -> list[float]:
    """A radial profile (index = rounded distance) summed over each ring ``[lo, hi)`` of ``rings``."""
    k = torch.arange(per_ring.numel(), dtype=torch.float64)
    return [float(per_ring[(k >= lo) & (k < hi)].sum()) for lo, hi in rings]


def effect_profiles(split: Mapping) -> torch.Tensor:
    """The share of the margin's total change attributed to each ring (all images pooled). ``-> (R,)``."""
    return radial_profile(split["attributions"].double()).sum(0) / split["change"].double().sum()


def _attack_row(model, x, y, band, norm) -> dict:
    adv = attacked(model, x, y, band, norm)
    split = attack_split(model, x, y, adv)
    delta = adv - x
    return {"split": split, "energy": fourier.radial_energy_share(delta),
            "effect": effect_profiles(split), "size": delta.flatten(1).norm(dim=1).mean().item()}


def attack_table(models: Mapping, x: torch.Tensor, y: torch.Tensor,
                 names: Sequence[str] = ATTACKED) -> tuple[pd.DataFrame, dict]:
    """Per network and attack: how often it fools, the margin's change and where energy and effect lie.

    Returns the table and ``{(network, attack): {"energy", "effect", "split"}}``: the
    profiles per ring (each sums to 1) and :func:`attack_split`'s result. Columns: the
    share of images the network gets wrong before and after the attack, the mean change
    of the margin, the completeness gap as a share of it, and per ring of :data:`RINGS` the
    share of the perturbation's energy and of the margin's change.
    """
    rows, profiles_ = {}, {}
    ring_names = [f"{lo:g}–{hi:g}" if hi < 23 else f"≥ {lo:g}" for lo, hi in RINGS]
    for name in names:
        for attack, (norm, band) in attack_bands().items():
            r = memo.cached("attack split", _attack_row, models[name], x, y, band, norm)
            s = r["split"]
            row = {"wrong before": 1 - evaluate.accuracy(models[name], x, y),
                   "wrong after": float(s["fooled"].float().mean()), "margin change": float(s["change"].mean()),
                   "|gap| / change": float(s["gap"].abs().sum() / s["change"].abs().sum())}
            row.update({f"energy {n}": v for n, v in zip(ring_names, ring_shares(r["energy"]))})
            row.update({f"effect {n}": v for n, v in zip(ring_names, ring_shares(r["effect"]))})
            rows[name, attack] = row
            profiles_[name, attack] = {"energy": r["energy"], "effect": r["effect"], "split": s}
    return pd.DataFrame(rows).T, profiles_


def split_verdicts(table: pd.DataFrame, tolerance: float = 0.1) -> dict[str, str]:
    """Per network and attack in all frequencies: does the margin move where the energy is?

    Compared in the high ring (distance 8 or more): the share of the change there
    against the share of the energy there, within ``tolerance``.
    """
    out = {}
    for (name, attack), row in table.iterrows():
        if not attack.startswith("all frequencies"):
            continue
        name = f"{name}, {attack.split(', ')[1]}"
        energy, effect = row[f"energy ≥ {RADIUS}"], row[f"effect ≥ {RADIUS}"]
        word = ("where the energy is" if abs(effect - energy) <= tolerance else
                "less in the high frequencies than the energy" if effect < energy else
                "more in the high frequencies than the energy")
        out[name] = (f"{effect:.3f} of the margin's change at distance ≥ {RADIUS} from {energy:.3f} of the "
                     f"energy: the margin moves {word}")
    return out


def beside_the_sources(table: pd.DataFrame, robust: str = "adversarial", plain: str = "vanilla") -> dict[str, str]:
    """What :func:`attack_table` says of Guo et al.'s and Sharma et al.'s claims, one line each.

    Guo et al.: an attack confined to the DCT's low block succeeds. Sharma et al.: a
    defended network is about as vulnerable to low-frequency perturbations as an
    undefended one; here, what the adversarially trained network's training buys
    against the attack in the LFC disk, beside what it buys in all frequencies (the
    share of images the attack turns wrong, for each network, at the same budget).
    """
    flipped = table["wrong after"] - table["wrong before"]
    dct = next(a for a in table.index.get_level_values(1) if a.startswith("DCT"))
    low = next(a for a in table.index.get_level_values(1) if a.startswith("LFC"))
    every = "all frequencies, L2"
    bought = {a: flipped[plain, a] - flipped[robust, a] for a in (every, low)}
    return {
        "Guo et al. (DCT low block)": "turned wrong by the L2 attack in the DCT's low block: " + ", ".join(
            f"{n} {flipped[n, dct]:.3f}" for n in table.index.get_level_values(0).unique()),
        "Sharma et al. (low frequencies)": (
            f"adversarial training spares {bought[low]:+.3f} of the images under the attack in the LFC "
            f"disk ({flipped[plain, low]:.3f} turned wrong on {plain}, {flipped[robust, low]:.3f} on "
            f"{robust}) and {bought[every]:+.3f} in all frequencies: " + (
                "about as vulnerable in the low frequencies as undefended, as they claim"
                if bought[low] < 0.5 * bought[every] else
                "it protects in the low frequencies too, unlike their claim"))}


# --------------------------------------------------------------------------- images rebuilt from frequencies

def _mirror(mask: torch.Tensor) -> torch.Tensor:
    """The point mirror of a centred map through its centre (``p -> -p`` modulo the size)."""
    h, w = mask.shape[-2:]
    rows = (2 * (h // 2) - torch.arange(h)) % h
    cols = (2 * (w // 2) - torch.arange(w)) % w
    return mask[..., rows[:, None], cols[None, :]]


def keep_mask(scores: torch.Tensor, k: int, largest: bool = True) -> torch.Tensor:
    """Per image, the ``k`` frequencies of highest (or lowest) score, with their mirror images.

    ``scores`` is ``(B, H, W)`` over the centred spectrum; a frequency is kept with its
    mirror through the centre (a real image needs both), so a map may keep a few more
    than ``k``. Shapes: ``(B, H, W) -> (B, H, W)`` bool.

    Example:
        >>> s = torch.zeros(1, 4, 4); s[0, 1, 1] = 5.0
        >>> keep_mask(s, 1)[0].nonzero().tolist()
        [[1, 1], [3, 3]]
    """
    k = checks.integer(k, "k", minimum=1, maximum=scores[0].numel())
    flat = scores.flatten(1)
    idx = flat.topk(k, dim=1, largest=largest).indices
    mask = torch.zeros_like(flat, dtype=torch.bool).scatter(1, idx, True).view_as(scores)
    return mask | _mirror(mask)


def rebuilt(x: torch.Tensor, baseline: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """The baseline plus the frequencies ``keep`` of ``x - baseline``: ``(B, C, H, W)``, ``keep`` ``(B, H, W)``."""
    z = spectrum(x - baseline)
    c = x.shape[1]
    kept = z * torch.cat([keep[:, None].expand(-1, c, -1, -1)] * 2, dim=1)
    return baseline + from_spectrum(kept)


def rebuilt_images(model, x: torch.Tensor, y: torch.Tensor, ks: Sequence[int] = (16, 64, 193),
                   n_steps: int = 32, seed: int = 0) -> dict[str, torch.Tensor]:
    """Each image rebuilt from its most-, least-attributed and random ``k`` frequencies, and its LFC/HFC.

    The attribution is Integrated Gradients over frequencies of the true class from the
    image's own mean colour (chapter 4's flat baseline), summed over channels; the images
    are that baseline plus the kept frequencies of the rest. ``193`` is the number of
    frequencies strictly within distance 8, so at that ``k`` the LFC copy r = 8 is the
    control of the same size. Values are clamped into [0, 1] for the network.
    """
    base = ch4.flat_baseline(x)
    attr = FrequencyAttribution(IntegratedGradients, model).attribute(x, target=y, baselines=base,
                                                                       n_steps=n_steps).sum(1)
    noise = torch.rand(attr.shape, generator=torch.Generator().manual_seed(seed))
    out = {"original": x, f"LFC r < {RADIUS}": fourier.low_pass(x, RADIUS).clamp(0, 1),
           f"HFC r ≥ {RADIUS}": (fourier.high_pass(x, RADIUS) + base).clamp(0, 1)}
    for k in ks:
        out[f"top {k}"] = rebuilt(x, base, keep_mask(attr.cpu(), k)).clamp(0, 1)
        out[f"bottom {k}"] = rebuilt(x, base, keep_mask(attr.cpu(), k, largest=False)).clamp(0, 1)
        out[f"random {k}"] = rebuilt(x, base, keep_mask(noise, k)).clamp(0, 1)
    return out


def rebuilt_accuracy(model, images: Mapping[str, torch.Tensor], y: torch.Tensor) -> pd.Series:
    """The network's accuracy on each kind of rebuilt image."""
    return pd.Series({name: evaluate.accuracy(model, x, y) for name, x in images.items()})


# --------------------------------------------------------------------------- smooth perturbations

def smooth_distortion_table(models: Mapping, x: torch.Tensor, y: torch.Tensor, sigmas: Sequence[float] = (2, 4, 8),
                            names: Sequence[str] = ("vanilla", "adversarial")) -> pd.DataFrame:
    """Median L2 budget to flip and share flipped under PGD with smoothed steps, beside chapter 5's bands.

    The search is chapter 5's (:func:`freqlens.chapters.ch5_attacks_defenses.distortion_table`:
    bisection up to L2 = 4, 6 rounds of 10 PGD steps, unboxed), so its rows of bands
    come from the same cache; each smoothing filter (``frequency_band("smooth", sigma)``)
    adds a row, with the share of its perturbations' energy at distance ``RADIUS`` or more.
    """
    table = ch5.distortion_table(models, x, y, names)
    table = table[~table.index.get_level_values(1).str.startswith("random")].copy()
    rows = {}
    for name in names:
        for sigma in sigmas:
            row, delta = ch5.distortion_row(models[name], x, y, attacks.frequency_band("smooth", sigma))
            energy = 1 - fourier.energy_below(delta, RADIUS).mean() if len(delta) else float("nan")
            row["energy ≥ 8"] = float(energy)
            rows[name, f"smoothed steps, σ = {sigma:g}"] = {"dimension": 32 * 32, **row}
    out = pd.concat([table, pd.DataFrame(rows).T]).sort_index(level=0, sort_remaining=False)
    return out[["median L2", "flipped", "energy ≥ 8"]]


# --------------------------------------------------------------------------- a defense from the attributions

def band_candidates(width: float = 4, starts: Sequence[float] = (2, 4, 6, 8, 10, 12, 14, 16)) -> list[tuple]:
    """The rings ``[a, a + width)`` a band-stop may remove."""
    return [(float(a), float(a + width)) for a in starts]


def choose_band(model, effect: torch.Tensor, x: torch.Tensor, y: torch.Tensor, max_drop: float = 0.05,
                candidates: Sequence[tuple] | None = None) -> tuple[pd.DataFrame, tuple]:
    """The ring holding the most of the attack's effect among those the network can lose.

    For each candidate ring (:func:`band_candidates`): its share of the margin's change
    (``effect``, a profile from :func:`effect_profiles`) and the network's clean accuracy
    on ``x`` with the ring removed; the chosen ring has the largest share among those
    that cost at most ``max_drop`` of clean accuracy. Returns the table and the ring.
    """
    candidates = band_candidates() if candidates is None else candidates
    clean = evaluate.accuracy(model, x, y)
    rows = {}
    for lo, hi in candidates:
        rows[f"{lo:g}–{hi:g}"] = {"effect share": ring_shares(effect, [(lo, hi)])[0],
                                  "clean accuracy": evaluate.accuracy(
                                      defenses.band_stop_defense(model, lo, hi), x, y)}
    table = pd.DataFrame(rows).T
    table["ring"] = list(candidates)
    allowed = table[table["clean accuracy"] >= clean - max_drop]
    if allowed.empty:
        raise ValueError(f"max_drop={max_drop} allows no ring: every candidate costs more clean accuracy")
    best = allowed["effect share"].idxmax()
    return table.drop(columns="ring"), tuple(table.loc[best, "ring"])


def _defense_rows(models: Mapping, band: tuple, x: torch.Tensor, y: torch.Tensor, transfer: torch.Tensor) -> dict:
    vanilla, robust = models["vanilla"], models["adversarial"]
    stop = defenses.band_stop_defense(vanilla, *band)
    row = lambda m, adaptive: {"clean": evaluate.accuracy(m, x, y), "transfer": evaluate.accuracy(m, transfer, y),
                               "adaptive": evaluate.accuracy(m, adaptive, y)}
    return {f"band-stop {band[0]:g}–{band[1]:g}": row(stop, ch5.pgd_images(stop, x, y)),
            "adversarial training": row(robust, ch5.pgd_images(robust, x, y))}


def defense_table(models: Mapping, band: tuple, x: torch.Tensor, y: torch.Tensor,
                  transfer: torch.Tensor) -> pd.DataFrame:
    """Clean, transfer and adaptive accuracy: the band-stop, chapter 5's low-pass and adversarial training.

    ``transfer`` is chapter 5's PGD on the undefended vanilla network; the adaptive
    attack is the same PGD through the defense (it is differentiable) or, for the
    adversarially trained network, on it.
    """
    low = ch5.defense_table(models["vanilla"], x, y, transfer)
    low = low.loc[["undefended", "low-pass r = 8"], ["clean", "transfer", "adaptive"]]
    ours = pd.DataFrame(memo.cached("band-stop defense", _defense_rows, {n: models[n] for n in ATTACKED[::2]},
                                    band, x, y, transfer)).T
    return pd.concat([low, ours])


# --------------------------------------------------------------------------- steered networks

def attribution_map(model, x: torch.Tensor, y: torch.Tensor, n_steps: int = 32) -> torch.Tensor:
    """Chapter 4's frequency attribution: Integrated Gradients of the class ``y`` from the flat baseline.

    Shapes: ``x (B, C, H, W)``, ``y (B,)`` -> ``(B, C, H, W)`` over the centred spectrum.
    """
    return FrequencyAttribution(IntegratedGradients, model).attribute(x, target=y, baselines=ch4.flat_baseline(x),
                                                                       n_steps=n_steps)


def steered_table(results: Mapping[str, train.Result], x: torch.Tensor, y: torch.Tensor, x_ig: torch.Tensor,
                  y_ig: torch.Tensor) -> pd.DataFrame:
    """Per network, what chapters 2-5 measure: accuracy on the test images and their LFC/HFC copies, the
    attribution's share below ``RADIUS`` and accuracy under PGD at 2/255 and 8/255.

    The LFC/HFC accuracies are the history's last epoch (the training's test images);
    ``"LFC r < 4 / clean"`` divides out the networks' different clean accuracies.
    """
    rows = {}
    for name, r in results.items():
        h, m = r.history, r.model
        attributions = memo.cached("frequency IG", attribution_map, m, x_ig, y_ig)
        rows[name] = {"clean": h.test_acc[-1], "LFC r < 4": h.test_lfc_acc[4.0][-1],
                      f"LFC r < {RADIUS}": h.test_lfc_acc[float(RADIUS)][-1],
                      f"HFC r ≥ {RADIUS}": h.test_hfc_acc[float(RADIUS)][-1],
                      "LFC r < 4 / clean": h.test_lfc_acc[4.0][-1] / h.test_acc[-1],
                      f"IG below {RADIUS}": float(ch4.share_below(attributions, RADIUS).mean()),
                      "PGD 2/255": memo.cached("pgd accuracy", ch5.pgd_accuracy, m, x, y, 2 / 255),
                      # chapter 5's attack, from its cache where chapter 5 attacked the network
                      "PGD 8/255": evaluate.accuracy(m, memo.cached("pgd", ch5.pgd_images, m, x, y), y)}
    return pd.DataFrame(rows).T


# --------------------------------------------------------------------------- non-robust features

def _agreement(source, x: torch.Tensor, adv: torch.Tensor, y: torch.Tensor, band: str,
               radius: float | None) -> dict:
    from freqlens import nonrobust

    images = nonrobust.cut(x, adv, band, radius)
    return {"source says t": evaluate.accuracy(source, images, nonrobust.next_class(y)),
            "perturbation L2": float((images - x).flatten(1).norm(dim=1).mean())}


def nonrobust_table(results: Mapping[str, train.Result], source, n: int = 1000) -> pd.DataFrame:
    """Per non-robust set: how often the source network gives its images their new label ``t``, the
    perturbation's mean L2 size (both on the set's first ``n`` images), and the network trained on it:
    its accuracy on the real test images against their labels, and how often it says ``y + 1``.

    The attacked images are the sets' own, from the cache where making the sets left them.
    """
    from freqlens import nonrobust

    rows, attacked_sets = {}, {}
    for name, r in results.items():
        c, spec = r.config, r.config.nonrobust
        made = (c.train_size, c.subset_seed, spec.eps, spec.alpha, spec.steps)
        if made not in attacked_sets:   # the sets of one attack share its images: read them once
            x, y = data.cifar10_tensors("train", n=c.train_size, seed=c.subset_seed)
            adv = memo.cached("non-robust set", nonrobust.attack, source, x, y, spec.eps, spec.alpha, spec.steps)
            attacked_sets[made] = (x[:n], adv[:n], y[:n])
        x, adv, y = attacked_sets[made]
        rows[name] = _agreement(source, x, adv, y, spec.band, spec.radius)
        xt, yt = data.cifar10_tensors("test", n=c.test_size, seed=c.subset_seed)
        rows[name]["test accuracy"] = evaluate.accuracy(r.model, xt, yt)
        rows[name]["says y + 1"] = evaluate.accuracy(r.model, xt, nonrobust.next_class(yt))
    return pd.DataFrame(rows).T


# --------------------------------------------------------------------------- what we saw, the verdicts

def summary(attack: pd.DataFrame, rebuilt_acc: pd.Series, smooth: pd.DataFrame, sets: pd.DataFrame,
            defense: pd.DataFrame, steered: pd.DataFrame) -> dict[str, str]:
    """The chapter's numbers of this run, one line each."""
    band = next(i for i in defense.index if i.startswith("band-stop"))
    k = max(int(n.split()[1]) for n in rebuilt_acc.index if n.startswith("top "))
    full = {norm: attack.xs(f"all frequencies, {norm}", level=1) for norm in ("L2", "L∞")}
    return {
        **{f"all-frequency PGD {norm}, effect / energy at ≥ {RADIUS}": ", ".join(
            f"{n} {r[f'effect ≥ {RADIUS}']:.3f} / {r[f'energy ≥ {RADIUS}']:.3f}" for n, r in t.iterrows())
           for norm, t in full.items()},
        f"vanilla on top / bottom {k}, LFC r < {RADIUS}": (
            f"{rebuilt_acc[f'top {k}']:.3f} / {rebuilt_acc[f'bottom {k}']:.3f}, "
            f"{rebuilt_acc[f'LFC r < {RADIUS}']:.3f}"),
        "non-robust sets, test accuracy": ", ".join(f"{n} {v:.3f}" for n, v in sets["test accuracy"].items()),
        f"{band}: clean / transfer / adaptive": "{:.3f} / {:.3f} / {:.3f}".format(*defense.loc[band]),
        "steered, clean / LFC r < 4 / PGD 8/255": ", ".join(
            f"{n} {r['clean']:.3f} / {r['LFC r < 4']:.3f} / {r['PGD 8/255']:.3f}" for n, r in steered.iterrows()),
        "smoothed steps, median L2 (vanilla)": ", ".join(
            f"{b} {v:.3f}" for b, v in smooth.loc["vanilla", "median L2"].items()),
    }


def _chance_margin(n: int, p: float = 0.1) -> float:
    """Three binomial standard errors of an accuracy of ``p`` on ``n`` images."""
    return 3 * (p * (1 - p) / n) ** 0.5


def nonrobust_claims(sets: pd.DataFrame, n_test: int) -> dict[str, tuple[str, str, str | None]]:
    """The verdicts on Ilyas et al.'s claim and on the proposal's reading of it, from :func:`nonrobust_table`.

    Beating chance means more than 0.1 by three binomial standard errors on ``n_test`` images.
    """
    chance = 0.1 + _chance_margin(n_test)
    acc = sets["test accuracy"].rename(index=lambda n: n.split(", ", 1)[-1])
    whole, low, high = (acc[n] for n in list(BANDS_OF_SETS)[:3])
    none = acc["no perturbation"]
    return {
        "nonrobust_features_generalise": (
            f"trained on the vanilla network's deterministic set: {whole:.3f} on the real test images "
            f"(chance 0.1; without the perturbations {none:.3f}); theirs {ILYAS['D_det']:.2f}",
            *(("reproduced", None) if whole > chance else ("not reproduced", "scale"))),
        "nonrobust_features_band": (
            f"the set's perturbations cut to their LFC r < {RADIUS}: {low:.3f} on the real test images; "
            f"to their HFC: {high:.3f} (the whole perturbation {whole:.3f})",
            *(("reproduced", None) if high > chance and high > low else
              ("partly", "the claim: the LFC carries them as well") if high > chance else
              ("not reproduced", "the claim" if low > chance else "scale")))}


def smooth_claim(smooth: pd.DataFrame) -> tuple[str, str, str | None]:
    """The verdict on Zhang et al.'s claim, for the vanilla network, from :func:`smooth_distortion_table`."""
    med, flipped = smooth["median L2"]["vanilla"], smooth["flipped"]["vanilla"]
    rows = [b for b in med.index if b.startswith("smoothed")]
    lower = [b for b in rows if med[b] <= med["all frequencies"]]
    as_often = [b for b in rows if flipped[b] >= flipped["all frequencies"] - 0.02]
    why = "the claim: a fixed filter, where theirs adapts to the image"
    return (f"vanilla, median L2 to flip: all frequencies {med['all frequencies']:.3f} "
            f"({flipped['all frequencies']:.2f} flipped), "
            + ", ".join(f"{b.split(', ')[1]} {med[b]:.3f} ({flipped[b]:.2f})" for b in rows),
            *(("reproduced", None) if set(lower) & set(as_often) else
              ("partly", why) if as_often else ("not reproduced", why)))


def defense_claim(defense: pd.DataFrame, margin: float = 0.05) -> tuple[str, str, str | None]:
    """The verdict on the proposal's defense, from :func:`defense_table`: does it hold against the adaptive attack?"""
    band = next(i for i in defense.index if i.startswith("band-stop"))
    stop, undefended = defense.loc[band], defense.loc["undefended"]
    robust = defense.loc["adversarial training", "adaptive"]
    return (f"{band} before the vanilla network: clean {stop['clean']:.3f}, transfer {stop['transfer']:.3f}, "
            f"adaptive {stop['adaptive']:.3f} (undefended {undefended['clean']:.3f} clean, "
            f"{undefended['adaptive']:.3f} under PGD; adversarial training {robust:.3f})",
            *(("reproduced", None) if stop["adaptive"] > undefended["adaptive"] + margin else
              ("partly", "the claim: it holds against the transfer attack only")
              if stop["transfer"] > undefended["transfer"] + margin else ("not reproduced", "the claim")))


def steering_verdicts(steered: pd.DataFrame, margin: float = 0.05) -> dict[str, str]:
    """Per steered network: does it keep more of its accuracy on LFC r < 4 copies, and does it resist PGD?"""
    ratio, pgd = steered["LFC r < 4 / clean"], steered["PGD 2/255"]
    out = {}
    for name in STEERED:
        lean = "leans on the LFC more" if ratio[name] > ratio["vanilla"] + margin else "does not lean on the LFC more"
        robust = ("resists PGD at 2/255 better" if pgd[name] > pgd["vanilla"] + margin else
                  "resists PGD at 2/255 no better")
        out[name] = (f"{lean} than vanilla (LFC r < 4 / clean {ratio[name]:.2f} vs {ratio['vanilla']:.2f}) "
                     f"and {robust} ({pgd[name]:.3f} vs {pgd['vanilla']:.3f}; adversarial training "
                     f"{pgd['adversarial']:.3f})")
    return out


def steering_claim(steered: pd.DataFrame, margin: float = 0.05) -> tuple[str, str, str | None]:
    """The verdict on the proposal's second question, from :func:`steered_table`."""
    ratio = steered["LFC r < 4 / clean"]
    steer = [n for n in STEERED if ratio[n] > ratio["vanilla"] + margin]
    return ("LFC r < 4 / clean accuracy: " + ", ".join(f"{n} {ratio[n]:.2f}" for n in ratio.index)
            + "; PGD 2/255: " + ", ".join(f"{n} {steered.loc[n, 'PGD 2/255']:.3f}" for n in steered.index),
            *(("reproduced", None) if len(steer) == len(STEERED) else
              ("partly", "scale") if steer else ("not reproduced", "scale")))


def claims(sets: pd.DataFrame, n_test: int, smooth: pd.DataFrame, defense: pd.DataFrame,
           steered: pd.DataFrame) -> dict[str, tuple[str, str, str | None]]:
    """The chapter's verdicts on the sources' claims (:data:`freqlens.verdicts.CLAIMS`), from its tables.

    ``{claim: (what was measured, verdict, why)}`` for :func:`freqlens.verdicts.record_all`.
    """
    by_band = nonrobust_claims(sets, n_test)
    return {"nonrobust_features_generalise": by_band["nonrobust_features_generalise"],
            "nonrobust_features_band": by_band["nonrobust_features_band"],
            "smooth_perturbations": smooth_claim(smooth), "attribution_defense": defense_claim(defense),
            "steering_low_frequency": steering_claim(steered)}


# --------------------------------------------------------------------------- exercises

def _share_within(attr: torch.Tensor, change: torch.Tensor, radius: float, strict: bool = True) -> float:
    d = fourier.centred_distance(*attr.shape[-2:])
    inside = (d < radius) if strict else (d <= radius)
    return float((attr * inside).sum() / change.sum())


def check_effect_share(answer, split: Mapping, radius: float = RADIUS, tol: float = 1e-3) -> bool:
    """Exercise 1: the share of the margin's total change (all images pooled) attributed strictly within ``radius``.

    ``split`` is :func:`attack_split`'s result. Prints a verdict and returns whether it passed.

    Example:
        >>> a = torch.zeros(1, 3, 32, 32); a[0, 0, 16, 16] = 2.0; a[0, 0, 0, 0] = 1.0
        >>> check_effect_share(2 / 3, {"attributions": a, "change": torch.tensor([3.0])})
        ✓ correct: 0.667 of the change comes from frequencies within 8 of the
          centre.
        True
    """
    attr = split["attributions"].double().sum(1)
    change = split["change"].double()
    expected = _share_within(attr, change, radius)
    inside = fourier.centred_distance(*attr.shape[-2:]) < radius
    slips = [("the band is strictly below the radius: you counted the ring at distance exactly "
              f"{radius:g} too.", _share_within(attr, change, radius, strict=False)),
             ("that is the share of the absolute attributions: the change is signed, and some "
              "frequencies push against it.", float((attr.abs() * inside).sum() / attr.abs().sum())),
             ("you averaged each image's own share: pool the images, sum over all of them first.",
              float(((attr * inside).sum((1, 2)) / change).mean())),
             ("that is the share above the radius.", 1 - expected)]
    return exercises.judge_number(answer, expected, slips, tol,
                                  f"{{value:.3f}} of the change comes from frequencies within {radius:g} of "
                                  "the centre.", what="share")


def check_rebuilt_answer(answer, reason, model, x: torch.Tensor, y: torch.Tensor, k: int = 64,
                         tol: float = 0.011) -> bool:
    """Exercise 2: accuracy on the images rebuilt from their ``k`` least-attributed frequencies, and why.

    The expected answer is :func:`rebuilt_accuracy` of ``model`` on :func:`rebuilt_images`'
    ``"bottom k"`` images of ``x``; ``tol`` lets a prediction flip. ``reason`` is the
    letter of the explanation. Prints a verdict for each and returns whether both passed.
    """
    images = memo.cached("rebuilt images", rebuilt_images, model, x, y, ks=(k,))
    expected = evaluate.accuracy(model, images[f"bottom {k}"], y)
    slips = [(f"that is the accuracy on the top {k} images: keep the lowest attributions "
              "(largest=False).", evaluate.accuracy(model, images[f"top {k}"], y)),
             (f"that is the accuracy on {k} random frequencies.",
              evaluate.accuracy(model, images[f"random {k}"], y)),
             ("The answer is a fraction between 0 and 1, not a percentage.", 100 * expected)]
    number = exercises.judge_number(answer, expected, slips, tol,
                                    f"{{value:.3f}} of the images rebuilt from their {k} least-attributed "
                                    "frequencies keep their label.", what="accuracy")
    why = exercises.judge_reason(reason, "a", {
        "b": "the attribution is signed: the least-attributed frequencies are those that argue most "
             "against the class, wherever they lie in the spectrum.",
        "c": "every rebuilt image keeps the same mean colour, the baseline, so the colour cannot tell "
             "the copies apart."})
    return number and why
