"""The page of verdicts: claims recorded by their chapters, gathered per profile, never typed."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest

from freqlens import chapters, verdicts

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FREQLENS_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_there_are_at_least_twenty_claims_from_the_five_sources():
    assert len(verdicts.CLAIMS) >= 20
    sources = {c.source for c in verdicts.CLAIMS.values()}
    for who in ("Wang (blog)", "Wang et al. (slides)", "Dong et al. (slides)", "Liao (thesis)", "the proposal"):
        assert who in sources, who


def test_every_claim_is_judged_by_the_chapter_module_it_names():
    modules = {m.NOTEBOOK: m for m in chapters.MODULES}
    notebooks = {p.stem for p in (ROOT / "book").glob("[0-9]*.ipynb")}
    for claim, c in verdicts.CLAIMS.items():
        assert c.chapter in notebooks, (claim, c.chapter)
        source = inspect.getsource(modules[c.chapter].claims)
        assert f'"{claim}"' in source, f"{claim} is not judged in {c.chapter}'s claims()"


def test_every_chapter_records_its_claims_in_its_notebook():
    for notebook in {c.chapter for c in verdicts.CLAIMS.values()}:
        text = (ROOT / "book" / f"{notebook}.ipynb").read_text(encoding="utf-8")
        assert "verdicts.record_all(" in text, notebook


def test_a_record_lands_in_its_profiles_folder_and_on_the_page(cache):
    verdicts.record("hfc_keeps_label", "200 per 10,000 at r = 4", "partly", "scale", profile="quick")
    path = cache / "records" / "quick" / "hfc_keeps_label.json"
    entry = json.loads(path.read_text(encoding="utf-8"))
    assert entry["verdict"] == "partly" and entry["why"] == "scale" and entry["profile"] == "quick"
    assert not list(path.parent.glob("*.part")), "the write is atomic: no partial file left"
    page = verdicts.table()
    assert list(page.index) == list(verdicts.CLAIMS)
    row = page.loc["hfc_keeps_label"]
    assert row["quick: verdict"] == "partly (scale)" and row["quick: measured"] == "200 per 10,000 at r = 4"
    assert row["full: verdict"] == "not measured yet"
    assert verdicts.counts(page, "quick")["partly"] == 1
    assert verdicts.counts(page, "full")["not measured yet"] == len(verdicts.CLAIMS)


def test_a_verdict_other_than_reproduced_must_say_why(cache):
    with pytest.raises(ValueError, match="why must start with one of"):
        verdicts.record("hfc_keeps_label", "none", "not reproduced", profile="quick")
    with pytest.raises(ValueError, match="why must start with one of"):
        verdicts.record("hfc_keeps_label", "none", "partly", "luck", profile="quick")
    verdicts.record("hfc_keeps_label", "none", "not reproduced", "the claim: none kept", profile="quick")


def test_bad_claims_verdicts_and_measurements_are_refused_by_name(cache):
    with pytest.raises(ValueError, match="claim must be one of"):
        verdicts.record("no_such_claim", "x", "reproduced", profile="quick")
    with pytest.raises(ValueError, match="verdict must be one of"):
        verdicts.record("hfc_keeps_label", "x", "confirmed", profile="quick")
    with pytest.raises(ValueError, match="measured must be a sentence"):
        verdicts.record("hfc_keeps_label", " ", "reproduced", profile="quick")


def test_the_check_fails_until_every_claim_has_a_record(cache, capsys):
    assert verdicts.main(["check", "--profile", "quick"]) == 1
    assert "have no quick record" in capsys.readouterr().err
    verdicts.record_all({c: ("measured", "reproduced", None) for c in verdicts.CLAIMS}, profile="quick")
    assert verdicts.missing("quick") == []
    assert verdicts.main(["check", "--profile", "quick"]) == 0


def test_an_unreadable_record_is_reported_and_left_out(cache, capsys):
    verdicts.record("hfc_keeps_label", "x", "reproduced", profile="quick")
    (cache / "records" / "quick" / "hfc_keeps_label.json").write_text("{not json", encoding="utf-8")
    assert "hfc_keeps_label" not in verdicts.records("quick")
    assert "unreadable" in capsys.readouterr().err
