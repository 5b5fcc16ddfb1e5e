"""TensorBoard event files beside metrics.jsonl (`train.logger: tensorboard`, `--logger tensorboard`).

metrics.jsonl stays the run's record, always written; this writer mirrors what goes into it, so
the two never disagree: every record the trainer appends is passed to `record`, whatever its
kind (runlog.record_kind), and each sample grid to `images`. Scalars are grouped by tag prefix
(loss/, D/, grad_norm/, lr/, speed/, val/, diversity/, best/), diagnostics warnings become text
under diagnostics/, and the resolved config is written once as hparams (and as YAML text).
Events go to RUN/tensorboard/; `tensorboard --logdir runs/` shows every run. Only rank 0 writes.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from torch import Tensor

from gantool.config import Config, flat_values
from gantool.errors import GantoolError
from gantool.runlog import record_kind

LOGGERS = ("jsonl", "tensorboard")
FOLDER = "tensorboard"
# tag groups of a training record's keys (first match wins), so TensorBoard shows them side by side
GROUPS = (("loss", "loss/"), ("d_", "D/"), ("grad_norm", "grad_norm/"), ("lr_", "lr/"), ("it_per_s", "speed/"),
          ("elapsed", "speed/"), ("epoch", "progress/"), ("val_", "val/"), ("diversity", "diversity/"))
HPARAM_METRICS = ("loss/loss_g", "loss/loss_d")  # columns of TensorBoard's HPARAMS table


def check_available(logger: str) -> None:
    """An error now, before a run folder exists, when the chosen logger cannot work here."""
    if logger not in LOGGERS:
        raise GantoolError(f"unknown train.logger {logger!r}; valid: {', '.join(LOGGERS)}")
    if logger == "tensorboard":
        try:
            import tensorboard  # noqa: F401
        except ImportError:
            raise GantoolError("--logger tensorboard needs the tensorboard package: pip install "
                               "'gantool[tensorboard]' (or leave the logger at jsonl)") from None


def tag(key: str) -> str:
    for prefix, group in GROUPS:
        if key.startswith(prefix):
            return group + key
    return "train/" + key


class NullBoard:
    """What the trainer holds when TensorBoard is off (or on ranks other than 0)."""

    def record(self, record: dict[str, Any]) -> None:
        pass

    def images(self, step: int, images: Tensor, per_row: int) -> None:
        pass

    def close(self) -> None:
        pass


NULL_BOARD = NullBoard()


class TensorBoardLogger(NullBoard):
    """Writes metrics.jsonl records and sample grids as TensorBoard events in `log_dir`.

    `purge_step`: on resume, events a crashed run wrote at or after this step are hidden by
    TensorBoard, as the trainer drops the same records from metrics.jsonl."""

    def __init__(self, log_dir: str | Path, cfg: Config | None = None, purge_step: int | None = None) -> None:
        check_available("tensorboard")
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(log_dir), purge_step=purge_step or None)
        if cfg is not None:  # again on resume: the config may have changed (config_history.jsonl)
            self.hparams(cfg)

    def hparams(self, cfg: Config) -> None:
        """The resolved config: the HPARAMS tab (one value per dotted key) and YAML text."""
        import yaml
        from torch.utils.tensorboard.summary import hparams

        values = {key: value if isinstance(value, (bool, int, float, str)) else str(value)
                  for key, value in flat_values(cfg).items()}
        for summary in hparams(values, {metric: math.nan for metric in HPARAM_METRICS}):
            self.writer.file_writer.add_summary(summary)
        text = yaml.safe_dump(cfg.to_dict(), sort_keys=False)
        self.writer.add_text("config", "```\n" + text + "```", 0)
        self.writer.flush()

    def record(self, record: dict[str, Any]) -> None:
        step = int(record.get("step", 0))
        kind = record_kind(record)
        if kind == "warning":
            text = f"**{record['warning']}**: {record.get('message', '')}"
            if record.get("remedy"):
                text += f". Try: {record['remedy']}."
            self.writer.add_text(f"diagnostics/{record['warning']}", text, step)
        elif kind == "best":
            self.writer.add_scalar(f"best/{record['best']}", float(record["value"]), step)
        else:
            for key, value in record.items():
                if key != "step" and isinstance(value, (int, float)) and not isinstance(value, bool):
                    self.writer.add_scalar(tag(key), float(value), step)
        self.writer.flush()  # at the log cadence: a crash loses nothing that metrics.jsonl has

    def images(self, step: int, images: Tensor, per_row: int) -> None:
        """A sample grid (images in [-1, 1], as the PNG in RUN/samples/)."""
        from gantool.utils import image_grid

        self.writer.add_image("samples", (image_grid(images, per_row) + 1) / 2, step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def open_board(cfg: Config, run_dir: str | Path, step: int = 0, enabled: bool = True) -> NullBoard:
    """The writer a run's `train.logger` asks for (a no-op one for jsonl and for ranks but 0)."""
    if not enabled or cfg.train.logger != "tensorboard":
        return NULL_BOARD
    return TensorBoardLogger(Path(run_dir) / FOLDER, cfg, purge_step=step)
