"""Typed run configuration: frozen dataclasses per section, YAML in and out, dotted overrides.

A config is the whole description of a run. It is saved in the run folder and inside every
checkpoint, so inference needs nothing but the checkpoint. Unknown keys and bad values are
errors that name the key and the valid choices.

The `model` section belongs to the recipe (each recipe registers its own dataclass with
`register_model_config`); every other section is shared by all recipes.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional, Union

import yaml

from gantool.errors import GantoolError
from gantool.untrusted import CONFIG_LIMITS, check_size, short, shown

Objective = Literal["minimax", "nonsaturating", "lsgan", "hinge", "wgan-gp",
                    # f-GAN divergences (Nowozin et al. 2016)
                    "kl", "reverse-kl", "pearson", "squared-hellinger", "js"]
Precision = Literal["fp32", "bf16", "fp16", "auto"]  # auto: bf16 where the hardware has it, else fp32


def _check(condition: bool, key: str, message: str) -> None:
    if not condition:
        raise GantoolError(f"config value {key}: {message}")


def _name(prefix: str, key: Any) -> str:
    """A config key from a file, quoted and shortened for a message."""
    return short(prefix + key) if isinstance(key, str) else f"{prefix}{short(key)}"


def _check_finite(node: Any, prefix: str = "") -> None:
    """Every float of a config (of every section, in tuples too) is finite: an infinite learning
    rate or loss weight passes every range check and ruins the run."""
    if dataclasses.is_dataclass(node):
        for f in dataclasses.fields(node):
            _check_finite(getattr(node, f.name), f"{prefix}{f.name}.")
    elif isinstance(node, (tuple, list)):
        for i, value in enumerate(node):
            _check_finite(value, f"{prefix[:-1]}[{i}].")
    elif isinstance(node, float) and not math.isfinite(node):
        raise GantoolError(f"config value {prefix[:-1]} must be a finite number, got {node}")


@dataclass(frozen=True)
class DataConfig:
    """Where images come from and how they are batched."""

    # cgan: digits (5,000 real MNIST digits shipped with the `demo` extra), mnist (IDX files under
    # `root`, downloaded there if absent and `download` is true), folder (class subfolders of
    # `root`). gan: the same three, a folder being any images below `root` (labels ignored). pix2pix: paired (A|B side-by-side images in `root`, or `root`/A + `root`/B).
    # cyclegan: unpaired (domain A images in `root` and domain B in `root_b`, or `root` alone
    # with trainA/ and trainB/).
    dataset: str = "digits"
    root: Optional[str] = None
    root_b: Optional[str] = None  # unpaired data: the domain B folder
    download: bool = True
    image_size: int = 28
    channels: int = 1  # of the generated images (cgan), of domain A (pix2pix, cyclegan)
    channels_b: Optional[int] = None  # of domain B; None: same as `channels`
    batch_size: int = 64
    num_workers: int = -1  # data loading processes; -1: 4 when training on a GPU, else 0 (decoding is cheap next to a CPU step)
    hflip: bool = False
    direction: Literal["AtoB", "BtoA"] = "AtoB"  # pix2pix: which side is the input
    preprocess: Literal["resize_and_crop", "crop", "scale_width", "scale_width_and_crop", "none"] = "resize_and_crop"
    load_size: int = 0  # resize_and_crop / scale_width_and_crop: size before the random crop; 0 = image_size*286/256
    val: Optional[str] = None  # a validation folder in the training layout
    val_fraction: float = 0.0  # or hold out this share of the training pairs for validation
    strict: bool = False  # unreadable image files are an error instead of being skipped with a warning
    # gan: train on the first N images only (0: all); the rest are held out for validation. The
    # GAN paper trained on MNIST's first 50,000 and kept the last 10,000 to choose the Parzen sigma
    max_images: int = 0
    # gan: Gaussian blur (sigma in pixels, 0: none) of the training images, so G learns a smoothed
    # distribution; held-out images stay sharp. Shown by issue 16: the Parzen estimate of the GAN
    # paper scores MNIST's own training digits 241 nats sharp and 301 blurred by 0.5 px
    blur: float = 0.0

    def __post_init__(self) -> None:
        _check(self.image_size >= 8, "data.image_size", f"must be >= 8, got {self.image_size}")
        _check(self.channels in (1, 3), "data.channels", f"must be 1 or 3, got {self.channels}")
        _check(self.channels_b in (None, 1, 3), "data.channels_b", f"must be 1 or 3, got {self.channels_b}")
        _check(0 <= self.val_fraction < 1, "data.val_fraction", "must be in [0, 1)")
        _check(self.load_size >= 0, "data.load_size", "must be >= 0")
        _check(self.batch_size >= 1, "data.batch_size", f"must be >= 1, got {self.batch_size}")
        _check(self.num_workers >= -1, "data.num_workers", "must be >= 0, or -1 for automatic")
        _check(self.max_images >= 0, "data.max_images", "must be >= 0 (0: all images)")
        _check(0 <= self.blur <= 10, "data.blur", f"must be a sigma in pixels in [0, 10] (0: no blur), got {self.blur}")


@dataclass(frozen=True)
class LossConfig:
    """The adversarial objective and the discriminator-side stabilisers."""

    objective: Objective = "nonsaturating"
    gp_weight: float = 10.0  # wgan-gp only
    r1_weight: float = 0.0  # gamma of the R1 penalty on real data; 0 turns it off
    r1_interval: int = 1  # lazy R1: every N discriminator steps, scaled by N
    label_smoothing: float = 0.0  # one-sided: real targets become 1 - s
    instance_noise: float = 0.0  # initial std of Gaussian noise on D inputs (real and fake)
    instance_noise_steps: int = 0  # std anneals linearly to 0 over this many steps; 0 = whole run
    augment: str = ""  # differentiable augmentation policy, e.g. "translation,color,cutout"

    def __post_init__(self) -> None:
        _check(self.gp_weight >= 0, "loss.gp_weight", "must be >= 0")
        _check(self.r1_weight >= 0, "loss.r1_weight", "must be >= 0")
        _check(self.r1_interval >= 1, "loss.r1_interval", "must be >= 1")
        _check(0 <= self.label_smoothing < 0.5, "loss.label_smoothing", "must be in [0, 0.5)")
        _check(self.instance_noise >= 0, "loss.instance_noise", "must be >= 0")
        _check(self.instance_noise_steps >= 0, "loss.instance_noise_steps", "must be >= 0")
        from gantool.augment import parse_policy

        parse_policy(self.augment)  # raises with the valid names


@dataclass(frozen=True)
class OptimConfig:
    """Optimizers for G and D and the learning-rate schedule."""

    optimizer: Literal["adam", "sgd"] = "adam"
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)  # adam
    momentum: float = 0.5  # sgd (Goodfellow et al. 2014 used momentum)
    weight_decay: float = 0.0
    # fused: one kernel per optimizer step (on a CPU 1.5x faster steps for pix2pix's 54M-parameter
    # U-Net than foreach; benchmarks/README.md); foreach: the multi-tensor loop
    implementation: Literal["fused", "foreach"] = "fused"
    # Constant learning rate, then a linear decay to 0 over the last `lr_decay_steps` steps
    # (when 0: over the last `lr_decay_fraction` of the run).
    lr_decay_steps: int = 0
    lr_decay_fraction: float = 0.0
    # step: the rate falls a little after every step and reaches 0 at the end. epoch: the reference
    # code's rule (pytorch-CycleGAN-and-pix2pix): it falls once per epoch, by 1/(decay epochs + 1),
    # so the last epoch trains at 1/(decay epochs + 1) of the rate, never at 0
    decay_every: Literal["step", "epoch"] = "step"
    # The GAN paper's pylearn2 schedule: the learning rate divided by this after every step
    # (ExponentialDecay; 1 = off), and sgd momentum raised linearly from `momentum` to
    # `momentum_final` between the steps of `momentum_ramp` (MomentumAdjustor; none = constant)
    lr_decay_factor: float = 1.0
    momentum_final: Optional[float] = None
    momentum_ramp: tuple[int, int] = (0, 0)

    def __post_init__(self) -> None:
        _check(self.lr_g > 0, "optim.lr_g", "must be > 0")
        _check(self.lr_d > 0, "optim.lr_d", "must be > 0")
        _check(all(0 <= b < 1 for b in self.betas), "optim.betas", "each must be in [0, 1)")
        _check(0 <= self.momentum < 1, "optim.momentum", "must be in [0, 1)")
        _check(self.lr_decay_steps >= 0, "optim.lr_decay_steps", "must be >= 0")
        _check(0 <= self.lr_decay_fraction <= 1, "optim.lr_decay_fraction", "must be in [0, 1]")
        _check(self.lr_decay_factor >= 1, "optim.lr_decay_factor", "must be >= 1 (1: no exponential decay)")
        _check(self.momentum_final is None or 0 <= self.momentum_final < 1, "optim.momentum_final",
               "must be in [0, 1), or null for a constant momentum")
        _check(0 <= self.momentum_ramp[0] <= self.momentum_ramp[1], "optim.momentum_ramp",
               "must be [start step, end step] with 0 <= start <= end")

    def decay_steps(self, total_steps: int) -> int:
        return self.lr_decay_steps or round(self.lr_decay_fraction * total_steps)

    def exponential_factor(self, step: int) -> float:
        """The share of the learning rate left by `lr_decay_factor` at `step`."""
        return self.lr_decay_factor ** -step

    def scheduled(self, step: int) -> dict[str, float]:
        """Optimizer settings other than the learning rate that change during the run: sgd's
        momentum on its ramp; none otherwise."""
        if self.optimizer != "sgd" or self.momentum_final is None:
            return {}
        start, end = self.momentum_ramp
        t = 1.0 if step >= end else 0.0 if step <= start else (step - start) / (end - start)
        return {"momentum": self.momentum + t * (self.momentum_final - self.momentum)}


@dataclass(frozen=True)
class TrainConfig:
    """The loop: length, rhythm, precision, cadence of samples, logs and checkpoints."""

    steps: int = 3000  # generator updates
    # Or count in passes over the training set (when epochs > 0): `epochs` at a constant learning
    # rate, then `decay_epochs` of linear decay to 0; `steps` is derived from the dataset size.
    epochs: int = 0
    decay_epochs: int = 0
    d_steps: int = 1  # discriminator updates per generator update (k in Goodfellow et al.)
    ema_decay: float = 0.999  # EMA of generator weights, used for samples and exports; 0 = off
    ema_start: int = 0  # copy weights (no averaging) before this step
    precision: Precision = "fp32"
    # NHWC activations and weights: oneDNN's preferred layout for bf16 convolutions on CPUs, and
    # tensor cores' on GPUs
    channels_last: bool = False
    # torch.compile the networks (first steps take a minute or more to compile; on this project's
    # 2-core CPU it made pix2pix steps slower, so it is off by default: see benchmarks/README.md)
    compile: bool = False
    device: str = "auto"  # auto: cuda when available, else cpu
    seed: int = 0
    log_every: int = 50
    sample_every: int = 500
    checkpoint_every: int = 500
    keep_checkpoints: int = 3  # periodic checkpoints kept besides latest.pt
    samples_per_class: int = 10  # columns of the sample grid (rows are classes)
    val_every: int = 500  # validation metrics into metrics.jsonl (recipes with validation data)
    # metrics.jsonl is always written; tensorboard also writes event files to RUN/tensorboard/
    # (the tensorboard extra)
    logger: Literal["jsonl", "tensorboard"] = "jsonl"

    def __post_init__(self) -> None:
        _check(self.steps >= 1, "train.steps", "must be >= 1")
        _check(self.d_steps >= 1, "train.d_steps", "must be >= 1")
        _check(self.epochs >= 0, "train.epochs", "must be >= 0")
        _check(self.decay_epochs >= 0, "train.decay_epochs", "must be >= 0")
        _check(0 <= self.ema_decay < 1, "train.ema_decay", "must be in [0, 1)")
        for key in ("log_every", "sample_every", "checkpoint_every", "val_every"):
            _check(getattr(self, key) >= 1, f"train.{key}", "must be >= 1")
        _check(self.keep_checkpoints >= 0, "train.keep_checkpoints", "must be >= 0")
        _check(self.samples_per_class >= 1, "train.samples_per_class", "must be >= 1")


@dataclass(frozen=True)
class DiagnosticsConfig:
    """When the training monitor warns (the README section "Training diagnostics" explains each warning).

    A warning needs its condition to hold for `window` consecutive log records (every
    `train.log_every` steps) after `warmup_steps`; the diversity and cheap-metric checks use the
    sample and validation records instead.
    """

    enabled: bool = True
    warmup_steps: int = 200  # every GAN starts far from equilibrium; no warnings before this step
    window: int = 5  # consecutive log records a condition must hold
    # vanishing generator gradients: D(G(z)) below this (logistic objectives; others: D accuracy
    # above `d_overpowering_accuracy`) while the G gradient norm is below this share of its peak
    vanishing_d_fake: float = 0.05
    vanishing_grad_ratio: float = 0.01
    d_overpowering_accuracy: float = 0.99  # D accuracy at or above: D wins every comparison
    d_chance_margin: float = 0.02  # D accuracy below 0.5 + this: D has stopped telling real from fake
    # mode collapse: mean pairwise distance of a fixed batch of generated images over that of real
    # images, below this for `diversity_window` sample records; or class-coverage KL above `coverage_kl`
    mode_collapse_ratio: float = 0.1
    diversity_window: int = 2
    coverage_kl: float = 0.5  # nats; 0 is uniform over classes, log(10) = 2.30 is a single class
    # the cheap metric (the recipe's selection metric, lower is better)
    progress_patience: int = 6  # evaluations without a new best by more than min_delta: no progress
    progress_min_delta: float = 0.01  # relative improvement that counts as a new best
    oscillation_loss: float = 0.25  # share of the progress so far lost again since the best: oscillation

    def __post_init__(self) -> None:
        for key in ("window", "diversity_window", "progress_patience"):
            _check(getattr(self, key) >= 1, f"diagnostics.{key}", "must be >= 1")
        _check(self.warmup_steps >= 0, "diagnostics.warmup_steps", "must be >= 0")
        for key in ("vanishing_d_fake", "vanishing_grad_ratio", "d_overpowering_accuracy", "d_chance_margin",
                    "mode_collapse_ratio", "progress_min_delta", "oscillation_loss"):
            _check(0 <= getattr(self, key) <= 1, f"diagnostics.{key}", "must be in [0, 1]")
        _check(self.coverage_kl >= 0, "diagnostics.coverage_kl", "must be >= 0")


def batches_per_epoch(dataset_size: int, batch_size: int) -> int:
    """Full batches in one pass over the data (the last partial batch is dropped)."""
    return max(1, dataset_size // max(1, min(batch_size, dataset_size)))


def resolve_epochs(cfg: "Config", dataset_size: int) -> "Config":
    """Counting in epochs (train.epochs or train.decay_epochs > 0): train.steps and
    optim.lr_decay_steps derived from the dataset size."""
    tc = cfg.train
    if tc.epochs + tc.decay_epochs <= 0:
        return cfg
    per_epoch = batches_per_epoch(dataset_size, cfg.data.batch_size)
    train = dataclasses.replace(tc, steps=(tc.epochs + tc.decay_epochs) * per_epoch)
    optim = dataclasses.replace(cfg.optim, lr_decay_steps=tc.decay_epochs * per_epoch,
                                lr_decay_fraction=0.0 if tc.decay_epochs == 0 else cfg.optim.lr_decay_fraction)
    return dataclasses.replace(cfg, train=train, optim=optim)


# Filled by the recipe modules (`register_model_config`); this module never imports them, so
# whoever builds a config for a recipe imports its module first (`import gantool.recipes`
# registers the built-in ones; gantool.run, translate and inference import it themselves).
_MODEL_CONFIGS: dict[str, type] = {}
_RECIPE_DEFAULTS: dict[str, dict[str, dict[str, Any]]] = {}


def register_model_config(recipe: str, defaults: dict[str, dict[str, Any]] | None = None) -> Any:
    """Class decorator: the dataclass that the `model` section of `recipe` configs holds.

    `defaults` are the recipe's own defaults for the shared sections (e.g. pix2pix trains on
    256 px RGB pairs with batch size 1), applied under whatever a config file or override says.
    """

    def add(cls: type) -> type:
        if recipe in _MODEL_CONFIGS and _MODEL_CONFIGS[recipe] is not cls:
            raise ValueError(f"a model config for recipe {recipe!r} is registered twice")
        _MODEL_CONFIGS[recipe] = cls
        _RECIPE_DEFAULTS[recipe] = defaults or {}
        return cls

    return add


def recipe_defaults(recipe: str) -> dict[str, dict[str, Any]]:
    model_config_class(recipe)
    return _RECIPE_DEFAULTS[recipe]


def default_config(recipe: str, name: str | None = None) -> "Config":
    """The complete default config of a recipe."""
    return Config.from_dict({"recipe": recipe, "name": name or recipe})


def model_config_class(recipe: str) -> type:
    if recipe not in _MODEL_CONFIGS:
        if not _MODEL_CONFIGS:
            raise GantoolError(f"unknown recipe {_name('', recipe)}: no recipe is registered yet; import gantool.recipes "
                               "(the built-in ones) or the module that defines the recipe before building its config")
        raise GantoolError(
            f"unknown recipe {_name('', recipe)}; valid: {', '.join(sorted(_MODEL_CONFIGS))}"
        )
    return _MODEL_CONFIGS[recipe]


@dataclass(frozen=True)
class Config:
    """A whole run. Build one with `default_config(recipe)`, `load_config(path)` or `Config.from_dict`,
    which apply the recipe's own defaults; the bare constructor knows only the shared ones."""

    recipe: str = "cgan"
    name: str = "run"
    data: DataConfig = field(default_factory=DataConfig)
    model: Any = None  # the recipe's model dataclass; filled in by __post_init__
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    diagnostics: DiagnosticsConfig = field(default_factory=DiagnosticsConfig)

    def __post_init__(self) -> None:
        if self.model is None:
            object.__setattr__(self, "model", model_config_class(self.recipe)())
        # the default run folder is runs/<name>: a config from a stranger must not aim it elsewhere
        if not isinstance(self.name, str) or self.name in ("", ".", "..") or any(c in self.name for c in "/\\\0"):
            raise GantoolError(f"config value name: {shown(self.name)} must be a plain folder name (no /, \\ or ..); "
                               "choose where the run goes with --out")
        _check_finite(self)

    def to_dict(self) -> dict[str, Any]:
        return _plain(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Config:
        if not isinstance(data, dict):
            raise GantoolError(f"a config must be a mapping of sections, got {shown(data)}")
        check_size(data, "the config", **CONFIG_LIMITS)  # YAML aliases and pickle references multiply
        recipe = data.get("recipe", "cgan")
        if not isinstance(recipe, str):
            raise GantoolError("config value recipe: must be a string")
        sections = {key: dict(value) for key, value in recipe_defaults(recipe).items()}
        for key, value in data.items():
            if isinstance(value, dict) and isinstance(sections.get(key), dict):
                sections[key].update(value)
            else:
                sections[key] = value
        model = sections.pop("model", {}) or {}
        cfg = _build(cls, sections, "", skip={"model"})
        model_cfg = _build(model_config_class(recipe), model, "model.")
        return dataclasses.replace(cfg, model=model_cfg)

    def replace(self, **changes: Any) -> Config:
        return dataclasses.replace(self, **changes)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _build(cls: type, data: Any, prefix: str, skip: frozenset | set = frozenset()) -> Any:
    section = prefix.rstrip(".") or "config"
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise GantoolError(f"config section {section!r} must be a mapping, got {shown(data)}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls) if f.name not in skip]
    kwargs = {}
    for key, value in data.items():
        if key in skip:
            continue
        if key not in names:
            raise GantoolError(
                f"unknown config key {_name(prefix, key)}; valid keys in {section}: {', '.join(names)}"
            )
        kwargs[key] = _coerce(value, hints[key], f"{prefix}{key}")
    return cls(**kwargs)


def _coerce(value: Any, hint: Any, key: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, key + ".")
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], key)
    if origin is Literal:
        if value not in args:
            raise GantoolError(
                f"config value {key}={shown(value)} is not valid; choose one of: "
                + ", ".join(str(a) for a in args)
            )
        return value
    if origin is tuple:
        if not isinstance(value, (list, tuple)) or len(value) != len(args):
            raise GantoolError(f"config value {key} must be a list of {len(args)} values, got {shown(value)}")
        return tuple(_coerce(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise GantoolError(f"config value {key} must be true or false, got {shown(value)}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2 ** 63:
            return value
        if isinstance(value, float) and value.is_integer() and abs(value) < 2 ** 63:
            return int(value)
        raise GantoolError(f"config value {key} must be an integer, got {shown(value)}")
    if hint is float:
        number = None
        if isinstance(value, float) or (isinstance(value, int) and not isinstance(value, bool) and abs(value) < 1e308):
            number = float(value)
        elif isinstance(value, str):  # YAML reads "1e-4" as a string
            try:
                number = float(value)
            except ValueError:
                pass
        if number is None:
            raise GantoolError(f"config value {key} must be a number, got {shown(value)}")
        if not math.isfinite(number):  # "inf", "nan", "1e400" (which reads as infinity)
            raise GantoolError(f"config value {key} must be a finite number, got {shown(value)}")
        return number
    if hint is str:
        if isinstance(value, str):
            return value
        if isinstance(value, float) or (isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2 ** 63):
            return str(value)
        raise GantoolError(f"config value {key} must be a string, got {shown(value)}")
    return value


def load_config(path: str | Path) -> Config:
    """Read a YAML config file (safely: no tags that construct objects)."""
    path = Path(path)
    if not path.is_file():
        raise GantoolError(f"config file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, ValueError, LookupError, AttributeError, RecursionError) as err:  # e.g. 2001-13-01
        raise GantoolError(f"config file {path} is not valid YAML: {err}") from None
    if data is None:  # a default config in disguise: say so rather than let its recipe surprise
        raise GantoolError(f"config file {path} is empty: write the settings to change as sections, e.g. "
                           "'optim: {lr_g: 1e-4}', or leave out --config for the defaults")
    if not isinstance(data, dict):
        raise GantoolError(f"config file {path} holds {shown(data)}, not a mapping of sections "
                           "(e.g. 'optim: {lr_g: 1e-4}')")
    check_size(data, f"config file {path}", **CONFIG_LIMITS)  # YAML aliases multiply a small file
    try:
        return Config.from_dict(data)
    except GantoolError as err:
        raise GantoolError(f"{path}: {err}") from None


def save_config(cfg: Config, path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))


def apply_overrides(cfg: Config, overrides: list[str] | tuple[str, ...]) -> Config:
    """Apply `section.key=value` strings (values parsed as YAML: 1e-4, true, [0.5, 0.99])."""
    return set_values(cfg, [parse_override(item) for item in overrides])


def parse_override(item: str) -> tuple[str, Any]:
    """`section.key=value` -> (key, value parsed as YAML; left a string where YAML cannot read it)."""
    if "=" not in item:
        raise GantoolError(f"--set {item!r}: expected KEY=VALUE, e.g. optim.lr_d=1e-4")
    key, raw = item.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except (yaml.YAMLError, ValueError, LookupError, AttributeError, RecursionError):  # e.g. 2001-13-01, !!bool x
        value = raw
    return key.strip(), value


def set_values(cfg: Config, items: list[tuple[str, Any]] | dict[str, Any]) -> Config:
    """`cfg` with the dotted `key`s set to already-parsed values, checked like a config file."""
    data = cfg.to_dict()
    for key, value in (items.items() if isinstance(items, dict) else items):
        check_size(value, f"--set {key[:60]}", **CONFIG_LIMITS)
        parts = key.split(".")
        node = data
        for i, part in enumerate(parts[:-1]):
            if not isinstance(node.get(part), dict):
                valid = [k for k, v in node.items() if isinstance(v, dict)]
                where = ".".join(parts[:i]) or "config"
                raise GantoolError(
                    f"--set {key}: {part!r} is not a section of {where}; valid: {', '.join(valid)}"
                )
            node = node[part]
        if parts[-1] not in node:
            where = ".".join(parts[:-1]) or "config"
            raise GantoolError(
                f"--set {key}: unknown key {parts[-1]!r} in {where}; valid: {', '.join(node)}"
            )
        if key == "recipe" and value != data.get("recipe"):
            data["model"] = {}
        if key == "train.steps":  # the length said last wins: steps replace an epoch count
            data["train"]["epochs"] = data["train"]["decay_epochs"] = 0
        node[parts[-1]] = value
    return Config.from_dict(data)


def flat_values(cfg: Config) -> dict[str, Any]:
    """Every value of `cfg` under its dotted key (`optim.lr_g`, `model.ngf`, ...)."""
    flat: dict[str, Any] = {}

    def walk(node: dict[str, Any], prefix: str) -> None:
        for key, value in node.items():
            if isinstance(value, dict):
                walk(value, f"{prefix}{key}.")
            else:
                flat[prefix + key] = value

    walk(cfg.to_dict(), "")
    return flat


def get_value(cfg: Config, key: str) -> Any:
    """The value at a dotted key; a GantoolError names an unknown one."""
    values = flat_values(cfg)
    if key not in values:
        raise GantoolError(f"unknown config key {key!r}")
    return values[key]
