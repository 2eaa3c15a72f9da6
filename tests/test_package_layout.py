"""The package reads in parts: no file runs far past 400 lines, and a chapter split into parts is still one name."""

import importlib
import pkgutil
from pathlib import Path

from freqlens import chapters

PACKAGE = Path(__file__).resolve().parents[1] / "helpers" / "freqlens"
# 400 lines, and some slack for a file that has just grown: past this it is split by concern
LIMIT = 460


def test_no_file_of_the_package_runs_far_past_400_lines():
    lengths = {str(p.relative_to(PACKAGE)): len(p.read_text(encoding="utf-8").splitlines())
               for p in sorted(PACKAGE.rglob("*.py"))}
    long = {name: n for name, n in lengths.items() if n > LIMIT}
    assert not long, f"split these by concern (lines): {long}"
    assert len(lengths) > 50   # the scan saw the whole package, subpackages included


def test_a_chapter_package_offers_every_public_name_of_its_parts_and_nothing_else():
    packages = [m for m in chapters.MODULES if hasattr(m, "__path__")]
    assert {m.NOTEBOOK for m in packages} >= {"04_frequency_attribution", "05_attacks_defenses",
                                              "06_explaining_and_steering"}
    for package in packages:
        parts = [importlib.import_module(f"{package.__name__}.{info.name}")
                 for info in pkgutil.iter_modules(package.__path__)]
        offered = {"NOTEBOOK"}
        for part in parts:
            for name in part.__all__:
                assert getattr(package, name) is getattr(part, name), f"{package.__name__}.{name}"
                assert name in package.__all__, f"{part.__name__}.{name} is not in {package.__name__}.__all__"
            offered |= set(part.__all__)
        assert set(package.__all__) == offered, set(package.__all__) ^ offered
