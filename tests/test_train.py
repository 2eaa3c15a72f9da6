"""The trainer on real CIFAR-10 subsets: configs, cache, determinism, resume, two processes."""

import dataclasses
import json
import math
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from freqlens import attacks, defenses, evaluate, experiments, fourier, recipe, training_loop
from freqlens.data import cifar10_tensors
from freqlens.evaluate import accuracy, frequency_accuracy
from freqlens.train import (History, TrainConfig, augment, current_profile, learning_rate, mixup,
                            tracked_training_images, train)

# Tiny but real: 600 stratified CIFAR-10 images, a narrow CNN, two epochs.
TINY = dict(width=8, train_size=600, test_size=200, epochs=2, batch_size=100, lr=0.05,
            eval_radii=(4, 12), train_eval_size=100)
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FREQLENS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("FREQLENS_PROGRESS", "0")
    return tmp_path / "cache"


def _without_seconds(history: History) -> dict:
    d = history.as_dict()
    d.pop("seconds"), d.pop("eval_seconds")  # wall-clock times are all a rerun may not repeat
    return d


def _same_weights(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


# --------------------------------------------------------------------------- configs

@pytest.mark.parametrize("changes,message", [
    (dict(model="vgg"), "model must be one of .*got 'vgg'"),
    (dict(epochs=-1), "epochs must be an integer >= 0, got -1"),
    (dict(epochs=2.5), "epochs must be an integer >= 0, got 2.5"),
    (dict(view="lfc", radius=23), r"radius must be at most 22.627, the distance .* got 23"),
    (dict(view="hfc"), r"radius must be a number > 0 for view='hfc', got None"),
    (dict(view="hfc", radius=0), r"radius must be a number > 0 for view='hfc', got 0.0"),
    (dict(view="hfc", radius=-1), r"radius must be a finite number >= 0, got -1"),
    (dict(radius=4), "radius must be None when view='original'"),
    (dict(view="band"), "view must be one of .*got 'band'"),
    (dict(eval_radii=(4, 30)), r"radius must be at most 22.627, .* got 30 \(in eval_radii\)"),
    (dict(train_size=60000), r"train_size must be an integer in \[10, 50000\]"),
    (dict(dropout=1.0), r"dropout must be a finite number in \[0, 1\), got 1.0"),
    (dict(shuffled_labels=1.5), r"shuffled_labels must be a finite number in \[0, 1\], got 1.5"),
    (dict(lr=0), "lr must be a finite number > 0, got 0"),
    (dict(optimizer="lbfgs"), "optimizer must be one of"),
    (dict(adv_eps=8), r"adv_eps must be a finite number in \[0, 1\] \(images are on the \[0, 1\] scale"),
    (dict(width=0), r"width must be an integer >= 1 \(or None for the model's default\), got 0"),
    (dict(train_eval_size=700, train_size=600), r"train_eval_size must be at most train_size \(600\), got 700"),
    (dict(adv_random_start=1), "adv_random_start must be True or False, got 1"),
    (dict(batchnorm="yes"), "batchnorm must be True or False"),
    (dict(adv_eps=0.03, adv_attack="cw"), "adv_attack must be one of .*got 'cw'"),
    (dict(adv_eps=0.03, adv_clean_weight=1), r"adv_clean_weight must be a finite number in \[0, 1\), got 1"),
    (dict(adv_eps=0.03, adv_consistency=-0.1), "adv_consistency must be a finite number >= 0, got -0.1"),
    (dict(adv_consistency=0.1), "need adversarial training: set adv_eps > 0"),
    (dict(adv_attack="fgsm"), "need adversarial training: set adv_eps > 0"),
    (dict(eval_pgd_size=10), "eval_pgd_size must be 0 without adversarial training"),
    (dict(hf_drop=0.5), r"hf_radius must be given exactly when hf_drop or hf_gradient_penalty is > 0"),
    (dict(hf_radius=8), r"hf_radius must be given exactly when .*got hf_radius=8.0, hf_drop=0.0"),
    (dict(hf_radius=8, hf_drop=1.5), r"hf_drop must be a finite number in \[0, 1\], got 1.5"),
    (dict(hf_radius=8, hf_gradient_penalty=-1), r"hf_gradient_penalty must be a finite number >= 0, got -1"),
    (dict(hf_radius=8, hf_gradient_penalty=1, adv_eps=0.03), "hf_gradient_penalty must be 0 with adversarial"),
    (dict(nonrobust="vanilla"), "nonrobust must be a NonRobustSet or None, got str"),
    (dict(adv_eps=0.03, adv_consistency=0.1, mixup_alpha=1.0), "mixup_alpha must be 0 with adv_clean_weight"),
])
def test_bad_configs_are_rejected_naming_the_field(changes, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**changes)


def test_equal_configs_share_one_key_and_different_ones_do_not():
    a = TrainConfig(view="lfc", radius=8, eval_radii=(8, 4))
    b = TrainConfig(view="lfc", radius=8.0, eval_radii=(4.0, 8.0), width=16)
    assert a == b and hash(a) == hash(b)
    assert experiments.config_key(a) == experiments.config_key(b)
    assert experiments.config_key(a) != experiments.config_key(a.replace(rescale=True))
    assert experiments.config_key(a) != experiments.config_key(a.replace(seed=1))
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.epochs = 3


def test_profiles_give_the_same_code_two_scales(monkeypatch):
    quick = TrainConfig.for_profile("quick", view="hfc", radius=4)
    full = TrainConfig.for_profile("full", view="hfc", radius=4)
    assert quick.model == "small_cnn" and full.model == "resnet18"
    assert full.train_size is None and quick.train_size < 50000
    assert quick.view == full.view == "hfc"
    no_bn = TrainConfig.quick(batchnorm=False)
    assert no_bn.lr < quick.lr and TrainConfig.quick(batchnorm=False, lr=0.3).lr == 0.3
    monkeypatch.setenv("FREQLENS_PROFILE", "quick")
    assert current_profile() == "quick" and TrainConfig.for_profile() == TrainConfig.quick()
    assert TrainConfig() == TrainConfig.quick()  # the defaults are the quick preset
    monkeypatch.setenv("FREQLENS_PROFILE", "huge")
    with pytest.raises(ValueError, match="FREQLENS_PROFILE must be one of"):
        current_profile()
    with pytest.raises(ValueError, match=r"unknown TrainConfig fields \['epoch'\]"):
        TrainConfig.for_profile("quick", epoch=3)


# --------------------------------------------------------------------------- training

def test_history_has_every_measure_for_every_epoch_and_radius():
    result = train(TrainConfig(**TINY), device="cpu")
    h = result.history
    assert h.epoch == [1, 2] and not result.model.training
    for name in ("train_loss", "train_acc", "train_eval_acc", "test_acc", "lr", "seconds",
                 "eval_seconds"):
        assert len(getattr(h, name)) == 2, name
    for name in ("test_lfc_acc", "test_hfc_acc", "train_lfc_acc", "train_hfc_acc"):
        assert sorted(getattr(h, name)) == [4.0, 12.0]
        assert all(len(v) == 2 and all(0 <= a <= 1 for a in v) for v in getattr(h, name).values())
    assert h.train_loss[1] < h.train_loss[0]
    assert len(h.records()) == 2 and "test_hfc_acc@12" in h.records()[0]


def test_cache_miss_trains_and_a_hit_loads_without_training(cache):
    config = TrainConfig(**TINY)
    first = train(config, device="cpu")
    assert not first.cached and experiments.entry_path(config).is_file()
    assert not experiments.checkpoint_path(config).exists()  # removed once finished
    second = train(config, device="cpu")
    assert second.cached and second.history == first.history
    assert _same_weights(first.model, second.model)
    other = train(config.replace(epochs=1), device="cpu", cache=False)
    assert not other.cached and not experiments.is_cached(config.replace(epochs=1))


def test_a_corrupt_entry_is_reported_and_retrained(cache, capfd):
    config = TrainConfig(**TINY)
    first = train(config, device="cpu")
    path = experiments.entry_path(config)
    path.write_bytes(path.read_bytes()[:100])  # a torn write
    again = train(config, device="cpu")
    err = capfd.readouterr().err
    assert "is unusable" in err and "training again" in err and len(err.strip().splitlines()) == 1
    assert not again.cached and _without_seconds(again.history) == _without_seconds(first.history)
    assert train(config, device="cpu").cached  # and the retrained entry is good


def test_the_same_config_gives_the_same_history_bit_for_bit():
    config = TrainConfig(**{**TINY, "dropout": 0.2, "mixup_alpha": 0.4, "shuffled_labels": 0.5})
    a = train(config, device="cpu", cache=False)
    b = train(config, device="cpu", cache=False)
    assert _without_seconds(a.history) == _without_seconds(b.history)
    assert _same_weights(a.model, b.model)
    c = train(config.replace(seed=1), device="cpu", cache=False)
    assert _without_seconds(c.history) != _without_seconds(a.history)


@pytest.mark.parametrize("view, rescale", [("lfc", False), ("hfc", True)])
def test_the_model_trains_on_the_view_the_config_names(view, rescale):
    config = TrainConfig(**{**TINY, "epochs": 1}, view=view, radius=4, rescale=rescale)
    result = train(config, device="cpu", cache=False)
    x, y = tracked_training_images(config)
    lfc, hfc = fourier.split(x, 4, rescale=rescale)
    seen = accuracy(result.model, lfc if view == "lfc" else hfc, y)
    # the history's accuracy on the training view is the accuracy on these copies
    # (a prediction may flip on the last float bit of a copy split in another batch)
    assert abs(seen - result.history.train_eval_acc[-1]) <= 0.02


def test_shuffled_labels_are_trained_on_and_leave_nothing_to_generalise_from():
    config = TrainConfig(**{**TINY, "shuffled_labels": 1.0})
    _, y_true = tracked_training_images(config.replace(shuffled_labels=0.0))
    _, y_shuffled = tracked_training_images(config)
    assert float((y_true != y_shuffled).float().mean()) > 0.8
    shuffled = train(config, device="cpu", cache=False)
    assert shuffled.history.test_acc[-1] < 0.25


def test_no_tracked_training_images_leaves_their_measures_empty():
    h = train(TrainConfig(**{**TINY, "epochs": 1, "train_eval_size": 0}), device="cpu", cache=False).history
    assert h.test_lfc_acc[4.0][0] >= 0 and h.test_hfc_acc[12.0][0] >= 0
    assert math.isnan(h.train_eval_acc[0]) and math.isnan(h.train_lfc_acc[4.0][0])


def test_tracked_training_images_are_the_ones_the_history_measured():
    config = TrainConfig(**{**TINY, "shuffled_labels": 0.5})
    result = train(config, device="cpu", cache=False)
    x, y = tracked_training_images(config)
    assert x.shape == (config.train_eval_size, 3, 32, 32) and y.shape == (config.train_eval_size,)
    h = result.history
    # the same images and the same (half shuffled) labels give the same accuracies again
    assert accuracy(result.model, x, y) == h.train_eval_acc[-1]
    again = frequency_accuracy(result.model, x, y, radii=config.eval_radii)
    for r in config.eval_radii:
        assert again["lfc"][r] == h.train_lfc_acc[r][-1]
        assert again["hfc"][r] == h.train_hfc_acc[r][-1]
    # and the labels are the shuffled ones: against the true labels the accuracy differs
    _, y_true = tracked_training_images(config.replace(shuffled_labels=0.0))
    assert not torch.equal(y, y_true)
    with pytest.raises(ValueError, match="config must be a TrainConfig"):
        tracked_training_images({"train_size": 600})


@pytest.mark.parametrize("view, clip", [("original", (0.0, 1.0)), ("hfc", None)])
def test_adversarial_training_attacks_every_batch_with_the_configs_pgd(monkeypatch, view, clip):
    calls = []
    pgd = attacks.pgd

    def recording_pgd(model, images, labels, eps, alpha, steps, **kwargs):
        adv = pgd(model, images, labels, eps, alpha, steps, **kwargs)
        calls.append(dict(eps=eps, alpha=alpha, steps=steps, n=len(images), **kwargs,
                          moved=float((adv - images).abs().max()), training=model.training))
        return adv

    monkeypatch.setattr(attacks, "pgd", recording_pgd)
    config = TrainConfig(**{**TINY, "train_size": 200, "epochs": 1, "adv_eps": 8 / 255, "adv_steps": 2,
                            "adv_random_start": False},
                         **({"view": "hfc", "radius": 8} if view == "hfc" else {}))
    result = train(config, device="cpu", cache=False)
    assert len(calls) == 2  # 200 images in batches of 100
    for call in calls:
        assert call["eps"] == config.adv_eps and call["steps"] == 2 and call["n"] == 100
        assert call["alpha"] == pytest.approx(2.5 * config.adv_eps / 2)
        assert call["random_start"] is False and call["clip"] == clip
        # the training batch in one pass, its input gradients in float32 (no float16 underflow)
        assert call["batch_size"] == 100 and call["autocast"] is False
        assert 0 < call["moved"] <= config.adv_eps + 1e-6
    assert torch.isfinite(torch.tensor(result.history.train_loss)).all()


def test_fgsm_training_attacks_every_batch_with_one_step_of_eps(monkeypatch):
    calls = []
    fgsm = attacks.fgsm

    def recording_fgsm(model, images, labels, eps, **kwargs):
        adv = fgsm(model, images, labels, eps, **kwargs)
        calls.append(dict(eps=eps, **kwargs, moved=float((adv - images).abs().max())))
        return adv

    monkeypatch.setattr(attacks, "fgsm", recording_fgsm)
    monkeypatch.setattr(attacks, "pgd", lambda *a, **k: pytest.fail("PGD was called for adv_attack='fgsm'"))
    config = TrainConfig(**{**TINY, "train_size": 200, "epochs": 1, "adv_eps": 0.03, "adv_attack": "fgsm"})
    train(config, device="cpu", cache=False)
    assert [c["eps"] for c in calls] == [0.03, 0.03] and all(c["clip"] == (0.0, 1.0) for c in calls)
    assert all(c["moved"] == pytest.approx(0.03, abs=1e-6) for c in calls)


def test_fgsm_training_can_watch_its_pgd_accuracy_for_catastrophic_overfitting():
    config = TrainConfig(**{**TINY, "train_size": 200, "epochs": 2, "adv_eps": 0.03, "adv_attack": "fgsm",
                            "eval_pgd_size": 20})
    result = train(config, device="cpu", cache=False)
    h, model = result.history, result.model
    assert len(h.test_pgd_acc) == 2 and all(0.0 <= a <= 1.0 for a in h.test_pgd_acc)
    x, y = cifar10_tensors("test", n=config.test_size, seed=config.subset_seed)
    assert training_loop.pgd_accuracy(model, x[:20], y[:20], 0.03, 8) == pytest.approx(h.test_pgd_acc[-1])
    assert h.test_pgd_acc[-1] <= accuracy(model, x[:20], y[:20]) + 1e-9   # PGD never helps


def test_least_likely_training_steps_each_batch_towards_its_least_likely_class(monkeypatch):
    calls = []
    fgsm = attacks.fgsm

    def recording_fgsm(model, images, labels, eps, **kwargs):
        calls.append(dict(kwargs, right=bool(torch.equal(labels, evaluate.least_likely(model, images)))))
        return fgsm(model, images, labels, eps, **kwargs)

    monkeypatch.setattr(attacks, "fgsm", recording_fgsm)
    config = TrainConfig(**{**TINY, "train_size": 200, "epochs": 1, "adv_eps": 0.03, "adv_attack": "fgsm_ll"})
    train(config, device="cpu", cache=False)
    assert len(calls) == 2 and all(c["targeted"] and c["right"] for c in calls)


@pytest.mark.parametrize("weight, beta", [(0.5, 0.1), (0.5, 0.0), (0.0, 2.0)])
def test_the_paired_loss_is_dong_et_al_s_formula_on_real_images(weight, beta):
    config = TrainConfig(**{**TINY, "batchnorm": False, "augment": False, "label_smoothing": 0.1,
                            "adv_eps": 0.03, "adv_attack": "fgsm", "adv_clean_weight": weight,
                            "adv_consistency": beta})
    x, y = cifar10_tensors("train", n=32)
    run = training_loop.new_run(config, torch.device("cpu"), rank=0, world=1)
    run.model.train()
    loss, logits, yb = recipe.batch_loss(run, run.model, x, y)

    # by hand: FGSM twins, two separate passes (no BatchNorm: the same as one joint pass),
    # features read from the last ReLU
    x_adv = attacks.fgsm(run.model, x, y, 0.03)
    feats = {}
    relu = run.model.features[3].relu
    hook = relu.register_forward_hook(lambda m, i, out: feats.setdefault(len(feats), out))
    clean_logits, adv_logits = run.model(x), run.model(x_adv)
    hook.remove()
    ce = lambda z: torch.nn.functional.cross_entropy(z, y, label_smoothing=0.1)
    distance = (feats[0] - feats[1]).flatten(1).norm(dim=1).mean()
    expected = weight * ce(clean_logits) + (1 - weight) * ce(adv_logits) + beta * distance
    assert distance > 0
    assert float(loss.detach()) == pytest.approx(float(expected.detach()), rel=1e-5)
    assert torch.allclose(logits, adv_logits, atol=1e-5) and torch.equal(yb, y)


def test_the_consistency_term_has_a_finite_gradient_where_the_features_agree():
    a = torch.rand(3, 4, 2, 2, requires_grad=True)
    from freqlens.train import consistency_loss

    consistency_loss(a, a.detach().clone()).backward()
    assert torch.isfinite(a.grad).all() and float(a.grad.abs().max()) == 0


def test_the_consistency_term_brings_clean_and_adversarial_features_together():
    from freqlens.train import consistency_loss, last_conv_layer

    base = {**TINY, "train_size": 300, "epochs": 2, "adv_eps": 0.03, "adv_attack": "fgsm",
            "adv_clean_weight": 0.5}
    x, y = cifar10_tensors("test", n=200)
    distances = {}
    for beta in (0.0, 1.0):
        model = train(TrainConfig(**base, adv_consistency=beta), device="cpu", cache=False).model.eval()
        x_adv = attacks.fgsm(model, x, y, 0.03)
        feats = []
        hook = last_conv_layer(model).register_forward_hook(lambda m, i, out: feats.append(out))
        with torch.no_grad():
            model(x), model(x_adv)
        hook.remove()
        distances[beta] = float(consistency_loss(feats[0], feats[1]) / feats[0].flatten(1).norm(dim=1).mean())
    assert 0 < distances[1.0] < 0.8 * distances[0.0], distances


def test_under_torchrun_each_rank_attacks_only_its_own_share(monkeypatch):
    sizes = []
    monkeypatch.setattr(recipe, "_adversarial",
                        lambda model, xb, yb, config, g, rank: sizes.append((rank, len(xb))) or xb)
    config = TrainConfig(**{**TINY, "adv_eps": 8 / 255, "augment": False})
    x, y = cifar10_tensors("train", n=100)
    for rank in (0, 1):
        run = training_loop.new_run(config, torch.device("cpu"), rank=rank, world=2)
        loss, logits, yb = recipe.batch_loss(run, run.model, x[:99], y[:99])
        assert len(logits) == len(yb) == (50 if rank == 0 else 49)
    assert sizes == [(0, 50), (1, 49)]


# --------------------------------------------------------------------------- the steps, public

@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_the_schedule_warms_up_then_decays_to_zero(schedule):
    c = TrainConfig(lr=0.4, warmup=0.2, schedule=schedule)
    rates = [learning_rate(c, s, 100) for s in range(101)]
    assert rates[0] == pytest.approx(0.02) and rates[19] == pytest.approx(0.4)
    assert all(a < b for a, b in zip(rates[:20], rates[1:20]))       # warm-up rises
    assert all(a >= b for a, b in zip(rates[20:], rates[21:]))       # then never rises
    assert rates[100] == pytest.approx(0.0, abs=1e-12)
    halfway = learning_rate(c, 60, 100)  # half of the decay
    assert halfway == pytest.approx(0.2)


def test_the_step_schedule_divides_by_ten_at_half_and_three_quarters():
    c = TrainConfig(lr=0.4, schedule="step")
    assert [learning_rate(c, s, 100) for s in (0, 49, 50, 74, 75, 99)] == pytest.approx(
        [0.4, 0.4, 0.04, 0.04, 0.004, 0.004])
    assert {learning_rate(TrainConfig(lr=0.3, schedule="constant"), s, 10) for s in range(10)} == {0.3}


def test_augmentation_flips_and_shifts_each_image_as_its_generator_says():
    x, _ = cifar10_tensors("test", n=64, seed=2)
    out = augment(x, torch.Generator().manual_seed(3))
    assert torch.equal(out, augment(x, torch.Generator().manual_seed(3)))
    assert not torch.equal(out, augment(x, torch.Generator().manual_seed(4)))
    padded = torch.nn.functional.pad(torch.cat([x, x.flip(3)]), (4, 4, 4, 4))
    flips, offsets = [], []
    for i in range(64):
        found = {(f, dy, dx) for f in (0, 1) for dy in range(9) for dx in range(9)
                 if torch.equal(out[i], padded[i + 64 * f, :, dy:dy + 32, dx:dx + 32])}
        assert found, f"image {i} is not a flipped or shifted copy of its original"
        flips.append(min(f for f, _, _ in found))
        offsets.append({(dy, dx) for _, dy, dx in found})
    assert 10 < sum(flips) < 54  # flips are random per image
    groups = [set.intersection(*offsets[g:g + 16]) for g in range(0, 64, 16)]
    assert all(groups), "each run of 16 images shares one crop offset"
    assert len({min(g) for g in groups}) > 1, "the offsets differ from group to group"


def test_mixup_mixes_each_image_with_a_partner_by_one_draw_of_the_generator():
    x, _ = cifar10_tensors("test", n=32, seed=4)
    ids = torch.arange(32)
    mixed, partner, lam = mixup(x, ids, 1.0, torch.Generator().manual_seed(0))
    assert 0 <= lam <= 1 and sorted(partner.tolist()) == list(range(32))
    assert torch.equal(mixed, lam * x + (1 - lam) * x[partner])
    again = mixup(x, ids, 1.0, torch.Generator().manual_seed(0))
    assert torch.equal(again[0], mixed) and again[2] == lam
    lams = [mixup(x[:2], ids[:2], 1.0, torch.Generator().manual_seed(s))[2] for s in range(300)]
    assert abs(sum(lams) / 300 - 0.5) < 0.05       # Beta(1, 1) is uniform
    edges = [mixup(x[:2], ids[:2], 0.1, torch.Generator().manual_seed(s))[2] for s in range(300)]
    assert sum(min(v, 1 - v) < 0.05 for v in edges) > 150  # Beta(0.1, 0.1) sits near 0 and 1


def test_budgets_are_named_per_profile():
    quick = TrainConfig.for_profile("quick", budget="table1", view="lfc", radius=8)
    assert (quick.train_size, quick.epochs, quick.augment) == (2000, 10, False)
    assert TrainConfig.for_profile("full", budget="table1") == TrainConfig.full()
    for profile in ("quick", "full"):
        memo = TrainConfig.for_profile(profile, budget="memorise")
        assert memo.weight_decay == 0 and not memo.augment and memo.label_smoothing == 0
    assert TrainConfig.for_profile("quick", budget="memorise", batchnorm=False).lr == 0.1
    with pytest.raises(ValueError, match=r"budget must be one of \('standard', 'table1', 'memorise'"):
        TrainConfig.for_profile("quick", budget="table2")


# --------------------------------------------------------------------------- the cache key

def test_an_entry_written_by_other_code_is_not_served(cache, capfd):
    config = TrainConfig(**{**TINY, "epochs": 1})
    train(config, device="cpu")
    path = experiments.entry_path(config)
    entry = torch.load(path, weights_only=True)
    entry["code"] = "0" * 64
    experiments.write(entry, path)
    again = train(config, device="cpu")
    assert not again.cached and "written for another config or by other code" in capfd.readouterr().err
    assert train(config, device="cpu").cached


def _child_pausing_after_epoch_1(config, seconds: float) -> subprocess.Popen:
    """A process training ``config`` that prints "checkpointed" after epoch 1's checkpoint, then sleeps."""
    script = textwrap.dedent(f"""
        import json, sys, time
        from freqlens import experiments
        from freqlens.train import TrainConfig, train
        write = experiments.write
        def write_then_pause(obj, path):
            write(obj, path)
            if str(path).endswith(".ckpt.pt") and obj["epoch"] == 1:
                print("checkpointed", flush=True)
                time.sleep({seconds})
        experiments.write = write_then_pause
        train(TrainConfig(**json.loads(sys.argv[1])), device="cpu")
    """)
    cfg = {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(config).items()}
    return subprocess.Popen([sys.executable, "-c", script, json.dumps(cfg)],
                            stdout=subprocess.PIPE, text=True, env=os.environ.copy())


def test_a_killed_run_resumes_from_its_checkpoint_to_the_same_history(cache, tmp_path):
    config = TrainConfig(**{**TINY, "epochs": 3})
    child = _child_pausing_after_epoch_1(config, 600)   # so the kill lands mid-training
    try:
        assert child.stdout.readline().strip() == "checkpointed"
    finally:
        child.kill()
        child.wait(timeout=60)
    assert experiments.checkpoint_path(config).is_file()
    assert not experiments.entry_path(config).exists()
    saved = torch.load(experiments.checkpoint_path(config), weights_only=True)
    assert saved["epoch"] == 1

    resumed = train(config, device="cpu")
    assert not resumed.cached and resumed.history.seconds[0] == saved["history"]["seconds"][0]
    straight = train(config, device="cpu", cache=False)
    assert _without_seconds(resumed.history) == _without_seconds(straight.history)
    assert _same_weights(resumed.model, straight.model)


def test_a_second_process_waits_for_the_first_and_gets_its_network(cache, capfd, monkeypatch):
    config = TrainConfig(**{**TINY, "epochs": 3})
    monkeypatch.setattr(experiments, "WAIT_REPORT_SECONDS", 1.0)
    # The child pauses holding the config's lock; without the lock this process would
    # resume from the child's checkpoint and train the rest itself; without looking in the
    # cache again once it holds the lock, it would train the whole network a second time.
    child = _child_pausing_after_epoch_1(config, 3)
    try:
        assert child.stdout.readline().strip() == "checkpointed"
        second = train(config, device="cpu")
    finally:
        assert child.wait(timeout=300) == 0
    assert second.cached
    entry = torch.load(experiments.entry_path(config), weights_only=True)
    assert second.history.as_dict() == History.from_dict(entry["history"]).as_dict()
    name, key = config.describe(), experiments.config_key(config)[:12]
    err = capfd.readouterr().err
    assert f"freqlens: {name} [{key}] is being trained by another process; waiting for it\n" in err
    assert re.search(rf"^freqlens: waiting \d+ s for {re.escape(name)}$", err, re.M)
    assert re.search(rf"^freqlens: waited \d+ s for {re.escape(name)}$", err, re.M)


def test_an_entry_whose_history_no_longer_fits_is_reported_and_retrained(cache, capfd):
    config = TrainConfig(**{**TINY, "epochs": 1})
    train(config, device="cpu")
    path = experiments.entry_path(config)
    entry = torch.load(path, weights_only=True)
    entry["history"]["a_measure_since_removed"] = [0.5]
    experiments.write(entry, path)
    again = train(config, device="cpu")
    assert not again.cached and "is unusable (TypeError" in capfd.readouterr().err
    assert train(config, device="cpu").cached


def test_two_gloo_processes_agree_with_one(tmp_path):
    # No BatchNorm and an even split: each rank's half-batch mean gradient, averaged by
    # all-reduce, is the full batch's mean gradient, so the two runs differ only in float32
    # summation order (~1e-7 relative per step). Over 12 steps that stays far below 1e-3
    # on the loss; an accuracy may move by a flipped near-tie prediction, 1 in 200 = 0.005.
    config = TrainConfig(**{**TINY, "batchnorm": False})
    cfg = {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(config).items()}
    out = tmp_path / "ddp.json"
    script = tmp_path / "ddp_train.py"
    script.write_text(textwrap.dedent(f"""
        import json, os
        import torch.distributed as dist
        from freqlens.train import TrainConfig, train
        r = train(TrainConfig(**json.loads({json.dumps(json.dumps(cfg))})), device="cpu")
        if int(os.environ["RANK"]) == 0:
            open({str(out)!r}, "w").write(json.dumps(r.history.as_dict()))
    """))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MASTER_ADDR": "127.0.0.1"}
    run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                          "--nproc_per_node=2", str(script)],
                         capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    ddp = json.loads(out.read_text())
    assert experiments.is_cached(config)  # rank 0 wrote the entry
    single = train(config, device="cpu", cache=False).history
    assert ddp["epoch"] == single.epoch
    for a, b in zip(ddp["train_loss"], single.train_loss):
        assert a == pytest.approx(b, abs=1e-3)
    for name in ("test_acc", "train_eval_acc"):
        for a, b in zip(ddp[name], getattr(single, name)):
            assert a == pytest.approx(b, abs=0.0101)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_mixed_precision_training_steps_on_cuda_keep_the_attacks_exact(monkeypatch):
    """On CUDA the loss runs under autocast; the attacks inside take float32 input gradients
    unless the GPU computes in bfloat16, whose range is float32's."""
    calls = []
    pgd = attacks.pgd

    def recording_pgd(model, images, labels, eps, alpha, steps, **kwargs):
        calls.append(dict(kwargs, device=images.device.type))
        return pgd(model, images, labels, eps, alpha, steps, **kwargs)

    monkeypatch.setattr(attacks, "pgd", recording_pgd)
    config = TrainConfig(**{**TINY, "train_size": 200, "epochs": 1, "adv_eps": 8 / 255, "adv_steps": 2})
    result = train(config, device="cuda", cache=False)
    assert torch.isfinite(torch.tensor(result.history.train_loss)).all()
    assert next(result.model.parameters()).device.type == "cuda"
    assert calls and all(c["device"] == "cuda" for c in calls)
    assert all(c["autocast"] is torch.cuda.is_bf16_supported() for c in calls)
    plain = train(TrainConfig(**{**TINY, "train_size": 200, "epochs": 1}), device="cuda", cache=False)
    assert torch.isfinite(torch.tensor(plain.history.train_loss)).all()


# --------------------------------------------------------------------------- steering towards low frequencies

def test_dropping_high_frequencies_replaces_a_drawn_share_of_the_images_by_their_lfc():
    x = cifar10_tensors("train", n=400)[0]
    out = recipe.drop_high_frequencies(x, 8, 0.25, torch.Generator().manual_seed(0))
    dropped = ~(out == x).flatten(1).all(1)
    torch.testing.assert_close(out[dropped], fourier.low_pass(x[dropped], 8), atol=1e-6, rtol=0)
    assert 0.18 < float(dropped.float().mean()) < 0.32
    assert torch.equal(recipe.drop_high_frequencies(x, 8, 0.0, torch.Generator()), x)


def test_the_gradient_penalty_is_each_images_own_gradients_high_frequency_energy():
    # against a loop over images, each with its own loss and its own gradient
    config = TrainConfig(**{**TINY, "train_size": 200, "epochs": 1, "augment": False, "hf_radius": 8,
                            "hf_gradient_penalty": 2.0, "label_smoothing": 0.0, "batchnorm": False})
    run = training_loop.new_run(config, torch.device("cpu"))
    x, y = cifar10_tensors("train", n=6)
    # a little noise breaks the ties of flat (saturated) regions, whose max-pooling gradient
    # may go to either of equal values depending on the batch's memory layout
    noise = torch.rand(x.shape, generator=torch.Generator().manual_seed(0))
    x = 0.98 * x + 0.02 * noise
    loss, _, _ = recipe.batch_loss(run, run.model, x, y)
    model = run.model.train()
    ce, energy = [], []
    for i in range(6):
        xi = x[i:i + 1].clone().requires_grad_(True)
        li = torch.nn.functional.cross_entropy(model(xi), y[i:i + 1])
        (g,) = torch.autograd.grad(li, xi)
        ce.append(float(li.detach()))
        energy.append(float(fourier.high_pass(g, 8).square().sum()))
    expected = sum(ce) / 6 + 2.0 * sum(energy) / 6
    assert float(loss) == pytest.approx(expected, rel=1e-4)
    # and it is trained through: the penalty's own gradient reaches the weights
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())


def test_training_with_the_gradient_penalty_lowers_the_gradients_high_frequencies():
    base = TrainConfig(**{**TINY, "train_size": 400, "epochs": 2, "augment": False, "batchnorm": False,
                          "optimizer": "adam", "lr": 3e-3})
    x, y = cifar10_tensors("test", n=64)
    energies = {}
    for penalty in (0.0, 10.0):
        extra = dict(hf_radius=8, hf_gradient_penalty=penalty) if penalty else {}
        model = train(base.replace(**extra), device="cpu", cache=False, progress=False).model
        g = attacks.gradient.loss_gradient(model, x, y)
        energies[penalty] = float(recipe.high_frequency_gradient_energy(g, 8).sum()
                                  / g.flatten(1).square().sum(1).sum())
    assert energies[10.0] < energies[0.0]


def test_the_kernel_penalty_adds_the_first_layers_mean_roughness_and_smooths_it():
    base = TrainConfig(**{**TINY, "train_size": 400, "epochs": 2, "augment": False, "batchnorm": False,
                          "optimizer": "adam", "lr": 3e-3})
    run = training_loop.new_run(base.replace(kernel_penalty=0.5), torch.device("cpu"))
    x, y = cifar10_tensors("train", n=8)
    torch.manual_seed(0)
    plain, _, _ = recipe.batch_loss(training_loop.new_run(base, torch.device("cpu")), run.model, x, y)
    penalised, _, _ = recipe.batch_loss(run, run.model, x, y)
    rough = defenses.roughness(defenses.first_conv(run.model).weight).mean()
    assert float(penalised.detach()) == pytest.approx(float(plain.detach()) + 0.5 * float(rough.detach()),
                                                     rel=1e-5)
    roughness = {}
    for penalty in (0.0, 3.0):   # Adam moves each weight about lr a step: enough steps to move
        longer = base.replace(kernel_penalty=penalty, epochs=4, batch_size=16)
        model = train(longer, device="cpu", cache=False, progress=False).model
        roughness[penalty] = float(defenses.adjacent_differences(model).mean())
    assert roughness[3.0] < 0.5 * roughness[0.0]
    with pytest.raises(ValueError, match=r"kernel_penalty must be a finite number >= 0, got -1"):
        base.replace(kernel_penalty=-1)
