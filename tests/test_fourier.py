"""The Fourier core: mathematical properties, agreement with the reference, bad input."""

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from freqlens import fourier
from freqlens.data import stratified_indices
from freqlens.fourier import (
    MASKS,
    BandPass,
    HighPass,
    LowPass,
    band_pass,
    corner_radius,
    dct2,
    energy_below,
    frequency_mask,
    high_pass,
    idct2,
    low_pass,
    radial_power_spectrum,
    rescale_by_max,
    split,
)
from reference import radial_mask, rescale_reference, split_reference

HARD_MASKS = ("circle", "square")
TOL = {torch.float64: 1e-10, torch.float32: 2e-5}


@st.composite
def images(draw, dtype=None, max_side=17):
    """A random batch (B, C, H, W) of floats in [0, 1), sides odd or even, square or not."""
    b = draw(st.integers(1, 3))
    c = draw(st.integers(1, 3))
    h = draw(st.integers(2, max_side))
    w = draw(st.integers(2, max_side))
    dtype = dtype or draw(st.sampled_from([torch.float32, torch.float64]))
    seed = draw(st.integers(0, 2**31 - 1))
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, c, h, w, generator=g, dtype=dtype)


def radius_for(draw, x, allow_boundaries=True):
    """A radius in [0, corner]: a float, or the exact distance of some frequency from the centre."""
    h, w = x.shape[-2:]
    corner = corner_radius(h, w)
    if allow_boundaries and draw(st.booleans()):
        # sqrt(u^2 + v^2) for a frequency offset (u, v): the strict "< r" must leave it out.
        u = draw(st.integers(0, h // 2))
        v = draw(st.integers(0, w // 2))
        return math.sqrt(u * u + v * v)
    return draw(st.floats(0.0, 1.0)) * corner


@st.composite
def images_and_radius(draw, dtype=None, max_side=17):
    x = draw(images(dtype=dtype, max_side=max_side))
    return x, radius_for(draw, x)


def energy(t):
    return t.double().square().sum(dim=(1, 2, 3))


# --------------------------------------------------------------------------- properties

@given(images_and_radius(), st.sampled_from(MASKS))
def test_lfc_plus_hfc_is_the_image(xr, mask):
    x, r = xr
    lfc, hfc = split(x, r, mask)
    torch.testing.assert_close(lfc + hfc, x, rtol=0, atol=TOL[x.dtype])


@given(images_and_radius(), st.sampled_from(MASKS))
def test_high_pass_is_the_image_less_its_low_pass(xr, mask):
    x, r = xr
    torch.testing.assert_close(high_pass(x, r, mask), x - low_pass(x, r, mask),
                               rtol=0, atol=TOL[x.dtype])


@given(images(dtype=torch.float64))
def test_parseval_holds_for_the_orthonormal_dft(x):
    spectrum = torch.fft.fft2(x, norm="ortho")
    torch.testing.assert_close(spectrum.abs().square().sum(dim=(1, 2, 3)), energy(x))


@given(images_and_radius(dtype=torch.float64), st.sampled_from(HARD_MASKS))
def test_hard_mask_split_is_orthogonal_so_energies_add_up(xr, mask):
    x, r = xr
    lfc, hfc = split(x, r, mask)
    torch.testing.assert_close(energy(lfc) + energy(hfc), energy(x))
    zero = torch.zeros((), dtype=x.dtype)
    torch.testing.assert_close((lfc * hfc).sum(), zero, atol=1e-10, rtol=0)


@given(images_and_radius(dtype=torch.float64), st.sampled_from(MASKS))
def test_split_is_the_real_part_of_the_masked_inverse_transform_and_that_is_all_of_it(xr, mask):
    x, r = xr
    h, w = x.shape[-2:]
    keep = frequency_mask(h, w, r, mask, centred=False)
    low = torch.fft.ifft2(torch.fft.fft2(x) * keep)
    high = torch.fft.ifft2(torch.fft.fft2(x) * (1 - keep))
    # the imaginary parts the split drops are rounding noise, because the masks are symmetric
    assert float(low.imag.abs().max()) < 1e-10 and float(high.imag.abs().max()) < 1e-10
    lfc, hfc = split(x, r, mask)
    torch.testing.assert_close(lfc, low.real, atol=1e-10, rtol=0)
    torch.testing.assert_close(hfc, high.real, atol=1e-10, rtol=0)
    for out in (lfc, hfc, low_pass(x, r, mask), high_pass(x, r, mask), band_pass(x, r / 2, r, mask)):
        assert not out.is_complex()
        assert out.shape == x.shape and out.dtype == x.dtype and out.device == x.device


@pytest.mark.parametrize("h, w", [(32, 32), (7, 10)])
@pytest.mark.parametrize("radius", [0.5, 3, 5.5])
def test_square_and_gaussian_masks_follow_their_formulas(h, w, radius):
    u = np.arange(h)[:, None] - h // 2
    v = np.arange(w)[None, :] - w // 2
    square = (np.maximum(np.abs(u), np.abs(v)) < radius).astype(np.float64)
    gaussian = np.exp(-(u ** 2 + v ** 2) / (2 * radius ** 2))
    np.testing.assert_array_equal(frequency_mask(h, w, radius, "square").numpy(), square)
    np.testing.assert_allclose(frequency_mask(h, w, radius, "gaussian").numpy(), gaussian, rtol=1e-14)
    # centred=False is the same mask in the layout of torch.fft.fft2
    np.testing.assert_allclose(frequency_mask(h, w, radius, "gaussian", centred=False).numpy(),
                               np.fft.ifftshift(gaussian), rtol=1e-14)


@pytest.mark.parametrize("chunk_images", [1, 2, 3, 7])
def test_large_batches_are_split_chunk_by_chunk_with_the_same_result(monkeypatch, chunk_images):
    x = torch.rand(5, 3, 9, 8, dtype=torch.float64)
    expected = split_reference(x.permute(0, 2, 3, 1).numpy(), 3.1)
    monkeypatch.setattr(fourier.filters, "_CHUNK_VALUES", chunk_images * 9 * 8)
    lfc, hfc = split(x, 3.1)
    np.testing.assert_allclose(lfc.permute(0, 2, 3, 1).numpy(), expected[0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(hfc.permute(0, 2, 3, 1).numpy(), expected[1], rtol=0, atol=1e-12)
    x.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: split(t, 3.1, "gaussian"), (x,), fast_mode=True)


@pytest.mark.parametrize("mask", MASKS)
def test_an_empty_batch_gives_empty_components(mask):
    x = torch.zeros(0, 3, 32, 32)
    for out in split(x, 8, mask) + (low_pass(x, 8, mask), high_pass(x, 8, mask),
                                    band_pass(x, 4, 8, mask)):
        assert out.shape == x.shape and out.dtype == x.dtype


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_split_keeps_half_precision_dtypes(dtype):
    x = torch.rand(2, 3, 8, 8).to(dtype)
    lfc, hfc = split(x, 3)
    assert lfc.dtype == hfc.dtype == dtype
    torch.testing.assert_close((lfc.float() + hfc.float()), x.float(), atol=1e-2, rtol=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_split_on_cuda_matches_split_on_cpu():
    x = torch.rand(4, 3, 32, 32, dtype=torch.float64)
    for mask in MASKS:
        lfc, hfc = split(x.cuda(), 8, mask)
        assert lfc.device.type == hfc.device.type == "cuda"
        expected = split(x, 8, mask)
        torch.testing.assert_close(lfc.cpu(), expected[0])
        torch.testing.assert_close(hfc.cpu(), expected[1])


@given(images_and_radius(), st.sampled_from(HARD_MASKS))
def test_low_pass_is_idempotent_for_hard_masks(xr, mask):
    x, r = xr
    once = low_pass(x, r, mask)
    torch.testing.assert_close(low_pass(once, r, mask), once, rtol=0, atol=TOL[x.dtype])


@given(images(dtype=torch.float64), st.lists(st.floats(0.0, 1.0), max_size=5),
       st.sampled_from(MASKS))
def test_band_pass_bands_tiling_zero_to_corner_sum_to_x(x, cuts, mask):
    corner = corner_radius(*x.shape[-2:])
    edges = [0.0] + sorted(c * corner for c in cuts) + [corner]
    total = sum(band_pass(x, a, b, mask) for a, b in zip(edges[:-1], edges[1:]))
    # The strict "< r" leaves the corner frequencies, at distance exactly corner, to high_pass.
    torch.testing.assert_close(total + high_pass(x, corner, mask), x)
    torch.testing.assert_close(total, low_pass(x, corner, mask))


def test_only_the_corner_frequency_is_beyond_the_corner_radius():
    x = torch.rand(2, 3, 32, 32, dtype=torch.float64)
    corner = corner_radius(32, 32)
    nyquist = torch.tensor([[(-1.0) ** (i + j) for j in range(32)] for i in range(32)],
                           dtype=torch.float64)
    coefficient = (x * nyquist).sum(dim=(2, 3), keepdim=True) / 1024
    torch.testing.assert_close(high_pass(x, corner), coefficient * nyquist)
    torch.testing.assert_close(band_pass(x, 0, corner, "square"), x)


@given(images_and_radius(dtype=torch.float64), st.sampled_from(MASKS))
def test_band_from_zero_is_the_low_pass(xr, mask):
    x, r = xr
    torch.testing.assert_close(band_pass(x, 0, r, mask), low_pass(x, r, mask))


@given(images(dtype=torch.float64))
def test_radius_zero_keeps_nothing_in_the_low_band(x):
    for mask in MASKS:
        lfc, hfc = split(x, 0, mask)
        assert bool((lfc == 0).all())
        torch.testing.assert_close(hfc, x)


@given(st.integers(2, 17), st.integers(2, 17), st.data())
def test_circle_mask_is_the_references_mask(h, w, data):
    r = data.draw(st.floats(0.0, 1.0)) * corner_radius(h, w)
    u, v = data.draw(st.integers(0, h // 2)), data.draw(st.integers(0, w // 2))
    for radius in (r, math.sqrt(u * u + v * v)):
        expected = torch.from_numpy(radial_mask(h, w, radius))
        torch.testing.assert_close(frequency_mask(h, w, radius), expected, rtol=0, atol=0)
        unshifted = frequency_mask(h, w, radius, centred=False)
        torch.testing.assert_close(torch.fft.fftshift(unshifted), expected, rtol=0, atol=0)


def test_circle_mask_at_radius_4_holds_45_frequencies_and_square_49():
    assert int(frequency_mask(32, 32, 4).sum()) == 45
    assert int(frequency_mask(32, 32, 4, "square").sum()) == 49
    assert float(frequency_mask(32, 32, 4, "gaussian").max()) == 1.0


@given(images_and_radius(dtype=torch.float64, max_side=12))
def test_split_matches_the_reference_on_any_shape(xr):
    x, r = xr
    lfc, hfc = split(x, r)
    ref_low, ref_high = split_reference(x.permute(0, 2, 3, 1).numpy(), r)
    np.testing.assert_allclose(lfc.permute(0, 2, 3, 1).numpy(), ref_low, rtol=0, atol=1e-12)
    np.testing.assert_allclose(hfc.permute(0, 2, 3, 1).numpy(), ref_high, rtol=0, atol=1e-12)


@given(images_and_radius(dtype=torch.float64), st.sampled_from(MASKS))
def test_energy_below_is_the_low_pass_copys_share_of_the_energy(xr, mask):
    x, r = xr
    share = energy_below(x, r, mask)
    torch.testing.assert_close(share, energy(low_pass(x, r, mask)) / energy(x))
    assert bool(((share >= 0) & (share <= 1 + 1e-12)).all())


@given(images(dtype=torch.float64))
def test_radial_power_spectrum_bins_add_up_to_the_energy(x):
    h, w = x.shape[-2:]
    radii, power = radial_power_spectrum(x)
    assert radii.tolist() == list(range(round(corner_radius(h, w)) + 1))
    assert bool(torch.isfinite(power).all()) and bool((power >= 0).all())
    u = torch.fft.fftfreq(h, 1 / h)[:, None]
    v = torch.fft.fftfreq(w, 1 / w)[None, :]
    counts = torch.bincount(torch.sqrt(u * u + v * v).round().long().flatten())
    mean_energy = energy(x).mean() / x.shape[1]
    torch.testing.assert_close((power * counts.double()).sum(), mean_energy)


def test_radial_power_spectrum_of_a_constant_image_is_all_at_radius_zero():
    radii, power = radial_power_spectrum(torch.full((1, 3, 32, 32), 0.5, dtype=torch.float64))
    assert float(power[0]) == pytest.approx(0.25 * 1024)
    assert float(power[1:].abs().max()) < 1e-20


# --------------------------------------------------------------------------- DCT

@pytest.mark.parametrize("h, w", [(8, 8), (5, 7), (32, 32)])
def test_dct2_is_an_orthonormal_matrix(h, w):
    basis = torch.eye(h * w, dtype=torch.float64).reshape(h * w, 1, h, w)
    matrix = dct2(basis).reshape(h * w, h * w)
    torch.testing.assert_close(matrix @ matrix.T, torch.eye(h * w, dtype=torch.float64))


@given(images())
def test_idct2_inverts_dct2_and_dct2_inverts_idct2(x):
    torch.testing.assert_close(idct2(dct2(x)), x, rtol=0, atol=10 * TOL[x.dtype])
    torch.testing.assert_close(dct2(idct2(x)), x, rtol=0, atol=10 * TOL[x.dtype])


@given(images(dtype=torch.float64))
def test_dct2_preserves_energy(x):
    torch.testing.assert_close(energy(dct2(x)), energy(x))


@given(images(dtype=torch.float64))
def test_dct2_matches_scipys_orthonormal_dct(x):
    scipy_fft = pytest.importorskip("scipy.fft")
    expected = scipy_fft.dctn(x.numpy(), type=2, norm="ortho", axes=(-2, -1))
    np.testing.assert_allclose(dct2(x).numpy(), expected, rtol=0, atol=1e-12)


# --------------------------------------------------------------------------- gradients

def test_gradients_flow_through_split_band_pass_and_dct():
    x = torch.rand(1, 1, 5, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: split(t, 1.5), (x,))
    x = torch.rand(1, 2, 6, 5, dtype=torch.float64, requires_grad=True)
    for mask in MASKS:
        assert torch.autograd.gradcheck(lambda t: split(t, 2.2, mask), (x,), fast_mode=True)
        assert torch.autograd.gradcheck(lambda t: band_pass(t, 1, 2.5, mask), (x,), fast_mode=True)
    assert torch.autograd.gradcheck(lambda t: split(t, 2.2, rescale=True), (x,), fast_mode=True)
    assert torch.autograd.gradcheck(dct2, (x,))
    assert torch.autograd.gradcheck(idct2, (x,))


# --------------------------------------------------------------------------- real CIFAR-10

@pytest.fixture(scope="module")
def test_images(cifar):
    """300 class-stratified CIFAR-10 test images, uint8 NHWC."""
    return cifar.x_test[stratified_indices(cifar.y_test, 300, seed=0)]


@pytest.fixture(scope="module")
def reference_splits(test_images):
    """The reference's (LFC, HFC) on the 0-255 scale, per radius."""
    return {r: split_reference(test_images.astype(np.float64), r) for r in (4, 8, 12, 16)}


def to_nchw(images, dtype):
    return torch.from_numpy(images).permute(0, 3, 1, 2).to(dtype) / 255.0


def to_nhwc_255(t):
    return t.double().permute(0, 2, 3, 1).numpy() * 255.0


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("r", [4, 8, 12, 16])
def test_split_agrees_with_the_reference_on_cifar10(test_images, reference_splits, r, dtype):
    lfc, hfc = split(to_nchw(test_images, dtype), r)
    ref_low, ref_high = reference_splits[r]
    assert np.abs(to_nhwc_255(lfc) - ref_low).max() < 1e-4
    assert np.abs(to_nhwc_255(hfc) - ref_high).max() < 1e-4


@pytest.mark.parametrize("r", [4, 16])
def test_rescaled_split_agrees_with_the_references_rescaling(test_images, reference_splits, r):
    lfc, hfc = split(to_nchw(test_images, torch.float64), r, rescale=True)
    ref_low, ref_high = reference_splits[r]
    assert np.abs(to_nhwc_255(lfc) - rescale_reference(ref_low) * 255).max() < 1e-4
    assert np.abs(to_nhwc_255(hfc) - rescale_reference(ref_high) * 255).max() < 1e-4


def test_rescale_gives_each_copy_a_maximum_of_one_and_hfc_keeps_negatives(test_images):
    x = to_nchw(test_images, torch.float32)
    lfc, hfc = split(x, 8, rescale=True)
    ones = torch.ones(len(x))
    torch.testing.assert_close(lfc.amax(dim=(1, 2, 3)), ones)
    torch.testing.assert_close(hfc.amax(dim=(1, 2, 3)), ones)
    assert bool((hfc.amin(dim=(1, 2, 3)) < 0).all())


def test_split_without_rescale_is_never_rescaled(test_images):
    x = to_nchw(test_images, torch.float64)
    lfc, hfc = split(x, 8)
    assert split(x, 8, rescale=False)[1].equal(hfc)
    torch.testing.assert_close(lfc + hfc, x)
    # HFC of natural images is small: nothing has been stretched to a maximum of 1.
    assert float(hfc.amax(dim=(1, 2, 3)).max()) < 0.9
    torch.testing.assert_close(rescale_by_max(lfc), split(x, 8, rescale=True)[0])


def test_rescale_by_max_leaves_images_without_a_positive_maximum_alone():
    x = -torch.rand(2, 3, 4, 4)
    assert rescale_by_max(x).equal(x)
    assert rescale_by_max(torch.zeros(1, 1, 4, 4)).equal(torch.zeros(1, 1, 4, 4))


# --------------------------------------------------------------------------- bad input

GOOD = torch.rand(2, 3, 32, 32)
CORNER = corner_radius(32, 32)

IMAGE_FUNCTIONS = {
    "split": lambda x: split(x, 4),
    "low_pass": lambda x: low_pass(x, 4),
    "high_pass": lambda x: high_pass(x, 4),
    "band_pass": lambda x: band_pass(x, 2, 4),
    "rescale_by_max": rescale_by_max,
    "radial_power_spectrum": radial_power_spectrum,
    "energy_below": lambda x: energy_below(x, 4),
    "dct2": dct2,
}


def with_value(value):
    x = GOOD.clone()
    x[1, 2, 3, 4] = value
    return x


BAD_IMAGES = {
    "not_4d": (GOOD[0], r"x must be float images \(B, C, H, W\), got shape \(3, 32, 32\)"),
    "5d": (GOOD[None], r"x must be float images \(B, C, H, W\), got shape"),
    "integer": ((GOOD * 255).to(torch.uint8),
                r"x must be float images \(B, C, H, W\) \(e.g. images / 255.0\), got torch\.uint8"),
    "int64": (torch.zeros(1, 1, 4, 4, dtype=torch.int64), r"x must be float images .*got torch\.int64"),
    "nan": (with_value(float("nan")), r"x must be finite"),
    "inf": (with_value(float("inf")), r"x must be finite"),
    "minus_inf": (with_value(float("-inf")), r"x must be finite"),
    "numpy": (GOOD.numpy(), r"x must be float images \(B, C, H, W\) as a torch\.Tensor, got ndarray"),
    "list": ([[1.0]], r"x must be float images \(B, C, H, W\) as a torch\.Tensor, got list"),
    "tiny": (torch.rand(1, 1, 1, 8), r"x must have H, W >= 2"),
}


@pytest.mark.parametrize("case", BAD_IMAGES)
@pytest.mark.parametrize("function", IMAGE_FUNCTIONS)
def test_every_function_rejects_bad_images_naming_x(function, case):
    x, message = BAD_IMAGES[case]
    with pytest.raises(ValueError, match=message):
        IMAGE_FUNCTIONS[function](x)


def test_idct2_names_its_argument_coeffs():
    with pytest.raises(ValueError, match=r"coeffs must be float images .*got torch\.int32"):
        idct2(torch.zeros(1, 1, 4, 4, dtype=torch.int32))
    with pytest.raises(ValueError, match=r"coeffs must be float images \(B, C, H, W\), got shape"):
        idct2(torch.zeros(4, 4))


BAD_RADII = {
    "negative": (-3, r"radius must be a finite number >= 0, got -3"),
    "nan": (float("nan"), r"radius must be a finite number >= 0, got nan"),
    "inf": (float("inf"), r"radius must be a finite number >= 0, got inf"),
    "beyond_corner": (22.63, r"radius must be at most 22\.627, the distance from the centre to "
                             r"the corner of a 32x32 spectrum, got 22\.63"),
    "paper_test_radius_24": (24, r"radius must be at most 22\.627"),
    "string": ("8", r"radius must be a finite number >= 0, got '8'"),
    "none": (None, r"radius must be a finite number >= 0, got None"),
    "bool": (True, r"radius must be a finite number >= 0, got True"),
    "tensor_of_two": (torch.tensor([1.0, 2.0]), r"radius must be a finite number"),
}

RADIUS_FUNCTIONS = {
    "split": lambda r: split(GOOD, r),
    "low_pass": lambda r: low_pass(GOOD, r),
    "high_pass": lambda r: high_pass(GOOD, r),
    "energy_below": lambda r: energy_below(GOOD, r),
    "frequency_mask": lambda r: frequency_mask(32, 32, r),
}


@pytest.mark.parametrize("case", BAD_RADII)
@pytest.mark.parametrize("function", RADIUS_FUNCTIONS)
def test_every_function_rejects_bad_radii_naming_radius(function, case):
    radius, message = BAD_RADII[case]
    with pytest.raises(ValueError, match=message):
        RADIUS_FUNCTIONS[function](radius)


@pytest.mark.parametrize("case", ["negative", "nan", "inf", "beyond_corner"])
def test_band_pass_rejects_bad_radii_naming_r_in_or_r_out(case):
    radius, message = BAD_RADII[case]
    with pytest.raises(ValueError, match=message.replace("radius", "r_in", 1)):
        band_pass(GOOD, radius, 4)
    with pytest.raises(ValueError, match=message.replace("radius", "r_out", 1)):
        band_pass(GOOD, 0, radius)


def test_band_pass_rejects_r_in_above_r_out():
    with pytest.raises(ValueError, match=r"r_in must be <= r_out, got r_in=8, r_out=4"):
        band_pass(GOOD, 8, 4)


@pytest.mark.parametrize("radius", [np.int64(8), np.float32(8.0), np.float64(8.0), torch.tensor(8.0),
                                    torch.tensor(8), 8])
def test_numeric_scalars_of_any_kind_are_the_same_radius(radius):
    expected = split(GOOD, 8.0)
    for got, want in zip(split(GOOD, radius), expected):
        assert torch.equal(got, want)
    assert torch.equal(low_pass(GOOD, radius), expected[0])
    assert torch.equal(frequency_mask(32, 32, radius), frequency_mask(32, 32, 8.0))


def test_at_the_corner_radius_only_the_checkerboard_is_high_and_at_zero_everything_is():
    assert round(CORNER, 3) == 22.627
    x = GOOD.double()
    lfc, hfc = split(x, CORNER)
    m, n = torch.meshgrid(torch.arange(32), torch.arange(32), indexing="ij")
    checker = (-1.0) ** (m + n).double()   # the one frequency at distance exactly the corner
    coefficient = (x * checker).mean(dim=(-2, -1), keepdim=True)
    torch.testing.assert_close(hfc, coefficient * checker, atol=1e-12, rtol=0)
    torch.testing.assert_close(lfc + hfc, x, atol=1e-12, rtol=0)
    low, high = split(x, 0)
    assert float(low.abs().max()) < 1e-12 and torch.allclose(high, x, atol=1e-12)


@pytest.mark.parametrize("mask", ["triangle", "Circle", "", None])
def test_every_function_rejects_an_unknown_mask_naming_mask(mask):
    for call in (lambda: split(GOOD, 4, mask), lambda: low_pass(GOOD, 4, mask),
                 lambda: high_pass(GOOD, 4, mask), lambda: band_pass(GOOD, 2, 4, mask),
                 lambda: energy_below(GOOD, 4, mask), lambda: frequency_mask(32, 32, 4, mask)):
        expected = r"mask must be one of \('circle', 'square', 'gaussian'\)"
        with pytest.raises(ValueError, match=expected):
            call()


def test_the_benchmark_runs_and_checks_agreement_on_a_few_images(cifar):
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_fourier.py"
    result = subprocess.run([sys.executable, str(script), "--n", "8", "--radii", "4", "16"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "same output to 1e-4 on the 0-255 scale" in result.stdout


# --------------------------------------------------------------------------- modules

@pytest.mark.parametrize("mask", MASKS)
def test_filter_modules_equal_their_functions(mask):
    x = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    assert torch.equal(LowPass(6, mask)(x), low_pass(x, 6, mask))
    assert torch.equal(HighPass(6, mask)(x), high_pass(x, 6, mask))
    assert torch.equal(BandPass(3, 9, mask)(x), band_pass(x, 3, 9, mask))


def test_a_low_pass_layer_sits_in_a_network_and_passes_gradients():
    torch.manual_seed(0)
    net = torch.nn.Sequential(LowPass(4), torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 10))
    x = torch.rand(2, 3, 32, 32, requires_grad=True)
    net(x).sum().backward()
    grad = x.grad
    # the gradient of a low-pass input layer is itself low-pass: no energy beyond the radius
    torch.testing.assert_close(high_pass(grad, 4), torch.zeros_like(grad), atol=1e-6, rtol=0)
    assert float(grad.abs().max()) > 0
    assert repr(net[0]) == "LowPass(radius=4, mask='circle')"


def test_the_modules_never_read_values_and_upload_their_mask_once(monkeypatch):
    from freqlens import checks

    def no_reading(*args, **kwargs):
        raise AssertionError("a module read its input's values (a device sync)")

    layer = LowPass(8)
    x = torch.rand(2, 3, 32, 32)
    layer(x)  # the first call may build the mask
    monkeypatch.setattr(checks, "finite", no_reading)
    monkeypatch.setattr(torch, "aminmax", no_reading)
    before = fourier.masks.mask_on.cache_info()
    for _ in range(3):
        layer(x)
        HighPass(8)(x)
    after = fourier.masks.mask_on.cache_info()
    assert after.misses == before.misses and after.hits > before.hits
    monkeypatch.undo()
    with pytest.raises(ValueError, match="x must be finite"):
        low_pass(x.masked_fill(x > 0.5, float("nan")), 8)  # the function does check


def test_modules_check_their_settings_when_built():
    with pytest.raises(ValueError, match="radius must be a finite number >= 0, got -1"):
        LowPass(-1)
    with pytest.raises(ValueError, match=r"mask must be one of"):
        HighPass(4, mask="disk")
    with pytest.raises(ValueError, match="r_in must be <= r_out"):
        BandPass(8, 4)
    with pytest.raises(ValueError, match=r"radius must be at most 4\.243"):
        LowPass(8)(torch.rand(1, 1, 6, 6))  # beyond the corner of this image's spectrum


def test_log_magnitude_puts_the_mean_at_the_centre():
    x = torch.rand(2, 3, 32, 32) + 1.0
    s = fourier.log_magnitude(x)
    assert s.shape == (2, 32, 32)
    assert bool((s[:, 16, 16] == s.flatten(1).max(dim=1).values).all())
    assert fourier.log_magnitude(x, luminance=False).shape == (2, 3, 32, 32)


@pytest.mark.parametrize("mask", ["circle", "square", "gaussian"])
def test_spatial_kernel_filters_like_the_mask(mask):
    x = torch.rand(1, 1, 32, 32, dtype=torch.float64)
    k = fourier.spatial_kernel(32, 32, 6, mask)
    # circular convolution with the kernel, computed by the convolution theorem
    conv = torch.fft.ifft2(torch.fft.fft2(x) * torch.fft.fft2(torch.fft.ifftshift(k))).real
    assert torch.allclose(conv, fourier.low_pass(x, 6, mask), atol=1e-10)


