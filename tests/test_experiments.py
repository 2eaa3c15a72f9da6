"""The experiment cache's keys and locks: what retrains a network, what does not, and who waits for whom."""

import ast
import dataclasses
import importlib
import json
import os
import pkgutil
import re
import shutil
import subprocess
import sys
import textwrap
import threading
import time
import types
from pathlib import Path

import pytest

from freqlens import attacks, checks, data, device, experiments, fourier, models, profiles, recipe, training_loop
from freqlens.train import TrainConfig

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "helpers" / "freqlens"
TINY = dict(width=8, train_size=600, test_size=200, epochs=2, batch_size=100, lr=0.05,
            eval_radii=(4, 12), train_eval_size=100)


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FREQLENS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("FREQLENS_PROGRESS", "0")
    return tmp_path / "cache"


def _other_code(fn):
    """A function that does what ``fn`` does with other code: what an edit of ``fn`` looks like."""
    return lambda *a, **k: fn(*a, **k)


def _every_module():
    """Every module of the package, imported."""
    import freqlens

    return [importlib.import_module(info.name) for info in pkgutil.walk_packages(freqlens.__path__, "freqlens.")]


def _every_function(module):
    return [(name, value) for name, value in vars(module).items()
            if isinstance(value, types.FunctionType) and value.__module__ == module.__name__]


# --------------------------------------------------------------------------- the training fingerprint

def test_code_that_trains_nothing_is_left_out_of_the_training_fingerprint(monkeypatch):
    before = experiments.code_fingerprint()
    editable = [m for m in _every_module() if m.__name__.startswith((
        "freqlens.plot", "freqlens.exercises", "freqlens.chapters", "freqlens.grid", "freqlens.heuristics",
        "freqlens.profiles", "freqlens.sweep", "freqlens.memo"))]
    for module in editable:                              # the figures, the graders and hints, the grid
        for name, fn in _every_function(module):
            monkeypatch.setattr(module, name, _other_code(fn))
    assert len(editable) >= 10
    monkeypatch.setattr(device, "banner", lambda *a, **k: "another banner")
    monkeypatch.setattr(experiments, "write", _other_code(experiments.write))     # the cache
    monkeypatch.setattr(training_loop, "progress_bar", _other_code(training_loop.progress_bar))
    monkeypatch.setattr(checks, "eps", _other_code(checks.eps))                   # a check's message
    monkeypatch.setattr(data, "load_cifar10", _other_code(data.load_cifar10))     # verified bytes
    monkeypatch.setattr(TrainConfig, "describe", lambda self: "another name")
    assert experiments.code_fingerprint() == before


@pytest.mark.parametrize("owner, name", [
    (training_loop, "learning_rate"), (recipe, "augment"), (recipe, "mixup"), (recipe, "_adversarial"),
    (recipe, "consistency_loss"), (training_loop, "build_optimizer"), (recipe, "_view"),
    (attacks, "pgd"), (fourier, "split"), (models.SmallCNN, "forward"), (models.ResNet18, "__init__"),
    (data, "stratified_indices"), (training_loop, "accuracy"), (training_loop, "measure"),
])
def test_every_step_of_the_recipe_is_in_the_training_fingerprint(monkeypatch, owner, name):
    before = experiments.code_fingerprint()
    original = getattr(owner, name)
    monkeypatch.setattr(owner, name, _other_code(original))
    assert experiments.code_fingerprint() != before
    monkeypatch.undo()
    assert experiments.code_fingerprint() == before


def test_a_network_in_the_models_registry_is_in_the_training_fingerprint(monkeypatch):
    before = experiments.code_fingerprint()
    monkeypatch.setitem(models.MODELS, "resnet18", type("ResNet18", (models.ResNet18,), {}))
    assert experiments.code_fingerprint() != before


def test_the_key_of_a_config_changes_with_the_recipe_and_with_the_config_only(monkeypatch):
    config = TrainConfig(**TINY)
    key = experiments.config_key(config)
    assert experiments.config_key(TrainConfig(**TINY)) == key
    assert experiments.config_key(config.replace(seed=1)) != key
    monkeypatch.setattr(profiles, "BUDGETS", {})          # the budgets choose configs; this one is given
    assert experiments.config_key(config) == key
    monkeypatch.setattr(recipe, "augment", _other_code(recipe.augment))
    assert experiments.config_key(config) != key


def _insert_into_functions(path: Path, names=None, statement: str = "edited_ = 1") -> int:
    """Put ``statement`` first in every function of the file (or those named): a code edit."""
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines(keepends=True)
    spots = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) or (names and node.name not in names):
            continue
        body = node.body
        documented = isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant)
        if documented and len(body) == 1:
            continue
        first = body[1] if documented else body[0]
        line = min([first.lineno] + [d.lineno for d in getattr(first, "decorator_list", [])])
        if line > node.lineno:
            spots.append((line, first.col_offset))
    for line, col in sorted(set(spots), reverse=True):
        lines.insert(line - 1, " " * col + statement + "\n")
    path.write_text("".join(lines), encoding="utf-8")
    return len(spots)


_KEYS = """
import json, sys
sys.path.insert(0, sys.argv[1])
import freqlens
assert freqlens.__file__.startswith(sys.argv[1]), freqlens.__file__
from freqlens import experiments, heatmaps, memo
print(json.dumps({"train": experiments.code_fingerprint(), "heat map": memo.fingerprint(heatmaps.fourier_heat_map)}))
"""


@pytest.mark.timeout(300)
def test_edited_files_change_the_keys_they_should_and_no_others(tmp_path):
    """Copies of the package, edited on disk, each imported by a fresh process."""
    pristine = tmp_path / "pristine"
    shutil.copytree(PACKAGE, pristine / "freqlens", ignore=shutil.ignore_patterns("__pycache__"))
    harmless = {"plot/*.py": None, "exercises.py": None, "chapters/*.py": None, "grid.py": None,
                "profiles.py": None, "device.py": {"banner"}}
    copies = {}
    for name, extra in [("harmless", {}), ("recipe", {"recipe.py": {"learning_rate"}}),
                        ("heat map", {"heatmaps.py": {"fourier_heat_map"}})]:
        root = tmp_path / name.replace(" ", "_")
        shutil.copytree(pristine, root)
        edited = 0
        for pattern, functions in {**harmless, **extra}.items():
            for path in sorted((root / "freqlens").glob(pattern)):
                edited += _insert_into_functions(path, functions)
        # comments, docstrings and layout of the training code do not count
        loop = root / "freqlens" / "training_loop.py"
        text = loop.read_text(encoding="utf-8")
        loop.write_text(text.replace('"""One pass over the training view', '"""A pass over the training view')
                        .replace("\n    t0 = time.perf_counter()\n", "\n    # the epoch's clock\n\n"
                                 "    t0 = time.perf_counter()\n", 1), encoding="utf-8")
        assert edited > 20, (name, edited)
        copies[name] = root
    children = {name: subprocess.Popen([sys.executable, "-c", _KEYS, str(root)], stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONHASHSEED": str(i)})
                for i, (name, root) in enumerate({"pristine": pristine, **copies}.items())}
    keys = {}
    for name, child in children.items():
        out, err = child.communicate(timeout=240)
        assert child.returncode == 0, err[-2000:]
        keys[name] = json.loads(out.strip().splitlines()[-1])
    assert keys["harmless"] == keys["pristine"]
    assert keys["recipe"]["train"] != keys["pristine"]["train"]
    assert keys["recipe"]["heat map"] == keys["pristine"]["heat map"]
    assert keys["heat map"]["heat map"] != keys["pristine"]["heat map"]
    assert keys["heat map"]["train"] == keys["pristine"]["train"]


# --------------------------------------------------------------------------- the lock

_HOLDER = """
import json, sys, time
from freqlens import experiments
from freqlens.train import TrainConfig
with experiments.training_lock(TrainConfig(**json.loads(sys.argv[1]))):
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def _as_json(config) -> str:
    return json.dumps({k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(config).items()})


@pytest.mark.timeout(120)
def test_a_process_waiting_for_a_lock_says_which_network_and_how_long(monkeypatch, capfd):
    config = TrainConfig(**TINY)
    monkeypatch.setattr(experiments, "WAIT_REPORT_SECONDS", 0.5)
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, _as_json(config), "2.5"], stdout=subprocess.PIPE,
                              text=True, env=os.environ.copy())
    try:
        assert holder.stdout.readline().strip() == "locked"
        start = time.monotonic()
        with experiments.training_lock(config):
            waited = time.monotonic() - start
    finally:
        assert holder.wait(timeout=60) == 0
    name, key = config.describe(), experiments.config_key(config)[:12]
    lines = [line for line in capfd.readouterr().err.splitlines() if line.startswith("freqlens: ")]
    assert name == "small_cnn-8 on original, 2 epochs"
    assert lines[0] == f"freqlens: {name} [{key}] is being trained by another process; waiting for it"
    seconds = [int(re.fullmatch(rf"freqlens: waiting (\d+) s for {re.escape(name)}", line).group(1))
               for line in lines[1:-1]]
    assert len(seconds) >= 3 and seconds == sorted(seconds) and seconds[-1] >= 1
    assert re.fullmatch(rf"freqlens: waited (\d+) s for {re.escape(name)}", lines[-1])
    assert 1.5 < waited < 30


def test_a_free_lock_is_taken_without_a_word(capfd):
    with experiments.training_lock(TrainConfig(**TINY)):
        pass
    assert "freqlens: " not in capfd.readouterr().err


def test_the_lock_is_reentrant_within_a_thread_and_exclusive_between_threads():
    config = TrainConfig(**TINY)
    order = []

    def nested():
        with experiments.training_lock(config), experiments.training_lock(config):
            order.append("nested")

    def other():
        with experiments.training_lock(config):
            order.append("other")

    with experiments.training_lock(config):
        t = threading.Thread(target=nested)
        t.start()
        t.join(timeout=1)
        assert t.is_alive(), "another thread must wait for this one"
        order.append("first out")
    t.join(timeout=30)
    worker = threading.Thread(target=other)
    worker.start()
    worker.join(timeout=30)
    assert order == ["first out", "nested", "other"]


def test_freqlens_imports_and_locks_where_there_is_no_fcntl(tmp_path):
    script = textwrap.dedent("""
        import sys
        sys.modules["fcntl"] = None       # as on Windows: importing fcntl fails
        import freqlens, freqlens.train
        from freqlens import experiments
        with experiments.training_lock(freqlens.TrainConfig(epochs=1)) as path:
            print("locked", path.name.endswith(".lock"))
    """)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "FREQLENS_CACHE": str(tmp_path)})
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == "locked True"


def test_the_fingerprint_does_not_depend_on_which_modules_a_process_imported_first():
    # the training code imports freqlens.nonrobust inside a function: a worker that has not
    # imported it yet must still compute the driver's key
    code = "{}from freqlens import experiments; print(experiments.code_fingerprint())"
    prints = [subprocess.run([sys.executable, "-c", code.format(first)], capture_output=True, text=True,
                             check=True).stdout.strip()
              for first in ("", "import freqlens.nonrobust; ", "import freqlens.chapters; ")]
    assert len(set(prints)) == 1 and len(prints[0]) == 64


def test_the_digest_follows_a_function_that_imports_from_a_subpackage():
    from freqlens import memo, provenance

    def uses_fourier(x):
        from freqlens.fourier import low_pass

        return low_pass(x, 4)

    assert len(provenance.code_digest(uses_fourier)) == 64
    assert memo.fingerprint(uses_fourier, 1) == memo.fingerprint(uses_fourier, 1)
