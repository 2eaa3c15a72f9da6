"""The whole book: each chapter executed top to bottom, cold (an empty cache) and then warm.

Every chapter runs in a fresh kernel, in order, with the experiment cache in a new empty
folder, so the first pass trains every network and computes every measurement, as a
fresh clone does; the second pass, on the same cache, is what a reader who runs a chapter
again waits for. Then the grid (``freqlens-sweep``, on a local Ray) fills another empty
cache and the chapters run on it: the sweep's time against the chapters training their
networks one after another (``--no-sweep`` leaves this out).

Run: ``python benchmarks/bench_book.py [--no-sweep] [--chapters 01 05]`` (``make bench``).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from sidebyside import record

BOOK = Path(__file__).resolve().parents[1] / "book"


def chapters(prefixes) -> list[Path]:
    found = sorted(BOOK.glob("[0-9][0-9]_*.ipynb"))
    return [p for p in found if not prefixes or p.name[:2] in prefixes]


def execute(path: Path) -> float:
    """Seconds to execute the notebook at ``path`` top to bottom in a fresh kernel (it raises on an error)."""
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=3600, kernel_name="python3", resources={"metadata": {"path": str(BOOK)}}).execute()
    return time.perf_counter() - start


def run_book(paths, cache: Path, label: str) -> dict[str, float]:
    os.environ["FREQLENS_CACHE"] = str(cache)
    times = {}
    for path in paths:
        times[path.stem] = execute(path)
        print(f"{label:>26}  {path.stem:28} {times[path.stem]:8.1f} s", flush=True)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chapters", nargs="*", default=None, help="two-digit prefixes (default: all)")
    parser.add_argument("--no-sweep", dest="sweep", action="store_false",
                        help="leave out freqlens-sweep and the chapters on its cache")
    args = parser.parse_args()
    os.environ["FREQLENS_PROGRESS"] = "0"
    paths = chapters(args.chapters)
    with tempfile.TemporaryDirectory(prefix="freqlens-book-") as tmp:
        cold = run_book(paths, Path(tmp) / "cold", "cold (empty cache)")
        warm = run_book(paths, Path(tmp) / "cold", "warm (same cache)")
        for name in cold:
            record("book", "book", what=name, cold_s=cold[name], warm_s=warm[name])
        print(f"{'the whole book':>26}  cold {sum(cold.values()) / 60:.1f} min, warm {sum(warm.values()):.0f} s")
        if args.sweep:
            start = time.perf_counter()
            env = {**os.environ, "FREQLENS_CACHE": str(Path(tmp) / "swept")}
            subprocess.run([sys.executable, "-m", "freqlens.sweep", "--cache", env["FREQLENS_CACHE"]],
                           check=True, env=env)
            swept = time.perf_counter() - start
            after = run_book(paths, Path(tmp) / "swept", "after the sweep")
            record("book", "sweep", what="freqlens-sweep, then the chapters", sweep_s=swept,
                   chapters_s=sum(after.values()), sequential_s=sum(cold.values()))
            print(f"sweep {swept / 60:.1f} min + chapters {sum(after.values()) / 60:.1f} min, against "
                  f"{sum(cold.values()) / 60:.1f} min training in the chapters one after another")


if __name__ == "__main__":
    main()
