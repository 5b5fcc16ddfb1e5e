"""`gantool export`: one entry point for every format a generator leaves gantool in.

- safetensors: generator.safetensors + generator.json (every direction; gantool reads it back)
- reference: latest_net_*.pth for pytorch-CycleGAN-and-pix2pix's test.py
- onnx: one .onnx file (one direction; test-time choices baked in), for ONNX Runtime and others
- torchscript: one TorchScript archive (the same network), for torch.jit.load / LibTorch
"""

from __future__ import annotations

from pathlib import Path

from gantool.errors import GantoolError

FORMATS = ("safetensors", "onnx", "torchscript", "reference")
SINGLE_FILE = ("onnx", "torchscript")


def _check_file_target(checkpoint: Path, out: Path, format_: str, overwrite: bool) -> None:
    if format_ == "onnx" and out.suffix.lower() != ".onnx":
        raise GantoolError(f"--out {out}: name the file *.onnx (gantool translate --checkpoint tells an ONNX file "
                           "by its suffix)")
    if out.is_dir():
        raise GantoolError(f"--out {out} is a folder; --format {format_} writes one file: give its name")
    if out.exists() and checkpoint.exists() and out.resolve() == checkpoint.resolve():
        raise GantoolError(f"--out {out} is the checkpoint itself; choose another --out")
    if out.exists() and not overwrite:
        raise GantoolError(f"{out} exists; pass --overwrite to replace it or choose another --out")


def export_model(checkpoint: str | Path, out: str | Path, format_: str = "safetensors", use_ema: bool = True,
                 direction: str | None = None, bn_stats: str | None = None, overwrite: bool = False) -> list[Path]:
    """Export the generator(s) of `checkpoint` in `format_`; returns the files written.

    `direction` (a2b/b2a) and `bn_stats` (auto/running/batch, as `gantool translate`) choose the
    one network an ONNX or TorchScript file holds; the other formats keep the whole model."""
    checkpoint, out = Path(checkpoint), Path(out).expanduser()
    if format_ not in FORMATS:
        raise GantoolError(f"unknown export format {format_!r}; valid: {', '.join(FORMATS)}")
    if format_ not in SINGLE_FILE:
        given = [name for name, value in (("--direction", direction), ("--bn-stats", bn_stats)) if value is not None]
        if given:
            raise GantoolError(f"{' and '.join(given)} choose the network of an onnx or torchscript file; "
                               f"--format {format_} keeps every direction and the batch norms as trained")
    if format_ == "reference":
        from gantool.interop.reference import export_reference

        if not use_ema:
            raise GantoolError("--no-ema: the reference format takes the weights translate uses (the EMA when kept)")
        return export_reference(checkpoint, out)
    if format_ == "safetensors":
        from gantool.checkpoint import EXPORT_CONFIG, EXPORT_WEIGHTS, export_generator

        folder = export_generator(checkpoint, out, use_ema=use_ema)
        return [folder / EXPORT_WEIGHTS, folder / EXPORT_CONFIG]
    _check_file_target(checkpoint, out, format_, overwrite)
    from gantool.interop.deploy import prepare

    deployable = prepare(checkpoint, direction, bn_stats or "auto", use_ema=use_ema)
    if format_ == "onnx":
        from gantool.interop.onnx_format import write_onnx

        return [write_onnx(deployable, out)]
    from gantool.interop.torchscript_format import write_torchscript

    return [write_torchscript(deployable, out)]
