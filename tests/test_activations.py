"""Activations recorded with forward hooks, on real CIFAR-10 images, checked against forward passes by hand."""

import pytest
import torch
from torch import nn

from freqlens import fourier
from freqlens.activations import channel_rms, image_norm, layer_names, record, signal_ratio
from freqlens.data import cifar10_tensors
from freqlens.models import CIFAR_STD, SmallCNN


@pytest.fixture(scope="module")
def images():
    return cifar10_tensors("test", n=40, seed=3)[0]


@pytest.fixture
def net(trained_small_cnn):
    return trained_small_cnn


def test_layer_names_lists_every_relu_of_the_small_cnn_in_order():
    assert layer_names(SmallCNN(width=8)) == [f"features.{i}.relu" for i in range(4)]


def test_recorded_outputs_are_the_forward_pass_by_hand(net, images):
    acts = record(net, images, ["features.0.relu", "features.1", "head"])
    with torch.no_grad():
        first = net.features[0](net.normalize(images))
        second = net.features[1](first)
        logits = net(images)
    torch.testing.assert_close(acts["features.0.relu"], first)
    torch.testing.assert_close(acts["features.1"], second)
    torch.testing.assert_close(acts["head"], logits)


def test_recording_in_batches_gives_the_same_activations(net, images):
    whole = record(net, images, ["features.2.relu", "head"])
    batched = record(net, images, ["features.2.relu", "head"], batch_size=7)
    for name in whole:
        torch.testing.assert_close(batched[name], whole[name], rtol=1e-5, atol=1e-5)


def test_reduce_keeps_only_what_it_returns(net, images):
    full = record(net, images, ["features.1.relu"])["features.1.relu"]
    rms = record(net, images, ["features.1.relu"], batch_size=16, reduce=channel_rms)["features.1.relu"]
    assert rms.shape == full.shape[:2]
    torch.testing.assert_close(rms, full.pow(2).mean(dim=(2, 3)).sqrt(), rtol=1e-5, atol=1e-6)
    norms = record(net, images, ["features.1.relu"], reduce=image_norm)["features.1.relu"]
    torch.testing.assert_close(norms, full.flatten(1).norm(dim=1), rtol=1e-5, atol=1e-5)


def test_record_leaves_modes_statistics_and_hooks_as_they_were(images):
    torch.manual_seed(0)
    net = SmallCNN(width=8).train()
    net.features[0].norm.eval()  # a layer frozen by its user stays frozen
    before = {k: v.clone() for k, v in net.state_dict().items()}
    record(net, images, ["features.0.norm", "features.3.relu"])
    assert net.training and not net.features[0].norm.training and net.features[1].norm.training
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k]), f"{k} changed"
    assert all(not m._forward_hooks for m in net.modules())


def test_hooks_are_removed_when_the_model_raises(images):
    class Broken(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)

        def forward(self, x):
            self.conv(x)
            raise RuntimeError("broken on purpose")

    net = Broken()
    with pytest.raises(RuntimeError, match="broken on purpose"):
        record(net, images, ["conv"])
    assert not net.conv._forward_hooks


def test_a_layer_that_runs_twice_is_refused(images):
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 3, 3, padding=1)

        def forward(self, x):
            return self.conv(self.conv(x))

    with pytest.raises(ValueError, match=r"layers must run exactly once per forward pass; \['conv'\] ran \[2\]"):
        record(Twice(), images, ["conv"])


@pytest.mark.parametrize("layers, message", [
    (["features.9"], r"layers must be names of the model's submodules \(normalize, features, .*\), got \['features.9'\]"),
    ([], "layers must name at least one submodule, got an empty list"),
    ("head", "layers must be a list of submodule names, got 'head'"),
    ([""], r"got \[''\]"),
])
def test_bad_layers_get_a_clear_error(images, layers, message):
    with pytest.raises(ValueError, match=message):
        record(SmallCNN(width=8), images, layers)


def test_bad_inputs_get_a_clear_error(images):
    net = SmallCNN(width=8)
    with pytest.raises(ValueError, match="inputs must be float images"):
        record(net, (images * 255).to(torch.uint8), ["head"])
    with pytest.raises(ValueError, match="inputs must hold at least one image, got 0"):
        record(net, images[:0], ["head"])
    with pytest.raises(ValueError, match="reduce must be a function"):
        record(net, images, ["head"], reduce="mean")
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        record(net, images, ["head"], batch_size=0)


def test_signal_ratio_at_the_input_is_the_ratio_of_normalised_norms(net, images):
    _, hfc = fourier.split(images, 4)
    ratio = signal_ratio(net, images, hfc, ["normalize"], batch_size=16)["normalize"]
    std = torch.tensor(CIFAR_STD).view(1, 3, 1, 1)
    expected = (hfc / std).flatten(1).norm(dim=1) / (images / std).flatten(1).norm(dim=1)
    torch.testing.assert_close(ratio, expected, rtol=1e-5, atol=1e-6)
    assert 0.02 < float(ratio.mean()) < 0.5  # an HFC copy at r = 4 is a small part of the image


def test_signal_ratio_of_a_scaled_copy_through_a_linear_layer_is_the_scale(images):
    # a layer linear in its input minus its response to the baseline scales exactly
    net = nn.Sequential(nn.Conv2d(3, 5, 3), nn.Flatten(), nn.Linear(5 * 30 * 30, 7))
    ratio = signal_ratio(net, images, 0.5 + 0.25 * (images - 0.5), ["0", "2"], baselines=0.5)
    for name in ("0", "2"):
        torch.testing.assert_close(ratio[name], torch.full((len(images),), 0.25), rtol=1e-4, atol=1e-5)


def test_signal_ratio_refuses_mismatched_shapes(images):
    net = SmallCNN(width=8)
    with pytest.raises(ValueError, match=r"altered must have the shape of inputs \(40, 3, 32, 32\), got \(39, 3, 32, 32\)"):
        signal_ratio(net, images, images[1:], ["head"])
    with pytest.raises(ValueError, match=r"baselines must be a number or one image \(3, 32, 32\)"):
        signal_ratio(net, images, images, ["head"], baselines=torch.zeros(2, 3, 32, 32))


def test_layer_inputs_are_the_previous_layers_outputs(net, images):
    outputs = record(net, images, ["features.1.pool"])
    inputs = record(net, images, ["features.1.norm"], attribute_to_layer_input=True)
    torch.testing.assert_close(inputs["features.1.norm"], outputs["features.1.pool"])


def test_test_time_batchnorm_reweights_channels_and_nothing_else(net, images):
    # Per channel, BatchNorm in eval mode is affine: the response to the content scales by the
    # same gain for the image and for its HFC copy, so the ratio of each channel is unchanged.
    _, hfc = fourier.split(images, 4)
    bn = net.features[1].norm
    before = record(net, torch.cat([torch.zeros_like(images[:1]), images, hfc]), ["features.1.norm"],
                    attribute_to_layer_input=True, reduce=lambda a: a)["features.1.norm"]
    gain = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    after = record(net, torch.cat([torch.zeros_like(images[:1]), images, hfc]), ["features.1.norm"])["features.1.norm"]
    torch.testing.assert_close(after[1:] - after[:1], gain.view(1, -1, 1, 1) * (before[1:] - before[:1]),
                               rtol=1e-4, atol=1e-5)
