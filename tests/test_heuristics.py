"""The training heuristics: each is one change to the vanilla network; histories read at matched accuracy."""

import math

import pytest

from freqlens import heuristics, profiles
from freqlens.heuristics import HEURISTICS, at_clean_accuracy, config, matched_level, seeds, spread
from freqlens.train import History

# The one change each heuristic makes to the vanilla network, per profile.
EXPECTED_CHANGE = {
    "vanilla": {},
    "small batch": {"batch_size": 32},
    "large batch": {"batch_size": 512},
    "dropout": {"dropout": 0.5},
    "mixup": {"mixup_alpha": 1.0},
    "batchnorm": {"batchnorm": True},
}


def _differences(a, b) -> dict:
    return {k: v for k, v in b.__dict__.items() if a.__dict__[k] != v}


@pytest.mark.parametrize("profile", profiles.PROFILES)
def test_vanilla_is_the_reference_network_without_batchnorm(profile):
    c = config("vanilla", profile)
    assert not c.batchnorm and c.dropout == 0 and c.mixup_alpha == 0 and c.adv_eps == 0
    assert c.optimizer == "adam" and c.weight_decay == 0 and not c.augment and c.label_smoothing == 0


@pytest.mark.parametrize("name", sorted(EXPECTED_CHANGE))
def test_each_heuristic_changes_one_thing(name):
    assert _differences(config("vanilla", "quick"), config(name, "quick")) == EXPECTED_CHANGE[name]


@pytest.mark.parametrize("profile", profiles.PROFILES)
def test_adversarial_training_is_madrys_pgd_without_a_random_start(profile):
    c = config("adversarial", profile)
    changed = _differences(config("vanilla", profile), c)
    assert changed == profiles.ADVERSARIAL[profile]
    assert c.adv_eps == 0.03 and not c.adv_random_start
    assert c.eval_pgd_size > 0   # PGD accuracy along training
    assert c.eval_pgd_size <= (c.test_size or 10000)
    # the steps add up to eps, as the reference's 10 steps of 0.003 do
    assert math.isclose(c.adv_steps * c.adv_step_size, c.adv_eps)


def test_the_full_profile_keeps_the_reference_recipe():
    c = config("adversarial", "full")
    assert c.eval_pgd_size == 1000 and config("adversarial", "smoke").eval_pgd_size < 1000
    assert (c.model, c.adv_steps, c.adv_step_size) == ("resnet18", 10, 0.003)
    assert config("vanilla", "full").train_size is None


def test_overrides_go_on_top_and_switching_batchnorm_gives_the_same_network():
    assert config("vanilla", "quick", batchnorm=True) == config("batchnorm", "quick")
    assert config("batchnorm", "quick", batchnorm=False) == config("vanilla", "quick")
    lfc = config("batchnorm", "quick", seed=2, view="lfc", radius=4)
    assert (lfc.view, lfc.radius, lfc.seed, lfc.batchnorm) == ("lfc", 4.0, 2, True)


def test_adam_keeps_its_learning_rate_without_batchnorm_and_sgd_lowers_it():
    assert profiles.budget("heuristics", "quick", batchnorm=False)["lr"] == 3e-3
    assert profiles.budget("heuristics", "full", batchnorm=False)["lr"] == 1e-3
    assert profiles.budget("standard", "quick", batchnorm=False)["lr"] == profiles.LR_WITHOUT_BATCHNORM["quick"]


def test_the_batchnorm_verdict_rests_on_three_seeds_in_every_profile_that_gives_one():
    for profile in ("quick", "full"):   # the smoke profile gives no verdict: one seed each
        assert len(seeds("vanilla", profile)) >= 3 and len(seeds("batchnorm", profile)) >= 3
    assert seeds("mixup", "full") == (0, 1, 2)
    assert all(seeds(name, "smoke") == (0,) for name in HEURISTICS)


def test_an_unknown_heuristic_is_refused_with_the_list():
    with pytest.raises(ValueError, match=r"heuristic must be one of .*'batchnorm'.*, got 'batch norm'"):
        config("batch norm")
    with pytest.raises(ValueError, match="profile must be one of"):
        seeds("vanilla", "laptop")


def _history(clean, hfc):
    return History(epoch=list(range(1, len(clean) + 1)), test_acc=clean, test_hfc_acc={4.0: hfc},
                   test_lfc_acc={4.0: [0.1] * len(clean)})


def test_at_clean_accuracy_interpolates_at_the_first_crossing():
    h = _history([0.3, 0.5, 0.35, 0.6], [0.2, 0.4, 0.9, 0.5])
    assert at_clean_accuracy(h, 0.5) == pytest.approx(0.4)        # exactly at epoch 2
    assert at_clean_accuracy(h, 0.4) == pytest.approx(0.3)        # halfway through 0.3 -> 0.5
    assert at_clean_accuracy(h, 0.55) == pytest.approx(0.9 + 0.8 * (0.5 - 0.9))  # 0.35 -> 0.6
    assert at_clean_accuracy(h, 0.2) == pytest.approx(0.1 + 0.5 * (0.2 - 0.1))  # from chance
    assert math.isnan(at_clean_accuracy(h, 0.7))                   # never reached


def test_at_clean_accuracy_reads_lfc_copies_and_checks_its_arguments():
    h = _history([0.3, 0.5], [0.2, 0.4])
    assert at_clean_accuracy(h, 0.5, component="lfc") == pytest.approx(0.1)
    with pytest.raises(ValueError, match=r"radius must be one of the history's radii \[4.0\], got 8"):
        at_clean_accuracy(h, 0.4, radius=8)
    with pytest.raises(ValueError, match=r"level must be a finite number in \[0, 1\], got 40"):
        at_clean_accuracy(h, 40)
    with pytest.raises(ValueError, match="component must be one of"):
        at_clean_accuracy(h, 0.4, component="test")


def test_matched_level_is_the_lowest_peak():
    runs = [_history([0.3, 0.55, 0.5], [0.1] * 3), _history([0.2, 0.45], [0.1] * 2)]
    assert matched_level(runs) == 0.45
    assert matched_level(runs, margin=0.05) == pytest.approx(0.40)
    with pytest.raises(ValueError, match="histories must hold at least one history"):
        matched_level([])


def test_spread_leaves_out_missing_values():
    assert spread([0.5]) == (0.5, 0.0)
    mean, std = spread([0.1, 0.3, float("nan")])
    assert mean == pytest.approx(0.2) and std == pytest.approx(0.1414, abs=1e-4)
    assert all(math.isnan(v) for v in spread([float("nan")]))


def test_there_are_the_papers_seven_heuristics():
    assert len(HEURISTICS) == 7 and "consistency" not in HEURISTICS
    with pytest.raises(ValueError, match="heuristic must be one of"):
        config("consistency", "quick")


def test_every_heuristic_builds_a_valid_config_in_both_profiles():
    for profile in profiles.PROFILES:
        for name in heuristics.HEURISTICS:
            for seed in heuristics.seeds(name, profile):
                assert config(name, profile, seed).seed == seed
