"""Frequency attribution with Captum's methods, on real CIFAR-10 images and trained networks."""

import pytest
import torch
from captum.attr import FeatureAblation, IntegratedGradients, NoiseTunnel, Saliency
from torch import nn

from freqlens import fourier
from freqlens.attribution import (FrequencyAttribution, LogitDifferences, band_mask, class_average,
                                  from_spectrum, radial_profile, spectrum)
from freqlens.data import cifar10_tensors


@pytest.fixture(scope="module")
def data():
    return cifar10_tensors("test", n=12, seed=5)


@pytest.fixture
def net(trained_small_cnn):
    return trained_small_cnn.eval()


def _mirrored(a):
    """The map mirrored through the centre of the centred spectrum (rows and columns 1.. of an even size)."""
    inner = a[..., 1:, 1:]
    return inner, inner.flip(-2, -1)


def test_spectrum_round_trips_and_keeps_the_energy(data):
    x = data[0]
    z = spectrum(x)
    assert z.shape == (12, 6, 32, 32)
    torch.testing.assert_close(from_spectrum(z), x, atol=1e-6, rtol=0)
    torch.testing.assert_close(z.square().sum(dim=(1, 2, 3)), x.square().sum(dim=(1, 2, 3)), rtol=1e-5, atol=1e-4)
    # zero frequency at the centre: its real part is the channel mean times sqrt(H W)
    torch.testing.assert_close(z[:, :3, 16, 16], x.mean(dim=(2, 3)) * 32, rtol=1e-5, atol=1e-5)


def test_integrated_gradients_over_frequencies_is_complete_on_a_trained_network(net, data):
    x, y = data
    attr, delta = FrequencyAttribution(IntegratedGradients, net).attribute(
        x, target=y, baselines=0.5, n_steps=200, return_convergence_delta=True)
    with torch.no_grad():
        gap = net(x).gather(1, y[:, None])[:, 0] - net(torch.full_like(x, 0.5)).gather(1, y[:, None])[:, 0]
    # the sum of the folded map is the sum over real and imaginary parts: Captum's own delta
    torch.testing.assert_close(attr.sum(dim=(1, 2, 3)) - gap, delta.float(), rtol=0, atol=1e-4)
    assert (attr.sum(dim=(1, 2, 3)) - gap).abs().max() < 0.02 * gap.abs().max()


def test_a_margins_attributions_in_one_pass_are_those_of_its_two_logits_apart(net, data):
    x, y = data
    baseline = x.flip(0)
    other = (y + 1 + torch.arange(len(y)) % 9) % 10   # any class but the true one
    pairs = LogitDifferences(net)
    one = FrequencyAttribution(IntegratedGradients, pairs).attribute(
        x, target=pairs.target(other, y), baselines=baseline, n_steps=16)
    ig = FrequencyAttribution(IntegratedGradients, net)
    apart = [ig.attribute(x, target=t, baselines=baseline, n_steps=16) for t in (other, y)]
    torch.testing.assert_close(one, apart[0] - apart[1], rtol=1e-4, atol=1e-5)
    logits, base = net(x), net(baseline)
    margin = lambda z: z.gather(1, other[:, None])[:, 0] - z.gather(1, y[:, None])[:, 0]
    assert pairs(x).shape == (len(y), 100)
    torch.testing.assert_close(pairs(x).gather(1, pairs.target(other, y)[:, None])[:, 0], margin(logits))
    # complete: with enough steps the map adds up to the margin's change from the baseline
    fine = FrequencyAttribution(IntegratedGradients, pairs).attribute(
        x, target=pairs.target(other, y), baselines=baseline, n_steps=128)
    change = margin(logits) - margin(base)
    assert (fine.flatten(1).sum(1) - change).abs().sum() < 0.02 * change.abs().sum()


def test_a_pair_of_classes_outside_the_logits_gets_a_clear_error(net):
    pairs = LogitDifferences(net)
    with pytest.raises(ValueError, match=r"a must be a class in \[0, 9\].*got classes from 10 to 10"):
        pairs.target(torch.tensor([10]), torch.tensor([0]))
    with pytest.raises(ValueError, match="b must be a class in .*got a torch.float32 tensor"):
        pairs.target(torch.tensor([1]), torch.tensor([0.5]))


def test_attributions_are_hermitian_symmetric(net, data):
    x, y = data
    for method, kwargs in ((IntegratedGradients, {"n_steps": 16}), (Saliency, {})):
        attr = FrequencyAttribution(method, net).attribute(x[:4], target=y[:4], **kwargs)
        a, mirror = _mirrored(attr)
        torch.testing.assert_close(a, mirror, rtol=1e-4, atol=1e-6)


def test_integrated_gradients_has_the_closed_form_on_a_linear_model(data):
    torch.manual_seed(0)
    x = data[0][:5]
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10)).double()
    attr = FrequencyAttribution(IntegratedGradients, model).attribute(x.double(), target=7, baselines=0.2, n_steps=4)
    # f(x) = <w, x> + b = <w, Re F^-1 Z> + b, so df/dRe Z = Re F w and df/dIm Z = Im F w (F unitary)
    w = model[1].weight[7].detach().view(1, 3, 32, 32)
    fw = torch.fft.fftshift(torch.fft.fft2(w, norm="ortho"), dim=(-2, -1))
    dz = torch.fft.fftshift(torch.fft.fft2(x.double() - 0.2, norm="ortho"), dim=(-2, -1))
    expected = fw.real * dz.real + fw.imag * dz.imag
    torch.testing.assert_close(attr, expected, rtol=1e-9, atol=1e-12)


def test_frequency_ig_is_captums_ig_written_by_hand_on_the_inverse_transform(net, data):
    x, y = data
    ours = FrequencyAttribution(IntegratedGradients, net).attribute(x, target=y, n_steps=32)

    def on_unshifted(re, im):   # another parametrisation: unshifted, real and imaginary as two inputs
        return net(torch.fft.ifft2(torch.complex(re, im), norm="ortho").real)

    f = torch.fft.fft2(x, norm="ortho")
    re, im = IntegratedGradients(on_unshifted).attribute((f.real.contiguous(), f.imag.contiguous()),
                                                         target=y, n_steps=32)
    by_hand = torch.fft.fftshift(re + im, dim=(-2, -1))
    torch.testing.assert_close(ours, by_hand, rtol=0, atol=1e-4)


def test_occluding_a_band_is_the_model_without_that_band(net, data):
    x, y = data
    edges = (4, 8, 16)
    mask = band_mask(32, 32, edges)
    attr = FrequencyAttribution(FeatureAblation, net).attribute(x[:3], target=y[:3], feature_mask=mask)
    bounds = (0, *edges, None)
    with torch.no_grad():
        full = net(x[:3]).gather(1, y[:3, None])[:, 0]
        for band in range(len(bounds) - 1):
            lo, hi = bounds[band], bounds[band + 1]
            band_part = (x[:3] if hi is None else fourier.low_pass(x[:3], hi)) - fourier.low_pass(x[:3], lo)
            kept = x[:3] - band_part
            drop = full - net(kept).gather(1, y[:3, None])[:, 0]
            where = mask[0, 0] == band
            for i in range(3):
                values = attr[i][:, where]
                torch.testing.assert_close(values, torch.full_like(values, float(drop[i])), rtol=1e-4, atol=1e-4)


def test_noise_tunnel_and_other_factories_work_unchanged(net, data):
    x, y = data
    torch.manual_seed(0)
    smooth = FrequencyAttribution(lambda f: NoiseTunnel(Saliency(f)), net).attribute(
        x[:2], target=y[:2], nt_type="smoothgrad", nt_samples=4, stdevs=0.1)
    assert smooth.shape == (2, 3, 32, 32) and torch.isfinite(smooth).all() and not smooth.requires_grad


def test_band_mask_follows_the_strict_radius_convention():
    mask = band_mask(32, 32, (4, 8))[0, 0]
    low = fourier.frequency_mask(32, 32, 4)   # centred, d < 4
    assert torch.equal(mask == 0, low.bool())
    assert int(mask.max()) == 2
    with pytest.raises(ValueError, match=r"edges must increase strictly, got \[8.0, 4.0\]"):
        band_mask(32, 32, (8, 4))


def test_radial_profile_sums_to_the_total_and_class_average_matches_a_loop(data):
    torch.manual_seed(0)
    attr = torch.randn(6, 3, 32, 32)
    profile = radial_profile(attr)
    assert profile.shape == (6, 24)
    torch.testing.assert_close(profile.sum(1), attr.sum(dim=(1, 2, 3)), rtol=1e-5, atol=1e-4)
    labels = torch.tensor([0, 2, 2, 0, 1, 2])
    avg = class_average(attr, labels, num_classes=4)
    for k in range(3):
        torch.testing.assert_close(avg[k], attr[labels == k].mean(0))
    assert torch.isnan(avg[3]).all()


@pytest.mark.parametrize("kwargs, message", [
    ({"target": 10}, r"target must be a class in \[0, 9\] .*got 10"),
    ({"target": torch.tensor([1, 2])}, r"target must be a class in \[0, 9\] .*shape \(3,\)\), got a torch.int64 tensor of shape \(2,\)"),
    ({"target": 1, "n_steps": 0}, r"n_steps must be an integer >= 1, got 0"),
    ({"target": 1, "baselines": 2.0}, r"baselines must be a finite number in \[0, 1\], got 2.0"),
    ({"target": 1, "baselines": torch.zeros(2, 3, 32, 32)}, r"baselines must be images of shape \(1 or 3, 3, 32, 32\)"),
])
def test_bad_arguments_get_a_clear_error(net, data, kwargs, message):
    with pytest.raises(ValueError, match=message):
        FrequencyAttribution(IntegratedGradients, net).attribute(data[0][:3], **kwargs)


def test_images_outside_the_unit_range_and_bad_masks_are_refused(net, data):
    fa = FrequencyAttribution(FeatureAblation, net)
    with pytest.raises(ValueError, match=r"inputs must be images in \[0, 1\] .*got values from 15 to 237"):
        fa.attribute(data[0][:2] * 255, target=0)
    with pytest.raises(ValueError, match=r"feature_mask must have shape \(1 or 2, 1 or 3, 32, 32\), got \(1, 1, 16, 16\)"):
        fa.attribute(data[0][:2], target=0, feature_mask=band_mask(16, 16, (2, 4)))
    with pytest.raises(ValueError, match="feature_mask must be an integer tensor"):
        fa.attribute(data[0][:2], target=0, feature_mask=torch.zeros(1, 1, 32, 32))
    with pytest.raises(ValueError, match="method must be a Captum attribution class"):
        FrequencyAttribution("IntegratedGradients", net)
    with pytest.raises(ValueError, match=r"attributions must be float images"):
        radial_profile(torch.zeros(1, 3, 32, 32, dtype=torch.long))
