"""The book's experiment grid: every network each chapter trains, per profile, without running it.

A chapter asks :func:`freqlens.train.train` for its networks one by one; its module in
:mod:`freqlens.chapters` lists the same configs ahead of time (``networks(profile)``),
and the grid is the union of those lists, so a sweep can train them all in parallel
(:mod:`freqlens.sweep`) and the notebooks then find every network in the cache. Chapter 2
trains its own networks from named budgets; chapter 3 one network per training heuristic
and seed; chapters 4 to 6 reuse chapter 3's, chapter 5 adds two of its own and chapter 6
six: two steered towards the low frequencies, four on Ilyas et al.'s non-robust sets.

The list and the notebooks must agree: with ``$FREQLENS_REQUEST_LOG`` set, every config
the notebooks ask for is logged, and :func:`outside` (or ``freqlens-grid check LOG``)
names those the grid lacks.

Example:
    >>> len(configs("quick")), len(configs("full"))
    (57, 67)
    >>> {c.model for c in chapter("03_heuristics_batchnorm", "full")}
    {'resnet18'}
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from freqlens import chapters, checks, experiments, profiles
from freqlens.train import TrainConfig

__all__ = ["CHAPTERS", "chapter", "configs", "describe", "from_json", "main", "outside", "read_log"]

# The chapters that train networks (chapter 1 trains none), by notebook name: each
# chapter module's own list.
CHAPTERS: dict[str, Callable[[str], list[TrainConfig]]] = {
    module.NOTEBOOK: module.networks for module in chapters.MODULES if hasattr(module, "networks")}


def chapter(name: str, profile: str | None = None) -> list[TrainConfig]:
    """The configs chapter ``name`` (a key of :data:`CHAPTERS`) asks for under ``profile``, in its order.

    Example:
        >>> [c.view for c in chapter("05_attacks_defenses", "quick")]
        ['original', 'original', 'original', 'original', 'original', 'lfc', 'original']
    """
    name = checks.one_of(name, "chapter", options=tuple(CHAPTERS))
    return CHAPTERS[name](profiles.resolve(profile))


def configs(profile: str | None = None, chapters=None) -> list[TrainConfig]:
    """Every config the book's chapters (or those named in ``chapters``) train, each once, in chapter order.

    Example:
        >>> len(configs("quick", chapters=["04_frequency_attribution", "05_attacks_defenses"]))  # 3 of 5's are 4's
        7
    """
    seen, grid = set(), []
    for name in CHAPTERS if chapters is None else chapters:
        for config in chapter(name, profile):
            if config not in seen:
                seen.add(config)
                grid.append(config)
    return grid


def from_json(text: str) -> TrainConfig:
    """The config whose canonical JSON is ``text`` (:func:`freqlens.experiments.canonical_json`).

    Example:
        >>> c = configs("quick")[1]
        >>> from_json(experiments.canonical_json(c)) == c
        True
    """
    return TrainConfig(**json.loads(text))


def read_log(path) -> list[str]:
    """The distinct canonical JSON lines of a request log, in the order first asked for."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return list(dict.fromkeys(line for line in lines if line.strip()))


def outside(log, profile: str | None = None) -> list[str]:
    """The configs a request log holds that the grid of ``profile`` lacks (canonical JSON, one each).

    Example:
        >>> import tempfile
        >>> log = Path(tempfile.mkdtemp()) / "requests.jsonl"
        >>> extra = TrainConfig.for_profile("quick", epochs=7)
        >>> _ = log.write_text("\\n".join(experiments.canonical_json(c)
        ...                               for c in (configs("quick")[0], extra)) + "\\n")
        >>> outside(log, "quick") == [experiments.canonical_json(extra)]
        True
    """
    known = {experiments.canonical_json(c) for c in configs(profile)}
    return [line for line in read_log(log) if line not in known]


def describe(config: TrainConfig, profile: str) -> str:
    """The fields in which a config differs from the profile's standard network.

    Example:
        >>> describe(TrainConfig.for_profile("quick", epochs=7), "quick")
        'epochs=7'
    """
    base = TrainConfig.for_profile(profile)
    changed = {k: v for k, v in vars(config).items() if v != getattr(base, k)}
    return ", ".join(f"{k}={v}" for k, v in changed.items()) or "the standard network"


def main(argv=None) -> int:
    """``freqlens-grid list`` prints the grid; ``freqlens-grid check LOG`` fails on requests outside it."""
    parser = argparse.ArgumentParser(prog="freqlens-grid", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("list", "check"))
    parser.add_argument("log", nargs="?", help="the request log to check (FREQLENS_REQUEST_LOG of a run)")
    parser.add_argument("--profile", choices=profiles.PROFILES, default=None,
                        help="the profile (default: FREQLENS_PROFILE, else full on CUDA, quick otherwise)")
    args = parser.parse_args(argv)
    profile = profiles.current_profile() if args.profile is None else args.profile
    if args.command == "list":
        for name in CHAPTERS:
            for config in chapter(name, profile):
                print(f"{name}  {experiments.config_key(config)[:12]}  {describe(config, profile)}")
        print(f"{len(configs(profile))} distinct networks in the {profile} grid")
        return 0
    if args.log is None:
        parser.error("check needs the request log: freqlens-grid check LOG")
    if not Path(args.log).is_file():
        parser.error(f"the request log {args.log} does not exist (was FREQLENS_REQUEST_LOG set?)")
    extra = outside(args.log, profile)
    asked = len(read_log(args.log))
    if extra:
        print(f"{len(extra)} of the {asked} configs asked for are not in the {profile} grid "
              f"(add them to their chapter's networks in freqlens/chapters/):", file=sys.stderr)
        for line in extra:
            print(f"  {describe(from_json(line), profile)}\n    {line}", file=sys.stderr)
        return 1
    print(f"all {asked} configs asked for are in the {profile} grid of {len(configs(profile))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
