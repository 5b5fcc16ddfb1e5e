import os
import pickle

import pytest
import torch

from gantool import checkpoint as ckpt
from gantool.checkpoint import export_generator, load_checkpoint, load_generator_state, save_checkpoint
from gantool.errors import GantoolError
from gantool.run import train


def test_truncated_checkpoint_is_a_clear_error(tiny_cfg, tmp_path):
    result = train(tiny_cfg, out=tmp_path / "run", quiet=True)
    data = result.checkpoint.read_bytes()
    broken = tmp_path / "broken.pt"
    broken.write_bytes(data[: len(data) // 2])
    with pytest.raises(GantoolError, match="not a loadable gantool checkpoint"):
        load_checkpoint(broken)


def test_non_checkpoint_files_are_rejected(tmp_path):
    text = tmp_path / "notes.pt"
    text.write_text("hello")
    with pytest.raises(GantoolError, match="not a loadable gantool checkpoint"):
        load_checkpoint(text)
    plain = tmp_path / "plain.pt"
    torch.save({"weights": torch.zeros(2)}, plain)
    with pytest.raises(GantoolError, match="not a gantool checkpoint"):
        load_checkpoint(plain)
    with pytest.raises(GantoolError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")


class _Payload:
    def __reduce__(self):
        return (os.system, ("touch PWNED_BY_CHECKPOINT",))


def test_malicious_pickle_is_rejected_without_running(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    evil = tmp_path / "evil.pt"
    torch.save({"format": "gantool-checkpoint", "payload": _Payload()}, evil, pickle_protocol=2)
    raw = tmp_path / "raw.pkl"
    raw.write_bytes(pickle.dumps(_Payload()))  # protocol 5: opcodes torch's safe loader lacks
    for path in (evil, raw):
        with pytest.raises(GantoolError) as caught:
            load_checkpoint(path)
        assert str(caught.value) == (
            f"{path} holds Python objects other than tensors, which could run code when loaded, so it was refused "
            "and not opened; use a checkpoint from a source you trust; gantool's own checkpoints hold only tensors "
            "and plain data")
        assert "weights_only" not in str(caught.value)
    assert not (tmp_path / "PWNED_BY_CHECKPOINT").exists()


def test_recipe_mismatch(tiny_cfg, tmp_path):
    result = train(tiny_cfg, out=tmp_path / "run", quiet=True)
    with pytest.raises(GantoolError, match="is a 'cgan' checkpoint, not 'pix2pix'"):
        load_checkpoint(result.checkpoint, recipe="pix2pix")


def test_newer_format_is_refused(tmp_path):
    path = tmp_path / "future.pt"
    torch.save({"format": "gantool-checkpoint", "format_version": 99, "gantool_version": "9.0"}, path)
    with pytest.raises(GantoolError, match="upgrade gantool"):
        load_checkpoint(path)


def test_crash_while_writing_keeps_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "latest.pt"
    save_checkpoint({"recipe": "cgan", "step": 1}, path)

    def crash(obj, f, *args, **kwargs):
        f.write(b"partial bytes")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ckpt.torch, "save", crash)
    with pytest.raises(GantoolError, match=r"no space left on .* the last complete checkpoint is .*latest\.pt"):
        save_checkpoint({"recipe": "cgan", "step": 2}, path)
    monkeypatch.undo()
    assert load_checkpoint(path)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["latest.pt"]  # no temp file left behind


def test_crash_in_training_checkpoint_keeps_previous(tiny_cfg, tmp_path, monkeypatch):
    from gantool.config import apply_overrides

    cfg = apply_overrides(tiny_cfg, ["train.steps=4", "train.checkpoint_every=2"])
    real_save = ckpt.torch.save
    calls = {"n": 0}

    def flaky(obj, f, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # killed in the middle of the second checkpoint
        return real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(ckpt.torch, "save", flaky)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, out=tmp_path / "run", quiet=True)
    monkeypatch.undo()
    state = load_checkpoint(tmp_path / "run")
    assert state["step"] == 2
    resumed = train(cfg, resume=tmp_path / "run", quiet=True)
    assert resumed.step == 4


def test_export_is_safetensors_plus_json(tiny_cfg, tmp_path):
    result = train(tiny_cfg, out=tmp_path / "run", quiet=True)
    out = export_generator(result.checkpoint, tmp_path / "export")
    assert sorted(p.name for p in out.iterdir()) == ["generator.json", "generator.safetensors"]
    exported = load_generator_state(out)
    from_ckpt = load_generator_state(result.checkpoint)
    assert exported["config"] == from_ckpt["config"]
    for key, value in from_ckpt["weights"].items():
        assert torch.equal(exported["weights"][key], value)
