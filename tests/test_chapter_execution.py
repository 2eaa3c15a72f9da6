"""The chapters' experiments call their networks through the package's one execution path:
each of them, given a network that records what it is given, passes it no more than the
default batch (set to 3 here), always in eval mode, and gives every submodule its mode back.

A chapter that called a network or a Captum method on the images directly would pass all
of them at once (and, with the network on a GPU and the images on the CPU, fail there).
"""

import pytest
import torch

from freqlens import fourier
from freqlens.chapters import ch2_hfc_generalization as ch2
from freqlens.chapters import ch3_heuristics_batchnorm as ch3
from freqlens.chapters import ch4_frequency_attribution as ch4
from freqlens.chapters import ch5_attacks_defenses as ch5
from freqlens.chapters import ch6_explaining_and_steering as ch6
from freqlens.data import cifar10_tensors
from freqlens.train import History, Result, TrainConfig
from test_execution import Recording

N, BATCH = 7, 3


@pytest.fixture(scope="module")
def images():
    return cifar10_tensors("test", n=N, seed=9)


def _run(model) -> Result:
    return Result(model=model, history=History(), config=TrainConfig())


def _steered_run(model) -> Result:
    """A result whose history holds one epoch's test accuracies, as steered_table reads them."""
    radii = {4.0: [0.5], 8.0: [0.5]}
    history = History(test_acc=[0.5], test_lfc_acc=dict(radii), test_hfc_acc=dict(radii))
    return Result(model=model, history=history, config=TrainConfig())


def _experiments(x, y):
    """Each chapter experiment that calls a network, as a function of that network."""
    hfc = fourier.high_pass(x, 4)
    flat = ch4.flat_baseline(x)
    maps = {"random": torch.rand(N, 3, 32, 32, generator=torch.Generator().manual_seed(0))}
    return {
        "ch2 hfc_keeps": lambda m: ch2.hfc_keeps(m, x, y, radii=(4, 8)),
        "ch2 radius_curves": lambda m: ch2.radius_curves(m, x, y, radii=(4, 8)),
        "ch2 check_radius_for_90_percent": lambda m: ch2.check_radius_for_90_percent(3, m, x, y),
        "ch2 check_hfc_accuracy": lambda m: ch2.check_hfc_accuracy(0.1, "a", m, x, y),
        "ch3 amplification_table": lambda m: ch3.amplification_table([_run(m)], x, hfc, batch_size=BATCH),
        "ch3 signal_ratios": lambda m: ch3.signal_ratios({"vanilla": [_run(m)], "batchnorm": [_run(m)]}, x, hfc,
                                                         ["net.features.3.relu"], batch_size=BATCH),
        "ch3 k_gain_accuracies": lambda m: ch3.k_gain_accuracies({"vanilla": [_run(m)], "batchnorm": [_run(m)]},
                                                                 hfc, y, ks=(1, 2)),
        "ch4 frequency_ig": lambda m: ch4.frequency_ig({"net": m}, x, {"net": y}, flat, n_steps=4,
                                                      internal_batch_size=BATCH),
        "ch4 logit_gaps": lambda m: ch4.logit_gaps({"net": m}, x, flat, {"net": y}),
        "ch4 band_drops": lambda m: ch4.band_drops({"net": m}, x, {"net": y}, flat,
                                                   {"net": torch.ones(N)}, edges=(4, 8)),
        "ch4 deeplift_miss": lambda m: ch4.deeplift_miss(m, x, y),
        "ch4 pixel_maps": lambda m: ch4.pixel_maps(m, x, y, noise_mask_steps=2, show_progress=False)[0],
        "ch4 judge_pixel_maps": lambda m: ch4.judge_pixel_maps(m, x, y, maps),
        "ch4 frequency_maps": lambda m: ch4.frequency_maps(m, x, y, maps["random"]),
        "ch4 judge_frequency_maps": lambda m: ch4.judge_frequency_maps(m, x, y, maps),
        "ch4 check_black_baseline": lambda m: ch4.check_black_baseline(0.5, "a", m, x, y, n_steps=4),
        "ch5 pgd_images": lambda m: ch5.pgd_images(m, x, y),
        "ch5 attack_table_row": lambda m: ch5.attack_table_row(m, x, y, x),
        "ch5 defense_rows": lambda m: ch5.defense_rows(m, x, y, x),
        "ch5 neuron_consistencies": lambda m: ch5.neuron_consistencies(m, x, y),
        "ch5 consistency_row": lambda m: ch5.consistency_row(m, x, y),
        "ch5 accuracy_against_eps": lambda m: ch5.accuracy_against_eps(m, x, y, eps=(0, 8)),
        "ch5 ensemble_set": lambda m: ch5.ensemble_set([m, m], x, steps=2),
        "ch5 top_images": lambda m: ch5.top_images(m, x, y, n=1, k=1),
        "ch5 check_low_pass_radius": lambda m: ch5.check_low_pass_radius(0.1, "a", m, x, y),
        "ch6 attacked": lambda m: ch6.attacked(m, x, y, None, steps=2),
        "ch6 attack_split": lambda m: ch6.attack_split(m, x, y, x.flip(0), n_steps=4),
        "ch6 rebuilt_images": lambda m: ch6.rebuilt_images(m, x, y, ks=(4,), n_steps=4),
        "ch6 rebuilt_accuracy": lambda m: ch6.rebuilt_accuracy(m, {"x": x}, y),
        "ch6 smooth_distortion_table": lambda m: ch6.smooth_distortion_table({"vanilla": m, "adversarial": m},
                                                                            x, y, sigmas=(4,)),
        "ch6 choose_band": lambda m: ch6.choose_band(m, torch.ones(24), x, y, max_drop=1.0),
        "ch6 defense_table": lambda m: ch6.defense_table({"vanilla": m, "adversarial": m}, (4.0, 8.0), x, y, x),
        "ch6 steered_table": lambda m: ch6.steered_table({"net": _steered_run(m)}, x, y, x, y),
        "ch6 check_rebuilt_answer": lambda m: ch6.check_rebuilt_answer(0.1, "a", m, x, y, k=4),
    }


EXPERIMENTS = list(_experiments(torch.zeros(N, 3, 32, 32), torch.zeros(N, dtype=torch.long)))


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_every_chapter_experiment_holds_one_batch_in_eval_mode(images, name, monkeypatch, tmp_path):
    monkeypatch.setenv("FREQLENS_BATCH_SIZE", str(BATCH))
    monkeypatch.setenv("FREQLENS_CACHE", str(tmp_path / "cache"))   # nothing read from an earlier run
    model = Recording().train()
    model.net.features[0].eval()   # a frozen layer stays frozen
    _experiments(*images)[name](model)
    assert model.sizes, f"{name} never called the network"
    assert max(model.sizes) <= BATCH, f"{name} passed the network batches of {sorted(set(model.sizes))}"
    assert not any(model.modes), f"{name} called the network in training mode"
    assert model.training and not model.net.features[0].training, \
        f"{name} did not give every submodule its mode back"
