"""The benchmark harness runs and reports (speed targets themselves are never asserted in tests)."""

from __future__ import annotations

from benchmarks.__main__ import table
from benchmarks.measure import measure_training, measure_translate


def test_one_training_measurement_in_each_mode():
    base = measure_training("cgan", "baseline", iters=2, warmup=1, batch_size=8, device="cpu", compile_networks=False)
    fast = measure_training("cgan", "optimised", iters=2, warmup=1, batch_size=8, device="cpu",
                            compile_networks=False)
    assert base["precision"] == "fp32" and fast["precision"] in ("bf16", "fp32")
    assert base["s_per_it"] > 0 and base["images_per_s"] == 8 / base["s_per_it"] and base["peak_rss_gb"] > 0.1
    rows = table([base, fast]).splitlines()
    assert len(rows) == 3 and rows[2].startswith("| cgan | train | 8 |")


def test_translate_measurement():
    result = measure_translate("pix2pix256", "optimised", iters=1, warmup=0, device="cpu", height=256, width=256,
                               batch_size=1)
    assert result["what"] == "translate 256x256" and result["images_per_s"] > 0
