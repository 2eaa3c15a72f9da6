"""The trainer on real CIFAR-10 subsets: configs, cache, determinism, resume, two processes."""

import dataclasses
import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from freqlens import experiments, fourier
from freqlens.evaluate import accuracy, frequency_accuracy
from freqlens.train import History, TrainConfig, current_profile, tracked_training_images, train

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
    (dict(view="lfc", radius=23), r"radius must be a number in \(0, 22.627\] .* got 23"),
    (dict(view="hfc"), "radius must be a number in .* got None"),
    (dict(radius=4), "radius must be None when view='original'"),
    (dict(view="band"), "view must be one of .*got 'band'"),
    (dict(eval_radii=(4, 30)), r"eval_radii must hold numbers in \[0, 22.627\].*got 30"),
    (dict(train_size=60000), r"train_size must be an integer in \[10, 50000\]"),
    (dict(dropout=1.0), r"dropout must be a number in \[0, 1\)"),
    (dict(shuffled_labels=1.5), r"shuffled_labels must be a number in \[0, 1\]"),
    (dict(lr=0), "lr must be a finite number > 0, got 0"),
    (dict(optimizer="lbfgs"), "optimizer must be one of"),
    (dict(adv_eps=8), "adv_eps must be at most 1"),
    (dict(batchnorm="yes"), "batchnorm must be True or False"),
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


def test_views_and_shuffled_labels_change_what_is_learnt():
    lfc = train(TrainConfig(**TINY, view="lfc", radius=4), device="cpu", cache=False)
    hfc = train(TrainConfig(**TINY, view="hfc", radius=4, rescale=True), device="cpu", cache=False)
    assert lfc.history.train_loss != hfc.history.train_loss
    shuffled = train(TrainConfig(**{**TINY, "shuffled_labels": 1.0}), device="cpu", cache=False)
    assert shuffled.history.test_acc[-1] < 0.25  # nothing to generalise from


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


def test_adversarial_training_runs_and_stays_finite():
    config = TrainConfig(**{**TINY, "train_size": 200, "epochs": 1, "adv_eps": 8 / 255,
                            "adv_steps": 2})
    result = train(config, device="cpu", cache=False)
    assert torch.isfinite(torch.tensor(result.history.train_loss)).all()


def test_a_killed_run_resumes_from_its_checkpoint_to_the_same_history(cache, tmp_path):
    config = TrainConfig(**{**TINY, "epochs": 3})
    # The child pauses right after its first checkpoint, so the kill lands mid-training.
    script = textwrap.dedent("""
        import json, sys, time
        from freqlens import experiments
        from freqlens.train import TrainConfig, train
        write = experiments.write
        def write_then_pause(obj, path):
            write(obj, path)
            if str(path).endswith(".ckpt.pt"):
                print("checkpointed", flush=True)
                time.sleep(600)
        experiments.write = write_then_pause
        train(TrainConfig(**json.loads(sys.argv[1])), device="cpu")
    """)
    cfg = {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(config).items()}
    child = subprocess.Popen([sys.executable, "-c", script, json.dumps(cfg)],
                             stdout=subprocess.PIPE, text=True, env=os.environ.copy())
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
