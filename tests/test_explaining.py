"""Chapter 6's experiments: attacks split by frequency, images rebuilt from frequencies, the band-stop's
choice, the verdicts, and the exercises' checks."""

import pandas as pd
import pytest
import torch

from freqlens import attacks, fourier
from freqlens.chapters import ch6_explaining_and_steering as ch6
from freqlens.data import cifar10_tensors


@pytest.fixture(scope="module")
def batch():
    return cifar10_tensors("test", n=16, seed=9)


@pytest.fixture
def model(trained_small_cnn):
    return trained_small_cnn.eval()


def test_the_split_of_an_attack_adds_up_to_the_margins_change(model, batch):
    x, y = batch
    adv = ch6.attacked(model, x, y, None, "linf")
    split = ch6.attack_split(model, x, y, adv, n_steps=64)
    total = split["attributions"].flatten(1).sum(1)
    torch.testing.assert_close(total - split["change"], split["gap"])
    assert float(split["gap"].abs().sum() / split["change"].abs().sum()) < 0.05
    assert (split["change"] > 0).float().mean() > 0.9   # the attack raises the margin
    assert not (split["other"] == y).any()


def test_a_band_limited_attack_is_split_only_inside_its_band(model, batch):
    x, y = batch
    band = attacks.frequency_band("low", 8)
    # unclamped, so that the perturbation lies in the band exactly
    adv = attacks.pgd(model, x, y, 0.5, 0.1, 5, norm="l2", random_start=False, band=band)
    inside = (x + band(adv - x)).clamp(0, 1)
    keep = inside.eq(x + band(adv - x)).flatten(1).all(1)   # images the clamp left alone
    split = ch6.attack_split(model, x[keep], y[keep], inside[keep])
    d = fourier.centred_distance(32, 32)
    outside = split["attributions"].sum(1)[:, d >= 8].abs().sum()
    assert float(outside) < 1e-4 * float(split["attributions"].abs().sum())


def test_the_keep_mask_holds_k_frequencies_and_their_mirrors():
    scores = torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(0))
    mask = ch6.keep_mask(scores, 50)
    mirrored = mask.flip(-1).flip(-2).roll((1, 1), dims=(-2, -1))   # p -> -p about (16, 16)
    assert torch.equal(mask, mirrored)
    assert ((mask.flatten(1).sum(1) >= 50) & (mask.flatten(1).sum(1) <= 100)).all()


def test_an_image_rebuilt_from_every_frequency_is_itself_and_from_the_lfc_disk_its_lfc(batch):
    x = batch[0][:4]
    base = x.mean(dim=(2, 3), keepdim=True).expand_as(x)
    every = torch.ones(4, 32, 32, dtype=torch.bool)
    torch.testing.assert_close(ch6.rebuilt(x, base, every), x, atol=1e-5, rtol=0)
    disk = (fourier.centred_distance(32, 32) < 8).expand(4, 32, 32)
    torch.testing.assert_close(ch6.rebuilt(x, base, disk), fourier.low_pass(x, 8), atol=1e-5, rtol=0)
    assert int(disk[0].sum()) == 193   # the k the chapter compares the LFC with


def test_rebuilt_images_of_the_top_frequencies_keep_more_labels_than_the_bottom(model, batch):
    x, y = batch
    images = ch6.rebuilt_images(model, x, y, ks=(64,), n_steps=16)
    acc = ch6.rebuilt_accuracy(model, images, y)
    assert acc["top 64"] > acc["bottom 64"]
    assert set(images) >= {"original", "LFC r < 8", "HFC r ≥ 8", "top 64", "bottom 64", "random 64"}
    assert all(v.min() >= 0 and v.max() <= 1 for v in images.values())


def test_the_band_stop_removes_the_ring_holding_most_of_the_effect_that_the_network_can_lose(model, batch):
    x, y = batch
    effect = torch.zeros(24)
    effect[[3, 13, 14]] = torch.tensor([0.2, 0.3, 0.3])   # most of the effect in ring 12-16, some in 2-6
    table, band = ch6.choose_band(model, effect, x, y, max_drop=1.0)
    assert band == (12.0, 16.0) and table.loc["12–16", "effect share"] == pytest.approx(0.6)
    table, band = ch6.choose_band(model, effect, x, y, max_drop=1.0, candidates=[(2.0, 6.0), (6.0, 10.0)])
    assert band == (2.0, 6.0)
    with pytest.raises(ValueError, match="max_drop=-1 allows no ring"):
        ch6.choose_band(model, effect, x, y, max_drop=-1)


def test_ring_shares_sum_a_profile_over_the_chapters_rings():
    assert ch6.ring_shares(torch.arange(24.)) == [sum(range(4)), sum(range(4, 8)), sum(range(8, 23))]


def test_split_verdicts_compare_effect_and_energy_in_the_high_ring():
    row = lambda energy, effect: {"energy ≥ 8": energy, "effect ≥ 8": effect}
    table = pd.DataFrame({("a", "all frequencies, L2"): row(0.8, 0.3), ("b", "all frequencies, L∞"): row(0.5, 0.55),
                          ("a", "LFC r < 8"): row(0.0, 0.0)}).T
    said = ch6.split_verdicts(table)
    assert set(said) == {"a, L2", "b, L∞"}
    assert "less in the high frequencies than the energy" in said["a, L2"]
    assert "where the energy is" in said["b, L∞"]


def _said(capsys) -> str:
    """What was printed, with the page's line breaks undone."""
    return " ".join(capsys.readouterr().out.split())


def _sets(whole, low, high, none):
    names = [f"non-robust set, {n}" for n in ch6.BANDS_OF_SETS]
    return pd.DataFrame({"test accuracy": [whole, low, high, none]}, index=names)


@pytest.mark.parametrize("accs, generalise, band", [
    ((0.30, 0.12, 0.25, 0.01), "reproduced", "reproduced"),
    ((0.30, 0.28, 0.25, 0.01), "reproduced", "partly"),
    ((0.11, 0.10, 0.09, 0.01), "not reproduced", "not reproduced"),
])
def test_the_non_robust_verdicts_read_chance_with_its_standard_error(accs, generalise, band):
    judged = ch6.nonrobust_claims(_sets(*accs), n_test=1000)
    assert judged["nonrobust_features_generalise"][1] == generalise
    assert judged["nonrobust_features_band"][1] == band


def test_the_defense_verdict_asks_for_robustness_against_the_adaptive_attack():
    t = lambda stop: pd.DataFrame({"clean": [0.6, 0.6, 0.55, 0.4], "transfer": [0.0, 0.3, stop[0], 0.3],
                                   "adaptive": [0.0, 0.0, stop[1], 0.3]},
                                  index=["undefended", "low-pass r = 8", "band-stop 4–8", "adversarial training"])
    assert ch6.defense_claim(t((0.4, 0.2)))[1] == "reproduced"
    assert ch6.defense_claim(t((0.4, 0.01)))[1] == "partly"
    assert ch6.defense_claim(t((0.02, 0.01)))[1] == "not reproduced"


def test_the_effect_share_check_names_each_slip(capsys):
    attr = torch.zeros(2, 3, 32, 32)
    attr[:, 0, 16, 16] = torch.tensor([2.0, 1.0])
    attr[:, 0, 16, 24] = torch.tensor([1.0, -0.5])   # distance exactly 8
    attr[:, 0, 0, 0] = torch.tensor([1.0, 0.5])
    split = {"attributions": attr, "change": attr.flatten(1).sum(1)}
    right = 3.0 / 5.0
    assert ch6.check_effect_share(right, split)
    assert not ch6.check_effect_share(3.5 / 5.0, split)
    assert "exactly 8" in _said(capsys)
    assert not ch6.check_effect_share(1 - right, split)
    assert "above the radius" in _said(capsys)


def test_the_rebuilt_check_accepts_the_computation_and_the_reason(model, batch, capsys):
    x, y = batch
    bottom = ch6.rebuilt_images(model, x, y, ks=(8,))["bottom 8"]
    from freqlens import evaluate

    value = evaluate.accuracy(model, bottom, y)
    assert ch6.check_rebuilt_answer(value, "(a)", model, x, y, k=8)
    assert not ch6.check_rebuilt_answer(value, "b", model, x, y, k=8)
    assert "argue most against the class" in _said(capsys)


def test_beside_the_sources_reads_what_adversarial_training_buys_per_band():
    rows = {}
    for net, before, after in (("vanilla", 0.4, (1.0, 0.9, 0.8)), ("adversarial", 0.6, (0.7, 0.95, 0.9))):
        for attack, a in zip(("all frequencies, L2", "LFC r < 8", "DCT low 8 × 8"), after):
            rows[net, attack] = {"wrong before": before, "wrong after": a}
    lines = ch6.beside_the_sources(pd.DataFrame(rows).T)
    # all frequencies: 0.6 turned wrong on vanilla, 0.1 on adversarial; LFC: 0.5 and 0.35
    assert "+0.150 of the images under the attack in the LFC disk" in lines["Sharma et al. (low frequencies)"]
    assert "about as vulnerable in the low frequencies" in lines["Sharma et al. (low frequencies)"]
    assert "vanilla 0.400, adversarial 0.300" in lines["Guo et al. (DCT low block)"]
