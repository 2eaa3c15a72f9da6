"""The experiment cache: a trained model and its history, stored under a hash of its config.

A result lives in ``$FREQLENS_CACHE`` (default ``data/cache/``, git-ignored) as
``<key>.pt``; while training, ``<key>.ckpt.pt`` holds the last finished epoch so a
killed run resumes. The key is the SHA-256 of the config's canonical JSON together
with :func:`code_fingerprint`, a hash of the code that trains it, so a change to that
code retrains instead of serving a stale model, and a change to any other code (a
figure, an exercise, a message) retrains nothing. Files are written atomically
(temporary file, then ``os.replace``) and read with ``torch.load(weights_only=True)``:
nothing in the cache can run code.

Several processes, on one machine or on several sharing the folder, may fill the cache at
once: :func:`training_lock` holds ``<key>.lock`` while one of them trains a config, so the
others wait (saying so every :data:`WAIT_REPORT_SECONDS`) and then read its result. With
``$FREQLENS_REQUEST_LOG`` set, every config a process asks :func:`freqlens.train.train`
for is appended to that file (:func:`log_request`), so a run of the notebooks can be
checked against :mod:`freqlens.grid`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import filelock
import torch

from freqlens import provenance

__all__ = ["OUTSIDE_TRAINING", "REQUEST_LOG", "WAIT_REPORT_SECONDS", "cache_dir", "canonical_json",
           "checkpoint_path", "code_fingerprint", "config_key", "entry_path", "is_cached", "lock_path",
           "log_request", "read", "training_lock", "write"]

# What the training loop calls that cannot change what it trains, named in the fingerprint
# but not followed: the config (in the key already, as its JSON; a history of another shape
# is refused when read), this cache (where a result is kept), the input checks (they refuse
# bad input and pass good input on unchanged), CIFAR-10's loading (its arrays are checked
# against their SHA-256, so its code cannot change them), the cache of measurements (which
# keys a result on the code that computes it: a non-robust set's attack) and the progress bar.
OUTSIDE_TRAINING = ("freqlens.config", "freqlens.experiments", "freqlens.memo", "freqlens.checks",
                    "freqlens.data.load_cifar10", "freqlens.training_loop.progress_bar")

# The environment variable naming the file that :func:`log_request` appends to.
REQUEST_LOG = "FREQLENS_REQUEST_LOG"

# How often a process waiting for another one's lock says that it still waits.
WAIT_REPORT_SECONDS = 30.0


def code_fingerprint() -> str:
    """A hash of the code that decides what a config trains into.

    The code is found by following :func:`freqlens.training_loop.fit` through every
    function, class and constant it reaches (:func:`freqlens.provenance.code_digest`):
    the recipe's steps, the models, the LFC/HFC split, the attacks of adversarial
    training, the stratified subsets of CIFAR-10, the measurements the history records,
    and whatever they call in turn, but nothing of :data:`OUTSIDE_TRAINING` and nothing
    the loop does not call (figures, exercises, the chapters, the banner). Comments,
    docstrings and layout do not count. It is read from the code the process runs, so a
    module edited on disk counts once it is imported again.

    Example:
        >>> len(code_fingerprint())
        64
    """
    from freqlens import training_loop

    return provenance.code_digest(training_loop.fit, stop=OUTSIDE_TRAINING)


def cache_dir() -> Path:
    """The cache folder: ``$FREQLENS_CACHE``, else ``data/cache`` next to the CIFAR-10 cache.

    Example:
        >>> cache_dir().name in ("cache", os.path.basename(os.environ.get("FREQLENS_CACHE", "cache")))
        True
    """
    env = os.environ.get("FREQLENS_CACHE")
    if env:
        return Path(env).expanduser()
    from freqlens.data import data_dir

    return data_dir() / "cache"


def canonical_json(config) -> str:
    """The config as JSON with sorted keys and no spaces: the same text for equal configs."""
    return json.dumps(dataclasses.asdict(config), sort_keys=True, separators=(",", ":"))


def config_key(config) -> str:
    """SHA-256 (hex) of the config's canonical JSON and :func:`code_fingerprint`.

    Example:
        >>> from freqlens.train import TrainConfig
        >>> len(config_key(TrainConfig()))
        64
    """
    text = canonical_json(config) + "\n" + code_fingerprint()
    return hashlib.sha256(text.encode()).hexdigest()


def entry_path(config) -> Path:
    """Where the finished result of ``config`` is (or will be) stored."""
    return cache_dir() / f"{config_key(config)}.pt"


def checkpoint_path(config) -> Path:
    """Where the last finished epoch of an unfinished run of ``config`` is stored."""
    return cache_dir() / f"{config_key(config)}.ckpt.pt"


def lock_path(config) -> Path:
    """The lock file held while one process trains ``config`` (see :func:`training_lock`)."""
    return cache_dir() / f"{config_key(config)}.lock"


def is_cached(config) -> bool:
    """True when a finished result for ``config`` is in the cache (it may still prove corrupt)."""
    return entry_path(config).is_file()


def write(obj: dict, path: Path) -> None:
    """Save ``obj`` with ``torch.save`` atomically: a temporary file in the same folder, then a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read(path: Path, config, what: str = "cache entry") -> dict | None:
    """Load an entry written by :func:`write` for ``config``; ``None`` if missing or unusable.

    An entry that cannot be read, or that was written for another config or code
    version, is reported in one line on stderr and ignored (the caller retrains).
    """
    path = Path(path)
    if not path.is_file():
        return None
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(obj, dict):
            raise ValueError(f"expected a dict, found {type(obj).__name__}")
        if obj.get("code") != code_fingerprint() or obj.get("config") != canonical_json(config):
            raise ValueError("it was written for another config or by other code")
        for field in ("model", "history"):
            if field not in obj:
                raise ValueError(f"it lacks {field!r}")
    except Exception as e:  # any failure to read means the same thing: train again
        reason = f"{type(e).__name__}: {e}".splitlines()[0][:200]
        print(f"freqlens.experiments: {what} {path.name} is unusable ({reason}); training again",
              file=sys.stderr)
        return None
    return obj


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {seconds:02d} s" if minutes else f"{seconds} s"


def _acquire(lock: filelock.BaseFileLock, config) -> None:
    """Take ``lock``; while another process holds it, say so now and every :data:`WAIT_REPORT_SECONDS`."""
    try:
        lock.acquire(timeout=0)
        return
    except filelock.Timeout:
        pass
    name = config.describe()
    start = time.monotonic()
    print(f"freqlens: {name} [{config_key(config)[:12]}] is being trained by another process; "
          "waiting for it", file=sys.stderr, flush=True)
    while True:
        try:
            lock.acquire(timeout=WAIT_REPORT_SECONDS)
            break
        except filelock.Timeout:
            print(f"freqlens: waiting {_duration(time.monotonic() - start)} for {name}",
                  file=sys.stderr, flush=True)
    print(f"freqlens: waited {_duration(time.monotonic() - start)} for {name}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def training_lock(config):
    """Hold the lock on ``config``'s cache entry: one process at a time trains it.

    An exclusive lock on ``<key>.lock`` (``filelock``: ``flock`` on Unix, ``msvcrt`` on
    Windows), blocking until the holder lets go; while it waits, a line on stderr names
    the network and how long it has waited, then again every :data:`WAIT_REPORT_SECONDS`.
    The operating system drops the lock when its holder exits, killed or not, so no lock
    outlives its process and there is no stale lock to clear. On Unix the empty lock
    files stay in the cache: deleting one while another process waits on it would let a
    third lock a new file of the same name. Re-entrant within a thread; two threads of
    one process exclude each other like two processes. On a cluster the cache must sit
    on storage whose locks every node sees (NFSv4, CephFS, Lustre, a local disk for one
    machine).

    Example:
        >>> from freqlens.train import TrainConfig
        >>> with training_lock(TrainConfig(epochs=1)) as path:   # look in the cache, train if need be
        ...     path.name.endswith(".lock")
        True
    """
    path = lock_path(config)
    held = (path, threading.get_ident())
    if held in _HELD:   # this thread holds it already (a sweep's task calling train())
        _HELD[held] += 1
        try:
            yield path
        finally:
            _HELD[held] -= 1
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = filelock.FileLock(str(path))
    _acquire(lock, config)
    try:
        _HELD[held] = 1
        try:
            yield path
        finally:
            del _HELD[held]
    finally:
        lock.release()


# The locks each thread of this process holds, and how deeply: a second lock object on the
# same file blocks even in the thread that holds the first, so a nested request takes none.
_HELD: dict[tuple[Path, int], int] = {}


def log_request(config) -> None:
    """Append ``config``'s canonical JSON as one line to ``$FREQLENS_REQUEST_LOG``, if it is set.

    Each line is written under a lock on ``<log>.lock``, so lines from concurrent
    processes never interleave.

    Example:
        >>> import tempfile
        >>> from freqlens.train import TrainConfig
        >>> log = Path(tempfile.mkdtemp()) / "requests.jsonl"
        >>> os.environ[REQUEST_LOG] = str(log)
        >>> log_request(TrainConfig(epochs=1)); log_request(TrainConfig(epochs=2))
        >>> del os.environ[REQUEST_LOG]
        >>> [json.loads(line)["epochs"] for line in log.read_text().splitlines()]
        [1, 2]
    """
    target = os.environ.get(REQUEST_LOG)
    if not target:
        return
    line = (canonical_json(config) + "\n").encode()
    path = Path(target).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    with filelock.FileLock(f"{path}.lock"), open(path, "ab") as f:
        f.write(line)
