"""The full profile's code, run at the smoke profile's size: its networks (ResNet-18), their
optimisers, schedules, views and adversarial steps, every public function of the package on
such a network, and every chapter's experiments on such a network.
Finite results of the right shapes (``nan`` only where a network this weak leaves nothing to
measure, such as the median distortion of no flipped image); no claim is asserted at this size.

On a machine with a GPU this runs there (``make gpu-check`` runs it with the device set).
"""

import math

import pandas as pd
import pytest
import torch

from freqlens import activations, evaluate, fourier, grid, heuristics, profiles, verdicts
from freqlens.chapters import ch2_hfc_generalization as ch2
from freqlens.chapters import ch3_heuristics_batchnorm as ch3
from freqlens.chapters import ch4_frequency_attribution as ch4
from freqlens.chapters import ch5_attacks_defenses as ch5
from freqlens.chapters import ch6_explaining_and_steering as ch6
from freqlens.data import cifar10_tensors
from freqlens.device import get_device
from freqlens.train import train
from test_execution import CALLS, _calls

pytestmark = pytest.mark.smoke


def _path(config) -> tuple:
    """What decides which code a config's training runs (not its sizes, radii or seeds)."""
    return (config.model, config.optimizer, config.schedule, config.view, config.rescale,
            config.shuffled_labels > 0, config.batchnorm, config.dropout > 0, config.mixup_alpha > 0,
            config.augment, config.adv_eps > 0, config.adv_attack, config.adv_clean_weight > 0,
            config.adv_consistency > 0, config.label_smoothing > 0, bool(config.eval_radii),
            config.hf_drop > 0, config.hf_gradient_penalty > 0, config.nonrobust is not None)


def _one_per_path(configs) -> list:
    seen, out = set(), []
    for c in configs:
        if _path(c) not in seen:
            seen.add(_path(c))
            out.append(c)
    return out


SMOKE = _one_per_path(grid.configs("smoke"))


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("FREQLENS_CACHE", str(tmp_path_factory.mktemp("smoke-cache")))
    yield
    mp.undo()


def test_the_smoke_profile_is_the_full_profile_cut_down():
    full = {_path(c) for c in grid.configs("full")}
    smoke = {_path(c) for c in grid.configs("smoke")}
    assert smoke == full, "the smoke profile must run every training code path of the full one"
    for c in grid.configs("smoke"):
        assert c.model == "resnet18" and c.epochs == 1 and c.train_size <= 64
        assert c.batch_size <= max(profiles.SMOKE_MAX_BATCH * 4, 1)


@pytest.mark.parametrize("config", SMOKE, ids=lambda c: c.describe())
def test_every_training_code_path_of_the_full_profile_runs(cache, config):
    result = train(config, progress=False, device=get_device())
    history = result.history
    assert len(history.train_loss) == config.epochs
    assert all(math.isfinite(v) for v in history.train_loss)
    assert all(0.0 <= v <= 1.0 for v in history.test_acc)
    params = torch.cat([p.detach().flatten().cpu() for p in result.model.parameters()])
    assert torch.isfinite(params).all()


@pytest.fixture(scope="module")
def resnet(base):
    """The full profile's standard network, trained at the smoke size."""
    return base.model


def _finite(out) -> bool:
    if isinstance(out, torch.Tensor):
        return bool(torch.isfinite(out.float()).all()) if out.is_floating_point() else True
    if isinstance(out, (tuple, list)):
        return all(_finite(o) for o in out)
    if isinstance(out, dict):
        return all(_finite(o) for o in out.values())
    return math.isfinite(out) if isinstance(out, float) else True


# the calls that return one row per image
PER_IMAGE = {"predictions", "probabilities", "fgsm", "pgd", "pgd, seeded start", "pgd, low band",
             "pgd, dct block", "deepfool", "frequency IG", "pixel IG", "Grad-CAM", "frequency saliency", "band occlusion",
             "noise mask", "noise mask, layer", "morf, pixels", "lerf, frequencies", "forward"}


@pytest.mark.parametrize("name", CALLS)
def test_every_public_function_runs_on_the_full_profiles_network(resnet, name):
    # two images in one batch: the batching itself is tested in test_execution.py
    x, y = cifar10_tensors("test", n=2, seed=2)
    layer = [n for n, m in resnet.named_modules() if isinstance(m, torch.nn.ReLU)][-1]
    out = _calls(x, y, batch=64, layer=layer)[name](resnet)
    if name == "minimal_distortion":   # inf is the budget of an image PGD cannot flip
        budgets, out = out
        assert not torch.isnan(budgets).any() and (budgets >= 0).all()
    assert _finite(out), f"{name} gave non-finite results on ResNet-18"
    if name in PER_IMAGE:
        assert out.shape[0] == 2 and out.device == x.device
    if name == "heat map":
        assert out.shape == (31, 31)


# --------------------------------------------------------------------------- the chapters

def _numbers(value) -> list[float]:
    """The numbers in a table, a dict, a list or a tensor, flattened."""
    if isinstance(value, pd.DataFrame):
        return [float(v) for v in value.select_dtypes("number").to_numpy().ravel()]
    if isinstance(value, pd.Series):
        return [float(v) for v in value.to_numpy().ravel()]
    if isinstance(value, torch.Tensor):
        return value.detach().float().flatten().tolist()
    if isinstance(value, dict):
        return [n for v in value.values() for n in _numbers(v)]
    if isinstance(value, (list, tuple)):
        return [n for v in value for n in _numbers(v)]
    return [float(value)] if isinstance(value, (int, float)) else []


def _finite_numbers(value, what: str, nan_ok: bool = False) -> None:
    numbers = _numbers(value)
    assert numbers, f"{what}: no numbers"
    bad = [n for n in numbers if not (math.isfinite(n) or (nan_ok and math.isnan(n)))]
    assert not bad, f"{what}: {len(bad)} of {len(numbers)} numbers not finite"


@pytest.fixture(scope="module")
def few():
    return cifar10_tensors("test", n=2, seed=3)


@pytest.fixture(scope="module")
def base(cache):
    """The smoke profile's standard ResNet-18, its history included: every chapter's networks here.

    The chapters' own networks are the grid's (tested in test_chapters.py) and their training
    code paths are all run above; here each chapter's experiments run on this one network,
    standing in for each of its networks by name.
    """
    return train(grid.configs("smoke")[0], progress=False, device=get_device())


def _judged(judged: dict, notebook: str) -> None:
    """A chapter's verdicts: on claims of its own, each in the words the page of verdicts knows."""
    assert judged and all(verdicts.CLAIMS[c].chapter == notebook for c in judged)
    for claim, (measured, verdict, why) in judged.items():
        assert isinstance(measured, str) and measured, claim
        assert verdict in verdicts.VERDICTS, (claim, verdict)
        assert (why is None) == (verdict == "reproduced"), (claim, why)


def test_chapter_2s_experiments_run_at_the_smoke_size(base, few):
    x, y = few
    keeps = ch2.hfc_keeps(base.model, x, y)
    curves = ch2.radius_curves(base.model, x, y)
    table1 = {key: base for key in ch2.TABLE1}
    gaps = ch2.table1_gaps(table1)
    memorise = {0.0: base, 1.0: base}
    for what, value in {"keeps": ch2.keeps_table(keeps, len(y)), "curves": ch2.curves_table(curves),
                        "Table 1": ch2.table1_frame(table1), "gaps": gaps,
                        "memorisation": ch2.end_of_training_table(memorise)}.items():
        _finite_numbers(value, what)
    assert len(ch2.beside_the_paper(gaps, table1, curves, keeps, len(y))) > 5
    _judged(ch2.claims(gaps, table1, keeps, len(y), memorise), ch2.NOTEBOOK)


def test_chapter_3s_experiments_run_at_the_smoke_size(base, few):
    x, y = few
    runs = {name: [base] for name in heuristics.HEURISTICS}
    lfc_runs = {r: {"vanilla": [base], "batchnorm": [base]} for r in ch3.FIG6_RADII}
    _finite_numbers(ch3.last_epoch_table(runs, x, y), "last epoch")
    level = heuristics.matched_level(r.history for name, rs in runs.items() if name != "adversarial"
                                     for r in rs)
    matched = ch3.matched_hfc(runs, level)
    ch3.matched_table(matched, ch3.mean_final(runs, "test_hfc_acc"))   # nan where a level is not reached
    ch3.differences_table(runs, matched, level)
    gains = ch3.batchnorm_gains(runs, lfc_runs)
    _finite_numbers(gains, "BatchNorm's gains")
    assert set(ch3.fig6_verdicts(gains)) == {"tested on the originals", "tested on LFC copies"}
    _, hfc = fourier.split(x, 4)
    amp = ch3.amplification_table(runs["batchnorm"], x, hfc)
    assert len(amp) == sum(isinstance(m, torch.nn.BatchNorm2d) for m in base.model.modules())
    _finite_numbers(amp, "amplification")
    layers = activations.layer_names(base.model)
    _finite_numbers(ch3.signal_ratios(runs, x, hfc, layers), "signal ratios")
    k_acc = ch3.k_gain_accuracies(runs, hfc, y)
    _finite_numbers(ch3.k_gain_table(k_acc), "gains k")
    assert isinstance(ch3.rescaling_verdict(float(amp["mean"].mean()), ch3.k_rise(k_acc)), str)
    differences = ch3.differences_table(runs, matched, level)
    mean_final_hfc = ch3.mean_final(runs, "test_hfc_acc")
    _judged(ch3.claims(differences, mean_final_hfc, gains, float(amp["mean"].mean()), ch3.k_rise(k_acc)),
            ch3.NOTEBOOK)


def test_chapter_4s_experiments_run_at_the_smoke_size(base, few):
    x, y = few
    models = {name: base.model for name in ch4.configs("smoke")}
    targets = {name: evaluate.predictions(m, x) for name, m in models.items()}
    flat = ch4.flat_baseline(x)
    freq_ig, deltas = ch4.frequency_ig(models, x, targets, baselines=flat, n_steps=4)
    gaps = ch4.logit_gaps(models, x, flat, targets)
    _finite_numbers(ch4.completeness_table(gaps, deltas), "completeness")
    _finite_numbers(ch4.shares_table(freq_ig), "shares")
    _finite_numbers(ch4.band_drops(models, x, targets, flat, gaps), "band drops")
    net, t = models["BatchNorm"], targets["BatchNorm"]
    _finite_numbers(ch4.deeplift_miss(net, x, t), "DeepLift")
    maps, _ = ch4.pixel_maps(net, x, t, noise_mask_steps=3, show_progress=False)
    tables, masks = ch4.layer_tables(models, x[:2], n_steps=3)   # ResNet-18's stages and its logits
    assert list(tables["vanilla"].index) == ["layers.1.relu2", "layers.3.relu2", "layers.5.relu2",
                                             "layers.7.relu2", "logits"]
    for table in tables.values():
        _finite_numbers(table, "Noise Mask per layer")
    assert all(m.shape[0] == len(x) for m in maps.values())
    evaluation, _ = ch4.judge_pixel_maps(net, x, t, maps)
    _finite_numbers(evaluation, "pixel maps")
    assert set(ch4.ordering_verdicts(evaluation)) == {"smallest PNG", "highest SSIM", "largest ABPC"}
    freq_maps = ch4.frequency_maps(net, x, t, freq_ig["BatchNorm"])
    _finite_numbers(ch4.judge_frequency_maps(net, x, t, freq_maps), "frequency maps")
    _judged(ch4.claims(ch4.completeness_table(gaps, deltas), evaluation, tables), ch4.NOTEBOOK)
    _finite_numbers(ch4.beside_the_thesis(evaluation, 28), "beside the thesis")


def test_chapter_5s_experiments_run_at_the_smoke_size(base, few):
    x, y = few
    models = {name: base.model for name in ch5.configs("smoke")}
    names = list(ch5.NAMES)
    adv = ch5.adversarial_images(models, x, y, names)
    robustness = ch5.robustness_table(models, x, y, adv)
    assert list(robustness.index) == names
    _finite_numbers(robustness.drop(columns="DeepFool median L2"), "robustness")   # nan: none flipped
    delta = {name: adv[name] - x for name in adv}
    share_high = ch5.high_share(delta)
    _finite_numbers(ch5.perturbation_spectra(delta), "spectra")
    distortion = ch5.distortion_table(models, x, y)   # a median is nan where none flipped
    _finite_numbers(distortion, "distortion", nan_ok=True)
    assert len(ch5.band_verdicts(distortion)) == 6 and len(ch5.energy_verdicts(share_high)) == len(names)
    kernels = ch5.kernel_table(models)
    _finite_numbers(kernels, "kernels")
    smoothing = ch5.smoothing_table(models, x, y)
    _finite_numbers(smoothing, "smoothing")
    assert set(ch5.smoothing_gains(smoothing)) == {"reference smoothing", "kernel low-pass", "penalty in training",
                                                   "adversarial training"}
    defense = ch5.defense_table(models["vanilla"], x, y, adv["vanilla"])
    _finite_numbers(defense, "defenses")
    maps = ch5.heat_maps(models, x[:1], y[:1])
    _finite_numbers(ch5.ring_errors(maps, models, x[:1], y[:1]), "heat maps")
    consistency = ch5.consistency_table(models, x, y, names)
    _finite_numbers(consistency, "consistency")
    summary = ch5.summary(robustness, share_high, distortion, kernels, smoothing, defense, consistency)
    assert summary and all(isinstance(v, str) for v in summary.values())
    rings = ch5.ring_errors(maps, models, x[:1], y[:1])
    _judged(ch5.claims(robustness, share_high, distortion, kernels, smoothing, defense, rings, consistency),
            ch5.NOTEBOOK)
    assert set(ch5.defense_verdicts(defense)) == {"low-pass r = 8", "rounding + low-pass"}
    curves = ch5.eps_curves(models, x, y, names, eps=(0, 1, 8))
    assert set(curves) == {"FGSM", "PGD"} and set(curves["PGD"]) == set(names)
    consistency["fixed set"] = consistency.index.map(ch5.fixed_set_consistency(models, x, y, names))
    table1, table3 = ch5.dong_tables(consistency, curves)
    assert len(table1) == 6 + len(names) and len(table3) == 6 + len(names)
    top = ch5.top_images(models["vanilla"], x, y, n=1, k=1)
    assert len(top) == 2 and all(v.shape[1:] == x.shape[1:] for v in top.values())


def test_chapter_6s_experiments_run_at_the_smoke_size(base, few):
    x, y = few
    models = {name: base.model for name in ch6.ATTACKED}
    split, profiles_ = ch6.attack_table(models, x, y)
    _finite_numbers(split, "attack split")
    assert len(ch6.split_verdicts(split)) == 2 * len(ch6.ATTACKED)
    copies = ch6.rebuilt_images(base.model, x, y, ks=(16,))
    _finite_numbers(ch6.rebuilt_accuracy(base.model, copies, y), "rebuilt")
    smooth = ch6.smooth_distortion_table(models, x, y, sigmas=(4,))
    _finite_numbers(smooth, "smooth distortion", nan_ok=True)
    effect = profiles_["vanilla", "all frequencies, L∞"]["effect"]
    _, band = ch6.choose_band(base.model, effect, x, y, max_drop=1.0)
    defense = ch6.defense_table(models, band, x, y, x)
    _finite_numbers(defense, "defenses")
    runs = {name: base for name in ("vanilla", *ch6.STEERED, "adversarial")}
    steered = ch6.steered_table(runs, x, y, x, y)
    _finite_numbers(steered, "steered")
    assert set(ch6.steering_verdicts(steered)) == set(ch6.STEERED)
    sets = ch6.train_networks([f"non-robust set, {n}" for n in ch6.BANDS_OF_SETS], "smoke")
    nonrobust = ch6.nonrobust_table(sets, base.model, n=4)
    _finite_numbers(nonrobust, "non-robust sets")
    judged = ch6.claims(nonrobust, len(y), smooth, defense, steered)
    _judged(judged, ch6.NOTEBOOK)
    assert set(judged) == {c for c, claim in verdicts.CLAIMS.items() if claim.chapter == ch6.NOTEBOOK}
    summary = ch6.summary(split, ch6.rebuilt_accuracy(base.model, copies, y), smooth, nonrobust, defense,
                          steered)
    assert summary and all(isinstance(v, str) for v in summary.values())
