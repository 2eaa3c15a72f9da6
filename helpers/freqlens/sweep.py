"""Train the book's whole grid in parallel on Ray, with the experiment cache as the meeting point.

``freqlens-sweep --profile full`` trains every network of :mod:`freqlens.grid` that the
cache lacks, one Ray task per network: one GPU per task where the cluster has GPUs, one
CPU slot otherwise. The notebooks then find every network in the cache and run warm.

Safe with any number of workers: a task trains under :func:`freqlens.experiments.training_lock`,
so two tasks for one config train it once; a task whose worker dies is retried
(``max_retries``) and resumes from the config's last checkpoint; cache files are written
atomically, so nothing half-written is read. Without ``--address`` the sweep starts a
local Ray; with it, it joins a running cluster, whose nodes must all see ``--cache``.

Example (a sweep of two tiny networks on a local Ray of two CPU workers)::

    from freqlens import sweep
    from freqlens.train import TrainConfig
    sweep.start_ray(num_cpus=2)
    summary = sweep.run([TrainConfig(train_size=300, epochs=1, seed=s) for s in (0, 1)], "/tmp/cache")
    print(summary)   # "2 networks: 2 trained, 0 cached, 0 failed in 21 s"
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from freqlens import experiments, grid, profiles

__all__ = ["Outcome", "Summary", "main", "remote_task", "run", "start_ray", "train_one"]

# Each worker process trains with one thread: parallelism comes from the tasks.
THREADS_PER_TASK = 1
MAX_RETRIES = 3


def _ray():
    try:
        import ray
    except ImportError as e:
        raise SystemExit("freqlens-sweep needs Ray: pip install 'freqlens[sweep]' "
                         f"(or pip install ray), then run it again ({e})") from None
    return ray


# --------------------------------------------------------------------------- one network

def train_one(config_json: str, cache: str, data: str | None = None) -> dict:
    """Train one config into ``cache`` (or find it there) in this process, as a sweep's task does.

    The config is its canonical JSON. Under the config's lock: if the cache holds its
    result, nothing is trained; otherwise training starts, or resumes from the last
    checkpoint a killed attempt left. Returns what happened: ``status`` (``"trained"`` or
    ``"cached"``), ``key``, ``resumed_from`` (epochs the checkpoint held, 0 if none),
    ``epochs`` and ``seconds``.
    """
    import torch

    os.environ["FREQLENS_CACHE"] = str(cache)
    os.environ["FREQLENS_PROGRESS"] = "0"   # the sweep shows one bar for all its tasks
    if data is not None:
        os.environ["FREQLENS_DATA"] = str(data)
    torch.set_num_threads(THREADS_PER_TASK)
    from freqlens.train import History, train

    config = grid.from_json(config_json)
    start = time.perf_counter()
    outcome = {"key": experiments.config_key(config), "resumed_from": 0}
    with experiments.training_lock(config):
        entry = experiments.read(experiments.entry_path(config), config)
        if entry is not None:
            epochs = len(History.from_dict(entry["history"]))
            return {**outcome, "status": "cached", "epochs": epochs,
                    "seconds": time.perf_counter() - start}
        ckpt = experiments.read(experiments.checkpoint_path(config), config, what="checkpoint")
        if ckpt is not None:
            outcome["resumed_from"] = int(ckpt["epoch"])
        del ckpt   # train() reads it again; a ResNet-18's weights and optimiser need not stay twice
        result = train(config, progress=False)
    return {**outcome, "status": "cached" if result.cached else "trained",
            "epochs": len(result.history), "seconds": time.perf_counter() - start}


def remote_task(function=train_one):
    """``function`` as a Ray remote function, retried when its worker dies, with the sweep's defaults."""
    return _ray().remote(max_retries=MAX_RETRIES, num_cpus=1)(function)


# --------------------------------------------------------------------------- the cluster

def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail at once, with the reason, when ``host:port`` accepts no connection."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"address must be 'auto', 'host:port' or 'ray://host:port', got {address!r}")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as e:
        raise ConnectionError(f"no Ray cluster reachable at {address} ({type(e).__name__}: {e}); "
                              "start one with `ray start --head` or leave out --address for a local Ray") from None


def start_ray(address: str | None = None, num_cpus: int | None = None,
              object_store_mb: int = 128, ship_code: bool = True) -> None:
    """Start a light local Ray (no dashboard, a small object store), or join the cluster at ``address``.

    A cluster's workers run the driver's own ``freqlens`` (shipped as a Ray ``py_modules``
    package unless ``ship_code=False``), so their cache keys are the driver's. Raises
    ``ValueError`` for an address of the wrong form and ``ConnectionError`` when no
    cluster answers there.
    """
    ray = _ray()
    if address is not None and address != "auto" and not address.startswith("ray://"):
        _check_reachable(address)
    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if address is None:
        ray.init(num_cpus=num_cpus or os.cpu_count(), include_dashboard=False,
                 object_store_memory=object_store_mb * 2**20, log_to_driver=True)
        return
    runtime_env = {}
    if ship_code:
        import freqlens

        runtime_env["py_modules"] = [str(Path(freqlens.__file__).parent)]
    try:
        ray.init(address=address, runtime_env=runtime_env or None, log_to_driver=True)
    except (ConnectionError, RuntimeError) as e:
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ConnectionError(f"could not join the Ray cluster at {address}: {reason}") from None


# --------------------------------------------------------------------------- the sweep

@dataclass
class Outcome:
    """What became of one config: ``"trained"``, ``"cached"`` or ``"failed"`` (with the error)."""

    config_json: str
    status: str
    resumed_from: int = 0
    seconds: float = 0.0
    error: str = ""


@dataclass
class Summary:
    """Counts and time of a sweep, and each config's :class:`Outcome` in the grid's order."""

    outcomes: list = field(default_factory=list)
    seconds: float = 0.0

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.outcomes)

    @property
    def failed(self) -> list:
        return [o for o in self.outcomes if o.status == "failed"]

    def __str__(self) -> str:
        resumed = sum(o.resumed_from > 0 for o in self.outcomes if o.status == "trained")
        m, s = divmod(round(self.seconds), 60)
        return (f"{len(self.outcomes)} networks: {self.count('trained')} trained"
                + (f" ({resumed} resumed from a checkpoint)" if resumed else "")
                + f", {self.count('cached')} cached, {self.count('failed')} failed in "
                + (f"{m} min {s} s" if m else f"{s} s"))


def _error_text(e: BaseException) -> str:
    lines = [line for line in str(e).strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else type(e).__name__


@contextlib.contextmanager
def _cache_folder(cache: str):
    """``$FREQLENS_CACHE`` set to ``cache`` for the duration, then as it was."""
    before = os.environ.get("FREQLENS_CACHE")
    os.environ["FREQLENS_CACHE"] = cache
    try:
        yield
    finally:
        if before is None:
            del os.environ["FREQLENS_CACHE"]
        else:
            os.environ["FREQLENS_CACHE"] = before


def run(configs, cache, *, data: str | None = None, task=None, progress: bool = True,
        desc: str = "sweep") -> Summary:
    """Train ``configs`` as Ray tasks into the cache folder ``cache``; skip those already there.

    Ray must be started (:func:`start_ray`). Duplicates in ``configs`` are trained once.
    ``task`` is the remote function that trains one config (default :func:`train_one` as
    :func:`remote_task` makes it). Returns a :class:`Summary`; failures are counted, not
    raised.
    """
    ray = _ray()
    from tqdm.auto import tqdm

    cache = str(Path(cache).expanduser().resolve())
    start = time.perf_counter()
    texts = list(dict.fromkeys(experiments.canonical_json(c) for c in configs))
    with _cache_folder(cache):
        outcomes = {t: Outcome(t, "cached") for t in texts if experiments.is_cached(grid.from_json(t))}
    task = task or remote_task()
    gpu = ray.cluster_resources().get("GPU", 0) >= 1
    options = dict(num_gpus=1, num_cpus=1) if gpu else dict(num_gpus=0, num_cpus=1)
    pending = {task.options(**options).remote(t, cache, data): t for t in texts if t not in outcomes}
    bar = tqdm(total=len(texts), initial=len(outcomes), unit="net", desc=desc, disable=not progress,
               dynamic_ncols=True)
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        text = pending.pop(done[0])
        outcomes[text] = _outcome(ray, done[0], text)
        bar.update(1)
        bar.set_postfix({s: sum(o.status == s for o in outcomes.values())
                         for s in ("trained", "cached", "failed")})
    bar.close()
    return Summary([outcomes[t] for t in texts], time.perf_counter() - start)


def _outcome(ray, ref, text: str) -> Outcome:
    try:
        got = ray.get(ref)
    except ray.exceptions.RayError as e:
        return Outcome(text, "failed", error=_error_text(e))
    if got["key"] != experiments.config_key(grid.from_json(text)):
        return Outcome(text, "failed", error="the worker's freqlens code differs from the driver's "
                       "(another cache key): install the same version on every node")
    return Outcome(text, got["status"], got["resumed_from"], got["seconds"])


# --------------------------------------------------------------------------- the command

def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="freqlens-sweep", description=__doc__.splitlines()[0])
    p.add_argument("--profile", default=None, help=f"one of {', '.join(profiles.PROFILES)} (default: "
                   "FREQLENS_PROFILE, else full where CUDA is available and quick otherwise)")
    p.add_argument("--chapters", nargs="+", default=None, metavar="CHAPTER",
                   help=f"only these chapters' networks ({', '.join(grid.CHAPTERS)})")
    p.add_argument("--address", default=None,
                   help="join the Ray cluster at host:port, ray://host:port or 'auto' (default: start a local Ray)")
    p.add_argument("--cache", default=None,
                   help="the experiment cache folder, on storage every node sees "
                        "(default: FREQLENS_CACHE, else data/cache)")
    p.add_argument("--data", default=None,
                   help="the folder of cifar10.npz on the workers (default: each node's own)")
    p.add_argument("--num-cpus", type=int, default=None,
                   help="CPU slots of a local Ray (default: every core)")
    p.add_argument("--list", action="store_true", help="print the grid and what the cache holds; train nothing")
    return p


def _check_args(parser, args) -> None:
    if args.profile is not None and args.profile not in profiles.PROFILES:
        parser.error(f"--profile must be one of {', '.join(profiles.PROFILES)}, got {args.profile!r}")
    unknown = [c for c in args.chapters or () if c not in grid.CHAPTERS]
    if unknown:
        parser.error(f"--chapters must name chapters among {', '.join(grid.CHAPTERS)}, got {unknown}")
    if args.num_cpus is not None and args.num_cpus < 1:
        parser.error(f"--num-cpus must be an integer >= 1, got {args.num_cpus}")
    if args.num_cpus is not None and args.address is not None:
        parser.error("--num-cpus sizes a local Ray; a cluster given by --address has its own")


def main(argv=None) -> int:
    """``freqlens-sweep``: train the grid of a profile on Ray, print a summary, exit 1 if any failed."""
    parser = _parser()
    args = parser.parse_args(argv)
    _check_args(parser, args)
    try:
        profile = profiles.current_profile() if args.profile is None else args.profile
    except ValueError as e:   # FREQLENS_PROFILE names no profile
        parser.error(str(e))
    cache = Path(args.cache).expanduser() if args.cache else experiments.cache_dir()
    os.environ["FREQLENS_CACHE"] = str(cache)
    configs = grid.configs(profile, args.chapters)
    if args.list:
        held = sum(experiments.is_cached(c) for c in configs)
        print(f"the {profile} grid: {len(configs)} networks, {held} of them in {cache}")
        return 0
    if args.address is None:
        from freqlens.data import load_cifar10

        load_cifar10()   # fetched once here, not by every task at once
    elif args.cache is None:
        print(f"freqlens-sweep: the cache is {cache}; every node of the cluster must see this folder "
              "(give --cache on shared storage)", file=sys.stderr)
    try:
        start_ray(args.address, num_cpus=args.num_cpus)
    except (ValueError, ConnectionError) as e:
        raise SystemExit(f"freqlens-sweep: {e}") from None
    summary = run(configs, cache, data=args.data, desc=f"{profile} grid")
    print(f"{profile} grid, {summary}")
    for o in summary.failed:
        print(f"  failed: {grid.describe(grid.from_json(o.config_json), profile)}: {o.error}",
              file=sys.stderr)
    return 1 if summary.failed else 0


if __name__ == "__main__":
    sys.exit(main())
