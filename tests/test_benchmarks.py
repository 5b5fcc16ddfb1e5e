"""The benchmark harness runs and reports (speed targets themselves are never asserted in tests)."""

from __future__ import annotations

import pytest

from benchmarks.__main__ import table
from benchmarks.measure import measure_training, measure_translate


def test_one_training_measurement_in_each_mode():
    bare, fused, base, fast = (measure_training("cgan", mode, iters=2, warmup=1, batch_size=8, device="cpu",
                                                compile_networks=False)
                               for mode in ("bare", "bare-fused", "baseline", "optimised"))
    assert bare["precision"] == fused["precision"] == base["precision"] == "fp32"
    assert fast["precision"] in ("bf16", "fp32")
    assert base["s_per_it"] > 0 and base["images_per_s"] == 8 / base["s_per_it"] and base["peak_rss_gb"] > 0.1
    rows = table([bare, fused, base, fast]).splitlines()
    assert len(rows) == 3 and rows[2].startswith("| cgan | 8 | ")
    ratio = f"{base['s_per_it'] / bare['s_per_it']:.2f}x"
    assert f"| {ratio} |" in rows[2]


def test_bare_loops_train_the_recipes_networks():
    """The yardstick loop updates every network of pix2pix and CycleGAN (tiny sizes)."""
    import torch

    from benchmarks.bare_loop import bare_step, batches_in_memory
    from gantool.config import apply_overrides, default_config
    from gantool.recipes import RECIPES

    for recipe_name, overrides in (("pix2pix", ["model.generator=unet_64", "data.image_size=64"]),
                                   ("cyclegan", ["model.generator=resnet_6blocks", "data.image_size=32"])):
        cfg = apply_overrides(default_config(recipe_name), overrides + ["model.ngf=4", "model.ndf=4"])
        recipe = RECIPES.get(recipe_name)(cfg, {})
        before = {k: v.clone() for k, v in recipe.state_dict().items()}
        step = bare_step(recipe, cfg, "fused")
        batches = batches_in_memory(recipe_name, cfg.data.image_size, 3, 1, count=2)
        for _ in range(2):
            step(next(batches))
        changed = {k.split(".")[1] for k, v in recipe.state_dict().items()
                   if v.is_floating_point() and not torch.equal(v, before[k])}
        assert changed == set(recipe.generators) | set(recipe.discriminators), (recipe_name, changed)


def test_translate_measurement():
    result = measure_translate("pix2pix256", "optimised", iters=1, warmup=0, device="cpu", height=256, width=256,
                               batch_size=1)
    assert result["what"] == "translate 256x256" and result["images_per_s"] > 0


def test_results_are_merged_and_engines_compared(tmp_path):
    import json

    from benchmarks.__main__ import engines_table, merge

    def row(mode, what, img_s):
        return {"workload": "pix2pix256", "mode": mode, "what": what, "batch_size": 1, "device": "cpu",
                "images_per_s": img_s, "peak_rss_gb": 1.0}

    path = tmp_path / "results.json"
    path.write_text(json.dumps({"machine": {}, "seconds": 700, "results": [row("baseline", "train", 1.0),
                                                                          row("torch", "translate 256x256", 2.0)]}))
    new = [row("torch", "translate 256x256", 3.0), row("onnxruntime", "translate 256x256", 6.0)]
    merged = merge(json.loads(path.read_text()), {"machine": {"cpu": "x"}, "seconds": 60, "argv": ["--no-train"], "results": new})
    assert [(r["mode"], r["images_per_s"]) for r in merged["results"]] == [("baseline", 1.0), ("torch", 3.0),
                                                                          ("onnxruntime", 6.0)]
    assert merged["seconds"] == 700 and merged["merged_runs"][0]["argv"] == ["--no-train"]
    assert "| pix2pix256 | translate 256x256 | 3.00 img/s | 6.00 img/s | 2.00x |" in engines_table(new)


def test_results_merge_and_same_run_comparisons():
    from benchmarks.__main__ import comparison_table, merge

    def result(workload, mode, s, rss, run):
        return {"workload": workload, "mode": mode, "what": "train", "batch_size": 1, "precision": "fp32",
                "s_per_it": s, "peak_rss_gb": rss, "run": run}

    previous = {"run": "old", "results": [result("cyclegan256", "baseline", 10.0, 4.0, "old"),
                                          {"workload": "pix2pix256", "mode": "baseline", "what": "train",
                                           "batch_size": 1, "s_per_it": 1.0, "peak_rss_gb": 1.0}]}
    report = {"run": "new", "results": [result("cut256", "baseline", 5.0, 2.0, "new")]}
    merged = merge(previous, report)
    assert [r["workload"] for r in merged["results"]] == ["cyclegan256", "pix2pix256", "cut256"]  # nothing dropped
    assert merged["comparisons"] == []  # the CycleGAN yardstick is from another run: no ratio
    report = {"run": "new", "results": [result("cyclegan256", "baseline", 8.0, 4.0, "new"),
                                        result("cut256", "baseline", 4.0, 3.0, "new")]}
    merged = merge(merged, report)
    assert len(merged["results"]) == 3 and merged["results"][0]["workload"] == "pix2pix256"
    [comparison] = merged["comparisons"]
    assert comparison["time_ratio"] == 0.5 and comparison["memory_ratio"] == 0.75
    assert "| cut256 | cyclegan256 | baseline (fp32) | 4.00 | 8.00 | 0.50x (<= 0.65) |" in comparison_table([comparison])


def test_cut_training_step_measures(monkeypatch):
    import dataclasses

    from benchmarks import workloads

    tiny = dataclasses.replace(workloads.WORKLOADS["fastcut256"], overrides=workloads.WORKLOADS["fastcut256"].overrides
                               + ["model.ngf=4", "model.ndf=4", "data.image_size=32", "model.nce_patches=16"])
    monkeypatch.setitem(workloads.WORKLOADS, "fastcut256", tiny)
    result = measure_training("fastcut256", "baseline", iters=1, warmup=0, batch_size=1, device="cpu",
                              compile_networks=False)
    assert result["workload"] == "fastcut256" and result["s_per_it"] > 0


def test_pix2pix_variant_split_and_summary(tmp_path):
    """The issue-22 harness: a 360/40-style split that never overlaps, and per-variant means over seeds."""
    from benchmarks.pix2pix_facades_variants import HELD_OUT, split, summary

    data = tmp_path / "train"
    data.mkdir()
    for i in range(HELD_OUT + 10):
        (data / f"{i}.jpg").write_bytes(b"x")
    split(data, tmp_path / "split")
    train = {p.name for p in (tmp_path / "split" / "train").iterdir()}
    val = {p.name for p in (tmp_path / "split" / "val").iterdir()}
    assert len(val) == HELD_OUT and len(train) == 10 and not train & val
    rows = {f"p2p-default-s{s}": {"run": f"runs/p2p-default-s{s}", "dropout": False, "l1": 0.1 * (s + 1),
                                  "ssim": 0.2, "fid": 100.0, "kid": 0.1} for s in range(2)}
    lines = summary(rows).splitlines()
    assert lines[2].startswith("| p2p-default | off | resized to 128 px | 2 | 0.1500 (0.1000-0.2000) |")
    # rows written before the view field existed say their input size only
    rows["p2p-default-s0 @256"] = {**rows["p2p-default-s0"], "input_px": 256, "l1": 0.5}
    rows["p2p-default-s0 @reference"] = {**rows["p2p-default-s0"], "view": "reference", "l1": 0.7}
    lines = summary(rows).splitlines()
    assert lines[3].startswith("| p2p-default | off | 256 px file, scored at 128 | 1 | 0.5000 (0.5000-0.5000) |")
    assert lines[4].startswith("| p2p-default | off | resized to 143, 128 px crop | 1 | 0.7000 (0.7000-0.7000) |")


def test_reference_procedure_trains_a_loadable_pix2pix(tmp_path):
    """The issue-22 control: the reference's schedule (last epoch at 1/(decay epochs + 1)), one crop and
    flip per pair (A and B stay aligned), and a generator folder that gantool translate loads."""
    import numpy as np
    import torch
    from PIL import Image

    from benchmarks.pix2pix_reference_procedure import AlignedPairs, reference_lambda, train
    from gantool.translate import load_translator

    assert [round(reference_lambda(5, 5)(e), 4) for e in range(10)] == [1, 1, 1, 1, 1, 0.8333, 0.6667, 0.5, 0.3333,
                                                                         0.1667]
    data = tmp_path / "pairs"
    data.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        half = rng.integers(0, 256, (80, 80, 3), dtype=np.uint8)
        Image.fromarray(np.concatenate([half, half], axis=1)).save(data / f"{i}.png")  # A == B
    pairs = AlignedPairs(data, load_size=72, crop_size=64)
    for _ in range(4):
        item = pairs[0]
        assert item["A"].shape == (3, 64, 64) and torch.equal(item["A"], item["B"])
    record = train(data, tmp_path / "run", seed=0, n_epochs=1, n_epochs_decay=1, load_size=72, crop_size=64,
                   direction="BtoA", generator="unet_64", precision="fp32")
    assert record["iterations"] == 4 and [e["lr"] for e in record["epochs"]] == pytest.approx([2e-4, 1e-4])
    translator = load_translator(tmp_path / "run", "cpu")
    assert translator(torch.zeros(1, 3, 64, 64)).shape == (1, 3, 64, 64)


def test_repeated_rounds_report_the_median_of_each_row():
    """--repeat N: one row per workload and mode with the median time, the rounds kept."""
    from benchmarks.__main__ import median_rows, train_table

    def row(mode, seconds, rss=1.0):
        return {"workload": "cyclegan128", "mode": mode, "what": "train", "batch_size": 1, "s_per_it": seconds,
                "images_per_s": 1 / seconds, "peak_rss_gb": rss, "precision": "fp32"}

    rounds = [row("bare", 3.0), row("baseline", 3.6), row("bare", 2.9), row("baseline", 3.0, 2.0),
              row("bare", 4.0), row("baseline", 3.1, 3.0),
              {"workload": "cyclegan128", "mode": "optimised", "what": "train", "error": ["boom"]}]
    merged = {r["mode"]: r for r in median_rows(rounds)}
    assert merged["bare"]["s_per_it"] == 3.0 and merged["bare"]["rounds_s_per_it"] == [3.0, 2.9, 4.0]
    assert merged["baseline"]["s_per_it"] == 3.1 and merged["baseline"]["peak_rss_gb"] == 2.0
    assert merged["baseline"]["images_per_s"] == pytest.approx(1 / 3.1)
    assert merged["optimised"]["error"] == ["boom"]
    assert "| cyclegan128 | 1 | 3.000 s | - | 3.100 s | - | 1.03x |" in train_table(list(merged.values()))
    translate = {"workload": "pix2pix256", "mode": "baseline", "what": "translate 256x256", "batch_size": 1,
                 "s_per_batch": 0.5, "images_per_s": 2.0, "peak_rss_gb": 1.0}
    (single,) = median_rows([translate, {**translate, "s_per_batch": 1.0, "images_per_s": 1.0}])
    assert single["s_per_batch"] == 0.75 and single["images_per_s"] == pytest.approx(1 / 0.75)


def test_measure_can_force_the_memory_layout_of_the_optimised_mode(monkeypatch, capsys):
    import json

    from benchmarks import measure

    monkeypatch.setitem(measure.WORKLOADS, "cgan", measure.WORKLOADS["cgan"])  # restored afterwards
    measure.main(["--workload", "cgan", "--mode", "optimised", "--iters", "1", "--warmup", "0", "--device", "cpu",
                  "--channels-last", "on"])
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["channels_last"] is True and result["s_per_it"] > 0
