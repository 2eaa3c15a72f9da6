"""The networks: inputs in [0, 1], normalisation inside, BatchNorm truly on or off."""

import captum.attr
import pytest
import torch
from torch import nn

from freqlens.data import cifar10_tensors
from freqlens.models import CIFAR_MEAN, CIFAR_STD, Normalize, ResNet18, SmallCNN, build_model


@pytest.fixture(scope="module")
def images():
    x, _ = cifar10_tensors("test", n=20, seed=0)
    return x


@pytest.mark.parametrize("name,width", [("small_cnn", 8), ("resnet18", 4)])
@pytest.mark.parametrize("batchnorm", [True, False])
def test_models_map_unit_images_to_ten_logits(images, name, width, batchnorm):
    model = build_model(name, width=width, batchnorm=batchnorm).eval()
    out = model(images)
    assert out.shape == (20, 10) and out.dtype == torch.float32
    assert torch.isfinite(out).all()


def test_normalisation_lives_inside_the_model():
    x = torch.tensor(CIFAR_MEAN).view(1, 3, 1, 1).expand(1, 3, 4, 4)
    assert torch.allclose(Normalize()(x), torch.zeros_like(x), atol=1e-6)
    shifted = x + torch.tensor(CIFAR_STD).view(1, 3, 1, 1)
    assert torch.allclose(Normalize()(shifted), torch.ones_like(x), atol=1e-6)
    for model in (SmallCNN(width=8), ResNet18(width=4)):
        assert isinstance(model.normalize, Normalize)
        assert "normalize.mean" in model.state_dict()  # saved with the weights, never trained
        assert all("normalize" not in n for n, _ in model.named_parameters())


@pytest.mark.parametrize("name", ["small_cnn", "resnet18"])
def test_batchnorm_off_removes_every_batchnorm(name):
    with_bn = build_model(name, width=4, batchnorm=True)
    without = build_model(name, width=4, batchnorm=False)
    assert any(isinstance(m, nn.BatchNorm2d) for m in with_bn.modules())
    assert not any(isinstance(m, nn.BatchNorm2d) for m in without.modules())
    # without BatchNorm the convolutions need their biases back
    assert all(m.bias is not None for m in without.modules() if isinstance(m, nn.Conv2d))


def test_dropout_is_active_only_in_training(images):
    model = SmallCNN(width=8, dropout=0.5)
    model.eval()
    assert torch.equal(model(images), model(images))
    model.train()
    torch.manual_seed(0)
    a = model(images)
    torch.manual_seed(1)
    assert not torch.equal(a, model(images))


def test_width_scales_the_channels():
    assert SmallCNN(width=8).head.in_features == 64
    assert ResNet18(width=8).head.in_features == 64
    assert ResNet18().head.in_features == 512  # the paper's ResNet-18


def test_build_model_rejects_an_unknown_name():
    with pytest.raises(ValueError, match="model must be one of .*'resnet18'.*got 'vgg'"):
        build_model("vgg")


# The keys of a SmallCNN's weights as the experiment cache stores them: a change here
# would stop every cached network from loading.
SMALL_CNN_KEYS = ["normalize.mean", "normalize.std"] + [
    f"features.{i}.{k}" for i in range(4)
    for k in ("conv.weight", "norm.weight", "norm.bias", "norm.running_mean", "norm.running_var",
              "norm.num_batches_tracked")] + ["head.weight", "head.bias"]


def test_cached_weights_keep_their_keys():
    assert list(SmallCNN(width=8).state_dict()) == SMALL_CNN_KEYS
    for model in (SmallCNN(width=8, batchnorm=False), ResNet18(width=4), ResNet18(width=4, batchnorm=False)):
        assert not any("relu" in k for k in model.state_dict())


@pytest.mark.parametrize("name,width", [("small_cnn", 8), ("resnet18", 4)])
@pytest.mark.parametrize("batchnorm", [True, False])
def test_every_relu_is_a_module_applied_once(monkeypatch, images, name, width, batchnorm):
    """Attribution tools act on ReLU modules: no functional ReLU, no module used twice."""
    model = build_model(name, width=width, batchnorm=batchnorm).eval()
    calls = {"functional": 0}
    relu = torch.nn.functional.relu

    def counting_relu(*args, **kwargs):
        calls["functional"] += 1
        return relu(*args, **kwargs)

    monkeypatch.setattr(torch.nn.functional, "relu", counting_relu)
    uses = {}
    modules = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    for m in modules:
        assert not m.inplace, "in-place ReLUs break Captum's backward hooks"
        m.register_forward_hook(lambda mod, inp, out: uses.__setitem__(mod, uses.get(mod, 0) + 1))
    model(images[:2])
    assert len(modules) > 0 and all(uses.get(m) == 1 for m in modules)
    assert calls["functional"] == len(modules), "a ReLU was applied outside an nn.ReLU module"


@pytest.mark.filterwarnings("ignore:Setting backward hooks on ReLU activations")
@pytest.mark.parametrize("name,width,batchnorm", [("small_cnn", 8, True), ("small_cnn", 8, False),
                                                  ("resnet18", 4, True)])
def test_captums_guided_backprop_sees_the_relus(images, name, width, batchnorm):
    torch.manual_seed(0)
    model = build_model(name, width=width, batchnorm=batchnorm).eval()
    x = images[:4].clone().requires_grad_(True)
    logits = model(x).detach()
    target = logits.argmax(1)
    hooked = []   # the logits of the forward passes Captum runs with its ReLU hooks on
    model.register_forward_hook(lambda module, inputs, out: hooked.append(out.detach()))
    saliency = captum.attr.Saliency(model).attribute(x, target=target, abs=False)
    guided = captum.attr.GuidedBackprop(model).attribute(x, target=target)
    deconv = captum.attr.Deconvolution(model).attribute(x, target=target)
    assert not torch.allclose(guided, saliency, atol=1e-6), "guided backprop fell back to the gradient"
    assert not torch.allclose(deconv, saliency, atol=1e-6)
    assert len(hooked) == 3 and all(torch.equal(out, logits) for out in hooked), \
        "Captum's hooks must leave the forward pass alone"
