"""The results cache: computed once, served warm, recomputed whenever an input or the code it runs changes."""

import functools
import importlib
import pkgutil
import textwrap
import types

import pytest
import torch

from freqlens import fourier, memo, provenance
from freqlens.data import cifar10_tensors
from freqlens.models import SmallCNN


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FREQLENS_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _counting(fn):
    calls = []

    def wrapper(*args, **kwargs):
        calls.append(1)
        return fn(*args, **kwargs)

    wrapper.calls = calls
    return wrapper


def mean_logits(model, x, scale=1.0):
    with torch.no_grad():
        return {"mean": model.eval()(x).mean(0) * scale, "n": len(x), "label": "logits"}


def test_a_result_is_computed_once_then_read_back_equal(cache):
    x, _ = cifar10_tensors("test", n=16)
    torch.manual_seed(0)
    model = SmallCNN(width=8)
    fn = _counting(mean_logits)
    first = memo.cached("mean logits", fn, model, x, scale=2.0)
    second = memo.cached("mean logits", fn, model, x, scale=2.0)
    assert len(fn.calls) == 1
    assert torch.equal(first["mean"], second["mean"]) and second["n"] == 16 and second["label"] == "logits"
    assert len(list((cache / "results").glob("mean-logits-*.pt"))) == 1


def test_any_changed_input_computes_again():
    x, _ = cifar10_tensors("test", n=16)
    torch.manual_seed(0)
    model = SmallCNN(width=8)
    fn = _counting(mean_logits)
    memo.cached("m", fn, model, x)
    memo.cached("m", fn, model, x[:8])                     # other images
    memo.cached("m", fn, model, x, scale=3.0)              # another keyword
    with torch.no_grad():
        model.head.bias[0] += 1e-3                         # another weight
    memo.cached("m", fn, model, x)
    memo.cached("m", fn, SmallCNN(width=8, batchnorm=False), x)   # another network
    assert len(fn.calls) == 5
    memo.cached("m", fn, model, x)
    assert len(fn.calls) == 5


def test_the_functions_source_is_part_of_the_key():
    def a(t):
        return t + 1

    def b(t):
        return t + 2

    t = torch.zeros(2)
    assert memo.fingerprint(a, t) != memo.fingerprint(b, t)
    assert torch.equal(memo.cached("f", a, t), torch.ones(2))
    assert torch.equal(memo.cached("f", b, t), torch.full((2,), 2.0))


def test_a_corrupt_entry_is_reported_and_computed_again(cache, capsys):
    fn = _counting(lambda t: t * 2)
    memo.cached("double", fn, torch.ones(3))
    (path,) = (cache / "results").glob("double-*.pt")
    path.write_bytes(b"not a torch file")
    assert torch.equal(memo.cached("double", fn, torch.ones(3)), torch.full((3,), 2.0))
    assert len(fn.calls) == 2 and "double-" in capsys.readouterr().err


def test_results_are_kept_on_the_cpu_and_read_back_without_running_code(cache):
    value = memo.cached("nested", lambda: {"a": [torch.ones(2, requires_grad=True) * 1, 3.5], "b": (1, "x")})
    assert value["a"][0].device.type == "cpu" and not value["a"][0].requires_grad
    (path,) = (cache / "results").glob("nested-*.pt")
    assert torch.load(path, weights_only=True)["value"]["b"] == (1, "x")


def test_arguments_that_cannot_be_keyed_are_refused_naming_them():
    with pytest.raises(TypeError, match=r"args\[1\] must be a tensor, a network.*got object"):
        memo.cached("bad", lambda a, b: 0, torch.ones(1), object())
    with pytest.raises(ValueError, match="name must be a non-empty string"):
        memo.cached("", lambda: 0)
    with pytest.raises(ValueError, match="fn must be callable"):
        memo.cached("x", 3)


# --------------------------------------------------------------------------- what the key follows

def _notebook(source: str, namespace: dict | None = None) -> dict:
    """Run ``source`` as a notebook cell does: in ``__main__``'s namespace, which later cells share."""
    namespace = {"__name__": "__main__"} if namespace is None else namespace
    exec(compile(textwrap.dedent(source), "<cell>", "exec"), namespace)
    return namespace


def test_a_notebook_helper_the_function_calls_is_part_of_the_key():
    nb = _notebook("""
        import torch
        CALLS = []          # state, not a setting: what it holds is not part of the key

        def shift(t):
            return t + 1

        def measured(t):
            CALLS.append(1)
            return shift(t) * 2
    """)
    t = torch.zeros(3)
    assert torch.equal(memo.cached("m", nb["measured"], t), torch.full((3,), 2.0))
    assert torch.equal(memo.cached("m", nb["measured"], t), torch.full((3,), 2.0)) and len(nb["CALLS"]) == 1
    _notebook("def shift(t):\n    return t + 5\n", nb)          # the helper edited and run again
    assert torch.equal(memo.cached("m", nb["measured"], t), torch.full((3,), 10.0)) and len(nb["CALLS"]) == 2
    _notebook("def shift(t):\n    return t + 1\n", nb)          # ... and put back: the first entry serves
    assert torch.equal(memo.cached("m", nb["measured"], t), torch.full((3,), 2.0)) and len(nb["CALLS"]) == 2


def test_helpers_are_followed_at_any_depth_through_closures_and_methods():
    nb = _notebook("""
        def inner(t):
            return t + 1

        class Scaler:
            def __init__(self, k):
                self.k = k

            def apply(self, t):
                return inner(t) * self.k

        def make(k):
            def closure(t):
                return Scaler(k).apply(t)
            return closure

        fn = make(3)
    """)
    before = memo.fingerprint(nb["fn"], torch.ones(2))
    assert memo.fingerprint(nb["make"](3), torch.ones(2)) == before       # another closure, the same code
    assert memo.fingerprint(nb["make"](4), torch.ones(2)) != before       # the closure's number counts
    _notebook("def inner(t):\n    return t - 1\n", nb)
    assert memo.fingerprint(nb["fn"], torch.ones(2)) != before


def test_a_package_function_reached_through_the_notebooks_code_is_part_of_the_key(monkeypatch):
    nb = _notebook("""
        from freqlens import fourier

        def low(x):
            return fourier.low_pass(x, 4)
    """)
    x = torch.rand(1, 3, 8, 8)
    before = memo.fingerprint(nb["low"], x)
    # every function of fourier that low_pass calls, replaced by a function with other code
    home = importlib.import_module(fourier.low_pass.__module__)
    reached = [n for n in fourier.low_pass.__code__.co_names
               if isinstance(getattr(home, n, None), types.FunctionType)]
    assert reached
    for name in reached:
        original = getattr(home, name)
        monkeypatch.setattr(home, name, lambda *a, _f=original, **k: _f(*a, **k))
        assert memo.fingerprint(nb["low"], x) != before, name
        monkeypatch.undo()
    assert memo.fingerprint(nb["low"], x) == before


def _replace_every_function(monkeypatch, module) -> int:
    """Give every function of ``module`` other code (same behaviour): what an edit of it would do."""
    count = 0
    for name, value in list(vars(module).items()):
        if isinstance(value, types.FunctionType) and value.__module__ == module.__name__:
            monkeypatch.setattr(module, name, lambda *a, _f=value, **k: _f(*a, **k))
            count += 1
    return count


def test_editing_a_figure_a_hint_or_the_banner_recomputes_nothing(monkeypatch):
    import freqlens
    import freqlens.plot.style
    from freqlens import device, heatmaps, models, plot

    torch.manual_seed(0)
    model = models.SmallCNN(width=8)
    x, y = cifar10_tensors("test", n=4)
    nb = _notebook("""
        from freqlens import heatmaps
        CALLS = []

        def heat_map(model, x, y):
            CALLS.append(1)
            return heatmaps.fourier_heat_map(model, x, y, eps=4.0)
    """)
    first = memo.cached("heat map", nb["heat_map"], model, x, y)
    keys = (memo.fingerprint(nb["heat_map"], model, x, y), memo.fingerprint(heatmaps.fourier_heat_map))
    modules = [importlib.import_module(i.name) for i in pkgutil.walk_packages(freqlens.__path__, "freqlens.")]
    edited = sum(_replace_every_function(monkeypatch, m) for m in modules
                 if m.__name__.startswith(("freqlens.plot", "freqlens.exercises", "freqlens.chapters")))
    monkeypatch.setattr(plot.style, "OKABE_ITO", {**plot.style.OKABE_ITO, "black": "#111111"})
    monkeypatch.setattr(device, "banner", lambda *a, **k: "another banner")
    assert edited > 10
    assert (memo.fingerprint(nb["heat_map"], model, x, y), memo.fingerprint(heatmaps.fourier_heat_map)) == keys
    assert torch.equal(memo.cached("heat map", nb["heat_map"], model, x, y), first) and len(nb["CALLS"]) == 1


def test_comments_docstrings_and_layout_do_not_count_but_a_constant_does():
    a = _notebook("def f(t):\n    return t * 2 + 1\n")["f"]
    b = _notebook("def f(t):\n    'Twice, plus one.'\n    # the affine map\n    return (t*2\n            + 1)\n")["f"]
    c = _notebook("def f(t):\n    return t * 2 + 2\n")["f"]
    t = torch.ones(2)
    assert memo.fingerprint(a, t) == memo.fingerprint(b, t) != memo.fingerprint(c, t)


def test_a_global_setting_the_function_reads_is_part_of_the_key():
    nb = _notebook("EPS = 8 / 255\n\ndef attack_budget(t):\n    return t * EPS\n")
    before = memo.fingerprint(nb["attack_budget"], torch.ones(1))
    nb["EPS"] = 4 / 255
    assert memo.fingerprint(nb["attack_budget"], torch.ones(1)) != before


def test_a_partial_is_keyed_by_its_function_and_arguments():
    calls = []

    def scaled(t, k):
        calls.append(k)
        return t * k

    t = torch.ones(2)
    assert memo.fingerprint(functools.partial(scaled, k=2), t) == memo.fingerprint(functools.partial(scaled, k=2), t)
    assert memo.fingerprint(functools.partial(scaled, k=2), t) != memo.fingerprint(functools.partial(scaled, k=3), t)
    memo.cached("scaled", functools.partial(scaled, k=2), t)
    memo.cached("scaled", functools.partial(scaled, k=2), t)     # another partial object: a hit
    memo.cached("scaled", functools.partial(scaled, k=3), t)
    assert calls == [2, 3]


def test_the_versions_of_torch_torchvision_and_captum_are_part_of_the_key(monkeypatch):
    assert [v.split("==")[0] for v in provenance.library_versions().split()] == ["torch", "torchvision", "captum"]
    before = memo.fingerprint(mean_logits, torch.ones(1))
    monkeypatch.setattr(provenance, "library_versions", lambda: "torch==0.0 torchvision==0.0 captum==0.0")
    assert memo.fingerprint(mean_logits, torch.ones(1)) != before


def test_a_network_is_keyed_by_the_code_of_its_layers_too():
    from freqlens.defenses import StraightThrough

    x = torch.rand(1, 3, 4, 4)
    rounded = memo.fingerprint(mean_logits, StraightThrough(lambda t: torch.round(t * 15) / 15), x)
    assert memo.fingerprint(mean_logits, StraightThrough(lambda t: torch.round(t * 15) / 15), x) == rounded
    assert memo.fingerprint(mean_logits, StraightThrough(lambda t: torch.round(t * 7) / 7), x) != rounded


def test_a_function_as_an_argument_is_keyed_by_its_code():
    def apply(f, t):
        return f(t)

    t = torch.ones(2)
    assert memo.fingerprint(apply, torch.sin, t) == memo.fingerprint(apply, torch.sin, t)
    assert memo.fingerprint(apply, torch.sin, t) != memo.fingerprint(apply, torch.cos, t)
    assert memo.fingerprint(apply, lambda v: v + 1, t) != memo.fingerprint(apply, lambda v: v + 2, t)
