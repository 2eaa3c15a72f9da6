"""The input checks: what each accepts, the exact message for what it refuses, and the same
message from every module that takes the same argument."""

import math
from functools import partial

import numpy as np
import pytest
import torch

from freqlens import attacks, checks, evaluate, fourier, plot
from freqlens.data import cifar10_tensors
from freqlens.models import SmallCNN
from freqlens.train import TrainConfig


def message(call, *args, **kwargs) -> str:
    """The ValueError message of ``call(*args, **kwargs)``; fails the test if it does not raise."""
    with pytest.raises(ValueError) as caught:
        call(*args, **kwargs)
    return str(caught.value)


# Each kind of number a reader may hold: Python's, NumPy's, and one-element tensors.
FOUR = [4, 4.0, np.int64(4), np.int32(4), np.uint8(4), np.float32(4), np.float64(4),
        torch.tensor(4), torch.tensor(4.0), torch.tensor(4.0, dtype=torch.float64)]
NOT_NUMBERS = [True, False, np.bool_(True), torch.tensor(True), "4", None, [4], (4,),
               torch.tensor([4.0, 8.0]), np.array([4, 8]), 4 + 0j, torch.tensor(4 + 0j)]
NOT_FINITE = [float("nan"), float("inf"), -float("inf"), np.float32("nan"), torch.tensor(float("nan")),
              pytest.param(10**400, id="10**400")]


# --------------------------------------------------------------------------- corner_radius

@pytest.mark.parametrize("h,w", [(32, 32), (31, 31), (32, 17), (2, 2), (1, 1)])
def test_corner_radius_is_the_distance_to_the_farthest_frequency(h, w):
    u = np.arange(h)[:, None] - h // 2
    v = np.arange(w)[None, :] - w // 2
    assert checks.corner_radius(h, w) == pytest.approx(np.sqrt(u * u + v * v).max(), abs=1e-12)


# --------------------------------------------------------------------------- number

@pytest.mark.parametrize("value", FOUR)
def test_number_accepts_every_kind_of_real_number_as_a_float(value):
    out = checks.number(value, "lr", low=0)
    assert type(out) is float and out == 4.0


@pytest.mark.parametrize("value", NOT_NUMBERS + NOT_FINITE)
def test_number_rejects_bools_non_numbers_and_non_finite_values(value):
    assert message(checks.number, value, "lr", low=0) == f"lr must be a finite number >= 0, got {value!r}"


@pytest.mark.parametrize("kwargs,value,expected", [
    (dict(low=0, high=1), 1.5, "dropout must be a finite number in [0, 1], got 1.5"),
    (dict(low=0, high=1, high_open=True), 1, "dropout must be a finite number in [0, 1), got 1"),
    (dict(low=0, high=1, low_open=True), 0.0, "dropout must be a finite number in (0, 1], got 0.0"),
    (dict(low=0, low_open=True), 0, "dropout must be a finite number > 0, got 0"),
    (dict(low=0), -1e-9, "dropout must be a finite number >= 0, got -1e-09"),
    (dict(high=1, high_open=True), 1.0, "dropout must be a finite number < 1, got 1.0"),
    (dict(high=1), 2, "dropout must be a finite number <= 1, got 2"),
    (dict(), float("nan"), "dropout must be a finite number, got nan"),
])
def test_number_names_the_range_with_its_open_and_closed_ends(kwargs, value, expected):
    assert message(checks.number, value, "dropout", **kwargs) == expected


def test_number_accepts_the_closed_ends_and_refuses_the_open_ones():
    assert checks.number(0, "p", 0, 1) == 0.0 and checks.number(1, "p", 0, 1) == 1.0
    assert checks.number(0.5, "p", 0, 1, low_open=True, high_open=True) == 0.5
    for end in (0, 1):
        message(checks.number, end, "p", 0, 1, low_open=True, high_open=True)


# --------------------------------------------------------------------------- integer

@pytest.mark.parametrize("value", [3, np.int64(3), np.int32(3), np.uint8(3), torch.tensor(3)])
def test_integer_accepts_python_numpy_and_tensor_integers_as_an_int(value):
    out = checks.integer(value, "epochs", minimum=0)
    assert type(out) is int and out == 3


@pytest.mark.parametrize("value", [3.0, np.float64(3), torch.tensor(3.0), True, np.bool_(False), "3", None,
                                   float("nan"), [3]])
def test_integer_rejects_floats_bools_and_non_numbers(value):
    expected = f"epochs must be an integer >= 0, got {value!r}"
    assert message(checks.integer, value, "epochs", minimum=0) == expected


@pytest.mark.parametrize("kwargs,value,expected", [
    (dict(minimum=1, maximum=5), 6, "steps must be an integer in [1, 5], got 6"),
    (dict(minimum=1), 0, "steps must be an integer >= 1, got 0"),
    (dict(maximum=5), 6, "steps must be an integer <= 5, got 6"),
    (dict(), 1.5, "steps must be an integer, got 1.5"),
    (dict(minimum=1, allow_none=True), 0, "steps must be an integer >= 1 or None, got 0"),
    (dict(minimum=1, allow_none=True, none_means="for no limit"), 0,
     "steps must be an integer >= 1 (or None for no limit), got 0"),
    (dict(minimum=1), None, "steps must be an integer >= 1, got None"),
])
def test_integer_names_its_range_and_whether_none_is_allowed(kwargs, value, expected):
    assert message(checks.integer, value, "steps", **kwargs) == expected


def test_integer_lets_none_through_only_where_allowed():
    assert checks.integer(None, "steps", allow_none=True) is None
    assert checks.integer(5, "steps", minimum=5, maximum=5) == 5


# --------------------------------------------------------------------------- boolean, one_of, subset

@pytest.mark.parametrize("value", [True, False, np.bool_(True), np.bool_(False)])
def test_boolean_accepts_python_and_numpy_bools(value):
    out = checks.boolean(value, "rescale")
    assert type(out) is bool and out == bool(value)


@pytest.mark.parametrize("value", [1, 0, 1.0, "True", None, torch.tensor(True)])
def test_boolean_rejects_truthy_values_that_are_not_bools(value):
    assert message(checks.boolean, value, "rescale") == f"rescale must be True or False, got {value!r}"


def test_one_of_returns_an_option_and_names_them_all_otherwise():
    assert checks.one_of("square", "mask", ("circle", "square")) == "square"
    assert checks.one_of("linf", "norm", iter(["linf", "l2"])) == "linf"  # any iterable of options
    assert (message(checks.one_of, "Circle", "mask", ["circle", "square"])
            == "mask must be one of ('circle', 'square'), got 'Circle'")


@pytest.mark.parametrize("value", [["circle"], {"circle": 1}, np.array(["circle", "square"]),
                                   torch.tensor([1, 2]), None, float("nan")])
def test_one_of_rejects_containers_and_arrays_with_its_own_message(value):
    assert (message(checks.one_of, value, "mask", ("circle", "square"))
            == f"mask must be one of ('circle', 'square'), got {value!r}")


@pytest.mark.parametrize("values,expected", [
    ("hfc", ("hfc",)), (["hfc"], ("hfc",)), (["hfc", "lfc"], ("lfc", "hfc")),
    (("lfc", "lfc"), ("lfc",)), ({"lfc", "hfc"}, ("lfc", "hfc")), (iter(["lfc"]), ("lfc",)),
])
def test_subset_gives_the_chosen_options_once_each_in_the_options_order(values, expected):
    assert checks.subset(values, "components", ("lfc", "hfc")) == expected


@pytest.mark.parametrize("values", [[], "band", ["lfc", "band"], [["lfc"]], None, 3, ["LFC"]])
def test_subset_rejects_empty_unknown_and_non_iterable_choices(values):
    assert (message(checks.subset, values, "components", ("lfc", "hfc"))
            == f"components must be one or more of ('lfc', 'hfc'), got {values!r}")


# --------------------------------------------------------------------------- radius, radii, eps

@pytest.mark.parametrize("value", FOUR)
def test_radius_accepts_every_kind_of_real_number_as_a_float(value):
    out = checks.radius(value, 32, 32)
    assert type(out) is float and out == 4.0


@pytest.mark.parametrize("value", NOT_NUMBERS + NOT_FINITE + [-3, -1e-12, np.int64(-1)])
def test_radius_rejects_bools_non_numbers_non_finite_and_negative_values(value):
    assert message(checks.radius, value, 32, 32) == f"radius must be a finite number >= 0, got {value!r}"


def test_radius_stops_at_the_corner_of_the_spectrum_inclusive():
    corner = math.hypot(16, 16)
    assert checks.radius(0, 32, 32) == 0.0 and checks.radius(corner, 32, 32) == corner
    assert checks.radius(1000) == 1000.0  # no spectrum given, no corner to stop at
    assert (message(checks.radius, np.nextafter(corner, 99), 32, 32, name="r_out")
            == "r_out must be at most 22.627, the distance from the centre to the corner of a "
               f"32x32 spectrum, got {np.nextafter(corner, 99)!r}")
    assert message(checks.radius, 9, 17, 9).startswith("radius must be at most 8.944, ")


@pytest.mark.parametrize("values", [4, np.int64(4), torch.tensor(4.0), [4, 8.0], (np.int64(4), 8),
                                    range(4, 9, 4), np.arange(4, 9, 4), torch.tensor([4.0, 8.0]),
                                    (r for r in (4, 8))])
def test_radii_accepts_one_radius_or_any_iterable_of_them(values):
    out = checks.radii(values, 32, 32)
    assert type(out) is tuple and all(type(r) is float for r in out)
    assert out in ((4.0,), (4.0, 8.0))


def test_radii_gives_the_radius_message_and_where_it_was():
    assert message(checks.radii, [4, -3], 32, 32) == "radius must be a finite number >= 0, got -3 (in radii)"
    assert (message(checks.radii, (4, 30), 32, 32, name="eval_radii")
            == "radius must be at most 22.627, the distance from the centre to the corner of a "
               "32x32 spectrum, got 30 (in eval_radii)")
    assert message(checks.radii, "4") == "radius must be a finite number >= 0, got '4' (in radii)"
    assert message(checks.radii, None) == "radii must be a radius or an iterable of radii, got None"


def test_radii_refuses_an_empty_collection_unless_allowed():
    assert message(checks.radii, []) == "radii must hold at least one radius, got an empty list"
    assert checks.radii((), allow_empty=True) == ()


@pytest.mark.parametrize("value,expected", [(8 / 255, 8 / 255), (0, 0.0), (1, 1.0), (np.float32(0.5), 0.5),
                                            (torch.tensor(0.25), 0.25)])
def test_eps_accepts_budgets_on_the_unit_scale(value, expected):
    out = checks.eps(value)
    assert type(out) is float and out == expected


@pytest.mark.parametrize("value", [8, -0.01, 1.0001, True, "8/255", None] + NOT_FINITE)
def test_eps_rejects_budgets_off_the_unit_scale_and_says_how_to_convert(value):
    assert message(checks.eps, value, "alpha") == (
        "alpha must be a finite number in [0, 1] (images are on the [0, 1] scale: 8/255 is 0.0314), "
        f"got {value!r}")


# --------------------------------------------------------------------------- batch_size

@pytest.mark.parametrize("value", [1, 256, np.int64(256), torch.tensor(256)])
def test_batch_size_accepts_positive_integers_as_an_int(value):
    out = checks.batch_size(value)
    assert type(out) is int and out == int(value)


def test_batch_size_none_means_the_default_only_where_allowed():
    assert checks.batch_size(None) is None
    assert (message(checks.batch_size, None, allow_none=False)
            == "batch_size must be an integer >= 1, got None")


@pytest.mark.parametrize("value", [0, -1, 2.0, True, "64", float("nan")])
def test_batch_size_rejects_non_positive_and_non_integer_sizes(value):
    assert message(checks.batch_size, value, "internal_batch_size") == (
        f"internal_batch_size must be an integer >= 1 (or None for the device's default), got {value!r}")


# --------------------------------------------------------------------------- images, finite, labels

@pytest.fixture(scope="module")
def real():
    """Ten real CIFAR-10 test images in [0, 1] and their labels."""
    return cifar10_tensors("test", n=10, seed=5)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_images_accepts_float_batches_as_they_are(real, dtype):
    x = real[0].to(dtype)
    assert checks.images(x) is x


def test_images_accepts_a_single_image_as_a_batch_of_one_where_allowed(real):
    x = real[0]
    assert torch.equal(checks.images(x[0], allow_single=True), x[:1])
    assert checks.images(x[:, :1], channels=(1, 3)).shape == (10, 1, 32, 32)


@pytest.mark.parametrize("make,kwargs,expected", [
    (lambda x: (x * 255).to(torch.uint8), {},
     "x must be float images (B, C, H, W) (e.g. images / 255.0), got torch.uint8"),
    (lambda x: x.long(), dict(allow_single=True),
     "x must be float images (B, C, H, W) or (C, H, W) (e.g. images / 255.0), got torch.int64"),
    (lambda x: x.to(torch.complex64), {},
     "x must be float images (B, C, H, W) (e.g. images / 255.0), got torch.complex64"),
    (lambda x: x[0], {}, "x must be float images (B, C, H, W), got shape (3, 32, 32)"),
    (lambda x: x[0, 0], dict(allow_single=True),
     "x must be float images (B, C, H, W) or (C, H, W), got shape (32, 32)"),
    (lambda x: x[None], {}, "x must be float images (B, C, H, W), got shape (1, 10, 3, 32, 32)"),
    (lambda x: x.numpy(), {}, "x must be float images (B, C, H, W) as a torch.Tensor, got ndarray"),
    (lambda x: x.tolist(), dict(allow_single=True),
     "x must be float images (B, C, H, W) or (C, H, W) as a torch.Tensor, got list"),
    (lambda x: x[:, :2], dict(channels=(1, 3)),
     "x must have 1 or 3 channels (B, C, H, W), got shape (10, 2, 32, 32)"),
])
def test_images_rejects_wrong_types_shapes_dtypes_and_channels(real, make, kwargs, expected):
    assert message(checks.images, make(real[0]), **kwargs) == expected


def test_images_names_the_argument_it_checks(real):
    assert message(checks.images, real[0][0], "baselines") == (
        "baselines must be float images (B, C, H, W), got shape (3, 32, 32)")


def test_images_reads_no_values(real, monkeypatch):
    """Safe on a hot path: the check never looks inside the tensor."""
    def refuse(*args, **kwargs):
        raise AssertionError("checks.images read the tensor's values")

    for name in ("aminmax", "isfinite", "isnan", "any", "all"):
        monkeypatch.setattr(torch, name, refuse)
    monkeypatch.setattr(torch.Tensor, "item", refuse)
    monkeypatch.setattr(torch.Tensor, "__bool__", refuse)
    checks.images(real[0])


def test_finite_passes_finite_and_empty_tensors_through(real):
    x = real[0]
    empty = x[:0]
    assert checks.finite(x) is x and checks.finite(empty) is empty


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_finite_finds_a_single_bad_value_anywhere(real, bad):
    x = real[0].clone()
    x[7, 2, 31, 0] = bad
    assert message(checks.finite, x, "baselines") == "baselines must be finite: it contains NaN or infinity"


@pytest.mark.parametrize("dtype", [torch.int64, torch.int32, torch.uint8])
def test_labels_accepts_integer_labels_one_per_image(real, dtype):
    y = real[1].to(dtype)
    assert checks.labels(y, 10) is y


@pytest.mark.parametrize("make,expected", [
    (lambda y: y.float(), "y must be integer class labels of shape (10,), got torch.float32"),
    (lambda y: y > 4, "y must be integer class labels of shape (10,), got torch.bool"),
    (lambda y: y[:9], "y must be integer class labels of shape (10,), one per image, got shape (9,)"),
    (lambda y: y[:, None], "y must be integer class labels of shape (10,), one per image, got shape (10, 1)"),
    (lambda y: y.numpy(), "y must be integer class labels of shape (10,) as a torch.Tensor, got ndarray"),
    (lambda y: y.tolist(), "y must be integer class labels of shape (10,) as a torch.Tensor, got list"),
])
def test_labels_rejects_wrong_types_dtypes_and_shapes(real, make, expected):
    assert message(checks.labels, make(real[1]), 10) == expected


# --------------------------------------------------------------------------- the same message everywhere
#
# Each list below holds the public entry points that take one kind of argument, called with
# everything else right, and how freqlens.checks words a mistake in it. Extend them as the
# other modules adopt freqlens.checks: plot (image_grid, with checks.images(x, allow_single=True,
# channels=(1, 3))), attacks (fgsm, pgd, FGSM, PGD, PGDL2: images, labels, eps) and train
# (TrainConfig: radii, batch sizes).

# Figures also take one image (C, H, W) with 1 or 3 channels; attacks name theirs `images`.
FIGURE_IMAGES = partial(checks.images, name="images", channels=(1, 3), allow_single=True)
ATTACK_IMAGES = partial(checks.images, name="images")

IMAGE_TAKERS = [
    pytest.param(lambda x, y, model: fourier.split(x, 4), checks.images, id="fourier.split"),
    pytest.param(lambda x, y, model: fourier.low_pass(x, 4), checks.images, id="fourier.low_pass"),
    pytest.param(lambda x, y, model: fourier.LowPass(4)(x), checks.images, id="fourier.LowPass"),
    pytest.param(lambda x, y, model: plot.image_grid(x), FIGURE_IMAGES, id="plot.image_grid"),
    pytest.param(lambda x, y, model: plot.split_grid(x), partial(FIGURE_IMAGES, name="x"), id="plot.split_grid"),
    pytest.param(lambda x, y, model: attacks.fgsm(model, x, y, 8 / 255), ATTACK_IMAGES, id="attacks.fgsm"),
    pytest.param(lambda x, y, model: attacks.PGD(model)(x, y), ATTACK_IMAGES, id="attacks.PGD"),
    pytest.param(lambda x, y, model: evaluate.predictions(model, x), checks.images,
                 id="evaluate.predictions"),
    pytest.param(lambda x, y, model: evaluate.probabilities(model, x), checks.images,
                 id="evaluate.probabilities"),
    pytest.param(lambda x, y, model: evaluate.accuracy(model, x, y), checks.images, id="evaluate.accuracy"),
    pytest.param(lambda x, y, model: evaluate.frequency_accuracy(model, x, y, radii=[4]), checks.images,
                 id="evaluate.frequency_accuracy"),
    pytest.param(lambda x, y, model: evaluate.hfc_keeps_label(model, x, y, radius=4), checks.images,
                 id="evaluate.hfc_keeps_label"),
]

RADIUS_TAKERS = [
    pytest.param(lambda x, y, model, r: fourier.split(x, r), checks.radius, id="fourier.split"),
    pytest.param(lambda x, y, model, r: fourier.high_pass(x, r), checks.radius, id="fourier.high_pass"),
    pytest.param(lambda x, y, model, r: fourier.HighPass(r)(x), checks.radius, id="fourier.HighPass"),
    pytest.param(lambda x, y, model, r: TrainConfig(eval_radii=(8, r)), partial(checks.radii, name="eval_radii"),
                 id="TrainConfig.eval_radii"),
    pytest.param(lambda x, y, model, r: evaluate.hfc_keeps_label(model, x, y, radius=r), checks.radius,
                 id="evaluate.hfc_keeps_label"),
    pytest.param(lambda x, y, model, r: evaluate.frequency_accuracy(model, x, y, radii=[8, r]), checks.radii,
                 id="evaluate.frequency_accuracy"),
]

LABEL_TAKERS = [
    pytest.param(lambda x, y, model: evaluate.accuracy(model, x, y), id="evaluate.accuracy"),
    pytest.param(lambda x, y, model: evaluate.frequency_accuracy(model, x, y, radii=[4]),
                 id="evaluate.frequency_accuracy"),
    pytest.param(lambda x, y, model: evaluate.hfc_keeps_label(model, x, y, radius=4),
                 id="evaluate.hfc_keeps_label"),
]

BATCH_SIZE_TAKERS = [
    pytest.param(lambda x, y, model, b: evaluate.predictions(model, x, batch_size=b),
                 id="evaluate.predictions"),
    pytest.param(lambda x, y, model, b: evaluate.probabilities(model, x, batch_size=b),
                 id="evaluate.probabilities"),
    pytest.param(lambda x, y, model, b: evaluate.accuracy(model, x, y, batch_size=b), id="evaluate.accuracy"),
    pytest.param(lambda x, y, model, b: evaluate.frequency_accuracy(model, x, y, batch_size=b),
                 id="evaluate.frequency_accuracy"),
    pytest.param(lambda x, y, model, b: evaluate.hfc_keeps_label(model, x, y, 4, batch_size=b),
                 id="evaluate.hfc_keeps_label"),
]

BAD_IMAGES = {
    "uint8": lambda x: (x * 255).round().to(torch.uint8),
    "ndarray": lambda x: x.numpy(),
    "one grey image": lambda x: x[0, 0],
}
BAD_RADII = [-3, 30, float("nan"), True, "4", None]


@pytest.fixture(scope="module")
def model():
    """An untrained small CNN: every check fires before it runs, and it is deterministic."""
    torch.manual_seed(0)
    return SmallCNN(width=8).eval()


@pytest.mark.parametrize("bad", BAD_IMAGES)
@pytest.mark.parametrize("call,check", IMAGE_TAKERS)
def test_bad_images_get_the_checks_message_in_every_module(real, model, call, check, bad):
    x, y = real
    images = BAD_IMAGES[bad](x)
    assert message(call, images, y, model) == message(check, images)


@pytest.mark.parametrize("bad", BAD_RADII, ids=repr)
@pytest.mark.parametrize("call,check", RADIUS_TAKERS)
def test_a_bad_radius_gets_the_checks_message_in_every_module(real, model, call, check, bad):
    x, y = real
    wrapped = [8, bad] if getattr(check, "func", check) is checks.radii else bad
    assert message(call, x, y, model, bad) == message(check, wrapped, 32, 32)


def test_a_radius_in_a_list_is_worded_as_a_radius_on_its_own(real, model):
    x, y = real
    alone = message(fourier.split, x, -3)
    assert alone == "radius must be a finite number >= 0, got -3"
    assert message(evaluate.hfc_keeps_label, model, x, y, radius=-3) == alone
    assert message(evaluate.frequency_accuracy, model, x, y, radii=[4, -3]) == alone + " (in radii)"


@pytest.mark.parametrize("bad", [lambda y: y.float(), lambda y: y[:-1], lambda y: y.numpy()],
                         ids=["float", "one short", "ndarray"])
@pytest.mark.parametrize("call", LABEL_TAKERS)
def test_bad_labels_get_the_checks_message_in_every_module(real, model, call, bad):
    x, y = real
    labels = bad(y)
    assert message(call, x, labels, model) == message(checks.labels, labels, len(x))


@pytest.mark.parametrize("bad", [0, -1, 2.0, True, "64"], ids=repr)
@pytest.mark.parametrize("call", BATCH_SIZE_TAKERS)
def test_a_bad_batch_size_gets_the_checks_message_in_every_module(real, model, call, bad):
    x, y = real
    assert message(call, x, y, model, bad) == message(checks.batch_size, bad)


@pytest.mark.parametrize("r", [np.int64(8), np.float32(8), torch.tensor(8), torch.tensor(8.0)], ids=repr)
def test_numpy_and_tensor_radii_are_accepted_alike_by_fourier_and_evaluate(real, model, r):
    x, y = real
    for got, want in zip(fourier.split(x, r), fourier.split(x, 8)):
        assert torch.equal(got, want)
    assert (evaluate.frequency_accuracy(model, x, y, radii=[4, r])
            == evaluate.frequency_accuracy(model, x, y, radii=[4, 8]))
    assert torch.equal(evaluate.hfc_keeps_label(model, x, y, radius=r),
                       evaluate.hfc_keeps_label(model, x, y, radius=8))
