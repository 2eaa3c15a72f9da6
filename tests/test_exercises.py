"""The self-checks accept the right answer, reject wrong ones with a useful hint, and never raise.

The checks live with their chapters (``freqlens.chapters``); the judging they share is
``freqlens.exercises``, tested first.
"""

import numpy as np
import pytest
import torch

from freqlens import exercises, fourier
from freqlens.chapters import ch1_frequencies as ch1
from freqlens.chapters import ch2_hfc_generalization as ch2
from freqlens.chapters import ch3_heuristics_batchnorm as ch3
from freqlens.chapters import ch4_frequency_attribution as ch4
from freqlens.chapters import ch5_attacks_defenses as ch5
from freqlens.data import cifar10_tensors
from freqlens.evaluate import accuracy, default_batch_size



def said(capsys) -> str:
    """What a check printed, its wrapped lines joined back into one (one space between words)."""
    return " ".join(capsys.readouterr().out.split())


# --------------------------------------------------------------------------- the judging

def test_a_long_verdict_is_wrapped_to_the_page(capsys):
    exercises.verdict(False, "the filter is a mask in Fourier space between two linear transforms: "
                             "it is differentiable, and PGD's gradient flows through it.")
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and all(len(line) <= 80 for line in lines) and lines[1].startswith("  ")


def test_judge_number_accepts_within_the_tolerance_and_names_the_matching_slips(capsys):
    slips = [("not a percentage", 25.0), ("strictly below", 0.3), ("no such slip", None)]
    assert exercises.judge_number(0.2504, 0.25, slips, 1e-3, "{value:.3f} is right") is True
    assert said(capsys) == f"{exercises.PASS}: 0.250 is right"
    assert exercises.judge_number(25.0, 0.25, slips, 1e-3, "") is False
    out = said(capsys)
    assert out.startswith(exercises.FAIL) and "not a percentage" in out and "strictly below" not in out


@pytest.mark.parametrize("answer, message", [(None, exercises.TODO), (..., exercises.TODO),
                                             ("0.25", "expected a single finite number"),
                                             (float("nan"), "expected a single finite number"),
                                             ([0.25, 0.25], "expected a single finite number")])
def test_judge_number_reports_a_missing_or_malformed_answer_without_raising(capsys, answer, message):
    assert exercises.judge_number(answer, 0.25, [], 1e-3, "") is False
    assert message in said(capsys)


def test_a_slip_that_gives_the_right_answer_is_no_slip():
    assert exercises.slips_matching(0.25, [("same as right", 0.25)], 0.25, 1e-3) == []
    assert exercises.matches(0.3, 0.3, 0.25, 1e-3) and not exercises.matches(0.3, None, 0.25, 1e-3)


@pytest.mark.parametrize("reason, verdict", [("a", exercises.PASS), ("(A)", exercises.PASS),
                                             ("b", "filter is linear"), ("z", "expected one of the letters"),
                                             (3, "expected one of the letters"), (None, exercises.TODO)])
def test_judge_reason_accepts_the_letter_in_any_dress_and_says_why_another_is_wrong(capsys, reason, verdict):
    ok = exercises.judge_reason(reason, "a", {"b": "the filter is linear.", "c": "no."})
    assert ok is (verdict == exercises.PASS)
    assert verdict in said(capsys)


def test_a_prediction_is_noted_never_graded(capsys):
    for prediction, note in (("more", "'more' did not hold"), (None, "no prediction recorded"),
                             ("lots", "neither")):
        assert exercises.note_prediction(prediction, False, ("more", "less")) is None
        assert note in said(capsys)


# --------------------------------------------------------------------------- chapter 1

@pytest.fixture(scope="module")
def images():
    return cifar10_tensors("test", n=50, seed=3)[0]


def right_answer(x):
    return fourier.energy_below(x, 8).mean()


def test_energy_check_accepts_the_right_answer(images, capsys):
    assert ch1.check_energy_below(right_answer(images), images) is True
    assert said(capsys).startswith(exercises.PASS)


def test_energy_check_accepts_an_independent_numpy_computation(images):
    f = np.fft.fftshift(np.fft.fft2(images.double().numpy()), axes=(-2, -1))
    u, v = np.mgrid[:32, :32] - 16
    keep = np.hypot(u, v) < 8
    p = np.abs(f) ** 2
    answer = float(((p * keep).sum(axis=(1, 2, 3)) / p.sum(axis=(1, 2, 3))).mean())
    assert ch1.check_energy_below(answer, images) is True


def test_energy_check_rejects_a_wrong_answer(images, capsys):
    assert ch1.check_energy_below(0.5, images) is False
    assert said(capsys).startswith(exercises.FAIL)


# Each usual slip, computed here in NumPy as a student would make it, with the phrase of the
# hint that must name it. On 32x32 images and on odd-sized crops of them, where a shift by
# H // 2 and its inverse differ.

def _numpy_fractions(x, magnitude=np.abs, shift=True, strict=True, r=8):
    """Each image's fraction of energy within ``r``, the power and the mask, computed straightforwardly."""
    a = x.double().numpy()
    f = np.fft.fft2(a)
    if shift:
        f = np.fft.fftshift(f, axes=(-2, -1))
    p = magnitude(f) ** 2
    h, w = a.shape[-2:]
    u, v = np.mgrid[:h, :w]
    d = np.hypot(u - h // 2, v - w // 2)
    keep = d < r if strict else d <= r
    return (p * keep).sum(axis=(1, 2, 3)) / p.sum(axis=(1, 2, 3)), p, keep


def slip_without_the_mean(x):
    return float(_numpy_fractions(x - x.mean(dim=(-2, -1), keepdim=True))[0].mean())


def slip_at_most_r(x):
    return float(_numpy_fractions(x, strict=False)[0].mean())


def slip_magnitude(x):
    return float(_numpy_fractions(x, magnitude=lambda f: np.sqrt(np.abs(f)))[0].mean())


def slip_no_shift(x):
    return float(_numpy_fractions(x, shift=False)[0].mean())


def slip_pooled(x):
    _, p, keep = _numpy_fractions(x)
    return float((p * keep).sum() / p.sum())


def slip_not_divided(x):
    _, p, keep = _numpy_fractions(x)
    return float((p * keep).sum(axis=(1, 2, 3)).mean())


def slip_percentage(x):
    return 100 * float(_numpy_fractions(x)[0].mean())


SLIPS = {
    "without_the_mean": (slip_without_the_mean, "belongs to the energy too"),
    "at_most_r": (slip_at_most_r, "strictly below"),
    "magnitude": (slip_magnitude, "not the magnitude |F|"),
    "no_shift": (slip_no_shift, "torch.fft.fftshift"),
    "pooled": (slip_pooled, "not the energy of all images pooled"),
    "not_divided": (slip_not_divided, "by its total energy"),
    "percentage": (slip_percentage, "not a percentage"),
}
HINTS = [phrase for _, phrase in SLIPS.values()] + ["Don't round", "their mean"]
CROPS = {"32x32": lambda x: x, "31x31": lambda x: x[..., :31, :31], "31x32": lambda x: x[..., 1:, :]}


@pytest.mark.parametrize("crop", CROPS)
@pytest.mark.parametrize("slip", SLIPS)
def test_energy_check_names_each_usual_slip(images, capsys, slip, crop):
    x = CROPS[crop](images)
    make, phrase = SLIPS[slip]
    answer = make(x)
    right = float(_numpy_fractions(x)[0].mean())
    assert abs(answer - right) > 2e-4, "the slip must change the answer beyond the tolerance"
    assert ch1.check_energy_below(answer, x) is False
    out = said(capsys)
    assert out.startswith(exercises.FAIL) and phrase in out


def test_energy_check_names_rounding_only_when_the_answer_is_the_rounded_one(images, capsys):
    right = float(_numpy_fractions(images)[0].mean())
    digits = next(d for d in (3, 2, 1) if abs(round(right, d) - right) > 1e-4)
    assert ch1.check_energy_below(round(right, digits), images) is False
    assert "Don't round" in said(capsys)
    assert ch1.check_energy_below(round(right, 4), images) is True  # within the tolerance
    capsys.readouterr()
    assert ch1.check_energy_below(round(right, digits) + 3e-4, images) is False
    assert "Don't round" not in said(capsys)


@pytest.mark.parametrize("answer", [lambda right: right + 0.003, lambda right: right - 0.02,
                                    lambda right: 0.5, lambda right: 1.5, lambda right: -0.1,
                                    lambda right: float("nan"), lambda right: float("inf")],
                         ids=["+0.003", "-0.02", "0.5", "1.5", "-0.1", "nan", "inf"])
def test_energy_check_names_no_slip_it_has_not_recomputed(images, capsys, answer):
    right = float(_numpy_fractions(images)[0].mean())
    assert ch1.check_energy_below(answer(right), images) is False
    out = said(capsys)
    assert out.startswith(exercises.FAIL)
    assert not any(phrase in out for phrase in HINTS)
    assert "division by zero" not in out


@pytest.mark.parametrize("kind", [torch.tensor, np.array, list])
def test_energy_check_recognises_each_images_fraction_given_instead_of_their_mean(images, capsys, kind):
    fractions = _numpy_fractions(images)[0]
    assert ch1.check_energy_below(kind(fractions.tolist()), images) is False
    assert "each image's fraction; the answer is their mean" in said(capsys)


def test_energy_check_does_not_call_just_any_numbers_the_fractions(images, capsys):
    wrong = _numpy_fractions(images, strict=False)[0]  # one number per image, but not the fractions
    assert ch1.check_energy_below(torch.tensor(wrong), images) is False
    out = said(capsys)
    assert "expected a single number" in out and "got 50 numbers" in out and "their mean" not in out


def test_energy_check_reports_a_placeholder_without_raising(images, capsys):
    assert ch1.check_energy_below(None, images) is False
    assert said(capsys).startswith(exercises.TODO)


@pytest.mark.parametrize("answer", ["0.98", float("nan"), 1.5, -0.1, [0.9, 0.9], [], True, {"a": 1},
                                    torch.tensor([[0.9]], dtype=torch.complex64)])
def test_energy_check_rejects_malformed_answers_without_raising(images, answer):
    assert ch1.check_energy_below(answer, images) is False


# --------------------------------------------------------------------------- chapter 2

@pytest.fixture(scope="module")
def trained(trained_small_cnn):
    """The briefly trained small CNN, and 250 real test images: one evaluation batch on any
    device, so the checker's copies and the tests' are computed alike, bit for bit."""
    x, y = cifar10_tensors("test", n=250, seed=2)
    assert len(x) <= default_batch_size(torch.device("cpu"))
    return trained_small_cnn, x, y


@pytest.fixture(scope="module")
def curves(trained):
    """Accuracy by hand: on the originals and, at radii 1 .. 22, on LFC, HFC and rescaled LFC copies."""
    model, x, y = trained
    radii = range(1, 23)
    rescaled = fourier.rescale_by_max
    return {"original": accuracy(model, x, y),
            "lfc": {r: accuracy(model, fourier.low_pass(x, r), y) for r in radii},
            "hfc": {r: accuracy(model, fourier.high_pass(x, r), y) for r in radii},
            "rescaled": {r: accuracy(model, rescaled(fourier.low_pass(x, r)), y) for r in radii}}


def _first(curve, target):
    return next((r for r in sorted(curve) if curve[r] >= target), None)


# Each slip as a student makes it: the answer it gives for a fraction, and the phrase of its hint.
CH2_SLIPS = {
    "fraction_itself": (lambda c, f: _first(c["lfc"], f), "not with"),
    "index_for_radius": (lambda c, f: int(np.argmax(np.array([c["lfc"][r] for r in sorted(c["lfc"])])
                                                    >= f * c["original"])), "the radius is one more"),
    "hfc_copies": (lambda c, f: _first(c["hfc"], f * c["original"]), "those are the HFC copies"),
    "rescaled_copies": (lambda c, f: _first(c["rescaled"], f * c["original"]), "without rescaling"),
}


def _fraction_for(curves, slip):
    """A fraction at which the slip's answer is a radius other than the right one."""
    for fraction in np.round(np.arange(0.99, 0.04, -0.01), 2):
        target = fraction * curves["original"]
        right, answer = _first(curves["lfc"], target), slip(curves, fraction)
        if right is not None and answer is not None and 1 <= answer <= 22 and answer != right:
            return float(fraction), right, answer
    pytest.fail("no fraction tells this slip from the right answer for this model")


def test_ch2_check_accepts_exactly_the_first_radius(trained, curves, capsys):
    model, x, y = trained
    fraction, expected, _ = _fraction_for(curves, lambda c, f: _first(c["lfc"], f * c["original"]) - 1)
    assert ch2.check_radius_for_90_percent(expected, model, x, y, fraction=fraction)
    assert said(capsys).startswith(exercises.PASS)
    for wrong in (expected - 1, expected + 1):
        assert not ch2.check_radius_for_90_percent(wrong, model, x, y, fraction=fraction)
        assert said(capsys).startswith(exercises.FAIL)


@pytest.mark.parametrize("slip", CH2_SLIPS)
def test_ch2_check_names_each_usual_slip(trained, curves, capsys, slip):
    model, x, y = trained
    make, phrase = CH2_SLIPS[slip]
    fraction, _, answer = _fraction_for(curves, make)
    assert ch2.check_radius_for_90_percent(answer, model, x, y, fraction=fraction) is False
    out = said(capsys)
    assert out.startswith(exercises.FAIL) and phrase in out


def test_ch2_check_says_whether_a_too_large_radius_reaches_the_target(trained, curves, capsys):
    """Accuracy need not grow with the radius: past the first radius, one may fall short again."""
    model, x, y = trained
    cases = {}
    for fraction in np.round(np.arange(0.99, 0.04, -0.01), 2):
        target = fraction * curves["original"]
        right = _first(curves["lfc"], target)
        if right is None:
            continue
        for r in range(right + 1, 23):
            cases.setdefault(curves["lfc"][r] >= target, (float(fraction), r))
    assert set(cases) == {True, False}, "the test needs a larger radius that works and one that does not"
    fraction, r = cases[True]
    assert not ch2.check_radius_for_90_percent(r, model, x, y, fraction=fraction)
    assert "works, but a smaller radius already reaches" in said(capsys)
    fraction, r = cases[False]
    assert not ch2.check_radius_for_90_percent(r, model, x, y, fraction=fraction)
    out = said(capsys)
    assert "below" in out and "works" not in out


def test_ch2_check_names_no_slip_it_has_not_recomputed(trained, curves, capsys):
    model, x, y = trained
    for fraction in np.round(np.arange(0.99, 0.04, -0.01), 2):
        target = fraction * curves["original"]
        right = _first(curves["lfc"], target)
        slips = {make(curves, fraction) for make, _ in CH2_SLIPS.values()}
        wrong = [r for r in range(1, 23) if r != right and r not in slips]
        if right is not None and wrong:
            break
    else:
        pytest.fail("every radius is the answer of some slip for this model")
    assert not ch2.check_radius_for_90_percent(wrong[0], model, x, y, fraction=float(fraction))
    out = said(capsys)
    assert not any(phrase in out for _, phrase in CH2_SLIPS.values())


@pytest.mark.parametrize("answer,message", [
    (None, "not answered yet"), (2.5, "expected a whole number"), ("nine", "expected a whole number"),
    (0, "outside 1 .. 22"), (23, "outside 1 .. 22")])
def test_ch2_check_rejects_malformed_answers_without_raising(trained, capsys, answer, message):
    model, x, y = trained
    assert ch2.check_radius_for_90_percent(answer, model, x, y) is False
    assert message in said(capsys)


# --------------------------------------------------------------------------- chapter 3

def _h(clean, hfc):
    from freqlens.train import History

    return History(epoch=list(range(1, len(clean) + 1)), test_acc=list(clean), test_hfc_acc={4.0: list(hfc)})


@pytest.fixture
def heuristic_runs():
    # at clean accuracy 0.5: vanilla 0.15 (mean of two seeds), mixup 0.12, batchnorm 0.25;
    # at the last epoch mixup ends highest and dropout, which never reaches 0.5, lowest
    return {"vanilla": [_h([0.3, 0.5], [0.1, 0.2]), _h([0.5], [0.1])],
            "mixup": [_h([0.3, 0.5, 0.6], [0.1, 0.12, 0.4])],
            "batchnorm": [_h([0.5, 0.6], [0.25, 0.3])],
            "dropout": [_h([0.3, 0.4], [0.1, 0.05])]}


def test_ch3_check_accepts_the_lowest_at_matched_accuracy(heuristic_runs, capsys):
    assert ch3.check_least_hfc("vanilla", heuristic_runs, 0.5) is False  # 0.15 > 0.12
    assert ch3.check_least_hfc("mixup", heuristic_runs, 0.5)
    assert "mixup scores 0.120" in said(capsys)


def test_ch3_check_names_the_slips(heuristic_runs, capsys):
    assert not ch3.check_least_hfc("batchnorm", heuristic_runs, 0.5)
    assert "Lowest, not highest" in said(capsys)
    runs = {k: v for k, v in heuristic_runs.items() if k != "dropout"}
    runs["large batch"] = [_h([0.5, 0.45], [0.14, 0.05])]     # lowest only at its last epoch
    assert not ch3.check_least_hfc("large batch", runs, 0.5)
    assert "not at its last epoch" in said(capsys)


@pytest.mark.parametrize("answer, message", [
    (None, "not answered yet"), ("BatchNorm", "expected one of the heuristics' names"),
    (3, "expected one of the heuristics' names"), ("dropout", "never reach clean accuracy 0.50")])
def test_ch3_check_rejects_malformed_answers_without_raising(heuristic_runs, capsys, answer, message):
    assert ch3.check_least_hfc(answer, heuristic_runs, 0.5) is False
    assert message in said(capsys)


def test_ch3_check_needs_a_level_some_run_reaches(heuristic_runs):
    with pytest.raises(ValueError, match="runs must hold at least one heuristic whose networks reach level 0.9"):
        ch3.check_least_hfc("mixup", heuristic_runs, 0.9)


# --------------------------------------------------------------------------- chapter 4

@pytest.fixture(scope="module")
def frequency_maps():
    # images with more and more of their attribution near the centre, and larger and larger totals,
    # so that pooling the images differs from averaging their shares
    a = torch.randn(6, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    for i in range(6):
        a[i] *= 1 + i
        a[i, :, 12:20, 12:20] *= 1 + 3 * i
    return a


def _share(a, inside):
    m = a.abs().sum(1)
    return float(((m * inside).sum(dim=(1, 2)) / m.sum(dim=(1, 2))).mean())


def _distance():
    rows, cols = torch.meshgrid(torch.arange(32.) - 16, torch.arange(32.) - 16, indexing="ij")
    return torch.sqrt(rows ** 2 + cols ** 2)


def test_ch4_check_accepts_an_independent_computation(frequency_maps, capsys):
    assert ch4.check_share_below(_share(frequency_maps, _distance() < 8), frequency_maps, radius=8)
    assert "lies strictly below r = 8" in said(capsys)


@pytest.mark.parametrize("slip, hint", [
    (lambda a, d: _share(a, d <= 8), "strictly below"),
    (lambda a, d: _share(a, torch.round(d) < 8), "exact distance"),
    (lambda a, d: float((a.abs().sum(1) * (d < 8)).sum() / a.abs().sum()), "do not pool"),
    (lambda a, d: 100 * _share(a, d < 8), "not a percentage"),
])
def test_ch4_check_names_each_usual_slip(frequency_maps, capsys, slip, hint):
    assert not ch4.check_share_below(slip(frequency_maps, _distance()), frequency_maps, radius=8)
    assert hint in said(capsys)


@pytest.mark.parametrize("answer, message", [(None, "not answered yet"), ("0.5", "expected a single number"),
                                             ([0.1, 0.2], "expected a single number")])
def test_ch4_check_rejects_malformed_answers_without_raising(frequency_maps, capsys, answer, message):
    assert ch4.check_share_below(answer, frequency_maps) is False
    assert message in said(capsys)


# --------------------------------------------------------------------------- the second exercises

def _gaussian_share(x, sigma, squared=True):
    """Each image's share of energy through a Gaussian mask, in NumPy, as a student would write it."""
    f = np.fft.fftshift(np.fft.fft2(x.double().numpy()), axes=(-2, -1))
    u, v = np.mgrid[:32, :32] - 16
    m = np.exp(-(u ** 2 + v ** 2) / (2 * sigma ** 2))
    p = np.abs(f) ** 2
    return float(((p * (m ** 2 if squared else m)).sum(axis=(1, 2, 3)) / p.sum(axis=(1, 2, 3))).mean())


def test_ch1_gaussian_check_accepts_an_independent_numpy_computation(images, capsys):
    assert ch1.check_gaussian_energy(_gaussian_share(images, 8 / np.sqrt(2)), images, prediction="less")
    out = said(capsys)
    assert out.startswith(exercises.PASS) and "Your prediction 'less' held" in out


@pytest.mark.parametrize("slip, hint", [
    (lambda x: _gaussian_share(x, 8), "not r itself"),
    (lambda x: float(fourier.energy_below(x, 8).mean()), "change the mask"),
    (lambda x: _gaussian_share(x, 8 / np.sqrt(2), squared=False), "by the mask squared"),
    (lambda x: 100 * _gaussian_share(x, 8 / np.sqrt(2)), "not a percentage"),
])
def test_ch1_gaussian_check_names_each_usual_slip(images, capsys, slip, hint):
    assert ch1.check_gaussian_energy(slip(images), images) is False
    out = said(capsys)
    assert out.startswith(exercises.FAIL) and hint in out


def test_ch1_gaussian_check_notes_a_wrong_prediction_without_grading_it(images, capsys):
    assert ch1.check_gaussian_energy(_gaussian_share(images, 8 / np.sqrt(2)), images, prediction="more")
    assert "did not hold" in said(capsys)


@pytest.mark.parametrize("reason", ["a", "(a)", " A "])
def test_ch2_hfc_check_accepts_the_measured_accuracy_and_the_explanation(trained, capsys, reason):
    model, x, y = trained
    right = accuracy(model, fourier.high_pass(x, 12), y)
    assert ch2.check_hfc_accuracy(right, reason, model, x, y, radius=12)
    assert said(capsys).count(exercises.PASS) == 2


@pytest.mark.parametrize("slip, hint", [
    (lambda m, x, y: accuracy(m, fourier.high_pass(x, 4), y), "the radius before the change"),
    (lambda m, x, y: accuracy(m, fourier.low_pass(x, 12), y), "LFC copies' accuracy"),
    (lambda m, x, y: accuracy(m, fourier.rescale_by_max(fourier.high_pass(x, 12)), y), "without rescaling"),
    (lambda m, x, y: 100 * accuracy(m, fourier.high_pass(x, 12), y), "not a percentage"),
])
def test_ch2_hfc_check_names_each_usual_slip(trained, capsys, slip, hint):
    model, x, y = trained
    answer, right = slip(model, x, y), accuracy(model, fourier.high_pass(x, 12), y)
    if abs(answer - right) <= 1e-3:
        pytest.skip("this model scores the same with and without the slip")
    assert ch2.check_hfc_accuracy(answer, "a", model, x, y, radius=12) is False
    assert hint in said(capsys)


@pytest.mark.parametrize("reason, why", [("b", "which hold every frequency"), ("c", "LFC + HFC = x"),
                                         ("d", "expected one of the letters"), (None, "not answered yet")])
def test_ch2_hfc_check_says_why_an_explanation_is_wrong(trained, capsys, reason, why):
    model, x, y = trained
    right = accuracy(model, fourier.high_pass(x, 12), y)
    assert ch2.check_hfc_accuracy(right, reason, model, x, y, radius=12) is False
    assert why in said(capsys)


def _hl(clean, lfc8, lfc4, hfc8):
    from freqlens.train import History

    return History(epoch=list(range(1, len(clean) + 1)), test_acc=list(clean),
                   test_lfc_acc={4.0: list(lfc4), 8.0: list(lfc8)}, test_hfc_acc={8.0: list(hfc8)})


@pytest.fixture
def batchnorm_seeds():
    # at clean accuracy 0.5: LFC r = 8 reads 0.4 and 0.6 (mean 0.5); r = 4: 0.2; HFC: 0.1;
    # last epoch: 0.7 and 0.6; the first seed alone: 0.4
    return [_hl([0.3, 0.5, 0.6], [0.2, 0.4, 0.7], [0.1, 0.2, 0.3], [0.1, 0.1, 0.1]),
            _hl([0.5, 0.6], [0.6, 0.6], [0.2, 0.2], [0.1, 0.1])]


def test_ch3_matched_check_accepts_the_mean_at_the_level(batchnorm_seeds, capsys):
    assert ch3.check_matched_lfc(0.5, batchnorm_seeds, 0.5)
    assert said(capsys).startswith(exercises.PASS)


@pytest.mark.parametrize("answer, hint", [(0.1, "those are the HFC copies"), (0.2, "pass radius=8"),
                                          (0.65, "not at its last epoch"), (0.4, "not the first one only"),
                                          (50.0, "not a percentage"), (None, "not answered yet"),
                                          ("half", "expected a single finite number")])
def test_ch3_matched_check_names_each_usual_slip(batchnorm_seeds, capsys, answer, hint):
    assert ch3.check_matched_lfc(answer, batchnorm_seeds, 0.5) is False
    assert hint in said(capsys)


@pytest.fixture(scope="module")
def black_baseline_maps(trained_small_cnn):
    from captum.attr import IntegratedGradients

    from freqlens.attribution import FrequencyAttribution

    x, _ = cifar10_tensors("test", n=8, seed=5)
    target = trained_small_cnn(x).argmax(1)
    maps = {name: FrequencyAttribution(IntegratedGradients, trained_small_cnn).attribute(
        x, target=target, baselines=b, n_steps=32) for name, b in
        (("black", torch.zeros_like(x)), ("flat", x.mean(dim=(2, 3), keepdim=True).expand_as(x)))}
    return trained_small_cnn, x, target, maps


def _centre(a, absolute=True):
    m = (a.abs() if absolute else a).sum(1).double().numpy()
    return m[:, 16, 16] / m.sum(axis=(1, 2))


def test_ch4_black_baseline_check_accepts_a_computation_by_hand(black_baseline_maps, capsys):
    model, x, target, maps = black_baseline_maps
    share = float(_centre(maps["black"]).mean())
    assert share > 0.01 and float(_centre(maps["flat"]).mean()) < 1e-6   # the point of the exercise
    assert ch4.check_black_baseline(share, "a", model, x, target)
    assert said(capsys).count(exercises.PASS) == 2


@pytest.mark.parametrize("slip, hint", [
    (lambda maps: float(_centre(maps["flat"]).mean()), "change the baseline to the black image"),
    (lambda maps: float(_centre(maps["black"], absolute=False).mean()), "Take absolute values first"),
    (lambda maps: float(maps["black"].abs().sum(1)[:, 16, 16].sum() / maps["black"].abs().sum()), "do not pool"),
    (lambda maps: 100 * float(_centre(maps["black"]).mean()), "not a percentage"),
])
def test_ch4_black_baseline_check_names_each_usual_slip(black_baseline_maps, capsys, slip, hint):
    model, x, target, maps = black_baseline_maps
    assert ch4.check_black_baseline(slip(maps), "a", model, x, target) is False
    assert hint in said(capsys)


def test_ch4_black_baseline_check_says_why_an_explanation_is_wrong(black_baseline_maps, capsys):
    model, x, target, maps = black_baseline_maps
    share = float(_centre(maps["black"]).mean())
    assert ch4.check_black_baseline(share, "c", model, x, target) is False
    assert "complete for any baseline" in said(capsys)


# --------------------------------------------------------------------------- chapter 5

@pytest.fixture(scope="module")
def low_pass_attacked(trained_small_cnn):
    """Accuracy by hand, through torchattacks-style classes, behind low-pass filters of r = 4 and 8."""
    from freqlens import attacks, defenses

    # images on which each slip's number is at least three images away from the answer
    x, y = cifar10_tensors("test", n=64, seed=2)
    pgd = lambda model: attacks.PGD(model, eps=8 / 255, alpha=2 / 255, steps=10, random_start=False)
    narrow, wide = (defenses.low_pass_defense(trained_small_cnn, r) for r in (4, 8))
    values = {"adaptive": accuracy(narrow, pgd(narrow)(x, y), y),
              "r = 8": accuracy(wide, pgd(wide)(x, y), y),
              "transfer": accuracy(narrow, pgd(trained_small_cnn)(x, y), y),
              "undefended": accuracy(trained_small_cnn, pgd(narrow)(x, y), y),
              "clean": accuracy(narrow, x, y)}
    return trained_small_cnn, x, y, values


def test_ch5_low_pass_check_accepts_a_computation_by_hand(low_pass_attacked, capsys):
    model, x, y, values = low_pass_attacked
    # the point of the exercise: the adaptive attack gets through the narrower filter too
    assert 0 < values["adaptive"] < values["transfer"] and values["adaptive"] < values["clean"]
    assert ch5.check_low_pass_radius(values["adaptive"], "(a)", model, x, y)
    assert said(capsys).count(exercises.PASS) == 2


@pytest.mark.parametrize("slip, hint", [
    ("r = 8", "pass radius=4"),
    ("transfer", "crafted on the undefended network"),
    ("undefended", "evaluate the defended network"),
])
def test_ch5_low_pass_check_names_each_usual_slip(low_pass_attacked, capsys, slip, hint):
    model, x, y, values = low_pass_attacked
    assert abs(values[slip] - values["adaptive"]) > 0.011, "the slip must give another number on these images"
    assert ch5.check_low_pass_radius(values[slip], "a", model, x, y) is False
    assert hint in said(capsys)


def test_ch5_low_pass_check_says_why_an_explanation_is_wrong(low_pass_attacked, capsys):
    model, x, y, values = low_pass_attacked
    assert ch5.check_low_pass_radius(values["adaptive"], "b", model, x, y) is False
    assert "differentiable" in said(capsys)
    assert ch5.check_low_pass_radius(100 * values["adaptive"], "a", model, x, y) is False
    assert "not a percentage" in said(capsys)
