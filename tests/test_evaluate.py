"""Evaluation on real CIFAR-10 test images, checked against per-image loops and the Fourier split."""

import pytest
import torch

from freqlens import fourier
from freqlens.data import cifar10_tensors
from freqlens.evaluate import (accuracy, default_batch_size, frequency_accuracy, hfc_keeps_label,
                               predictions, probabilities)
from freqlens.models import SmallCNN

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
    with pytest.raises(ValueError,
                       match=r"^components must be one or more of \('lfc', 'hfc'\), got \['band'\]$"):
        frequency_accuracy(model, x, y, components=["band"])
    with pytest.raises(ValueError, match=r"^components must be one or more of \('lfc', 'hfc'\), got \[\]$"):
        frequency_accuracy(model, x, y, components=[])


def test_probabilities_are_the_softmax_of_the_predictions(model, data):
    x = data[0][:100]
    p = probabilities(model, x, batch_size=30)
    assert p.shape == (100, 10)
    assert torch.allclose(p.sum(1), torch.ones(100), atol=1e-5)
    assert torch.equal(p.argmax(1), predictions(model, x))
    assert torch.allclose(p, probabilities(model, x), atol=1e-6)  # any batch size


class BatchLog:
    """Records the batch size of every forward call of a model, through a forward hook."""

    def __init__(self, model):
        self.sizes = []
        self._handle = model.register_forward_hook(lambda m, args, out: self.sizes.append(args[0].shape[0]))

    def __enter__(self):
        return self.sizes

    def __exit__(self, *exc):
        self._handle.remove()


def _batches(n, size):
    return [min(size, n - i) for i in range(0, n, size)]


def test_the_default_batch_size_follows_the_device():
    assert default_batch_size(torch.device("cpu")) == 256
    assert default_batch_size("cpu") == 256
    assert default_batch_size(torch.device("cuda")) == default_batch_size("cuda:1") == 2048


def test_without_a_batch_size_evaluation_batches_by_the_default_of_the_models_device(model):
    x, y = cifar10_tensors("test", n=600, seed=4)
    default = default_batch_size(next(model.parameters()).device)
    assert default < 600, "the test needs more images than one default batch"
    with BatchLog(model) as sizes:
        frequency_accuracy(model, x, y, radii=[4, 8])
    # each batch runs on the originals, then on the LFC and the HFC copy at each radius
    assert sizes == [b for b in _batches(600, default) for _ in range(5)]
    for run in (lambda: predictions(model, x), lambda: probabilities(model, x), lambda: accuracy(model, x, y),
                lambda: hfc_keeps_label(model, x, y, radius=8)):
        with BatchLog(model) as sizes:
            run()
        assert set(sizes) == {default, 600 % default}
        assert sum(sizes) % 600 == 0


def test_a_given_batch_size_is_used_as_given(model, data):
    x, y = data
    with BatchLog(model) as sizes:
        frequency_accuracy(model, x, y, radii=[4], components=["hfc"], batch_size=128)
    assert sizes == [b for b in _batches(300, 128) for _ in range(2)]


def test_hfc_keeps_label_matches_its_definition(model, data):
    x, y = data
    idx = hfc_keeps_label(model, x, y, radius=8)
    lfc, hfc = fourier.split(x, 8)
    right = predictions(model, x) == y
    expected = torch.nonzero(right & (predictions(model, hfc) == y) & (predictions(model, lfc) != y))
    assert torch.equal(idx, expected.flatten())
    assert bool(right[idx].all())


@pytest.fixture
def fresh_model():
    """An untrained small CNN of its own, so no test can leave a shared model in another mode."""
    torch.manual_seed(0)
    return SmallCNN(width=8)


EVALUATIONS = {
    "predictions": lambda model, x, y, **kw: predictions(model, x, **kw),
    "probabilities": lambda model, x, y, **kw: probabilities(model, x, **kw),
    "accuracy": lambda model, x, y, **kw: accuracy(model, x, y, **kw),
    "frequency_accuracy": lambda model, x, y, **kw: frequency_accuracy(model, x, y, radii=[4], **kw),
    "hfc_keeps_label": lambda model, x, y, **kw: hfc_keeps_label(model, x, y, radius=4, **kw),
}


def _modes(model):
    return {name: m.training for name, m in model.named_modules()}


@pytest.mark.parametrize("evaluation", EVALUATIONS)
def test_evaluation_runs_in_eval_mode_and_restores_every_modules_mode(fresh_model, data, evaluation):
    x, y = data[0][:20], data[1][:20]
    seen = []
    fresh_model.register_forward_pre_hook(lambda m, args: seen.append(_modes(m)))
    # trained with its BatchNorm layers frozen: a mode no single model.train(flag) gives back
    fresh_model.train()
    frozen = [m for m in fresh_model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    assert frozen, "the test needs a model with BatchNorm layers"
    for m in frozen:
        m.eval()
    before = _modes(fresh_model)
    assert len(set(before.values())) == 2
    EVALUATIONS[evaluation](fresh_model, x, y)
    assert seen and all(not any(modes.values()) for modes in seen)
    assert _modes(fresh_model) == before


class Failure(RuntimeError):
    pass


@pytest.mark.parametrize("evaluation", EVALUATIONS)
@pytest.mark.parametrize("training", [True, False])
def test_the_mode_comes_back_when_the_model_raises_during_evaluation(fresh_model, data, evaluation,
                                                                     training):
    x, y = data[0][:20], data[1][:20]
    calls = []

    def fail_on_the_second_call(module, args):
        calls.append(module.training)
        if len(calls) == 2:
            raise Failure("out of memory, say")

    fresh_model.register_forward_pre_hook(fail_on_the_second_call)
    fresh_model.train(training)
    before = _modes(fresh_model)
    with pytest.raises(Failure):
        EVALUATIONS[evaluation](fresh_model, x, y, batch_size=10)  # two batches at least
    assert calls == [False, False]
    assert _modes(fresh_model) == before
    assert not torch.is_inference_mode_enabled()


def test_bad_inputs_are_rejected(model, data):
    x, y = data
    with pytest.raises(ValueError, match=r"^radius must be at most 22.627, .*, got 30 \(in radii\)$"):
        frequency_accuracy(model, x, y, radii=[30])
    with pytest.raises(ValueError, match=r"^y must be integer class labels of shape \(300,\), one per image, "
                                         r"got shape \(5,\)$"):
        accuracy(model, x, y[:5])
    with pytest.raises(ValueError,
                       match=r"batch_size must be an integer >= 1 \(or None for the device's default\), got 0"):
        accuracy(model, x, y, batch_size=0)
    with pytest.raises(ValueError, match=r"^x must be float images \(B, C, H, W\) \(e.g. images / 255.0\), "
                                         r"got torch.uint8$"):
        predictions(model, (x * 255).to(torch.uint8))
    with pytest.raises(ValueError,
                       match=r"^mask must be one of \('circle', 'square', 'gaussian'\), got 'disc'$"):
        frequency_accuracy(model, x, y, mask="disc")
    with pytest.raises(ValueError, match=r"^rescale must be True or False, got 1$"):
        hfc_keeps_label(model, x, y, 8, rescale=1)
    with pytest.raises(ValueError, match=r"^x must hold at least one image, got 0$"):
        frequency_accuracy(model, x[:0], y[:0])
