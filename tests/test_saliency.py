"""Noise Mask and the measures of attribution maps, on real CIFAR-10 images; the curves against Quantus."""

import io

import numpy as np
import pytest
import torch
from captum.attr import IntegratedGradients
from torch import nn

from freqlens.attribution import FrequencyAttribution, NoiseMask
from freqlens.data import cifar10_tensors
from freqlens.saliency import _masks, _mirror_index, abpc, perturbation_curve, png_size, ssim_to_input


@pytest.fixture(scope="module")
def data():
    return cifar10_tensors("test", n=40, seed=7)


@pytest.fixture
def net(trained_small_cnn):
    return trained_small_cnn.eval()


class Quadrant(nn.Module):
    """Logits that read only the top-left 12 x 12 pixels."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.head = nn.Linear(3 * 12 * 12, 10)

    def forward(self, x):
        return self.head(x[:, :, :12, :12].flatten(1))


class Grey(nn.Module):
    """One channel in, the same value on three channels out."""

    def forward(self, x):
        return x.expand(-1, 3, -1, -1)


# --------------------------------------------------------------------------- Noise Mask

def test_noise_mask_keeps_the_pixels_the_model_reads(data):
    x = data[0][:4]
    masks = NoiseMask(Quadrant()).attribute(x, n_steps=300)
    inside = masks[:, :, :12, :12].mean()
    outside = masks[:, :, 12:, 12:].mean()
    assert inside > 0.6 and outside < 0.2, (float(inside), float(outside))


def test_noise_mask_gives_an_image_the_same_mask_alone_or_in_a_batch(net, data):
    x = data[0][:3]
    batch = NoiseMask(net).attribute(x, n_steps=40, seed=11)
    for i in range(3):
        alone = NoiseMask(net).attribute(x[i:i + 1], n_steps=40, seed=11 + i)
        torch.testing.assert_close(batch[i:i + 1], alone, rtol=0, atol=1e-4)


def test_noise_mask_leaves_the_model_as_it_was(data):
    torch.manual_seed(0)
    from freqlens.models import SmallCNN

    model = SmallCNN(width=8).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    NoiseMask(model).attribute(data[0][:2], target=3, n_steps=5)
    NoiseMask(model, layer="features.2.relu").attribute(data[0][:2], n_steps=5)
    assert model.training and all(p.grad is None for p in model.parameters())
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


def test_noise_mask_at_a_layer_and_for_a_target_differ_from_the_whole_output(net, data):
    x = data[0][:2]
    whole = NoiseMask(net).attribute(x, n_steps=30)
    layer = NoiseMask(net, layer="features.1.relu").attribute(x, n_steps=30)
    target = NoiseMask(net).attribute(x, target=data[1][:2], n_steps=30)
    assert not torch.allclose(whole, layer) and not torch.allclose(whole, target)


@pytest.mark.parametrize("kwargs, message", [
    ({"n_steps": 0}, r"n_steps must be an integer >= 1, got 0"),
    ({"lr": -1}, r"lr must be a finite number > 0, got -1"),
    ({"init": 1.0}, r"init must be a finite number in \(0, 1\), got 1.0"),
    ({"target": 12}, r"target must be a class in \[0, 9\]"),
])
def test_noise_mask_refuses_bad_arguments(net, data, kwargs, message):
    with pytest.raises(ValueError, match=message):
        NoiseMask(net).attribute(data[0][:2], **kwargs)


def test_noise_mask_refuses_unknown_layers_and_images_outside_the_unit_range(net, data):
    with pytest.raises(ValueError, match="layer must be the name of one of the model's submodules, got 'conv9'"):
        NoiseMask(net, layer="conv9")
    with pytest.raises(ValueError, match=r"inputs must be images in \[0, 1\]"):
        NoiseMask(net).attribute(data[0][:2] - 0.5)


# --------------------------------------------------------------------------- curves

def test_pixel_curves_equal_quantus_pixel_flipping(net, data):
    quantus = pytest.importorskip("quantus")   # installed by the test extra; an oracle only
    x, y = data[0][:8], data[1][:8]
    torch.manual_seed(1)
    a = torch.rand(8, 1, 32, 32)   # distinct values: no ties to order differently
    # Quantus flips single values and wants the step to divide H * W: grey images, one value a pixel
    grey_net = nn.Sequential(Grey(), net).eval()
    grey = x.mean(1, keepdim=True)
    ours = perturbation_curve(grey_net, grey, y, a, order="morf", features_in_step=16, n_steps=64, replacement=0.0)
    metric = quantus.PixelFlipping(features_in_step=16, perturb_baseline=0.0, abs=False, normalise=False,
                                   disable_warnings=True, display_progressbar=False)
    theirs = np.asarray(metric(model=grey_net, x_batch=grey.numpy(), y_batch=y.numpy(), a_batch=a.numpy(),
                               device="cpu", softmax=True))
    np.testing.assert_allclose(ours[:, 1:].numpy(), theirs, rtol=1e-4, atol=1e-6)


def test_curves_start_at_the_image_and_end_at_the_replacement(net, data):
    x, y = data[0][:6], data[1][:6]
    a = torch.rand(6, 3, 32, 32)
    fill = torch.rand(x.shape, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        p_x = torch.softmax(net(x), 1).gather(1, y[:, None])[:, 0]
        p_fill = torch.softmax(net(fill), 1).gather(1, y[:, None])[:, 0]
    for space in ("pixel", "frequency"):
        curve = perturbation_curve(net, x, y, a, space=space, features_in_step=256, n_steps=4, seed=3)
        torch.testing.assert_close(curve[:, 0], p_x, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(curve[:, -1], p_fill, rtol=1e-3, atol=1e-4)


def test_frequency_steps_replace_a_frequency_with_its_mirror():
    scores = torch.rand(3, 32 * 32, dtype=torch.float64)
    masks = _masks(scores, "morf", 10, 20, "frequency", 32, 32)
    mirror = _mirror_index(32, 32, "cpu")
    assert torch.equal(masks, masks[:, :, mirror])
    assert (masks[1:].sum(-1) >= masks[:-1].sum(-1)).all()   # replaced sets only grow


@pytest.fixture
def confident():
    """A linear model on the top-left quadrant, sharpened so that its softmax is decided."""
    model = Quadrant().eval()
    with torch.no_grad():
        model.head.weight.mul_(20)
    return model


def _gap(model, x, y, a, space):
    # replaced by black, the baseline of these Integrated Gradients, so that a feature's
    # attribution is what removing it costs the target's logit
    curves = [perturbation_curve(model, x, y, a, order=o, space=space, features_in_step=32, replacement=0.0)
              for o in ("morf", "lerf")]
    return float(abpc(*curves).mean())


def test_integrated_gradients_is_more_faithful_than_a_random_map(confident, data):
    x = data[0]
    y = confident(x).argmax(1)
    ig = IntegratedGradients(confident).attribute(x, target=y, n_steps=32).detach()
    noise = torch.rand(x.shape, generator=torch.Generator().manual_seed(0))
    ours, chance = _gap(confident, x, y, ig, "pixel"), _gap(confident, x, y, noise, "pixel")
    assert ours > chance + 0.1, (ours, chance)


def test_frequency_ig_is_more_faithful_in_frequency_space_than_a_random_map(confident, data):
    x = data[0]
    y = confident(x).argmax(1)
    attr = FrequencyAttribution(IntegratedGradients, confident).attribute(x, target=y, n_steps=32)
    noise = torch.rand(x.shape, generator=torch.Generator().manual_seed(0))
    ours, chance = _gap(confident, x, y, attr, "frequency"), _gap(confident, x, y, noise, "frequency")
    assert ours > chance + 0.1, (ours, chance)


def test_abpc_is_the_area_between_the_curves():
    morf = torch.tensor([[1.0, 0.5, 0.0], [1.0, 1.0, 1.0]])
    lerf = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.5, 0.0]])
    torch.testing.assert_close(abpc(morf, lerf), torch.tensor([0.5, -0.5]))
    with pytest.raises(ValueError, match="morf and lerf must be curves of the same shape"):
        abpc(morf, lerf[:, :2])


@pytest.mark.parametrize("kwargs, message", [
    ({"order": "most"}, r"order must be one of \('morf', 'lerf'\), got 'most'"),
    ({"space": "dct"}, r"space must be one of \('pixel', 'frequency'\), got 'dct'"),
    ({"features_in_step": 0}, r"features_in_step must be an integer in \[1, 1024\], got 0"),
    ({"replacement": "gaussian"}, r"replacement must be one of \('uniform',\), got 'gaussian'"),
])
def test_curves_refuse_bad_arguments(net, data, kwargs, message):
    with pytest.raises(ValueError, match=message):
        perturbation_curve(net, data[0][:2], 0, torch.rand(2, 1, 32, 32), **kwargs)


def test_curves_refuse_attributions_of_the_wrong_shape(net, data):
    with pytest.raises(ValueError, match=r"attributions must have shape \(2, 1 or 3, 32, 32\), got \(2, 2, 32, 32\)"):
        perturbation_curve(net, data[0][:2], 0, torch.rand(2, 2, 32, 32))


# --------------------------------------------------------------------------- pictures

def test_png_size_is_the_size_of_the_grey_map_as_a_png(data):
    from PIL import Image

    a = torch.randn(3, 3, 32, 32)
    sizes = png_size(a)
    grey = a.abs().sum(1)
    grey = (grey / grey.flatten(1).amax(1).view(-1, 1, 1) * 255).round().to(torch.uint8)
    for i in range(3):
        buffer = io.BytesIO()
        Image.fromarray(grey[i].numpy(), mode="L").save(buffer, format="PNG")
        assert sizes[i] == buffer.tell()
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(buffer.getvalue()))), grey[i].numpy())
    smooth = torch.linspace(0, 1, 32).view(1, 1, 1, 32).expand(1, 1, 32, 32)
    assert png_size(smooth) < png_size(torch.rand(1, 1, 32, 32))


def test_ssim_to_input_is_one_for_the_grey_input_itself_and_matches_scikit_image(data):
    from skimage.metrics import structural_similarity

    x = data[0][:4]
    grey = (x * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    scaled = grey / grey.flatten(1).amax(1).view(-1, 1, 1, 1)
    exact = torch.zeros(1, 1, 32, 32)
    exact[..., :16, :] = 1.0   # a grey input whose maximum is 1: the map of itself scores 1
    assert ssim_to_input(exact, exact.expand(-1, 3, -1, -1))[0] == pytest.approx(1.0)
    values = ssim_to_input(scaled, x)
    for i in range(4):
        expected = structural_similarity(scaled[i, 0].double().numpy(), grey[i, 0].double().numpy(), data_range=1.0)
        assert values[i] == pytest.approx(expected, abs=1e-6)
    noise = torch.rand(4, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    assert (ssim_to_input(noise, x) < values).all()


def test_every_frequency_map_replaces_the_same_number_of_frequencies_each_step():
    g = torch.Generator().manual_seed(0)
    raw = torch.rand(3, 32 * 32, generator=g, dtype=torch.float64)   # not symmetric
    mirror = _mirror_index(32, 32, "cpu")
    symmetric = (raw + raw[:, mirror]) / 2
    counts = [_masks(s, "morf", 16, 20, "frequency", 32, 32).sum(2) for s in (raw, symmetric)]
    torch.testing.assert_close(counts[0], counts[1], rtol=0, atol=4)   # 4 frequencies are their own mirror
    assert (counts[0][1] >= 31).all() and (counts[0][1] <= 32).all()     # 16 pairs, a lone one among them


def test_a_frequency_map_and_its_symmetric_part_give_the_same_curve(data, net):
    x, y = data[0][:6], data[1][:6]
    a = torch.rand(6, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    i = (32 - torch.arange(32)) % 32
    symmetric = (a + a[..., i, :][..., :, i]) / 2
    curves = [perturbation_curve(net, x, y, m, space="frequency", features_in_step=32) for m in (a, symmetric)]
    torch.testing.assert_close(curves[0], curves[1])
    assert curves[0].shape == (6, 16)   # ceil(0.9 * 514 / 32) steps and the image itself


def test_noise_mask_stops_each_image_once_its_objective_settles(data, net):
    x = data[0][:4]
    nm = NoiseMask(net)
    masks = nm.attribute(x, n_steps=1000, tol=0.02, window=25)
    steps = nm.steps
    assert steps.shape == (4,) and (steps % 25 == 0).all() and (steps >= 50).all()
    assert (steps < 1000).any(), f"no image settled within 1000 steps: {steps.tolist()}"
    # a settled image keeps the mask it had then, whatever the others in its batch do
    i = int(steps.argmin())
    alone = NoiseMask(net).attribute(x[i:i + 1], n_steps=int(steps[i]), seed=i)
    # alone, its convolutions round otherwise than in a batch of four, and 50 steps of Adam
    # carry that to about 1e-5 on some CPUs; 25 steps more would move the mask by about 0.06
    torch.testing.assert_close(masks[i:i + 1], alone, atol=1e-4, rtol=0)
    again = NoiseMask(net)
    again.attribute(x, n_steps=30)
    assert (again.steps == 30).all()


def test_noise_mask_reports_each_images_loss_term_at_its_last_step(data, net):
    x = data[0][:3]
    # beta times the squared change of the output the mask lets through, at the last step: after
    # one step, that of the initial mask (0.95 everywhere) over image i's first noise draw (its
    # own stream, seeded seed + i), computed here by hand
    nm = NoiseMask(net)
    nm.attribute(x, n_steps=1, beta=2.0)
    noise = torch.stack([torch.rand((32, *x.shape[1:]), generator=torch.Generator().manual_seed(i))[0]
                         for i in range(3)])
    with torch.no_grad():
        by_hand = 2.0 * (net(0.95 * x + 0.05 * noise) - net(x)).pow(2).mean(1)
    torch.testing.assert_close(nm.loss, by_hand, rtol=1e-4, atol=1e-7)
    # with the default beta, a share of a noise image's change (beta_0's unit): below 1 at a
    # layer, once the mask has given up pixels, and above 0 (some output is let through)
    again = NoiseMask(net, layer="features.3.relu")
    masks = again.attribute(x, n_steps=200)
    assert again.loss.shape == (3,) and bool((again.loss > 0).all()) and bool((again.loss < 1).all())
    assert float(masks.mean()) < 0.95
