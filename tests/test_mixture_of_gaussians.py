"""The 8-Gaussian mode-collapse benchmark: its metric on known point sets, and one tiny run."""

import json

import torch

from benchmarks.mixture_of_gaussians import STD, centres, main, mode_coverage, sample_mixture


def test_modes_covered_counts_modes_and_high_quality_samples():
    data = mode_coverage(sample_mixture(2500, torch.Generator().manual_seed(0)))
    assert data["modes_covered"] == 8 and data["high_quality_share"] > 0.98
    one_mode = centres()[3].repeat(2500, 1)
    assert mode_coverage(one_mode)["modes_covered"] == 1 and mode_coverage(one_mode)["per_mode"][3] == 2500
    between = (centres()[:1] + centres()[1:2]) / 2 + torch.zeros(2500, 2)  # off every mode
    assert mode_coverage(between) == {"modes_covered": 0, "high_quality_share": 0.0, "per_mode": [0] * 8}
    few = torch.cat([centres()[:2].repeat(19, 1), centres()[2:3].repeat(20, 1) + STD])
    assert mode_coverage(few)["modes_covered"] == 1  # 19 samples do not cover a mode; 20 within 3 std do


def test_tiny_run_merges_its_entry_and_keeps_the_others(tmp_path):
    out = tmp_path / "results.json"
    out.write_text(json.dumps({"results": [1, 2], "reference": {"x": 1}}))
    main(["--settings", "plain,r1", "--seeds", "1", "--steps", "5", "--out", str(out),
          "--figure", str(tmp_path / "fig.png")])
    report = json.loads(out.read_text())
    assert report["results"] == [1, 2] and report["reference"] == {"x": 1}
    entry = report["mixture_of_gaussians"]
    assert set(entry["settings"]) == {"plain", "r1"} and entry["settings"]["plain"]["runs"][0]["seed"] == 0
    assert 0 <= entry["settings"]["r1"]["mean_modes_covered"] <= 8 and (tmp_path / "fig.png").stat().st_size > 1000
