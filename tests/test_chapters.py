"""The chapters' modules: their networks make the grid, and their experiments measure what the notebooks print.

Each experiment is checked on real CIFAR-10 images against a straightforward
computation of the same thing, with small untrained or briefly trained networks, so
that a notebook's numbers rest on tested code.
"""

import importlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from freqlens import chapters, grid, heuristics, profiles

ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- the modules

def test_every_chapter_of_the_book_has_its_module():
    toc = (ROOT / "_toc.yml").read_text()
    notebooks = sorted(p.stem for p in (ROOT / "book").glob("[0-9]*.ipynb"))
    assert [m.NOTEBOOK for m in chapters.MODULES] == notebooks
    for module in chapters.MODULES:
        assert f"book/{module.NOTEBOOK}" in toc
        number, rest = module.NOTEBOOK.split("_", 1)
        assert module.__name__ == f"freqlens.chapters.ch{int(number)}_{rest}"


@pytest.mark.parametrize("module", chapters.MODULES, ids=lambda m: m.NOTEBOOK)
def test_every_public_name_of_a_chapter_is_documented(module):
    for name in module.__all__:
        value = getattr(module, name)
        if callable(value):
            assert value.__doc__ and value.__doc__.strip(), f"{module.__name__}.{name} has no docstring"


@pytest.mark.parametrize("module", chapters.MODULES, ids=lambda m: m.NOTEBOOK)
def test_each_notebook_grades_its_exercises_with_its_own_chapters_checks(module):
    cells = json.loads((ROOT / "book" / f"{module.NOTEBOOK}.ipynb").read_text())["cells"]
    tests = ["".join(c["source"]) for c in cells if c["metadata"].get("nbgrader", {}).get("grade")]
    short = module.__name__.rsplit(".", 1)[1].split("_")[0]   # ch1, ch2, ...
    assert tests and all(f"{short}.check_" in t for t in tests)
    for t in tests:
        for name in t.split(f"{short}.")[1:]:
            assert name.split("(")[0] in module.__all__


# --------------------------------------------------------------------------- the grid

@pytest.mark.parametrize("profile", profiles.PROFILES)
def test_the_grid_is_the_union_of_the_chapters_networks(profile):
    own = [c for m in chapters.MODULES if hasattr(m, "networks") for c in m.networks(profile)]
    assert grid.configs(profile) == list(dict.fromkeys(own))
    assert set(grid.CHAPTERS) == {m.NOTEBOOK for m in chapters.MODULES[1:]}   # chapter 1 trains none
    assert not hasattr(chapters.ch1_frequencies, "networks")


@pytest.mark.parametrize("profile", profiles.PROFILES)
def test_chapter_5s_own_networks_are_dong_et_al_s_recipe_with_and_without_the_consistency_term(profile):
    ch5 = chapters.ch5_attacks_defenses
    vanilla, dong, ablation = (ch5.config(n, profile) for n in ("vanilla", "consistency", "fgsm adversarial"))
    differences = lambda a, b: {k: v for k, v in vars(b).items() if vars(a)[k] != v}
    assert differences(vanilla, dong) == {"adv_eps": 0.03, "adv_attack": "fgsm_ll", "adv_clean_weight": 0.5,
                                          "adv_consistency": 0.1,
                                          "eval_pgd_size": profiles.CONSISTENCY[profile]["eval_pgd_size"]}
    assert differences(dong, ablation) == {"adv_consistency": 0.0}
    assert ch5.config("adversarial", profile) == heuristics.config("adversarial", profile)
    assert ch5.config("consistency", profile, seed=2).seed == 2


def test_chapters_4_and_5_name_their_networks_as_their_tables_do():
    assert list(chapters.ch4_frequency_attribution.configs("quick")) == [
        "vanilla", "BatchNorm", "adversarial", "LFC r = 4 (control)"]
    assert list(chapters.ch5_attacks_defenses.configs("quick")) == [
        "vanilla", "BatchNorm", "adversarial", "FGSM adversarial", "consistency", "LFC r = 4", "kernel penalty"]


def test_a_chapter_module_is_importable_on_its_own():
    for module in chapters.MODULES:
        assert importlib.reload(module).NOTEBOOK == module.NOTEBOOK


# --------------------------------------------------------------------------- chapter 1

@pytest.fixture(scope="module")
def test_images():
    from freqlens.data import cifar10_tensors

    return cifar10_tensors("test", n=60, seed=11)


def test_ch1_energy_table_agrees_with_a_numpy_computation(test_images):
    x = test_images[0]
    table = chapters.ch1_frequencies.energy_table(x, radii=(4, 12))
    a = x.double().numpy()
    u, v = np.mgrid[:32, :32] - 16
    for r in (4, 12):
        keep = np.hypot(u, v) < r
        for column, images in (("with the mean", a), ("mean removed", a - a.mean(axis=(-2, -1), keepdims=True))):
            p = np.abs(np.fft.fftshift(np.fft.fft2(images), axes=(-2, -1))) ** 2
            share = ((p * keep).sum(axis=(1, 2, 3)) / p.sum(axis=(1, 2, 3))).mean()
            assert table.loc[r, column] == pytest.approx(share, abs=1e-6)
        f = np.fft.fftshift(np.fft.fft2(a), axes=(-2, -1)) * ~keep
        hfc = np.fft.ifft2(np.fft.ifftshift(f, axes=(-2, -1))).real
        assert table.loc[r, "rms of the HFC"] == pytest.approx(np.sqrt((hfc ** 2).mean()), rel=1e-4)


def test_ch1_rescale_gains_are_the_medians_of_one_over_each_copys_maximum(test_images):
    from freqlens import fourier

    x = test_images[0]
    gains = chapters.ch1_frequencies.rescale_gains(x, radii=(8,))
    lfc, hfc = fourier.split(x, 8)
    assert gains.loc[8, "HFC gain"] == pytest.approx(float(torch.median(1 / hfc.flatten(1).max(1).values)))
    assert gains.loc[8, "LFC gain"] == pytest.approx(float(torch.median(1 / lfc.flatten(1).max(1).values)))


def test_ch1_power_law_of_cifar10_falls_faster_above_f_8():
    from freqlens import data, fourier

    radii, power = fourier.radial_power_spectrum(data.cifar10_tensors("test", n=500, seed=0)[0])
    _, low = chapters.ch1_frequencies.fit_power_law(radii, power, 1, 8)
    _, high = chapters.ch1_frequencies.fit_power_law(radii, power, 8, 16)
    assert 1.5 < low < 3.0 and high > low + 0.5


def test_ch1_ringing_measures_the_kernels_lobes_and_the_overshoots(test_images):
    from freqlens import data, fourier

    x = test_images[0]
    specs = [("circle", 8), ("square", 8), ("gaussian", 8 / np.sqrt(2))]
    table = chapters.ch1_frequencies.ringing_table(x, specs)
    kernel = fourier.spatial_kernel(32, 32, 8, "circle")
    assert table.loc["circle", "side lobe"] == pytest.approx(float(-kernel.min() / kernel.max()))
    assert table.loc["circle", "bar overshoot"] == pytest.approx(
        float(fourier.low_pass(data.edge_bar(), 8).max() - 1))
    for what in table.columns:
        assert table.loc["gaussian", what] < min(table.loc["circle", what], table.loc["square", what]) / 5
    smooth = fourier.low_pass(x, 8)   # by hand: how far a copy leaves its channel's range
    lo, hi = x.amin(dim=(-2, -1), keepdim=True), x.amax(dim=(-2, -1), keepdim=True)
    beyond = torch.maximum((smooth - hi).clamp_min(0), (lo - smooth).clamp_min(0))
    assert table.loc["circle", "image overshoot"] == pytest.approx(float(beyond.amax(dim=(-2, -1)).mean()))


def test_ch1_a_cosine_wave_holds_one_pair_of_frequencies():
    waves = chapters.ch1_frequencies.cosine_waves([(2, 3), (0, 8)])
    for wave, (u, v) in zip(waves, [(2, 3), (0, 8)]):
        f = np.abs(np.fft.fft2(wave[0].double().numpy() - 0.5))
        assert set(zip(*np.nonzero(f > 1e-3 * f.max()))) == {(u % 32, v % 32), (-u % 32, -v % 32)}


def test_ch1_first_of_classes_finds_each_classs_first_image(test_images):
    from freqlens import data

    x, y = test_images
    picks = chapters.ch1_frequencies.first_of_classes(y, ["cat", "ship"])
    for name, i in zip(["cat", "ship"], picks):
        assert int(y[i]) == data.CLASSES.index(name) and data.CLASSES.index(name) not in y[:i].tolist()


# --------------------------------------------------------------------------- chapter 2

@pytest.fixture(scope="module")
def evaluated(trained_small_cnn):
    from freqlens.data import cifar10_tensors

    x, y = cifar10_tensors("test", n=200, seed=12)
    return trained_small_cnn, x, y


def test_ch2_networks_are_the_standard_one_table_1s_ten_and_the_memorisation_pair():
    ch2 = chapters.ch2_hfc_generalization
    from freqlens.train import TrainConfig

    nets = ch2.networks("quick")
    assert nets[0] == TrainConfig.for_profile("quick") and len(nets) == 13
    table1 = [c for c in nets if c.eval_radii == ()]
    assert [(c.view, c.rescale, c.radius) for c in table1] == list(ch2.TABLE1)
    assert all(c.train_size == 2000 and c.epochs == 10 for c in table1)
    assert [c.shuffled_labels for c in nets[-2:]] == [0.0, 1.0]


def test_ch2_curves_table_reads_the_accuracies_on_each_copy(evaluated):
    from freqlens import evaluate, fourier

    model, x, y = evaluated
    ch2 = chapters.ch2_hfc_generalization
    table = ch2.curves_table(ch2.radius_curves(model, x, y, radii=(4, 12)), radii=(4, 12))
    assert table.loc["LFC as they are", 4] == evaluate.accuracy(model, fourier.low_pass(x, 4), y)
    assert table.loc["HFC as they are", 12] == evaluate.accuracy(model, fourier.high_pass(x, 12), y)
    rescaled = fourier.rescale_by_max(fourier.high_pass(x, 4))
    assert table.loc["HFC rescaled", 4] == pytest.approx(evaluate.accuracy(model, rescaled, y), abs=0.01)


def test_ch2_keeps_counts_the_images_whose_hfc_alone_keeps_the_label(evaluated):
    from freqlens import evaluate, fourier

    model, x, y = evaluated
    ch2 = chapters.ch2_hfc_generalization
    keeps = ch2.hfc_keeps(model, x, y, radii=(4,))
    right, hfc, lfc = (evaluate.predictions(model, v) == y for v in (x, *reversed(fourier.split(x, 4))))
    assert sorted(keeps[4].tolist()) == torch.nonzero(right & hfc & ~lfc).flatten().tolist()
    table = ch2.keeps_table(keeps, len(y))
    assert table.loc[4, "HFC keeps, LFC loses"] == len(keeps[4])
    assert table.loc[4, "per 10,000"] == round(10000 * len(keeps[4]) / len(y))
    assert ch2.examples(torch.arange(3), k=5).tolist() == [0, 1, 2]
    # the same count on copies each divided by its own maximum, beside it
    rescaled = ch2.hfc_keeps(model, x, y, radii=(4,), rescale=True)
    lfc_r, hfc_r = fourier.split(x, 4, rescale=True)
    hfc, lfc = (evaluate.predictions(model, v) == y for v in (hfc_r, lfc_r))
    assert sorted(rescaled[4].tolist()) == torch.nonzero(right & hfc & ~lfc).flatten().tolist()
    assert ch2.keeps_table(keeps, len(y), rescaled).loc[4, "rescaled"] == len(rescaled[4])


def _run(config, model=None, **history):
    from freqlens.train import History, Result

    return Result(model=model, history=History(**history), config=config)


def test_ch2_table_1_frame_and_gaps_read_the_last_epoch_of_each_network():
    ch2 = chapters.ch2_hfc_generalization
    runs = {key: _run(ch2.table1_config(*key, profile="quick"), train_eval_acc=[0.5, 0.9 + i / 100],
                      test_acc=[0.2, (0.6 if key[0] == "lfc" else 0.1) + i / 100])
            for i, key in enumerate(ch2.TABLE1)}
    frame = ch2.table1_frame(runs)
    assert len(frame) == 10 and frame.loc[0, "test acc"] == 0.6 and frame.loc[0, "paper test"] == 0.6167
    gaps = ch2.table1_gaps(runs)
    assert list(gaps.index) == [4, 8, 12, 16]
    assert gaps.loc[4, "gap"] == pytest.approx(0.6 - 0.14) and gaps.loc[16, "HFC fit"] == pytest.approx(0.97)
    keeps = {4: torch.arange(6)}
    curves = {"as they are": {"hfc": {r: 0.1 for r in (2.0, 4.0, 8.0, 16.0)}},
              "rescaled": {"hfc": {r: 0.3 for r in (2.0, 4.0, 8.0, 16.0)}}}
    paper = ch2.beside_the_paper(gaps, runs, curves, keeps, 100)
    assert paper.loc["trained on LFC, on the originals", "here"] == "0.60 to 0.63"
    assert paper.loc["HFC keeps the label, LFC loses it (r = 4)", "here"] == "600 per 10,000"


def test_ch2_end_of_training_table_measures_the_tracked_copies_against_the_labels_trained_on(trained_small_cnn):
    from freqlens import evaluate, fourier, train
    from freqlens.train import TrainConfig

    ch2 = chapters.ch2_hfc_generalization
    configs = {s: TrainConfig(width=8, train_size=300, train_eval_size=100, epochs=1, shuffled_labels=s,
                              eval_radii=(8,)) for s in (0.0, 1.0)}
    table = ch2.end_of_training_table({s: _run(c, trained_small_cnn) for s, c in configs.items()}, radii=(8,))
    assert list(table.index) == [("true", "as they are"), ("true", "rescaled"),
                                 ("shuffled", "as they are"), ("shuffled", "rescaled")]
    x, y = train.tracked_training_images(configs[1.0])
    assert table.loc[("shuffled", "as they are"), "original"] == evaluate.accuracy(trained_small_cnn, x, y)
    assert table.loc[("shuffled", "as they are"), "LFC r=8"] == evaluate.accuracy(
        trained_small_cnn, fourier.low_pass(x, 8), y)
    x_true, y_true = train.tracked_training_images(configs[0.0])
    assert torch.equal(x, x_true) and not torch.equal(y, y_true)   # the same images, shuffled labels


# --------------------------------------------------------------------------- chapter 3

def _histories(clean, hfc, lfc=None):
    from freqlens.train import History

    return History(epoch=list(range(1, len(clean) + 1)), test_acc=list(clean),
                   test_hfc_acc={4.0: list(hfc), 16.0: list(hfc)},
                   test_lfc_acc={4.0: list(lfc or hfc), 16.0: list(lfc or hfc)})


@pytest.fixture
def heuristic_runs():
    from freqlens.train import Result

    run = lambda clean, hfc, lfc=None: Result(model=None, config=None, history=_histories(clean, hfc, lfc))
    return {"vanilla": [run([0.3, 0.5], [0.1, 0.2]), run([0.5, 0.6], [0.1, 0.3])],
            "batchnorm": [run([0.4, 0.5], [0.2, 0.4], [0.3, 0.6]), run([0.5, 0.7], [0.3, 0.5], [0.3, 0.5])]}


def test_ch3_reads_histories_at_the_last_epoch_and_at_matched_accuracy(heuristic_runs):
    ch3 = chapters.ch3_heuristics_batchnorm
    assert ch3.mean_final(heuristic_runs, "test_hfc_acc") == {"vanilla": pytest.approx(0.25),
                                                             "batchnorm": pytest.approx(0.45)}
    matched = ch3.matched_hfc(heuristic_runs, 0.5)
    assert matched == {"vanilla": [pytest.approx(0.2), pytest.approx(0.1)],
                       "batchnorm": [pytest.approx(0.4), pytest.approx(0.3)]}
    table = ch3.matched_table(matched, ch3.mean_final(heuristic_runs, "test_hfc_acc"))
    assert table.loc["batchnorm", "at matched accuracy"] == pytest.approx(0.35)
    differences = ch3.differences_table(heuristic_runs, matched, 0.5)
    assert list(differences.index) == ["last epoch", "matched 0.50"]
    assert differences.loc["matched 0.50", "mean"] == pytest.approx(0.2)
    assert differences.loc["last epoch", "seed 1"] == pytest.approx(0.2)


def test_ch3_judges_each_row_of_the_differences_and_the_claim_takes_the_matched_one():
    ch3 = chapters.ch3_heuristics_batchnorm
    table = pd.DataFrame({"mean": [0.06, -0.01], "± (seeds)": [0.03, 0.02],
                          "seed 0": [0.03, 0.01], "seed 1": [0.09, -0.03]},
                         index=["last epoch", "matched 0.55"])
    judged = ch3.difference_verdicts(table)
    assert [v for _, v, _ in judged.values()] == ["reproduced", "not reproduced"]
    assert judged["last epoch"][0] == "BatchNorm minus vanilla +0.060 ± 0.030 over 2 seeds"
    claim = ch3.claims(table, {"vanilla": 0.2, "adversarial": 0.1}, {"original": [0.1, 0.1],
                       "LFC r = 4": [0.0, 0.0]}, 1.5, {"vanilla": 0.1, "batchnorm": 0.0})
    assert claim["batchnorm_exploits_hfc"][1:] == ("not reproduced", "the claim")
    assert "-0.010 ± 0.020" in claim["batchnorm_exploits_hfc"][0]


def test_ch3_batchnorm_gains_and_their_verdicts(heuristic_runs):
    ch3 = chapters.ch3_heuristics_batchnorm
    # the same runs stand in for LFC ones, at two radii
    gains = ch3.batchnorm_gains(heuristic_runs, {4.0: heuristic_runs, 16.0: heuristic_runs})
    assert list(gains) == ["original", "LFC r = 4", "LFC r = 16", "LFC r = 4, LFC test", "LFC r = 16, LFC test"]
    assert gains["LFC r = 16"] == gains["original"]
    assert gains["original"] == [pytest.approx(0.0), pytest.approx(0.1)]
    assert gains["LFC r = 4, LFC test"] == [pytest.approx(0.4), pytest.approx(0.2)]
    table = ch3.gains_table(gains)
    assert table.loc["original", "mean"] == pytest.approx(0.05)
    verdicts = ch3.fig6_verdicts(gains)
    assert verdicts["tested on the originals"].startswith("the gain is not smaller")
    assert verdicts["tested on LFC copies"].startswith("the gain is not smaller")


def test_ch3_changes_table_names_each_heuristics_one_change():
    table = chapters.ch3_heuristics_batchnorm.changes_table("quick")
    assert list(table.index) == list(heuristics.HEURISTICS)
    assert table.loc["vanilla", "changed"] == "—" and table.loc["batchnorm", "changed"] == "batchnorm=True"
    assert table.loc["batchnorm", "seeds"] == 3 and table.loc["mixup", "seeds"] == 1


def test_ch3_mechanism_measures_each_batchnorm_layer_and_each_gain():
    from freqlens import activations, data, evaluate, fourier
    from freqlens.models import SmallCNN
    from freqlens.train import Result

    ch3 = chapters.ch3_heuristics_batchnorm
    x, y = data.cifar10_tensors("test", n=40, seed=13)
    _, hfc = fourier.split(x, 4)
    torch.manual_seed(0)
    nets = [SmallCNN(width=8, batchnorm=True).eval() for _ in range(2)]
    runs = {name: [Result(model=n, config=None, history=None) for n in nets] for name in ("vanilla", "batchnorm")}
    amp = ch3.amplification_table(runs["batchnorm"], x, hfc, batch_size=20)
    norms = activations.layer_names(nets[0], torch.nn.BatchNorm2d)
    assert list(amp.index) == norms and list(amp.columns) == ["seed 0", "seed 1", "mean"]
    out = activations.signal_ratio(nets[1], x, hfc, norms[:1])[norms[0]].mean()
    into = activations.signal_ratio(nets[1], x, hfc, norms[:1], attribute_to_layer_input=True)[norms[0]].mean()
    assert amp.loc[norms[0], "seed 1"] == pytest.approx(float(out / into), rel=1e-5)
    assert (amp > 0).all().all()
    k_acc = ch3.k_gain_accuracies(runs, hfc, y, ks=(1, 4))
    assert k_acc["vanilla"][0] == [evaluate.accuracy(nets[0], hfc, y), evaluate.accuracy(nets[0], 4 * hfc, y)]
    table = ch3.k_gain_table(k_acc, ks=(1, 4))
    assert list(table.columns) == ["k = 1", "k = 4"]
    assert ch3.k_rise(k_acc)["vanilla"] == pytest.approx(float(table.loc["vanilla"].max() - table.loc["vanilla", "k = 1"]))


# --------------------------------------------------------------------------- chapter 4

def test_ch4_share_below_agrees_with_a_straightforward_loop():
    a = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    share = chapters.ch4_frequency_attribution.share_below(a, 8)
    m = a.abs().sum(1).double().numpy()
    for i in range(3):
        inside = sum(m[i, r, c] for r in range(32) for c in range(32) if np.hypot(r - 16, c - 16) < 8)
        assert float(share[i]) == pytest.approx(inside / m[i].sum())


def test_ch4_radial_shares_of_each_image_add_up_to_one():
    a = torch.randn(4, 3, 32, 32)
    shares = chapters.ch4_frequency_attribution.radial_shares(a)
    assert shares.shape == (24,) and float(shares.sum()) == pytest.approx(1.0)


@pytest.fixture(scope="module")
def attributed():
    from freqlens import data, evaluate
    from freqlens.models import SmallCNN

    torch.manual_seed(0)
    net = SmallCNN(width=8).eval()
    x, _ = data.cifar10_tensors("test", n=6, seed=14)
    return net, x, evaluate.predictions(net, x)


def test_ch4_frequency_ig_is_complete_and_its_gaps_are_the_logits(attributed):
    ch4 = chapters.ch4_frequency_attribution
    net, x, t = attributed
    flat = ch4.flat_baseline(x)
    assert torch.allclose(flat.mean(dim=(2, 3)), x.mean(dim=(2, 3))) and float(flat.std(dim=(2, 3)).max()) == 0
    maps, deltas = ch4.frequency_ig({"net": net}, x, {"net": t}, baselines=flat, n_steps=64)
    gaps = ch4.logit_gaps({"net": net}, x, flat, {"net": t})
    with torch.no_grad():
        by_hand = (net(x) - net(flat)).gather(1, t[:, None])[:, 0]
    assert torch.allclose(gaps["net"], by_hand)
    assert torch.allclose(maps["net"].sum(dim=(1, 2, 3)), gaps["net"] + deltas["net"].to(gaps["net"].dtype),
                          atol=1e-4)
    table = ch4.completeness_table(gaps, deltas)
    assert table.loc["net", "median share"] < 0.05


def test_ch4_band_drops_give_one_drop_per_band(attributed):
    ch4 = chapters.ch4_frequency_attribution
    net, x, t = attributed
    flat = ch4.flat_baseline(x)
    gaps = ch4.logit_gaps({"net": net}, x, flat, {"net": t})
    drops = ch4.band_drops({"net": net}, x, {"net": t}, flat, gaps, edges=(4, 12))
    assert len(drops["net"]) == 3 == len(ch4.band_labels((4, 12)))
    assert all(np.isfinite(drops["net"]))


def test_ch4_deeplift_is_complete_on_a_network_without_max_pooling():
    from freqlens import data

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.AvgPool2d(4),
                              torch.nn.Flatten(), torch.nn.Linear(4 * 64, 10)).eval()
    x, _ = data.cifar10_tensors("test", n=4, seed=15)
    assert chapters.ch4_frequency_attribution.deeplift_miss(net, x, torch.tensor([0, 1, 2, 3])) < 1e-3


def test_ch4_judges_every_map_by_liaos_measures(attributed):
    from freqlens import saliency

    ch4 = chapters.ch4_frequency_attribution
    net, x, t = attributed
    maps, steps = ch4.pixel_maps(net, x, t, noise_mask_steps=3, show_progress=False)
    assert list(maps) == ["saliency", "integrated gradients", "guided backprop", "Grad-CAM", "DeepLift",
                          "ε-LRP", "occlusion", "Noise Mask", "random"]
    assert all(m.shape == x.shape or m.shape == (len(x), 1, 32, 32) for m in maps.values())
    assert steps.shape == (len(x),) and int(steps.max()) <= 3
    evaluation, curves = ch4.judge_pixel_maps(net, x, t, {k: maps[k] for k in ("saliency", "random")})
    assert list(evaluation.columns) == ["PNG bytes", "SSIM", "MoRF", "LeRF", "ABPC"]
    assert evaluation.loc["random", "ABPC"] == pytest.approx(float(saliency.abpc(*curves["random"]).mean()))
    verdicts = ch4.ordering_verdicts(evaluation.rename(index={"saliency": "Noise Mask"}))
    assert set(verdicts) == {"smallest PNG", "highest SSIM", "largest ABPC"}
    frequency = ch4.judge_frequency_maps(net, x, t, ch4.frequency_maps(net, x, t, torch.rand(x.shape)))
    assert list(frequency.index) == ["frequency IG", "frequency saliency", "random"]


# --------------------------------------------------------------------------- chapter 5

@pytest.fixture
def attacked(tmp_path, monkeypatch):
    from freqlens import data
    from freqlens.models import SmallCNN

    monkeypatch.setenv("FREQLENS_CACHE", str(tmp_path / "cache"))   # memo's results go here
    torch.manual_seed(0)
    net = SmallCNN(width=8).eval()
    x, y = data.cifar10_tensors("test", n=8, seed=16)
    return net, x, y


def test_ch5_pgd_images_are_the_functional_pgd_of_the_chapters_budget(attacked):
    from freqlens import attacks

    net, x, y = attacked
    by_hand = attacks.pgd(net, x, y, eps=8 / 255, alpha=2 / 255, steps=10, random_start=False)
    adv = chapters.ch5_attacks_defenses.pgd_images(net, x, y)
    assert torch.equal(adv, by_hand) and float((adv - x).abs().max()) <= 8 / 255 + 1e-6


def test_ch5_robustness_and_spectra_of_the_perturbations(attacked):
    from freqlens import fourier

    ch5 = chapters.ch5_attacks_defenses
    net, x, y = attacked
    models = {"vanilla": net}
    adv = ch5.adversarial_images(models, x, y, ["vanilla"])
    table = ch5.robustness_table(models, x, y, adv)
    assert list(table.columns) == ["clean", "FGSM 8/255", "PGD 8/255", "DeepFool median L2"]
    assert table.loc["vanilla", "PGD 8/255"] <= table.loc["vanilla", "clean"]
    delta = {"vanilla": adv["vanilla"] - x}
    assert float(ch5.perturbation_spectra(delta)["vanilla"].sum()) == pytest.approx(1.0)
    assert ch5.high_share(delta)["vanilla"] == pytest.approx(float(1 - fourier.energy_below(delta["vanilla"], 8).mean()))


def test_ch5_distortion_table_has_a_row_per_band(attacked):
    ch5 = chapters.ch5_attacks_defenses
    net, x, y = attacked
    distortion = ch5.distortion_table({"vanilla": net}, x[:2], y[:2], names=["vanilla"])
    assert list(distortion.index.get_level_values(1)) == list(ch5.bands())
    assert ((distortion["flipped"] >= 0) & (distortion["flipped"] <= 1)).all()
    dims = distortion["dimension"].xs("vanilla").to_dict()
    assert dims == {"all frequencies": 1024, "LFC r < 8": 193, "random 193": 193, "HFC r ≥ 8": 831,
                    "random 831": 831, "DCT low 8 × 8": 64, "random 64": 64}
    verdicts = ch5.band_verdicts(distortion)
    assert set(verdicts) == {"vanilla, LFC r < 8", "vanilla, HFC r ≥ 8", "vanilla, DCT low 8 × 8"}


def test_ch5_pgd_along_training_reads_each_adversarial_networks_history():
    from freqlens.train import History, Result

    ch5 = chapters.ch5_attacks_defenses
    along = {"adversarial": [0.2, 0.25, 0.3], "FGSM adversarial": [0.3, 0.02], "consistency": [0.01, 0.02]}
    results = {name: Result(model=None, config=None, history=History(test_pgd_acc=acc))
               for name, acc in {**along, "vanilla": []}.items()}
    table = ch5.pgd_along_training(results)
    assert list(table.index) == list(ch5.ADVERSARIAL) and list(table.columns) == ["epoch 1", "epoch 2", "epoch 3"]
    assert table.loc["FGSM adversarial"].isna().tolist() == [False, False, True]
    assert ch5.overfitting_verdicts(table) == {"adversarial": "held", "FGSM adversarial": "collapsed",
                                              "consistency": "never robust"}


def test_ch5_white_noise_puts_the_share_of_the_frequencies_above_r_8():
    ch5 = chapters.ch5_attacks_defenses
    delta = {"sign noise": torch.sign(torch.randn(50, 3, 32, 32, generator=torch.Generator().manual_seed(0)))}
    shares = ch5.high_share(delta)
    assert shares["white noise"] == pytest.approx(831 / 1024, abs=0.01)
    assert shares["sign noise"] == pytest.approx(831 / 1024, abs=0.01)
    assert set(ch5.energy_verdicts(shares)) == {"sign noise"}
    assert chapters.ch6_explaining_and_steering.NOISE_SHARE == pytest.approx(831 / 1024)


def test_ch5_smoothing_and_defenses_return_their_tables(attacked):
    from freqlens import evaluate

    ch5 = chapters.ch5_attacks_defenses
    net, x, y = attacked
    models = {"vanilla": net, "kernel penalty": net, "adversarial": net}
    smoothing = ch5.smoothing_table(models, x, y, rhos=(0.0,), orders=(4,))
    # rho = 0 and every DCT coefficient kept are the network itself
    assert (smoothing["clean"] == evaluate.accuracy(net, x, y)).all()
    torch.testing.assert_close(smoothing.loc[("reference smoothing", "ρ = 0")].to_numpy(),
                               smoothing.loc[("none", "vanilla")].to_numpy())
    assert list(smoothing.columns) == ["adjacent differences", "clean", "PGD 2/255", "PGD 8/255"]
    assert all(g == {"PGD 2/255": 0.0, "PGD 8/255": 0.0} for g in ch5.smoothing_gains(smoothing).values())
    defense = ch5.defense_table(net, x, y, ch5.pgd_images(net, x, y))
    assert list(defense.index) == ["undefended", "low-pass r = 8", "rounding + low-pass"]
    assert list(defense.columns) == ["clean", "transfer", "plain PGD", "adaptive"]
    assert defense.loc["undefended", "adaptive"] == defense.loc["undefended", "transfer"]
    # the filter is differentiable: plain PGD through it is the adaptive attack
    assert defense.loc["low-pass r = 8", "plain PGD"] == defense.loc["low-pass r = 8", "adaptive"]
    # the rounding's gradient is zero: plain PGD does not move, BPDA does
    rounded = defense.loc["rounding + low-pass"]
    assert rounded["plain PGD"] == rounded["clean"]
    assert rounded["adaptive"] <= rounded["plain PGD"]


def test_ch5_ensemble_set_stays_within_its_budget_and_moves_towards_the_least_likely_class(attacked):
    from freqlens.models import SmallCNN

    ch5 = chapters.ch5_attacks_defenses
    net, x, y = attacked
    torch.manual_seed(1)
    other = SmallCNN(width=8).eval()
    adv = ch5.ensemble_set([net, other], x, eps=8 / 255, steps=5)
    assert float((adv - x).abs().max()) <= 8 / 255 + 1e-6 and adv.min() >= 0 and adv.max() <= 1
    logits = lambda images: (net(images) + other(images)) / 2   # the ensemble's
    with torch.no_grad():
        target = logits(x).argmin(1)
        before = torch.log_softmax(logits(x), 1).gather(1, target[:, None])
        after = torch.log_softmax(logits(adv), 1).gather(1, target[:, None])
    assert bool((after >= before - 1e-6).all()) and bool((after > before).any())


def test_ch5_ring_errors_split_a_heat_map_at_the_radius(attacked):
    from freqlens import evaluate

    ch5 = chapters.ch5_attacks_defenses
    net, x, y = attacked
    offsets = torch.arange(-15, 16.)
    distance = torch.sqrt(offsets[:, None] ** 2 + offsets[None, :] ** 2)
    heat = (distance >= 8).float() * 0.5   # error 0 below r = 8, 0.5 above
    rings = ch5.ring_errors({"vanilla": heat}, {"vanilla": net}, x, y)
    clean = 1 - evaluate.accuracy(net, x, y)
    assert rings.loc["vanilla", "below"] == 0 and rings.loc["vanilla", "above"] == 0.5
    assert rings.loc["vanilla", "above - clean"] == pytest.approx(0.5 - clean)


def test_ch5_consistency_row_and_its_verdicts(attacked):
    import pandas as pd

    ch5 = chapters.ch5_attacks_defenses
    net, x, y = attacked
    row = ch5.consistency_row(net, x, y)
    assert set(row) == {"real", "adversarial", "feature shift"} and all(np.isfinite(list(row.values())))
    table = pd.DataFrame({"vanilla": {"real": 0.3, "adversarial": 0.2}, "adversarial": {"real": 0.3, "adversarial": 0.25},
                          "consistency": {"real": 0.3, "adversarial": 0.1}}).T
    verdicts = ch5.consistency_verdicts(table)
    assert verdicts["vanilla"] == "lower on adversarial images"
    assert verdicts["adversarial vs vanilla"].startswith("training raises")
    assert verdicts["consistency vs vanilla"].startswith("training does not raise")


def test_ch5_kernel_table_measures_each_network_and_noise():
    from freqlens.models import SmallCNN

    ch5 = chapters.ch5_attacks_defenses
    torch.manual_seed(0)
    models = {"vanilla": SmallCNN(width=16), "adversarial": SmallCNN(width=16)}
    with torch.no_grad():   # a flat first layer: the smoothest there is
        models["adversarial"].features[0].conv.weight.fill_(0.1)
    table = ch5.kernel_table(models)
    assert list(table.index) == ["vanilla", "adversarial", "noise"]
    assert table.loc["noise", "adjacent differences"] == pytest.approx(24 / 9, abs=0.3)
    assert table.loc["adversarial", "adjacent differences"] == 0
    verdicts = ch5.kernel_verdicts(table)
    assert all(v.endswith("are smoother") for v in verdicts.values()), verdicts


def test_ch4_layer_verdict_reads_the_first_stage_the_last_and_the_logits():
    import pandas as pd

    ch4 = chapters.ch4_frequency_attribution
    falling = pd.DataFrame({"kept": [0.5, 0.45, 0.3], "loss term": [0.3, 0.2, 0.1]},
                           index=["s1", "s2", "logits"])
    rising = pd.DataFrame({"kept": [0.3, 0.4, 0.5], "loss term": [0.1, 0.2, 0.3]},
                          index=["s1", "s2", "logits"])
    measured, verdict, why = ch4.layer_verdict({"a": falling, "b": falling})
    assert verdict == "reproduced" and "a: kept 0.50 → 0.30, loss term 0.200 → 0.100" in measured
    assert ch4.layer_verdict({"a": falling, "b": rising})[1:] == ("partly", "scale")
    assert ch4.layer_verdict({"b": rising})[1] == "not reproduced"
