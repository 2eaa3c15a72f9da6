"""The experiment grid: what each chapter trains, listed without running a notebook, and the request log."""

import json
import multiprocessing
import os

import pytest

from freqlens import experiments, grid, heuristics, profiles
from freqlens.chapters import ch5_attacks_defenses as ch5
from freqlens.train import TrainConfig, train


@pytest.fixture(autouse=True)
def private(tmp_path, monkeypatch):
    monkeypatch.setenv("FREQLENS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("FREQLENS_PROGRESS", "0")
    monkeypatch.delenv(experiments.REQUEST_LOG, raising=False)


@pytest.mark.parametrize("profile,size", [("quick", 57), ("full", 67)])
def test_grid_lists_each_network_of_the_book_once(profile, size):
    configs = grid.configs(profile)
    assert len(configs) == size
    assert len({experiments.config_key(c) for c in configs}) == size


@pytest.mark.parametrize("profile", profiles.PROFILES)
def test_chapters_4_and_5_reuse_chapter_3s_networks(profile):
    chapter3 = set(grid.chapter("03_heuristics_batchnorm", profile))
    assert set(grid.chapter("04_frequency_attribution", profile)) <= chapter3
    own = {ch5.config("fgsm adversarial", profile), ch5.config("consistency", profile),
           ch5.configs(profile)["kernel penalty"]}
    assert set(grid.chapter("05_attacks_defenses", profile)) - chapter3 == own


@pytest.mark.parametrize("profile", profiles.PROFILES)
def test_chapter_6_trains_its_steered_networks_and_non_robust_sets_from_chapter_3s_vanilla(profile):
    chapter3 = set(grid.chapter("03_heuristics_batchnorm", profile))
    own = set(grid.chapter("06_explaining_and_steering", profile)) - chapter3
    assert len(own) == 6
    sets = [c for c in own if c.nonrobust is not None]
    assert len(sets) == 4 and {c.nonrobust.source for c in sets} == {heuristics.config("vanilla", profile)}
    assert {c.nonrobust.band for c in sets} == {"all", "lfc", "hfc", "none"}


def test_chapter_3_trains_every_heuristic_over_its_seeds():
    configs = grid.chapter("03_heuristics_batchnorm", "quick")
    for name in heuristics.HEURISTICS:
        for seed in heuristics.seeds(name, "quick"):
            assert heuristics.config(name, "quick", seed=seed) in configs


def test_grid_follows_the_profile():
    assert {c.model for c in grid.configs("quick")} == {"small_cnn"}
    assert {c.model for c in grid.configs("full")} == {"resnet18"}


def test_grid_rejects_an_unknown_chapter_or_profile():
    with pytest.raises(ValueError, match="chapter must be one of .*got '06_spectral'"):
        grid.chapter("06_spectral", "quick")
    with pytest.raises(ValueError, match="profile must be one of .*got 'huge'"):
        grid.configs("huge")


def test_configs_come_back_from_their_canonical_json():
    for config in grid.configs("quick") + grid.configs("full"):
        assert grid.from_json(experiments.canonical_json(config)) == config


def test_train_logs_each_request_when_asked(tmp_path, monkeypatch):
    log = tmp_path / "requests.jsonl"
    monkeypatch.setenv(experiments.REQUEST_LOG, str(log))
    config = TrainConfig(width=4, train_size=100, test_size=20, epochs=0, eval_radii=(), train_eval_size=0)
    train(config, device="cpu")
    train(config, device="cpu")
    assert log.read_text().splitlines() == [experiments.canonical_json(config)] * 2


def test_train_logs_nothing_without_the_variable(tmp_path):
    config = TrainConfig(width=4, train_size=100, test_size=20, epochs=0, eval_radii=(), train_eval_size=0)
    train(config, device="cpu")
    assert not list(tmp_path.rglob("*.jsonl"))


def _log_many(path, seed, n):
    os.environ[experiments.REQUEST_LOG] = path
    for epochs in range(n):
        experiments.log_request(TrainConfig(epochs=epochs, seed=seed, eval_radii=tuple(range(1, 17))))


def test_request_log_keeps_whole_lines_under_concurrent_writers(tmp_path):
    log = tmp_path / "requests.jsonl"
    ctx = multiprocessing.get_context("fork")   # the writers share nothing but the file
    procs = [ctx.Process(target=_log_many, args=(str(log), seed, 200)) for seed in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    lines = log.read_text().splitlines()
    assert len(lines) == 600
    assert sorted((json.loads(s)["seed"], json.loads(s)["epochs"]) for s in lines) == \
        [(seed, e) for seed in range(3) for e in range(200)]


def test_check_passes_a_log_inside_the_grid(tmp_path, capsys):
    log = tmp_path / "requests.jsonl"
    log.write_text("".join(experiments.canonical_json(c) + "\n" for c in grid.configs("quick")[::3]))
    assert grid.main(["check", str(log), "--profile", "quick"]) == 0
    assert "all 19 configs asked for are in the quick grid of 57" in capsys.readouterr().out  # every third


def test_check_fails_and_lists_configs_outside_the_grid(tmp_path, capsys):
    log = tmp_path / "requests.jsonl"
    extra = heuristics.config("vanilla", "quick", seed=7)
    inside = grid.configs("quick")[0]
    log.write_text("".join(experiments.canonical_json(c) + "\n" for c in (inside, extra, extra)))
    assert grid.main(["check", str(log), "--profile", "quick"]) == 1
    err = capsys.readouterr().err
    assert "1 of the 2 configs asked for are not in the quick grid" in err
    assert experiments.canonical_json(extra) in err and "seed=7" in err


def test_check_says_when_the_log_is_missing(tmp_path, capsys):
    with pytest.raises(SystemExit):
        grid.main(["check", str(tmp_path / "none.jsonl"), "--profile", "quick"])
    assert "does not exist (was FREQLENS_REQUEST_LOG set?)" in capsys.readouterr().err
