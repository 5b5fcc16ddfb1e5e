"""Issue 19, part 2: `--logger tensorboard` mirrors metrics.jsonl and the sample grids into event
files that TensorBoard's own reader (EventAccumulator) reads back."""

from __future__ import annotations

import json
import sys

import pytest
import torch

from gantool.config import apply_overrides
from gantool.errors import GantoolError
from gantool.run import train
from gantool.tensorboard_log import NULL_BOARD, TensorBoardLogger, open_board

pytest.importorskip("tensorboard", reason="the tensorboard extra: pip install 'gantool[tensorboard]'")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402


def read_events(folder) -> EventAccumulator:
    events = EventAccumulator(str(folder), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    events.Reload()
    return events


def test_a_training_run_is_readable_in_tensorboard(tiny_cfg, tmp_path):
    cfg = apply_overrides(tiny_cfg, ["train.logger=tensorboard", "train.log_every=1"])
    result = train(cfg, out=tmp_path / "run", quiet=True)
    events = read_events(result.run_dir / "tensorboard")
    scalars = set(events.Tags()["scalars"])
    for tag in ("loss/loss_d", "loss/loss_g", "D/d_real", "D/d_fake", "grad_norm/grad_norm_d",
                "grad_norm/grad_norm_g", "lr/lr_g", "lr/lr_d", "speed/it_per_s", "diversity/diversity_ratio"):
        assert tag in scalars, (tag, sorted(scalars))
    records = [json.loads(line) for line in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    training = [r for r in records if "loss_d" in r]
    logged = events.Scalars("loss/loss_d")
    assert [e.step for e in logged] == [r["step"] for r in training] == [1, 2, 3, 4]
    assert all(abs(e.value - r["loss_d"]) <= 1e-6 * max(1.0, abs(r["loss_d"])) for e, r in zip(logged, training))
    grids = events.Images("samples")
    assert [e.step for e in grids] == [2, 4] and grids[0].width > 0 and grids[0].height > 0
    from tensorboard.plugins.hparams import plugin_data_pb2

    started = events.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    hparams = plugin_data_pb2.HParamsPluginData.FromString(started).session_start_info.hparams
    assert hparams["model.ngf"].number_value == 8 and hparams["train.logger"].string_value == "tensorboard"
    assert "config/text_summary" in events.Tags()["tensors"]


def test_warnings_validation_and_best_records(tmp_path):
    board = TensorBoardLogger(tmp_path / "tb")
    board.record({"step": 5, "val_l1": 0.25, "val_psnr": 18.0})
    board.record({"step": 5, "best": "val_l1", "value": 0.25})
    board.record({"step": 7, "warning": "mode_collapse", "message": "diversity ratio 0.05 < 0.1", "remedy": "add R1"})
    board.images(5, torch.rand(4, 3, 8, 8) * 2 - 1, per_row=2)
    board.close()
    events = read_events(tmp_path / "tb")
    assert events.Scalars("val/val_psnr")[0].value == 18.0 and events.Scalars("best/val_l1")[0].step == 5
    text = events.Tensors("diagnostics/mode_collapse/text_summary")[0]
    assert text.step == 7 and b"diversity ratio 0.05" in text.tensor_proto.string_val[0]
    assert (events.Images("samples")[0].width, events.Images("samples")[0].height) == (2 * 8 + 3 * 2, 2 * 8 + 3 * 2)


def test_only_rank_0_and_only_when_asked(tiny_cfg, tmp_path):
    assert open_board(tiny_cfg, tmp_path) is NULL_BOARD  # jsonl, the default
    cfg = apply_overrides(tiny_cfg, ["train.logger=tensorboard"])
    assert open_board(cfg, tmp_path, enabled=False) is NULL_BOARD  # ranks other than 0
    assert not (tmp_path / "tensorboard").exists()


def test_a_missing_tensorboard_is_one_line_before_the_run_folder(tiny_cfg, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # as if not installed
    cfg = apply_overrides(tiny_cfg, ["train.logger=tensorboard"])
    with pytest.raises(GantoolError, match=r"pip install 'gantool\[tensorboard\]'"):
        train(cfg, out=tmp_path / "run", quiet=True)
    assert not (tmp_path / "run").exists()
