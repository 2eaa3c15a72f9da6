"""The sources' claims, and what each profile's run of the chapters measured of them.

:data:`CLAIMS` lists the claims the book tests: who makes each, where, and what they
say (their number where they give one). A chapter judges the claims it measures and
calls :func:`record` with what it measured and its verdict; the record goes to
``records/<profile>/<claim>.json`` in the experiment cache, written atomically.
:func:`table` gathers the records of every profile into the book's page of verdicts,
where a claim a profile has not measured says so.

A verdict is one of :data:`VERDICTS`; where it is not "reproduced", ``why`` says
whether the scale of the run or the claim itself is the likelier reason.

Example:
    >>> import os, tempfile
    >>> from unittest import mock
    >>> with mock.patch.dict(os.environ, FREQLENS_CACHE=tempfile.mkdtemp()):
    ...     record("hfc_small_magnitude", "rms of the HFC at r = 4: 0.12 of the image's",
    ...            "reproduced", profile="quick")
    ...     page = table()
    >>> page.loc["hfc_small_magnitude", ["quick: verdict", "full: verdict"]].tolist()
    ['reproduced', 'not measured yet']
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from freqlens import checks, experiments, profiles

__all__ = ["CLAIMS", "Claim", "VERDICTS", "WHY", "counts", "missing", "record", "record_all", "records",
           "records_dir", "styled", "table"]

VERDICTS = ("reproduced", "partly", "not reproduced")
WHY = ("scale", "the claim")   # the likelier reason a claim did not (fully) reproduce


@dataclass(frozen=True)
class Claim:
    """A claim of a source: who, where, what it says, and the chapter that measures it."""

    source: str
    where: str
    says: str
    chapter: str


_BLOG, _SLIDES = "Wang (blog)", "Wang et al. (slides)"
_DONG, _THESIS, _PLAN = "Dong et al. (slides)", "Liao (thesis)", "the proposal"

CLAIMS: dict[str, Claim] = {
    # chapter 1
    "hfc_small_magnitude": Claim(
        _BLOG, "The Efficacy of BatchNormalization",
        "HFC involves only pixels of very small magnitude: HFC copies look mostly black.",
        "01_frequencies"),
    # chapter 2
    "hfc_keeps_label": Claim(
        _BLOG, "Fig. 2",
        "A ResNet-18 keeps the label of the HFC copy while the LFC copy loses it for a subset of "
        "samples (~600 images; no radius, no denominator given).", "02_hfc_generalization"),
    "lfc_train_generalizes": Claim(
        _SLIDES, "Table 1",
        "Trained on LFC copies, networks fit them (0.97-0.98) and score 0.6167, 0.7154, 0.7516, "
        "0.7714 on the test images at r = 4, 8, 12, 16.", "02_hfc_generalization"),
    "hfc_train_near_chance": Claim(
        _SLIDES, "Table 1",
        "Trained on HFC copies, networks fit them (0.94-0.99) but score 0.2002, 0.092, 0.0997, "
        "0.1281 on the test images at r = 4, 8, 12, 16.", "02_hfc_generalization"),
    "true_labels_lfc_first": Claim(
        _SLIDES, "Rethinking Data before Rethinking Generalization",
        "With true labels a network first picks up the LFC, then the HFC (a hypothesis).",
        "02_hfc_generalization"),
    "shuffled_labels_alike": Claim(
        _SLIDES, "Rethinking Data before Rethinking Generalization",
        "With shuffled labels a network memorises the images, the LFC and the HFC alike "
        "(a hypothesis).", "02_hfc_generalization"),
    # chapter 3
    "batchnorm_exploits_hfc": Claim(
        _BLOG, "The Efficacy of BatchNormalization (its Fig. 4; Fig. 5 of the paper)",
        "The BatchNorm network exploits a significant amount of HFC: its HFC curves lie "
        "remarkably higher than the other heuristics'.", "03_heuristics_batchnorm"),
    "adversarial_least_hfc": Claim(
        _BLOG, "One of the roots of adversarial vulnerability",
        "A robust network's smooth kernels consider only a negligible amount of HFC.",
        "03_heuristics_batchnorm"),
    "batchnorm_gain_smallest_on_lfc": Claim(
        _SLIDES, "A hypothesis on Batch Normalization, Fig. 6",
        "If BatchNorm helps by aligning the signals' distributions, its gain is smallest "
        "when training on LFC copies at r = 4.", "03_heuristics_batchnorm"),
    "batchnorm_rescales_hfc": Claim(
        _BLOG, "The Efficacy of BatchNormalization",
        "BatchNorm's boost may come from rescaling the HFC's very small signals "
        "(a conjecture).", "03_heuristics_batchnorm"),
    # chapter 4
    "frequency_ig_complete": Claim(
        _PLAN, "Related Work (Integrated Gradients)",
        "Integrated Gradients is complete: attributions sum to the output's change from the "
        "baseline (stated for pixels; over frequencies it holds as the DFT is linear).",
        "04_frequency_attribution"),
    "noise_mask_smallest_png": Claim(
        _THESIS, "Table 1",
        "Noise Mask's maps compress smallest: PNG 30.2 KB against 75.3-77.5 KB for the "
        "gradient methods and 32.3 KB for perturbation.", "04_frequency_attribution"),
    "noise_mask_highest_ssim": Claim(
        _THESIS, "Table 2",
        "Noise Mask's maps are the most similar to the input: SSIM 0.599 against at most "
        "0.039 for the other methods.", "04_frequency_attribution"),
    "noise_mask_largest_abpc": Claim(
        _THESIS, "Table 3",
        "Noise Mask has the largest area between MoRF and LeRF: 5243.72, against 345.742 "
        "(ε-LRP) to 1926.34 (sensitivity).", "04_frequency_attribution"),
    "noise_mask_layers": Claim(
        _THESIS, "4.3 Model Discovery, Figs. 9-11",
        "Applied to later and later layers, Noise Mask keeps less of the image, and the loss "
        "on the layer's output decreases too.", "04_frequency_attribution"),
    # chapter 5
    "perturbations_high_frequency": Claim(
        _BLOG, "One of the roots of adversarial vulnerability",
        "The HFC's predictive signal is one root of adversarial vulnerability: adversarial "
        "features may be HFC signals.", "05_attacks_defenses"),
    "low_frequency_attacks_succeed": Claim(
        _PLAN, "Related Work (Guo et al., 2018)",
        "Attacks confined to the low frequencies succeed: networks use low-frequency features "
        "too, not only high-frequency ones.", "05_attacks_defenses"),
    "sharma_low_frequency": Claim(
        _PLAN, "Related Work (Sharma et al., 2019)",
        "Defended networks are nearly as vulnerable to low-frequency perturbations as "
        "undefended ones.", "05_attacks_defenses"),
    "robust_kernels_smoother": Claim(
        _BLOG, "Fig. 3; the slides' Robust Models Have Smooth Kernels",
        "Adversarially trained networks have smoother first-layer kernels: small differences "
        "between adjacent weights.", "05_attacks_defenses"),
    "smoothing_marginal": Claim(
        _BLOG, "One of the roots of adversarial vulnerability",
        "Smoothing a vanilla network's kernels improves its robustness only marginally "
        "(the slides' title: it improves robustness).", "05_attacks_defenses"),
    "low_pass_masks_gradients": Claim(
        _BLOG, "One of the roots of adversarial vulnerability",
        "Filtering the HFC out of the input defends at a remarkable rate, but it masks the "
        "gradients.", "05_attacks_defenses"),
    "batchnorm_adversarial_vulnerability": Claim(
        _BLOG, "The Efficacy of BatchNormalization",
        "BatchNorm may encourage adversarial vulnerability (another observation, cited "
        "without a number).", "05_attacks_defenses"),
    "adversarial_training_fgsm": Claim(
        _DONG, "Table 3",
        "Adversarial training lowers clean accuracy and raises FGSM accuracy (ResNet-18: "
        "66.30 → 54.01 and 4.41 → 27.56 top-1, %).", "05_attacks_defenses"),
    "consistency_lower_on_adversarial": Claim(
        _DONG, "Table 1",
        "Neurons are less consistent on adversarial images (ResNet-18 0.0261 real, 0.0133 "
        "adversarial; AlexNet, VGG-16 alike).", "05_attacks_defenses"),
    "adversarial_training_raises_consistency": Claim(
        _DONG, "Table 1",
        "Adversarial training raises consistency on adversarial images (ResNet-18 0.0133 → "
        "0.0206) and barely changes it on real ones (0.0261 → 0.0251).", "05_attacks_defenses"),
    "consistency_term_raises_consistency": Claim(
        _DONG, "Adversarial Training with a Consistent Loss",
        "Training with the consistency term (α = 0.5, β = 0.1) makes neurons more consistent "
        "on adversarial images.", "05_attacks_defenses"),
    "heat_map_robust_high": Claim(
        "Yin et al. (2019)", "Fourier heat maps (the book's reference)",
        "Adversarial training makes a network robust to high-frequency noise and more "
        "sensitive to low-frequency noise.", "05_attacks_defenses"),
    # chapter 6
    "nonrobust_features_generalise": Claim(
        "Ilyas et al. (2019)", "the deterministic set D_det (their datasets' README: 44 % on CIFAR-10)",
        "A network trained only on images attacked towards the next class and relabelled with it "
        "beats chance on the real test set: non-robust features generalise.", "06_explaining_and_steering"),
    "nonrobust_features_band": Claim(
        _PLAN, "Related Work (Ilyas et al., 2019)",
        "Whether networks rely on low or high frequencies comes down to non-robust features, which "
        "generalise, against robust ones, which people perceive: the features that transfer lie in "
        "the high frequencies.", "06_explaining_and_steering"),
    "smooth_perturbations": Claim(
        "Zhang et al. (2020)", "Smooth adversarial examples, abstract",
        "Despite the constraint of smoothness, smoothed attacks succeed as often, at lower "
        "distortion.", "06_explaining_and_steering"),
    "attribution_defense": Claim(
        _PLAN, "Plan of Activities (Design of defense)",
        "A defense designed from the attributions, like Sharma et al.'s but for the higher "
        "frequency components, defends.", "06_explaining_and_steering"),
    "steering_low_frequency": Claim(
        _PLAN, "Overview, question ii",
        "A network can be brought to use the frequencies people respond to, the low ones.",
        "06_explaining_and_steering"),
}


def records_dir(profile: str | None = None) -> Path:
    """Where the records of ``profile`` live: ``records/<profile>`` in the experiment cache."""
    return experiments.cache_dir() / "records" / profiles.resolve(profile)


def _claim(claim: str) -> str:
    return checks.one_of(claim, "claim", options=tuple(CLAIMS))


def record(claim: str, measured: str, verdict: str, why: str | None = None,
           profile: str | None = None) -> None:
    """Record what this run measured of ``claim`` and its verdict (one of :data:`VERDICTS`).

    ``why``, for a verdict other than "reproduced": :data:`WHY`'s "scale" or "the claim",
    optionally followed by a colon and a few words.
    """
    claim = _claim(claim)
    verdict = checks.one_of(verdict, "verdict", options=VERDICTS)
    if not isinstance(measured, str) or not measured.strip():
        raise ValueError(f"measured must be a sentence saying what was measured, got {measured!r}")
    if verdict != "reproduced":
        if why is None or not str(why).split(":")[0] in WHY:
            raise ValueError(f"why must start with one of {WHY} for the verdict {verdict!r}, got {why!r}")
    profile = profiles.resolve(profile)
    entry = {"claim": claim, "profile": profile, "measured": measured, "verdict": verdict,
             "why": why or "", "when": time.strftime("%Y-%m-%d %H:%M")}
    folder = records_dir(profile)
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".part")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(entry, f, ensure_ascii=False, indent=1)
        os.replace(tmp, folder / f"{claim}.json")
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def record_all(judged: dict, profile: str | None = None) -> None:
    """:func:`record` for each ``{claim: (measured, verdict, why)}``, and a line per claim printed."""
    from freqlens import report

    for claim, (measured, verdict, why) in judged.items():
        record(claim, measured, verdict, why, profile)
        report.say(f"{claim}: {verdict}" + (f" ({why})" if why else ""))


def records(profile: str | None = None) -> dict[str, dict]:
    """The records of ``profile`` by claim (those of claims no longer listed are left out)."""
    folder = records_dir(profile)
    out = {}
    for claim in CLAIMS:
        path = folder / f"{claim}.json"
        if path.is_file():
            try:
                out[claim] = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as e:
                print(f"freqlens.verdicts: record {path} is unreadable ({e}); left out", file=sys.stderr)
    return out


def missing(profile: str | None = None) -> list[str]:
    """The claims ``profile`` has no record of."""
    have = records(profile)
    return [c for c in CLAIMS if c not in have]


def table(measured_in=("quick", "full")) -> pd.DataFrame:
    """One row per claim: its source and statement, and per profile what was measured and the verdict.

    A profile that has no record of a claim says "not measured yet".
    """
    rows = {}
    recs = {p: records(p) for p in measured_in}
    for name, claim in CLAIMS.items():
        row = {"chapter": claim.chapter[:2], "source": f"{claim.source}, {claim.where}",
               "the source says": claim.says}
        for p in measured_in:
            r = recs[p].get(name)
            row[f"{p}: measured"] = r["measured"] if r else "—"
            row[f"{p}: verdict"] = (r["verdict"] + (f" ({r['why']})" if r["why"] else "")) if r \
                else "not measured yet"
        rows[name] = row
    return pd.DataFrame(rows).T


def styled(page: pd.DataFrame):
    """``page`` (:func:`table`) as a pandas Styler whose long cells wrap within the page's width.

    The claims' names are shown with spaces for underscores, so that they too can wrap.
    """
    page = page.rename(index=lambda claim: str(claim).replace("_", " "))
    return (page.style
            .set_properties(**{"white-space": "normal", "text-align": "left", "font-size": "0.8em",
                               "vertical-align": "top", "overflow-wrap": "anywhere"})
            .set_table_styles([{"selector": "th", "props": "white-space: normal; font-size: 0.8em; "
                                                         "text-align: left; vertical-align: top; "
                                                         "overflow-wrap: anywhere"},
                               {"selector": "", "props": "table-layout: fixed; width: 100%"}]))


def counts(page: pd.DataFrame, profile: str = "quick") -> dict[str, int]:
    """How many claims ``profile``'s column gives each verdict (and how many it has not measured)."""
    column = page[f"{profile}: verdict"].str.split(" [(]").str[0]
    return {v: int((column == v).sum()) for v in (*VERDICTS, "not measured yet")}


def main(argv=None) -> int:
    """``freqlens-verdicts check``: fails when the profile's run left a claim without a record."""
    parser = argparse.ArgumentParser(prog="freqlens-verdicts", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("check", "list"))
    parser.add_argument("--profile", choices=profiles.PROFILES, default=None)
    args = parser.parse_args(argv)
    profile = profiles.current_profile() if args.profile is None else args.profile
    if args.command == "list":
        for claim, r in records(profile).items():
            print(f"{claim}: {r['verdict']} {r['why']}".rstrip())
        return 0
    lacking = missing(profile)
    if lacking:
        print(f"{len(lacking)} of the {len(CLAIMS)} claims have no {profile} record (their chapter "
              "must record them): " + ", ".join(lacking), file=sys.stderr)
        return 1
    print(f"all {len(CLAIMS)} claims have a {profile} record")
    return 0


if __name__ == "__main__":
    sys.exit(main())
