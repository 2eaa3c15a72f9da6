"""The sweep on a local Ray of two CPU workers: a small grid, a killed worker, a config asked twice.

The tests that start Ray are marked ``ray`` (deselect them with ``-m "not ray"``); they
share one local Ray and train tiny networks on a few hundred real CIFAR-10 images.
"""

import os
import signal
from pathlib import Path

import pytest
import torch

from freqlens import experiments, profiles, sweep
from freqlens.train import TrainConfig, train

# Tiny but real: 300 stratified CIFAR-10 images, a narrow CNN, two epochs.
TINY = dict(width=8, train_size=300, test_size=100, epochs=2, batch_size=100, lr=0.05,
            eval_radii=(4,), train_eval_size=50)


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray")
    sweep.start_ray(num_cpus=2)
    assert ray.cluster_resources()["CPU"] == 2
    yield ray
    ray.shutdown()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FREQLENS_PROGRESS", "0")
    monkeypatch.setenv("FREQLENS_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _entry(config, cache) -> dict:
    return torch.load(Path(cache) / f"{experiments.config_key(config)}.pt", weights_only=True)


def _without_seconds(history: dict) -> dict:
    return {k: v for k, v in history.items() if k not in ("seconds", "eval_seconds")}


@pytest.mark.ray
@pytest.mark.timeout(180)
def test_sweep_trains_a_small_grid_on_two_workers_then_serves_it_from_the_cache(ray_cluster, cache):
    configs = [TrainConfig(**TINY, seed=s) for s in range(3)]
    summary = sweep.run(configs + configs[:1], cache, progress=False)
    assert [o.status for o in summary.outcomes] == ["trained"] * 3
    assert str(summary).startswith("3 networks: 3 trained, 0 cached, 0 failed in")
    assert sorted(p.name for p in cache.glob("*.pt")) == sorted(
        f"{experiments.config_key(c)}.pt" for c in configs)
    assert not list(cache.glob("*.part")) and not list(cache.glob("*.ckpt.pt"))

    again = sweep.run(configs, cache, progress=False)
    assert [o.status for o in again.outcomes] == ["cached"] * 3
    results = [train(c, device="cpu") for c in configs]   # what a notebook asks for afterwards
    assert all(r.cached and len(r.history) == 2 for r in results)


def _killing_task(marker: Path):
    """The sweep's task, but its first attempt kills its own worker right after the first checkpoint."""
    def task(config_json, cache, data=None):
        if not marker.exists():
            marker.write_text(str(os.getpid()))
            write = experiments.write

            def write_then_die(obj, path):
                write(obj, path)
                if str(path).endswith(".ckpt.pt"):
                    os.kill(os.getpid(), signal.SIGKILL)

            experiments.write = write_then_die
        return sweep.train_one(config_json, cache, data)

    return sweep.remote_task(task)


@pytest.mark.ray
@pytest.mark.timeout(180)
def test_a_killed_worker_is_retried_and_resumes_from_its_checkpoint(ray_cluster, cache, tmp_path):
    config = TrainConfig(**{**TINY, "epochs": 3})
    marker = tmp_path / "first-attempt"
    summary = sweep.run([config], cache, task=_killing_task(marker), progress=False)
    (outcome,) = summary.outcomes
    assert marker.exists(), "the first attempt ran"
    assert outcome.status == "trained", outcome.error
    assert outcome.resumed_from == 1, "the retry starts after the epoch the killed attempt saved"
    assert not list(cache.glob("*.ckpt.pt")) and not list(cache.glob("*.part"))

    # ... and ends where an uninterrupted run ends, bit for bit (one thread each, on the CPU)
    whole = sweep.run([config], tmp_path / "uninterrupted", progress=False)
    assert whole.outcomes[0].resumed_from == 0
    resumed, uninterrupted = _entry(config, cache), _entry(config, tmp_path / "uninterrupted")
    assert resumed["history"]["epoch"] == [1, 2, 3]
    assert _without_seconds(resumed["history"]) == _without_seconds(uninterrupted["history"])
    assert all(torch.equal(resumed["model"][k], uninterrupted["model"][k]) for k in resumed["model"])


@pytest.mark.ray
@pytest.mark.timeout(180)
def test_the_same_config_submitted_twice_trains_once(ray_cluster, cache):
    config = TrainConfig(**{**TINY, "train_size": 600})
    task = sweep.remote_task()
    text = experiments.canonical_json(config)
    outcomes = ray_cluster.get([task.remote(text, str(cache)), task.remote(text, str(cache))])
    assert sorted(o["status"] for o in outcomes) == ["cached", "trained"]
    assert {o["key"] for o in outcomes} == {experiments.config_key(config)}
    assert len(list(cache.glob("*.pt"))) == 1


# --------------------------------------------------------------------------- the command, without Ray

def test_sweep_rejects_an_unknown_profile(capsys):
    with pytest.raises(SystemExit) as e:
        sweep.main(["--profile", "huge"])
    assert e.value.code == 2
    assert f"--profile must be one of {', '.join(profiles.PROFILES)}, got 'huge'" in capsys.readouterr().err


def test_sweep_rejects_an_unknown_chapter(capsys):
    with pytest.raises(SystemExit):
        sweep.main(["--profile", "quick", "--chapters", "09_spectral_bias"])
    assert "--chapters must name chapters among 02_hfc_generalization" in capsys.readouterr().err


def test_sweep_says_when_no_cluster_answers_at_the_address(cache):
    with pytest.raises(SystemExit, match="no Ray cluster reachable at 127.0.0.1:9 .*ray start --head"):
        sweep.main(["--profile", "quick", "--address", "127.0.0.1:9", "--cache", str(cache)])


def test_sweep_rejects_an_address_without_a_port(cache):
    with pytest.raises(SystemExit, match="address must be 'auto', 'host:port' or 'ray://host:port', "
                                         "got 'headnode'"):
        sweep.main(["--profile", "quick", "--address", "headnode", "--cache", str(cache)])


def test_sweep_lists_the_grid_and_what_the_cache_holds(cache, capsys):
    assert sweep.main(["--profile", "quick", "--cache", str(cache), "--list"]) == 0
    assert f"the quick grid: 57 networks, 0 of them in {cache}" in capsys.readouterr().out


def test_training_lock_lets_one_holder_in_at_a_time(cache):
    import threading

    config = TrainConfig(**TINY)
    events = []
    first_in = threading.Event()

    def second():
        first_in.wait()
        with experiments.training_lock(config):
            events.append("second in")

    t = threading.Thread(target=second)
    t.start()
    with experiments.training_lock(config) as path:
        first_in.set()
        t.join(timeout=0.5)
        assert t.is_alive(), "the second holder must wait for the first"
        events.append("first out")
    t.join(timeout=10)
    assert events == ["first out", "second in"]
    assert path.name == f"{experiments.config_key(config)}.lock"
