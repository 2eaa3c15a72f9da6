"""Evaluation on real CIFAR-10 test images, checked against per-image loops and the Fourier split."""

import pytest
import torch

from freqlens import fourier
from freqlens.data import cifar10_tensors
from freqlens.evaluate import (accuracy, default_batch_size, frequency_accuracy, hfc_keeps_label,
                               predictions, probabilities)

CORNER = fourier.corner_radius(32, 32)


@pytest.fixture
def model(trained_small_cnn):
    """A small CNN trained briefly on real CIFAR-10, so its predictions are far from constant."""
    return trained_small_cnn


@pytest.fixture(scope="module")
def data():
    return cifar10_tensors("test", n=300, seed=1)


def _per_image_predictions(model, x):
    with torch.no_grad():
        return torch.stack([model(x[i:i + 1]).argmax(1)[0] for i in range(x.shape[0])])


def test_predictions_match_a_per_image_loop(model, data):
    x = data[0][:60]
    assert torch.equal(predictions(model, x, batch_size=16), _per_image_predictions(model.eval(), x))


def test_trained_model_beats_chance_and_is_not_constant(model, data):
    x, y = data
    assert accuracy(model, x, y) > 0.18  # chance is 0.10 +- 0.017 on 300 images
    assert predictions(model, x).unique().numel() > 3


def test_accuracy_does_not_depend_on_the_batch_size(model, data):
    x, y = data
    assert accuracy(model, x, y, batch_size=7) == accuracy(model, x, y, batch_size=1000)


def test_accuracy_of_a_model_that_returns_the_label_is_one(data):
    x, y = data

    class Oracle(torch.nn.Module):  # looks the image up among the known ones
        def __init__(self):
            super().__init__()
            self.register_buffer("x", x.flatten(1))

        def forward(self, xb):
            hit = torch.cdist(xb.flatten(1), self.x).argmin(1)
            return torch.nn.functional.one_hot(y[hit], 10).float()

    assert accuracy(Oracle(), x, y, batch_size=32) == 1.0


def test_lfc_at_the_corner_radius_is_the_image_itself(model, data):
    x, y = data
    acc = frequency_accuracy(model, x, y, radii=[CORNER])
    # radius = corner keeps every frequency but the four corners (distance == corner, not < corner)
    lfc = fourier.low_pass(x, CORNER)
    assert acc["lfc"][CORNER] == accuracy(model, lfc, y)
    # losing the Nyquist corner alone moves at most a prediction or two
    assert acc["lfc"][CORNER] == pytest.approx(acc["original"], abs=2 / 300)
    full = frequency_accuracy(model, x, y, radii=[0])
    assert full["hfc"][0.0] == full["original"] == accuracy(model, x, y)


def test_frequency_accuracy_matches_splitting_by_hand(model, data):
    x, y = data
    radii = [4, 8, 12, 16]
    for rescale in (False, True):
        acc = frequency_accuracy(model, x, y, radii=radii, rescale=rescale, batch_size=128)
        for r in radii:
            lfc, hfc = fourier.split(x, r, rescale=rescale)
            assert acc["lfc"][float(r)] == pytest.approx(accuracy(model, lfc, y), abs=1 / 300)
            assert acc["hfc"][float(r)] == pytest.approx(accuracy(model, hfc, y), abs=1 / 300)


def test_one_component_is_the_same_as_its_half_of_both(model, data):
    x, y = data
    both = frequency_accuracy(model, x, y, radii=[4, 8], rescale=True)
    for c in ("lfc", "hfc"):
        one = frequency_accuracy(model, x, y, radii=[4, 8], rescale=True, components=[c])
        assert set(one) == {"original", c}
        assert one[c] == both[c] and one["original"] == both["original"]
    with pytest.raises(ValueError, match=r"components must name one or both of \('lfc', 'hfc'\), got \('band',\)"):
        frequency_accuracy(model, x, y, components=["band"])
    with pytest.raises(ValueError, match="components must name one or both"):
        frequency_accuracy(model, x, y, components=[])


def test_probabilities_are_the_softmax_of_the_predictions(model, data):
    x = data[0][:100]
    p = probabilities(model, x, batch_size=30)
    assert p.shape == (100, 10)
    assert torch.allclose(p.sum(1), torch.ones(100), atol=1e-5)
    assert torch.equal(p.argmax(1), predictions(model, x))
    assert torch.allclose(p, probabilities(model, x), atol=1e-6)  # any batch size


def test_the_default_batch_size_follows_the_device():
    assert default_batch_size(torch.device("cpu")) == 256
    assert default_batch_size(torch.device("cuda")) == 2048


def test_hfc_keeps_label_matches_its_definition(model, data):
    x, y = data
    idx = hfc_keeps_label(model, x, y, radius=8)
    lfc, hfc = fourier.split(x, 8)
    right = predictions(model, x) == y
    expected = torch.nonzero(right & (predictions(model, hfc) == y) & (predictions(model, lfc) != y))
    assert torch.equal(idx, expected.flatten())
    assert bool(right[idx].all())


def test_evaluation_restores_the_training_mode(model, data):
    x, y = data
    model.train()
    accuracy(model, x, y)
    assert model.training
    model.eval()
    frequency_accuracy(model, x, y, radii=[4])
    assert not model.training


def test_bad_inputs_are_rejected(model, data):
    x, y = data
    with pytest.raises(ValueError, match=r"radii must be numbers in \[0, 22.627\]"):
        frequency_accuracy(model, x, y, radii=[30])
    with pytest.raises(ValueError, match="y must be labels of shape"):
        accuracy(model, x, y[:5])
    with pytest.raises(ValueError,
                       match=r"batch_size must be an integer >= 1 \(or None for the device's default\), got 0"):
        accuracy(model, x, y, batch_size=0)
    with pytest.raises(ValueError, match="x must be float images"):
        predictions(model, (x * 255).to(torch.uint8))
