"""Ilyas et al.'s non-robust training sets: the attack, the cut to a band, the relabelling, the config."""

import pytest
import torch

from freqlens import evaluate, fourier, grid, nonrobust
from freqlens.config import NonRobustSet, TrainConfig
from freqlens.data import cifar10_tensors
from freqlens.experiments import canonical_json


@pytest.fixture(scope="module")
def batch():
    return cifar10_tensors("train", n=64, seed=5)


def test_next_class_is_ilyas_deterministic_target():
    assert nonrobust.next_class(torch.arange(10)).tolist() == [1, 2, 3, 4, 5, 6, 7, 8, 9, 0]


def test_the_cut_bands_add_up_to_the_perturbation_and_none_drops_it(batch):
    x = batch[0][:8]
    adv = (x + 0.05 * torch.randn(x.shape, generator=torch.Generator().manual_seed(1))).clamp(0, 1)
    low, high, all_ = (nonrobust.cut(x, adv, b, 8) for b in ("lfc", "hfc", "all"))
    torch.testing.assert_close(all_, adv)
    assert torch.equal(nonrobust.cut(x, adv, "none"), x)
    for img in (low, high):
        assert img.min() >= 0 and img.max() <= 1
    # away from the clamp, the two cuts are the perturbation's LFC and HFC
    inside = ((x + fourier.low_pass(adv - x, 8)) > 0) & ((x + fourier.low_pass(adv - x, 8)) < 1)
    torch.testing.assert_close((low - x)[inside], fourier.low_pass(adv - x, 8)[inside], atol=1e-6, rtol=0)


def test_the_attack_moves_the_source_towards_the_next_class(trained_small_cnn, batch):
    x, y = batch
    adv = nonrobust.attack(trained_small_cnn, x, y, eps=0.5, alpha=0.1, steps=10)
    target = nonrobust.next_class(y)
    before = evaluate.probabilities(trained_small_cnn, x).gather(1, target[:, None])
    after = evaluate.probabilities(trained_small_cnn, adv).gather(1, target[:, None])
    assert (after > before).float().mean() > 0.9
    assert ((adv - x).flatten(1).norm(dim=1) <= 0.5 + 1e-5).all()
    assert adv.min() >= 0 and adv.max() <= 1


def test_a_config_with_a_non_robust_set_survives_its_json():
    source = TrainConfig(width=8, train_size=100, train_eval_size=0, epochs=1)
    c = TrainConfig(width=8, train_size=100, train_eval_size=0, nonrobust=NonRobustSet(source, band="lfc", radius=8))
    back = grid.from_json(canonical_json(c))
    assert back == c and hash(back) == hash(c) and isinstance(back.nonrobust.source, TrainConfig)


@pytest.mark.parametrize("kwargs, message", [
    (dict(band="lfc"), r"radius must be given exactly when band is 'lfc' or 'hfc', got band='lfc', radius=None"),
    (dict(band="all", radius=8), r"radius must be given exactly when band is 'lfc' or 'hfc'"),
    (dict(band="middle"), r"band must be one of \('all', 'lfc', 'hfc', 'none'\), got 'middle'"),
    (dict(eps=0), r"eps must be a finite number > 0, got 0"),
    (dict(steps=0), r"steps must be an integer >= 1, got 0"),
])
def test_bad_non_robust_sets_get_a_clear_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        NonRobustSet(TrainConfig(), **kwargs)


def test_a_non_robust_set_needs_a_training_config_as_source():
    with pytest.raises(ValueError, match=r"source must be a TrainConfig, got str"):
        NonRobustSet("vanilla")


def test_a_non_robust_set_brings_its_own_view_and_labels():
    s = NonRobustSet(TrainConfig())
    with pytest.raises(ValueError, match=r"nonrobust needs view='original' and shuffled_labels=0"):
        TrainConfig(nonrobust=s, view="lfc", radius=4)


def test_training_on_a_non_robust_set_learns_its_labels(tmp_path, monkeypatch):
    # the set's labels are the next class: a network trained on it follows them on its images
    monkeypatch.setenv("FREQLENS_CACHE", str(tmp_path))
    from freqlens.recipe import _training_data
    from freqlens.train import train

    source = TrainConfig(width=8, train_size=200, test_size=50, epochs=1, batch_size=50, eval_radii=(),
                         train_eval_size=0, augment=False)
    spec = NonRobustSet(source, steps=3)
    c = source.replace(nonrobust=spec)
    x, y, _ = _training_data(c)
    originals, labels = cifar10_tensors("train", n=200)
    assert torch.equal(y, nonrobust.next_class(labels))
    assert ((x - originals).flatten(1).norm(dim=1) <= 0.5 + 1e-4).all() and not torch.equal(x, originals)
    result = train(c, progress=False)
    assert len(result.history) == 1 and "non-robust set (all)" in c.describe()
