"""The chapters' modules: their networks make the grid, and their experiments measure what the notebooks print.

Each experiment is checked on real CIFAR-10 images against a straightforward
computation of the same thing, with small untrained or briefly trained networks, so
that a notebook's numbers rest on tested code.
"""

import importlib
import json
from pathlib import Path

import pytest

from freqlens import chapters, grid, heuristics, profiles

ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- the modules

def test_every_chapter_of_the_book_has_its_module():
    toc = (ROOT / "_toc.yml").read_text()
    notebooks = sorted(p.stem for p in (ROOT / "book").glob("[0-9]*.ipynb"))
    assert [m.NOTEBOOK for m in chapters.MODULES] == notebooks
    for module in chapters.MODULES:
        assert f"book/{module.NOTEBOOK}" in toc
        number, rest = module.NOTEBOOK.split("_", 1)
        assert module.__name__ == f"freqlens.chapters.ch{int(number)}_{rest}"


@pytest.mark.parametrize("module", chapters.MODULES, ids=lambda m: m.NOTEBOOK)
def test_every_public_name_of_a_chapter_is_documented(module):
    for name in module.__all__:
        value = getattr(module, name)
        if callable(value):
            assert value.__doc__ and value.__doc__.strip(), f"{module.__name__}.{name} has no docstring"


@pytest.mark.parametrize("module", chapters.MODULES, ids=lambda m: m.NOTEBOOK)
def test_each_notebook_grades_its_exercises_with_its_own_chapters_checks(module):
    cells = json.loads((ROOT / "book" / f"{module.NOTEBOOK}.ipynb").read_text())["cells"]
    tests = ["".join(c["source"]) for c in cells if c["metadata"].get("nbgrader", {}).get("grade")]
    short = module.__name__.rsplit(".", 1)[1].split("_")[0]   # ch1, ch2, ...
    assert tests and all(f"{short}.check_" in t for t in tests)
    for t in tests:
        for name in t.split(f"{short}.")[1:]:
            assert name.split("(")[0] in module.__all__


# --------------------------------------------------------------------------- the grid

@pytest.mark.parametrize("profile", profiles.PROFILES)
def test_the_grid_is_the_union_of_the_chapters_networks(profile):
    own = [c for m in chapters.MODULES if hasattr(m, "networks") for c in m.networks(profile)]
    assert grid.configs(profile) == list(dict.fromkeys(own))
    assert set(grid.CHAPTERS) == {m.NOTEBOOK for m in chapters.MODULES[1:]}   # chapter 1 trains none
    assert not hasattr(chapters.ch1_frequencies, "networks")


@pytest.mark.parametrize("profile", profiles.PROFILES)
def test_chapter_5s_own_networks_are_dong_et_al_s_recipe_with_and_without_the_consistency_term(profile):
    ch5 = chapters.ch5_attacks_defenses
    vanilla, dong, ablation = (ch5.config(n, profile) for n in ("vanilla", "consistency", "fgsm adversarial"))
    differences = lambda a, b: {k: v for k, v in vars(b).items() if vars(a)[k] != v}
    assert differences(vanilla, dong) == {"adv_eps": 0.03, "adv_attack": "fgsm", "adv_clean_weight": 0.5,
                                          "adv_consistency": 0.1}
    assert differences(dong, ablation) == {"adv_consistency": 0.0}
    assert ch5.config("adversarial", profile) == heuristics.config("adversarial", profile)
    assert ch5.config("consistency", profile, seed=2).seed == 2


def test_chapters_4_and_5_name_their_networks_as_their_tables_do():
    assert list(chapters.ch4_frequency_attribution.configs("quick")) == [
        "vanilla", "BatchNorm", "adversarial", "LFC r = 4 (control)"]
    assert list(chapters.ch5_attacks_defenses.configs("quick")) == [
        "vanilla", "adversarial", "FGSM adversarial", "consistency", "LFC r = 4"]


def test_a_chapter_module_is_importable_on_its_own():
    for module in chapters.MODULES:
        assert importlib.reload(module).NOTEBOOK == module.NOTEBOOK
