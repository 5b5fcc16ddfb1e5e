"""Models of the reference implementation (junyanz/pytorch-CycleGAN-and-pix2pix) in and out.

`import_reference` turns its `.pth` files (a generator state dict, as the published models are)
or a checkpoint folder (`latest_net_G.pth`, or `latest_net_G_A.pth` + `latest_net_G_B.pth`,
`latest_net_D*.pth`, `train_opt.txt`) into an ordinary gantool checkpoint: config + tensors, no
optimizer state. What the tensors determine is inferred from them; direction and U-Net dropout
come from `train_opt.txt`, the caller, or the reference's defaults, and the report says which.
`export_reference` writes the reverse, which the reference's own `test.py` loads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import Tensor

import gantool.recipes  # noqa: F401  (registers the pix2pix and CycleGAN configs)
from gantool.config import Config, default_config, set_values
from gantool.errors import GantoolError
from gantool.untrusted import refused_for_code, torch_load_reason, unsafe_file_message
from gantool.interop import reference_names as rn

PIX2PIX_DROPOUT = 0.5  # the reference's U-Net dropout


@dataclass
class ImportReport:
    inferred: list[str] = field(default_factory=list)
    from_options: list[str] = field(default_factory=list)
    assumed: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        parts = [f"inferred: {', '.join(self.inferred)}"]
        if self.from_options:
            parts.append(f"from train_opt.txt: {', '.join(self.from_options)}")
        if self.assumed:
            parts.append(f"assumed: {', '.join(self.assumed)}")
        return "; ".join(parts + self.notes)

    def as_dict(self) -> dict[str, Any]:
        return {"inferred": self.inferred, "from_options": self.from_options, "assumed": self.assumed,
                "notes": self.notes}


def read_state_dict(path: Path) -> dict[str, Tensor]:
    """A reference .pth as plain tensors; never runs code from the file."""
    import warnings

    try:
        head = path.read_bytes()[:4] if path.stat().st_size else b""
    except OSError as err:
        raise GantoolError(f"cannot read {path}: {err.strerror}") from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's notes on pickle protocols: the error below says enough
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001  (truncated zip, pickle with code, random bytes: told apart below)
        if refused_for_code(err, path):  # a zip file too: torch.save puts its pickle inside one
            raise GantoolError(unsafe_file_message(path, "a reference model is a state dict of tensors "
                                                         "(net.state_dict()): use one from a source you trust")) from None
        if head.startswith(b"PK"):
            why = "a PyTorch file that is truncated or damaged (download or copy it again)"
        else:
            why = f"not a PyTorch file ({torch_load_reason(err)})"
        raise GantoolError(f"{path} is {why}; a reference model is a .pth state dict of tensors") from None
    if isinstance(state, dict) and state.get("format") == "gantool-checkpoint":
        raise GantoolError(f"{path} is already a gantool checkpoint: use it directly")
    if not isinstance(state, dict) or not state or not all(isinstance(v, Tensor) for v in state.values()):
        raise GantoolError(f"{path} is not a state dict of tensors (the reference saves net.state_dict())")
    return {k.removeprefix("module."): v for k, v in state.items()}  # saved from a DataParallel


def read_train_options(path: Path) -> dict[str, str]:
    """`train_opt.txt` of a reference run: `name: value  [default: ...]` lines."""
    options = {}
    for line in path.read_text(errors="replace").splitlines():
        match = re.match(r"\s*([A-Za-z_]+):\s*(\S*)", line)
        if match:
            options[match.group(1)] = match.group(2)
    return options


@dataclass
class ReferenceFiles:
    generators: dict[str, Path]  # "a2b" / "b2a" (cyclegan) or "a2b" (one generator)
    discriminators: dict[str, Path]  # reference names: "D", "D_A", "D_B"
    options: dict[str, str]
    pair: bool  # G_A + G_B


def find_files(paths: list[Path], epoch: str | None = None) -> ReferenceFiles:
    """The generator(s), discriminator(s) and options among files and checkpoint folders."""
    tag = epoch or "latest"
    generators: dict[str, Path] = {}
    discriminators: dict[str, Path] = {}
    options: dict[str, str] = {}
    files: list[Path] = []
    for path in paths:
        path = Path(path).expanduser()
        if path.is_dir():
            found = sorted(path.glob(f"{tag}_net_*.pth"))
            if not any(p.name.startswith(f"{tag}_net_G") for p in found):
                epochs = sorted({p.name.split("_net_")[0] for p in path.glob("*_net_G*.pth")})
                hint = f"; epochs there: {', '.join(epochs)}" if epochs else ""
                raise GantoolError(f"{path} holds no {tag}_net_G*.pth (a reference checkpoint folder has "
                                   f"latest_net_G.pth, or latest_net_G_A.pth and latest_net_G_B.pth){hint}")
            files += found
            if (path / "train_opt.txt").is_file():
                options = read_train_options(path / "train_opt.txt")
        elif path.is_file():
            files.append(path)
        else:
            raise GantoolError(f"{path} does not exist")
    plain = []
    for file in files:
        match = re.search(r"net_(G_A|G_B|D_A|D_B|G|D)\.pth$", file.name)
        role = match.group(1) if match else None
        if role in ("D", "D_A", "D_B"):
            discriminators[role] = file
        elif role == "G_A":
            generators["a2b"] = file
        elif role == "G_B":
            generators["b2a"] = file
        else:
            plain.append(file)
    if plain and generators:
        raise GantoolError(f"{plain[0]} is not named as G_A or G_B beside a G_A/G_B pair; rename it or give it alone")
    if len(plain) > 2:
        raise GantoolError(f"{len(plain)} generator files given; give one, or a CycleGAN pair (A->B first, then B->A)")
    for direction, file in zip(("a2b", "b2a"), plain):  # files without role names: A->B, then B->A
        generators[direction] = file
    if not generators:
        given = ", ".join(p.name for p in discriminators.values())
        raise GantoolError(f"{given} looks like a discriminator (*_net_D*.pth), not a generator; give the "
                           "latest_net_G*.pth (or the whole checkpoint folder)")
    return ReferenceFiles(generators, discriminators, options, pair=len(generators) == 2)


def _choose(value: Any, option: str | None, default: Any, what: str, report: ImportReport,
            from_file: Any = None) -> Any:
    if value is not None:
        return value
    if from_file is not None:
        report.from_options.append(f"{what} {from_file}")
        return from_file
    report.assumed.append(f"{what} {default}" + (f" ({option})" if option else ""))
    return default


def import_reference(paths: list[str | Path], recipe: str | None = None, direction: str | None = None,
                     dropout: bool | None = None, epoch: str | int | None = None) -> tuple[dict[str, Any], ImportReport]:
    """(a gantool checkpoint state for save_checkpoint, what was inferred and assumed)."""
    from gantool.recipes import RECIPES
    from gantool.weights import load_weights

    files = find_files([Path(p) for p in paths], None if epoch is None else str(epoch))
    report = ImportReport()
    options = files.options
    weights, archs = {}, {}
    for key, path in files.generators.items():
        state, dropped = rn.drop_legacy_instance_norm_keys(read_state_dict(path))
        if dropped:
            report.notes.append(f"dropped {dropped} running statistics of InstanceNorm layers (saved by PyTorch < 0.4)")
        try:
            archs[key] = rn.infer_generator(state)
        except GantoolError as err:
            raise GantoolError(f"{path}: {err}") from None
        weights[key] = state
    arch = archs["a2b"]
    if "b2a" in archs and (archs["b2a"].generator, archs["b2a"].ngf, archs["b2a"].norm) != (arch.generator, arch.ngf,
                                                                                             arch.norm):
        raise GantoolError(f"the two generators differ ({arch.describe()} and {archs['b2a'].describe()}); "
                           "a CycleGAN pair has one architecture")
    report.inferred.append(arch.describe())
    model_option = {"pix2pix": "pix2pix", "cycle_gan": "cyclegan"}.get(options.get("model", ""))
    default_recipe = "cyclegan" if files.pair or arch.generator.startswith("resnet") else "pix2pix"
    recipe = _choose(recipe, None, default_recipe, "recipe", report, model_option)
    if recipe not in ("pix2pix", "cyclegan"):
        raise GantoolError(f"--recipe {recipe!r}: reference models are pix2pix or cyclegan")
    if recipe == "pix2pix" and files.pair:
        raise GantoolError("a G_A + G_B pair is a CycleGAN model; drop --recipe pix2pix")
    if arch.dropout is None:  # U-Net dropout has no parameters
        no_dropout = options.get("no_dropout")
        said = None if no_dropout is None else ("0.5" if no_dropout == "False" else "off")
        default = "0.5" if recipe == "pix2pix" else "off"
        chosen = None if dropout is None else ("0.5" if dropout else "off")
        use = _choose(chosen, "the reference default" if recipe == "pix2pix" else "CycleGAN's --no_dropout",
                      default, "dropout", report, said) == "0.5"
    else:
        use = arch.dropout
        if dropout is not None and dropout != use:
            raise GantoolError(f"--{'' if dropout else 'no-'}dropout disagrees with the tensors: the generator "
                               f"was built {'with' if use else 'without'} dropout")
    data_direction = _choose(direction, "the reference default", "AtoB", "direction", report,
                             options.get("direction"))
    a_channels, b_channels = arch.in_channels, arch.out_channels
    if recipe == "pix2pix" and data_direction == "BtoA":
        a_channels, b_channels = b_channels, a_channels
    values: dict[str, Any] = {
        "model.generator": arch.generator, "model.ngf": arch.ngf, "model.norm": arch.norm,
        "model.dropout": PIX2PIX_DROPOUT if use else 0.0, "data.direction": data_direction,
        "data.channels": a_channels, "data.channels_b": b_channels, "data.batch_size": 1,
    }
    if recipe == "cyclegan" and a_channels != b_channels:
        values["model.lambda_identity"] = 0.0
    crop = options.get("crop_size") or options.get("fineSize")
    if crop and crop.isdigit():
        values["data.image_size"] = int(crop)
        report.from_options.append(f"crop size {crop}")
    d_weights, d_names = _discriminators(files, recipe, options, report, values)
    cfg = set_values(default_config(recipe, name=_name(files)), values)
    directions = ["a2b", "b2a"] if files.pair else ["a2b"]
    meta: dict[str, Any] = {"imported": True, "directions": directions}
    model = RECIPES.get(recipe)(cfg, meta)
    keys = model.translation_generators
    for direction_key in list(keys):
        if direction_key not in directions:
            del model.generators[keys[direction_key]]
    for direction_key, state in weights.items():
        module = model.generators[keys[direction_key]]
        names = rn.generator_names(archs[direction_key], list(module.state_dict()))
        load_weights(module, rn.to_gantool(state, names, str(files.generators[direction_key])),
                     files.generators[direction_key], what="inferred architecture")
    for gantool_key, state in d_weights.items():
        module = model.discriminators[gantool_key]
        converted = rn.to_gantool(state, rn.discriminator_names(list(module.state_dict())), d_names[gantool_key])
        load_weights(module, converted, d_names[gantool_key], what="inferred architecture")
    if not d_weights:
        report.notes.append("no discriminator imported")
    imported = {"sources": [str(p) for p in [*files.generators.values(), *d_names.values()]],
                "reference_options": options, **report.as_dict()}
    state = {"recipe": recipe, "config": cfg.to_dict(), "meta": meta, "step": 0, "d_updates": 0,
             "generators": model.generators.state_dict(),
             "discriminators": {k: v for k, v in model.discriminators.state_dict().items()
                                if k.split(".", 1)[0] in d_weights},
             "ema": None, "optim_g": None, "optim_d": None, "imported": imported}
    return state, report


def _name(files: ReferenceFiles) -> str:
    first = next(iter(files.generators.values()))
    stem = first.parent.name if first.name.startswith(("latest_net", "net_")) or "_net_" in first.name else first.stem
    return re.sub(r"[^A-Za-z0-9_.-]", "_", stem) or "imported"


# reference discriminator files -> gantool keys (the reference's D_A judges domain B: G_A's outputs)
# (a lone D beside one CycleGAN generator judges that generator's outputs)
D_KEYS = {"pix2pix": {"D": "D"}, "cyclegan": {"D_A": "D_B", "D_B": "D_A", "D": "D_B"}}


def _discriminators(files: ReferenceFiles, recipe: str, options: dict[str, str], report: ImportReport,
                    values: dict[str, Any]) -> tuple[dict[str, dict[str, Tensor]], dict[str, str]]:
    """Discriminator tensors under gantool's D keys, when they are PatchGANs gantool can rebuild."""
    found, names = {}, {}
    for ref_key, path in files.discriminators.items():
        gantool_key = D_KEYS[recipe].get(ref_key)
        if gantool_key is None:
            report.notes.append(f"{path.name} ignored (not a {recipe} discriminator)")
            continue
        state = read_state_dict(path)
        if rn.looks_like_discriminator(state) != "PatchGAN":
            report.notes.append(f"{path.name} ignored (not a PatchGAN discriminator)")
            continue
        convs = [k for k in state if re.fullmatch(r"model\.\d+\.weight", k) and state[k].dim() == 4]
        values["model.ndf"] = state[convs[0]].shape[0]
        values["model.n_layers_d"] = len(convs) - 2
        found[gantool_key], names[gantool_key] = state, str(path)
    if found:
        report.inferred.append(f"PatchGAN D ({values['model.n_layers_d']} layers, ndf {values['model.ndf']})")
    return found, names


def export_reference(checkpoint: str | Path, out_dir: str | Path) -> list[Path]:
    """The generator(s) (and PatchGAN discriminators) of a gantool pix2pix/CycleGAN checkpoint as
    the reference's `latest_net_*.pth`, plus `test_options.txt` with the flags its test.py needs."""
    from gantool.checkpoint import EXPORT_CONFIG, atomic_write, load_checkpoint, load_generator_state
    from gantool.recipes import RECIPES

    generator_state = load_generator_state(checkpoint)
    recipe = generator_state["recipe"]
    if recipe not in ("pix2pix", "cyclegan"):
        raise GantoolError(f"{checkpoint} holds a {recipe!r} model; the reference has pix2pix and CycleGAN only")
    cfg = Config.from_dict(generator_state["config"])
    meta = generator_state["meta"]
    m = cfg.model
    if m.generator not in ("resnet_6blocks", "resnet_9blocks", "unet_128", "unet_256") or m.norm not in (
            "batch", "instance") or getattr(m, "upsampling", "transposed") != "transposed" or m.spectral_norm:
        raise GantoolError(f"{checkpoint}: a {m.generator} with {m.norm} norm"
                           f"{' and spectral norm' if m.spectral_norm else ''} has no reference counterpart "
                           "(it builds resnet_6/9blocks and unet_128/256 with batch or instance norm)")
    from gantool.weights import build_shapes_only, check_fits

    # only the networks' names and shapes are needed: the meta device gives them for any config at no cost
    model = build_shapes_only(lambda: RECIPES.get(recipe)(cfg, meta), checkpoint)
    directions = meta.get("directions") or list(model.translation_generators)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    file_of = {"pix2pix": {"a2b": "latest_net_G.pth"},
               "cyclegan": {"a2b": "latest_net_G_A.pth", "b2a": "latest_net_G_B.pth"}}[recipe]
    weights = generator_state["weights"]
    for direction in directions:
        key = model.translation_generators[direction]
        module = model.generators[key]
        part = {k[len(key) + 1:]: v for k, v in weights.items() if k.startswith(key + ".")}
        depth = module.n_blocks if m.generator.startswith("resnet") else module.n_down
        arch = rn.Architecture(m.generator, m.ngf, module.in_channels, module.out_channels, m.norm, bool(m.dropout),
                               depth)
        names = rn.generator_names(arch, list(module.state_dict()))
        if set(part) != set(names):
            raise GantoolError(f"{checkpoint}: the {key} weights do not fit a {m.generator} (the file is damaged)")
        check_fits(module, part, checkpoint)
        written.append(_save(rn.to_reference(part, names), out_dir / file_of[direction], atomic_write))
    exported = Path(checkpoint).is_dir() and (Path(checkpoint) / EXPORT_CONFIG).is_file()
    discriminators = {} if exported else (load_checkpoint(checkpoint).get("discriminators") or {})
    if m.discriminator == "patchgan":
        for ref_key, gantool_key in D_KEYS[recipe].items():
            if recipe == "cyclegan" and ref_key == "D":  # written under its pair name, D_A
                continue
            part = {k[len(gantool_key) + 1:]: v for k, v in discriminators.items() if k.startswith(gantool_key + ".")}
            if part:
                written.append(_save(rn.to_reference(part, rn.discriminator_names(list(part))),
                                     out_dir / f"latest_net_{ref_key}.pth", atomic_write))
    text = _test_options(cfg, recipe, directions).encode()
    atomic_write(out_dir / "test_options.txt", lambda f: f.write(text), size_hint=len(text))
    written.append(out_dir / "test_options.txt")
    return written


def _save(tensors: Mapping[str, Tensor], path: Path, atomic_write: Any) -> Path:
    from gantool.storage import tensor_bytes

    atomic_write(path, lambda f: torch.save(dict(tensors), f), size_hint=tensor_bytes(tensors))
    return path


def _test_options(cfg: Config, recipe: str, directions: list[str]) -> str:
    m, d = cfg.model, cfg.data
    in_ch, out_ch = (d.channels_b or d.channels, d.channels) if recipe == "pix2pix" and d.direction == "BtoA" else (
        d.channels, d.channels_b or d.channels)
    model = "pix2pix" if recipe == "pix2pix" else ("cycle_gan" if len(directions) == 2 else "test")
    flags = [f"--model {model}", f"--netG {m.generator}", f"--norm {m.norm}", f"--ngf {m.ngf}",
             f"--input_nc {in_ch}", f"--output_nc {out_ch}", f"--direction {d.direction}"]
    if model == "test":
        flags.append("--model_suffix _A")
    if not m.dropout:
        flags.append("--no_dropout")
    return ("# exported by gantool: the reference's test.py needs these flags to rebuild the networks\n"
            + " ".join(flags) + "\n")
