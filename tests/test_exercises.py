"""The self-checks accept the right answer, reject wrong ones with a useful hint, and never raise."""

import pytest
import torch

from freqlens import exercises, fourier
from freqlens.data import cifar10_tensors


@pytest.fixture(scope="module")
def images():
    return cifar10_tensors("test", n=50, seed=3)[0]


def right_answer(x):
    return fourier.energy_below(x, 8).mean()


def test_energy_check_accepts_the_right_answer(images, capsys):
    assert exercises.check_ch1_energy_below(right_answer(images), images) is True
    assert capsys.readouterr().out.startswith(exercises.PASS)


def test_energy_check_accepts_an_independent_numpy_computation(images):
    import numpy as np

    f = np.fft.fftshift(np.fft.fft2(images.double().numpy()), axes=(-2, -1))
    u, v = np.mgrid[:32, :32] - 16
    keep = np.hypot(u, v) < 8
    p = np.abs(f) ** 2
    answer = float(((p * keep).sum(axis=(1, 2, 3)) / p.sum(axis=(1, 2, 3))).mean())
    assert exercises.check_ch1_energy_below(answer, images) is True


def test_energy_check_rejects_a_wrong_answer(images, capsys):
    assert exercises.check_ch1_energy_below(0.5, images) is False
    assert capsys.readouterr().out.startswith(exercises.FAIL)


def test_energy_check_names_the_missing_mean(images, capsys):
    centred = images - images.mean(dim=(-2, -1), keepdim=True)
    assert exercises.check_ch1_energy_below(right_answer(centred), images) is False
    assert "zero frequency" in capsys.readouterr().out


def test_energy_check_names_the_inclusive_radius(images, capsys):
    slip = exercises._ch1_slips(images, 8)
    inclusive = next(v for k, v in slip.items() if "strictly below" in k)
    assert exercises.check_ch1_energy_below(inclusive, images) is False
    assert "strictly below" in capsys.readouterr().out


def test_energy_check_reports_a_placeholder_without_raising(images, capsys):
    assert exercises.check_ch1_energy_below(None, images) is False
    assert capsys.readouterr().out.startswith(exercises.TODO)


@pytest.mark.parametrize("answer", ["0.98", float("nan"), 1.5, -0.1, [0.9, 0.9]])
def test_energy_check_rejects_malformed_answers_without_raising(images, answer):
    assert exercises.check_ch1_energy_below(answer, images) is False


def test_energy_check_asks_for_the_mean_of_per_image_fractions(images, capsys):
    assert exercises.check_ch1_energy_below(fourier.energy_below(images, 8), images) is False
    assert "their mean" in capsys.readouterr().out


# --------------------------------------------------------------------------- chapter 2

@pytest.fixture(scope="module")
def trained(trained_small_cnn):
    """The briefly trained small CNN, and 300 real test images."""
    x, y = cifar10_tensors("test", n=300, seed=2)
    return trained_small_cnn, x, y


def _first_radius_by_hand(model, x, y, fraction=0.9):
    from freqlens.evaluate import accuracy

    target = fraction * accuracy(model, x, y)
    return next(r for r in range(1, 23) if accuracy(model, fourier.low_pass(x, r), y) >= target)


def test_ch2_check_accepts_exactly_the_first_radius(trained, capsys):
    model, x, y = trained
    expected = _first_radius_by_hand(model, x, y)
    assert 2 <= expected <= 21, "the test needs a neighbour on each side"
    assert exercises.check_ch2_radius_for_90_percent(expected, model, x, y)
    assert "✓" in capsys.readouterr().out
    assert not exercises.check_ch2_radius_for_90_percent(expected + 1, model, x, y)
    assert "a smaller radius already reaches" in capsys.readouterr().out
    assert not exercises.check_ch2_radius_for_90_percent(expected - 1, model, x, y)
    assert "below 90%" in capsys.readouterr().out


@pytest.mark.parametrize("answer,message", [
    (None, "not answered yet"), (2.5, "expected a whole number"), ("nine", "expected a whole number"),
    (0, "outside 1 .. 22"), (23, "outside 1 .. 22")])
def test_ch2_check_rejects_malformed_answers_without_raising(trained, capsys, answer, message):
    model, x, y = trained
    assert exercises.check_ch2_radius_for_90_percent(answer, model, x, y) is False
    assert message in capsys.readouterr().out
