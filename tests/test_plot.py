"""The figure helpers draw what they promise: the right number of axes, honest contrast."""

import base64

import pytest
import torch
from matplotlib.figure import Figure

from freqlens import plot


@pytest.fixture
def images():
    return torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))


def test_image_grid_has_one_axis_per_image(images):
    fig = plot.image_grid(images, titles=["a", "b", "c"])
    assert isinstance(fig, Figure)
    assert sum(ax.has_data() for ax in fig.axes) == 3
    assert [ax.get_title() for ax in fig.axes] == ["a", "b", "c"]


def test_image_grid_signed_titles_carry_the_gain(images):
    fig = plot.image_grid(images - 0.5, titles=["a", "b", "c"], signed=True)
    assert all("×" in ax.get_title() for ax in fig.axes)


def test_image_grid_rejects_a_wrong_number_of_titles(images):
    with pytest.raises(ValueError, match="one title per image"):
        plot.image_grid(images, titles=["only one"])


def test_split_grid_has_original_lfc_and_hfc_per_radius(images):
    fig = plot.split_grid(images[:2], radii=(4, 8, 12))
    assert len(fig.axes) == 2 * (1 + 2 * 3)
    titles = [ax.get_title() for ax in fig.axes]
    assert "LFC r=4" in titles and any(t.startswith("HFC r=12 ×") for t in titles)


def test_spectrum_grid_has_image_and_spectrum_per_column_and_a_colour_bar(images):
    fig = plot.spectrum_grid(images, radii=(4, 8))
    assert len(fig.axes) == 2 * 3 + 1
    assert sum(len(ax.patches) for ax in fig.axes) == 3 * 2  # one outline per radius per spectrum


def test_mask_grid_and_power_spectrum_plot_shapes():
    assert len(plot.mask_grid([("circle", 8), ("square", 8), ("gaussian", 5.7)]).axes) == 3
    f = torch.arange(24.0)
    assert len(plot.power_spectrum_plot(f, 1 / (f + 1) ** 2, fit=(1.0, 2.0), fit_range=(2, 15)).axes) == 1


def test_ringing_figure_has_three_panels_per_mask_and_a_profile(images):
    fig = plot.ringing_figure(images[0], [("circle", 8), ("square", 8), ("gaussian", 5.7)])
    assert len(fig.axes) == 3 * 3 + 2


def test_signed_stretch_puts_zero_at_mid_grey_and_stays_in_range():
    x = torch.randn(2, 3, 16, 16) * 0.01
    x[0, 0, 0, 0] = 0.0
    shown, gains = plot.signed_stretch(x)
    assert shown.shape == x.shape and gains.shape == (2,)
    assert float(shown[0, 0, 0, 0]) == pytest.approx(0.5)
    assert float(shown.min()) >= 0.0 and float(shown.max()) <= 1.0
    assert bool((gains > 10).all())  # tiny signals are amplified, and the gain says by how much


def test_radius_explorer_redraws_when_the_slider_moves(images):
    pytest.importorskip("ipywidgets")
    explorer = plot.radius_explorer(images[:1], radius=8)
    slider, menu, out = explorer.children
    assert slider.value == 8 and menu.value == "circle"
    first = out.outputs[0]["data"]["image/png"]
    slider.value = 3
    assert len(out.outputs) == 1  # the old figure was replaced, not stacked
    png = out.outputs[0]["data"]["image/png"]
    # Jupyter's output format carries a PNG as base64 text; bytes would reach the browser broken
    assert isinstance(png, str) and base64.b64decode(png).startswith(b"\x89PNG") and png != first


def test_radius_explorer_is_none_without_ipywidgets(images, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_widgets(name, *args, **kwargs):
        if name == "ipywidgets":
            raise ImportError("no ipywidgets here")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_widgets)
    assert plot.radius_explorer(images[:1]) is None


def test_radius_figure_draws_the_components_each_result_holds():
    both = {"original": 0.6, "lfc": {4.0: 0.3, 8.0: 0.5}, "hfc": {4.0: 0.2, 8.0: 0.1}}
    hfc_only = {"original": 0.6, "hfc": {4.0: 0.15, 8.0: 0.1}}
    ax = plot.radius_figure({"as they are": both, "rescaled": hfc_only}).axes[0]
    lines = {ln.get_label(): ln for ln in ax.get_lines() if not ln.get_label().startswith("_")}
    assert set(lines) == {"LFC, as they are", "HFC, as they are", "HFC, rescaled"}
    assert list(lines["HFC, rescaled"].get_ydata()) == [0.15, 0.1]
    assert list(lines["LFC, as they are"].get_xdata()) == [4.0, 8.0]


def test_confidence_grid_titles_carry_the_models_predictions():
    from freqlens import evaluate, fourier
    from freqlens.data import CLASSES, cifar10_tensors
    from freqlens.models import SmallCNN

    torch.manual_seed(0)
    model = SmallCNN(width=8)
    x, y = cifar10_tensors("test", n=4, seed=3)
    fig = plot.confidence_grid(model, x, y, radius=8)
    lfc, hfc = fourier.split(x, 8)
    for row, imgs in enumerate((x, lfc, hfc)):
        probs = evaluate.probabilities(model, imgs)
        for j in range(4):
            title = fig.axes[row * 4 + j].get_title()
            assert title == f"{CLASSES[int(probs[j].argmax())]} {float(probs[j].max()):.2f}"


def test_a_radius_has_one_colour_in_every_figure():
    from freqlens.train import History

    h = History(epoch=[1, 2], train_acc=[.3, .5], test_acc=[.3, .4],
                test_lfc_acc={4.0: [.2, .3], 8.0: [.3, .4]}, test_hfc_acc={4.0: [.1, .2], 8.0: [.1, .1]})
    curves = plot.history_figure(h).axes[1].get_lines()
    colour_of = {ln.get_label(): ln.get_color() for ln in curves}
    assert colour_of["LFC r=4"] == colour_of["HFC r=4"] == plot.radius_colour(4)
    assert colour_of["LFC r=8"] == plot.radius_colour(8) != plot.radius_colour(4)
    copies = plot.training_copies_figure({"run": type("R", (), {"history": History(
        epoch=[1], train_eval_acc=[.5], train_lfc_acc={4.0: [.4]}, train_hfc_acc={4.0: [.1]})})()})
    assert {ln.get_color() for ln in copies.axes[0].get_lines() if "r=4" in ln.get_label()} == {plot.radius_colour(4)}
    outlines = plot.spectrum_grid(torch.rand(1, 3, 32, 32), radii=(4, 8)).axes[1].patches
    assert [p.get_edgecolor()[:3] for p in outlines] == [
        pytest.approx(tuple(int(c[i:i + 2], 16) / 255 for i in (1, 3, 5))) for c in
        (plot.radius_colour(4), plot.radius_colour(8))]


def test_figures_take_images_as_the_other_modules_do():
    with pytest.raises(ValueError, match=r"images must be float images \(B, C, H, W\) or \(C, H, W\) "
                                         r"\(e.g. images / 255.0\), got torch.uint8"):
        plot.image_grid(torch.zeros(2, 3, 8, 8, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"x must have 1 or 3 channels"):
        plot.split_grid(torch.zeros(1, 2, 8, 8))


def _history(n=3):
    from freqlens.train import History

    acc = [0.2 + 0.1 * i for i in range(n)]
    return History(epoch=list(range(1, n + 1)), train_acc=acc, test_acc=acc,
                   test_lfc_acc={4.0: acc, 16.0: acc}, test_hfc_acc={4.0: [0.1] * n, 16.0: [0.1] * n})


def test_heuristics_figure_has_a_panel_per_heuristic_and_one_legend():
    fig = plot.heuristics_figure({name: _history() for name in ("vanilla", "mixup", "dropout", "batchnorm", "adversarial")})
    assert [ax.get_title() for ax in fig.axes] == ["vanilla", "mixup", "dropout", "batchnorm", "adversarial"]
    assert len(fig.legends) == 1
    dashed = [ln for ln in fig.axes[0].get_lines() if ln.get_label() == "HFC r=4"]
    assert dashed[0].get_linestyle() == "--" and dashed[0].get_color() == plot.radius_colour(4)


def test_matched_figure_gives_each_heuristic_its_colour_and_starts_at_chance():
    from freqlens.plot.heuristics import HEURISTIC_STYLES

    fig = plot.matched_figure({"batchnorm": [_history(), _history()], "vanilla": [_history()]}, level=0.3)
    lines = [ln for ln in fig.axes[0].get_lines() if len(ln.get_xdata()) > 2]
    assert [ln.get_color() for ln in lines] == [HEURISTIC_STYLES["batchnorm"][0]] * 2 + [HEURISTIC_STYLES["vanilla"][0]]
    assert all(ln.get_xdata()[0] == ln.get_ydata()[0] == 0.1 for ln in lines)
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["batchnorm (2 seeds)", "vanilla (1 seed)"]


def test_heuristic_colours_are_distinct_and_markers_too():
    from freqlens.plot.heuristics import HEURISTIC_STYLES

    colours, markers = zip(*HEURISTIC_STYLES.values())
    assert len(set(colours)) == len(colours) and len(set(markers)) == len(markers)


def test_gain_and_k_figures_draw_every_seed():
    gains = plot.gain_figure({"original": [0.05, 0.07, 0.06], "LFC r = 4": [0.01, 0.02, 0.0]})
    dots = [ln for ln in gains.axes[0].get_lines() if ln.get_marker() == "o"]
    assert [ln.get_ydata().tolist() for ln in dots] == [[0.05, 0.07, 0.06], [0.01, 0.02, 0.0]]
    ks = plot.k_gain_figure({"vanilla": [[0.1, 0.2], [0.2, 0.3]]}, [1, 2])
    assert ks.axes[0].containers[0].lines[0].get_ydata().tolist() == pytest.approx([0.15, 0.25])


@pytest.mark.parametrize("draw", [plot.heuristics_figure, plot.matched_figure, plot.gain_figure,
                                  lambda d: plot.k_gain_figure(d, [1])])
def test_chapter3_figures_refuse_empty_input(draw):
    with pytest.raises(ValueError, match="must map at least one name to its results, got nothing"):
        draw({})


def test_frequency_maps_are_drawn_centred_and_diverging_around_zero():
    a = torch.zeros(1, 3, 32, 32)
    a[0, :, 16, 16] = 1.0
    a[0, :, 10, 10] = -0.5
    fig = plot.frequency_map_grid(torch.rand(1, 3, 32, 32), a)
    image = fig.axes[1].get_images()[0]
    lo, hi = image.get_clim()
    assert lo == -hi and image.get_cmap().name == "RdBu_r"
    assert image.get_array()[16, 16] == 3.0   # summed over channels, the zero frequency in the middle


def test_radial_profiles_draw_the_cumulative_share_when_asked():
    p = torch.tensor([0.5, 0.3, 0.2])
    line = plot.radial_profile_figure({"net": p}, cumulative=True).axes[0].get_lines()[0]
    assert line.get_ydata().tolist() == pytest.approx([0.5, 0.8, 1.0])


def test_saliency_grid_draws_masks_in_grey_and_signed_maps_diverging():
    x = torch.rand(2, 3, 32, 32)
    fig = plot.saliency_grid(x, {"mask": torch.rand(2, 1, 32, 32), "signed": torch.randn(2, 3, 32, 32)})
    assert fig.axes[2].get_images()[0].get_cmap().name == "gray"
    assert fig.axes[4].get_images()[0].get_cmap().name == "RdBu_r"


def test_band_and_curve_figures_take_every_series():
    fig = plot.band_figure({"a": [0.3, 0.1], "b": [0.2, 0.0]}, ["low", "high"])
    assert len(fig.axes[0].patches) == 4
    c = torch.rand(4, 6)
    lines = plot.curves_figure({"ig": (c, c), "noise mask": (c, c)}).axes[0].get_lines()
    assert [ln.get_linestyle() for ln in lines] == ["-", "--", "-", "--"]


def test_kernel_grid_draws_each_networks_kernels_around_grey():
    w = torch.zeros(4, 3, 3, 3)
    w[0, :, 1, 1] = 1.0
    fig = plot.kernel_grid({"net": w}, n=4)
    picture = fig.axes[0].get_images()[0].get_array()
    assert picture[1, 1].tolist() == [1.0, 1.0, 1.0] and picture[0, 0].tolist() == [0.5, 0.5, 0.5]


def test_heat_maps_share_one_colour_scale():
    fig = plot.heat_map_grid({"a": torch.full((31, 31), 0.2), "b": torch.full((31, 31), 0.6)})
    limits = {ax.get_images()[0].get_clim() for ax in fig.axes if ax.get_images()}
    assert limits == {(0.0, 0.6000000238418579)} or limits == {(0.0, 0.6)}


def _drawn_colours(fig):
    """Every colour a figure draws with: lines, markers, patches, collections and texts (RGBA).

    Colour-mapped artists (images, a colour bar's mesh) are left out: their colours are the map's.
    """
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import to_rgba

    colours = []
    for artist in fig.findobj():
        if isinstance(artist, ScalarMappable) or type(artist).__name__ in (
                "Figure", "Axes", "Spine", "XAxis", "YAxis", "Legend"):
            continue
        for getter in ("get_color", "get_markerfacecolor", "get_markeredgecolor", "get_edgecolor", "get_facecolor"):
            if not hasattr(artist, getter):
                continue
            value = getattr(artist, getter)()
            values = value if getattr(value, "ndim", 0) == 2 else [value]
            colours += [to_rgba(v) for v in values if not isinstance(v, str) or v not in ("none", "auto")]
    return [c for c in colours if c[3] > 0]


def test_every_figure_draws_with_the_books_one_colour_blind_safe_palette(images):
    from matplotlib.colors import to_rgba

    from freqlens.data import cifar10_tensors
    from freqlens.models import SmallCNN

    allowed = {to_rgba(c)[:3] for c in plot.OKABE_ITO.values()}
    x, y = cifar10_tensors("test", n=3, seed=3)
    f = torch.arange(24.0)
    h = _history()
    figures = {
        "history": plot.history_figure(h),
        "radius": plot.radius_figure({"a": {"original": 0.6, "lfc": {4.0: 0.3, 14.0: 0.5}, "hfc": {4.0: 0.2}}}),
        "confidence": plot.confidence_grid(SmallCNN(width=8).eval(), x, y, radius=8),
        "power spectrum": plot.power_spectrum_plot(f, 1 / (f + 1) ** 2, fit=(1.0, 2.0), fit_range=(2, 15)),
        "ringing": plot.ringing_figure(images[0], [("circle", 8), ("gaussian", 5.7)]),
        "spectra": plot.spectrum_grid(images, radii=(2, 4, 6, 8, 10, 12, 14, 16, 20, 22, 3)),
        "heuristics": plot.heuristics_figure({"vanilla": h, "batchnorm": h, "mixup": h}),
        "matched": plot.matched_figure({"batchnorm": [h], "dropout": [h]}, level=0.3),
        "gain": plot.gain_figure({"original": [0.05, 0.07]}),
        "radial": plot.radial_profile_figure({"a": torch.tensor([0.5, 0.5]), "b": torch.tensor([0.2, 0.8])}),
        "bands": plot.band_figure({"a": [0.3, 0.1], "b": [0.2, 0.0]}, ["low", "high"]),
    }
    for name, fig in figures.items():
        off = {c for c in _drawn_colours(fig) if not (c[0] == c[1] == c[2]) and c[:3] not in allowed}
        assert not off, f"the {name} figure draws colours outside Okabe-Ito and greys: {sorted(off)[:3]}"
