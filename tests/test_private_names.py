"""No module and no notebook uses another module's private names: what is shared is public and documented."""

import ast
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "helpers" / "freqlens"


def _modules() -> set[str]:
    """Every module and package of freqlens by its dotted name (``freqlens.plot.style``, ...)."""
    names = set()
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        names.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _uses(source: str, own: str | None) -> list[str]:
    """The private names of other freqlens modules that ``source`` imports or reads as attributes.

    ``own`` is the module the source belongs to (its own private names are its business).
    """
    modules, found = _modules(), []
    tree = ast.parse(source)
    aliases = {}   # local name -> freqlens module it stands for
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "freqlens":
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                if full in modules:
                    aliases[alias.asname or alias.name] = full
                elif _private(alias.name) and node.module != own:
                    found.append(f"from {node.module} import {alias.name}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in modules:
                    aliases[alias.asname or alias.name.split(".")[0]] = \
                        alias.name if alias.asname else alias.name.split(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            base = node.value
            dotted = []
            while isinstance(base, ast.Attribute):
                dotted.insert(0, base.attr)
                base = base.value
            if isinstance(base, ast.Name) and base.id in aliases:
                target = ".".join([aliases[base.id], *dotted])
                if target in modules and target != own:
                    found.append(f"{target}.{node.attr}")
    return found


def _notebook_source(path: Path) -> str:
    cells = json.loads(path.read_text())["cells"]
    code = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    # IPython's magics and shell escapes are not Python
    return "\n".join(re.sub(r"^\s*[%!].*$", "", c, flags=re.M) for c in code)


def test_the_scan_finds_a_private_import_and_a_private_attribute():
    source = ("from freqlens.fourier.spectra import _radial_bins\nfrom freqlens import exercises as ex\n"
              "ex._hint([])\nimport freqlens.attacks\nfreqlens.attacks.gradient._random_start(1, 2)\n")
    assert _uses(source, own=None) == ["from freqlens.fourier.spectra import _radial_bins", "freqlens.exercises._hint",
                                       "freqlens.attacks.gradient._random_start"]
    assert _uses("from freqlens.fourier.spectra import _radial_bins\n", own="freqlens.fourier.spectra") == []


def test_no_module_of_the_package_uses_another_modules_private_names():
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        own = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        uses = _uses(path.read_text(encoding="utf-8"), own)
        if uses:
            found[str(path.relative_to(ROOT))] = uses
    assert not found, f"private names used across modules: {found}"


def test_no_notebook_uses_a_private_name_of_the_package():
    found = {p.name: _uses(_notebook_source(p), own=None) for p in sorted((ROOT / "book").glob("*.ipynb"))}
    found = {k: v for k, v in found.items() if v}
    assert not found, f"notebooks using private names of freqlens: {found}"
