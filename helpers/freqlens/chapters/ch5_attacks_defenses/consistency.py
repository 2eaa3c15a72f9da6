"""Chapter 5's neuron consistency (Dong et al.): on each network's PGD images and on one fixed
ensemble set, beside the paper's tables.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd
import torch

from freqlens import activations, attacks, evaluate, memo, neurons
from freqlens.chapters.ch5_attacks_defenses.training import NAMES
from freqlens.chapters.ch5_attacks_defenses.robustness import pgd_images

__all__ = ["DONG_TABLE1", "DONG_TABLE3", "consistency_row", "consistency_table", "consistency_values",
           "consistency_verdicts", "dong_tables", "ensemble_set", "fixed_set_consistency",
           "neuron_consistencies", "term_effects", "top_images"]


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
