"""`gantool eval CHECKPOINT`: the metrics that suit a checkpoint's recipe, by name.

Each metric is registered with the recipes it applies to and whether it runs by default. Digit
models (cgan with 10 classes, gan at 28x28 grayscale) get the judge's metrics (FID/KID in the
judge's feature space, class coverage), the Parzen estimate and the memorisation check, and
Inception FID/KID on request; other gan models Inception FID/KID against the images of --data;
pix2pix models their paired L1/PSNR/SSIM, CycleGAN models their cycle-reconstruction scores and
CUT models the sliced Wasserstein distance of their translations (A -> B only) to B, all with
Inception FID/KID of translated against real target-domain images. Every FID/KID result names
its feature extractor; without
Inception weights those results say "unavailable" and why. Results are one JSON
object, which the command writes as eval.json and appends to eval.jsonl in the run folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from gantool.errors import GantoolError
from gantool.registry import Registry


@dataclass
class EvalContext:
    """What a metric may use; expensive shared pieces (samples, judge) are computed once."""

    checkpoint: Path
    recipe: str
    data: Path | None
    n: int = 10000
    parzen_samples: int = 10000
    seed: int = 0
    out_dir: Path = Path(".")  # where metrics that draw pictures put them
    inception_weights: Path | None = None  # explicit FID Inception file; else found (see metrics.inception)
    inception_samples: int = 1000  # generated and real images in Inception FID/KID of digit models
    log: Callable[[str], None] = print
    device: str = "cpu"  # where the generator runs; metrics take its outputs on the CPU
    cache: dict[str, Any] = field(default_factory=dict)

    def once(self, key: str, make: Callable[[], Any]) -> Any:
        if key not in self.cache:
            self.cache[key] = make()
        return self.cache[key]


@dataclass(frozen=True)
class Metric:
    compute: Callable[[EvalContext], dict[str, Any]]
    recipes: tuple[str, ...]
    default: bool = True
    applies: Callable[[EvalContext], bool] | None = None  # run by default only for models it suits


METRICS: Registry[Metric] = Registry("metric")


def metric(name: str, recipes: tuple[str, ...], default: bool = True,
           applies: Callable[[EvalContext], bool] | None = None) -> Callable:
    def add(compute: Callable[[EvalContext], dict[str, Any]]) -> Callable:
        METRICS.register(name)(Metric(compute, recipes, default, applies))
        return compute

    return add


def metrics_for(recipe: str) -> list[str]:
    return [name for name in METRICS.names() if recipe in METRICS.get(name).recipes]


def run_metrics(ctx: EvalContext, names: list[str] | None = None) -> dict[str, Any]:
    """Run `names` (default: the recipe's default metrics) and gather their results."""
    valid = metrics_for(ctx.recipe)
    if names is None:
        names = [n for n in valid if METRICS.get(n).default and (METRICS.get(n).applies or bool)(ctx)]
    unknown = [n for n in names if n not in valid]
    if unknown:
        raise GantoolError(f"--metrics {','.join(unknown)}: not available for a {ctx.recipe} model; "
                           f"valid: {', '.join(valid)}")
    results: dict[str, Any] = {"checkpoint": str(ctx.checkpoint), "recipe": ctx.recipe}
    for name in names:
        ctx.log(f"computing {name} ...")
        results[name] = METRICS.get(name).compute(ctx)
    return results


# ------------------------------------------------------------- digits (cgan, gan)
def _mnist_root(ctx: EvalContext) -> Path:
    if ctx.data is None:
        raise GantoolError("digit metrics need the MNIST IDX files: pass --data DIR (e.g. ../shared/data/mnist)")
    return ctx.data


def _sampler(ctx: EvalContext):
    from gantool.inference import load_sampler

    return ctx.once("sampler", lambda: load_sampler(ctx.checkpoint, ctx.device))


def _digit_model(ctx: EvalContext) -> bool:
    """A gan model of 28x28 grayscale images: scored as digits (by the judge, against MNIST)."""
    data = _sampler(ctx).config.data
    return (data.channels, data.image_size) == (1, 28)


def _samples(ctx: EvalContext) -> tuple[torch.Tensor, torch.Tensor | None]:
    """`n` samples and their requested labels: class-conditional ones equally many per class
    (labels None for an unconditional model)."""
    def make() -> tuple[torch.Tensor, torch.Tensor | None]:
        sampler = _sampler(ctx)
        shape = (sampler.config.data.channels, sampler.config.data.image_size)
        if sampler.num_classes == 0:
            if shape != (1, 28):
                raise GantoolError(f"digit metrics need a model of 28x28 grayscale digits; this one draws {shape[1]} "
                                   f"px images with {shape[0]} channel(s)")
            return sampler.sample(ctx.n, seed=ctx.seed), None
        if sampler.num_classes != 10 or shape != (1, 28):
            raise GantoolError("digit metrics need a 10-class model of 28x28 grayscale digits; this one has "
                               f"{sampler.num_classes} classes of {shape[1]} px with {shape[0]} channel(s)")
        per_class = max(1, ctx.n // 10)
        labels = torch.arange(10).repeat_interleave(per_class)
        return sampler.sample(labels, seed=ctx.seed), labels
    return ctx.once("samples", make)


def _digits(ctx: EvalContext) -> bool:
    """Digit metrics suit every cgan model (they say what they need) and gan models of digits."""
    return ctx.recipe != "gan" or _digit_model(ctx)


def _trained_on(ctx: EvalContext) -> int:
    """N when the model was trained on MNIST's first N training digits only (data.max_images), else 0."""
    data = _sampler(ctx).config.data
    return data.max_images if data.dataset == "mnist" else 0


def _judge(ctx: EvalContext):
    from gantool.metrics.judge import load_judge

    return ctx.once("judge", lambda: load_judge(_mnist_root(ctx), log=ctx.log))


def _mnist(ctx: EvalContext, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    from gantool.data.digits import load_mnist
    from gantool.data.images import to_unit_range

    def make() -> tuple[torch.Tensor, torch.Tensor]:
        images, labels = load_mnist(_mnist_root(ctx), train=train)
        return to_unit_range(images), labels
    return ctx.once(f"mnist_{'train' if train else 'test'}", make)


def _predictions(ctx: EvalContext) -> torch.Tensor:
    from gantool.metrics.judge import predict

    return ctx.once("predictions", lambda: predict(_judge(ctx)[0], _samples(ctx)[0]))


@metric("accuracy", ("cgan",))
def _accuracy(ctx: EvalContext) -> dict[str, Any]:
    images, labels = _samples(ctx)
    correct = _predictions(ctx) == labels
    judge_info = _judge(ctx)[1]
    return {"accuracy": correct.float().mean().item(),
            "per_class": {str(c): correct[labels == c].float().mean().item() for c in range(10)},
            "n": len(labels), "judge_test_accuracy": judge_info["test_accuracy"]}


@metric("coverage", ("cgan", "gan"), applies=_digits)
def _coverage(ctx: EvalContext) -> dict[str, Any]:
    from gantool.metrics.digits import class_coverage

    return class_coverage(_predictions(ctx))


def _judge_distances(ctx: EvalContext) -> dict[str, Any]:
    from gantool.metrics.digits import judge_distances

    def make() -> dict[str, Any]:
        test_images, _ = _mnist(ctx, train=False)
        train_images, _ = _mnist(ctx, train=True)
        generator = torch.Generator().manual_seed(ctx.seed)
        reference = train_images[torch.randperm(len(train_images), generator=generator)[:len(test_images)]]
        return judge_distances(_judge(ctx)[0], _samples(ctx)[0], test_images, reference)
    return ctx.once("judge_distances", make)


@metric("fid", ("cgan", "gan", "pix2pix", "cyclegan", "cut"))
def _fid(ctx: EvalContext) -> dict[str, Any]:
    if ctx.recipe == "gan" and not _digit_model(ctx):
        from gantool.metrics.unconditional import inception_unconditional
        return inception_unconditional(ctx, "fid")
    if ctx.recipe not in ("cgan", "gan"):
        return _inception_translation(ctx, "fid")
    d = _judge_distances(ctx)
    return {"features": d["features"], "fid": d["fid"], "real_floor": d["fid_real_floor"],
            "n_generated": d["n_generated"], "n_real": d["n_real"]}


@metric("kid", ("cgan", "gan", "pix2pix", "cyclegan", "cut"))
def _kid(ctx: EvalContext) -> dict[str, Any]:
    if ctx.recipe == "gan" and not _digit_model(ctx):
        from gantool.metrics.unconditional import inception_unconditional
        return inception_unconditional(ctx, "kid")
    if ctx.recipe not in ("cgan", "gan"):
        return _inception_translation(ctx, "kid")
    d = _judge_distances(ctx)
    return {"features": d["features"], "kid": d["kid"], "kid_std": d["kid_std"], "real_floor": d["kid_real_floor"]}


def _inception(ctx: EvalContext):
    """The Inception extractor, or the reason it is unavailable (a string)."""
    from gantool.metrics.inception import inception_features

    return ctx.once("inception", lambda: inception_features(ctx.inception_weights))


def _unavailable(reason: str) -> dict[str, Any]:
    from gantool.metrics.inception import INCEPTION_FEATURES

    return {"features": INCEPTION_FEATURES, "status": "unavailable", "reason": reason}


def _fid_kid(fake: torch.Tensor, real: torch.Tensor, which: str) -> dict[str, Any]:
    from gantool.metrics.distances import fid, kid

    if which == "fid":
        return {"fid": fid(fake, real), "n_generated": len(fake), "n_real": len(real)}
    # subsets of at most half of the smaller set, so that they differ and the std means something
    mean, std = kid(fake, real, subsets=100, subset_size=max(2, min(1000, len(fake) // 2, len(real) // 2)))
    return {"kid": mean, "kid_std": std, "n_generated": len(fake), "n_real": len(real)}


@metric("inception", ("cgan", "gan"), default=False)
def _inception_digits(ctx: EvalContext) -> dict[str, Any]:
    """Inception FID and KID of digit samples against MNIST test digits (upsampled to 299 px, as
    grayscale copied to RGB): slow on a CPU (about 0.1 s per image), hence not run by default."""
    from gantool.metrics.inception import INCEPTION_FEATURES

    extractor = _inception(ctx)
    if isinstance(extractor, str):
        return _unavailable(extractor)
    n = min(ctx.inception_samples, ctx.n)
    images, _ = _samples(ctx)
    picks = torch.randperm(len(images), generator=torch.Generator().manual_seed(ctx.seed))[:n]
    test_images, _ = _mnist(ctx, train=False)
    fake = _features(extractor, images[picks])
    real = _features(extractor, test_images[:n])
    return {"features": INCEPTION_FEATURES, **_fid_kid(fake, real, "fid"), **_fid_kid(fake, real, "kid")}


def _features(extractor, images: torch.Tensor, batch_size: int = 50) -> torch.Tensor:
    return torch.cat([extractor(images[i:i + batch_size]) for i in range(0, len(images), batch_size)])


def _translation_features(ctx: EvalContext, extractor) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Per direction: Inception features of the translated test inputs and of the real images of
    the target domain (each image at its own size; the extractor resizes to 299 px)."""
    def make() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        from gantool.data.images import load_tensor
        from gantool.translate import load_translator

        if ctx.recipe == "pix2pix":
            direction, translations = _paired_translations(ctx)
            fake = torch.cat([extractor(output) for _, output, _ in translations])
            real = torch.cat([extractor(target) for _, _, target in translations])
            return {direction: (fake, real)}
        if ctx.data is None:
            raise GantoolError(f"FID/KID of a {ctx.recipe} model need test images: pass --data DIR with testA/ and testB/")
        from gantool.data.unpaired import domain_folders, domain_images

        folders = dict(zip("AB", domain_folders(ctx.data, split="test")))
        result = {}
        directions = (("a2b", "A", "B"), ("b2a", "B", "A"))[:1 if ctx.recipe == "cut" else 2]  # CUT: one way
        for direction, source, target in directions:
            translator = load_translator(ctx.checkpoint, ctx.device, direction=direction)
            fake = torch.cat([extractor(translator(load_tensor(path, translator.in_channels)).cpu())
                              for path in domain_images(folders[source], source)])
            real = torch.cat([extractor(load_tensor(path, translator.out_channels))
                              for path in domain_images(folders[target], target)])
            result[direction] = (fake, real)
        return result
    return ctx.once("translation_features", make)


def _inception_translation(ctx: EvalContext, which: str) -> dict[str, Any]:
    from gantool.metrics.inception import INCEPTION_FEATURES

    extractor = _inception(ctx)
    if isinstance(extractor, str):
        return _unavailable(extractor)
    sets = _translation_features(ctx, extractor)
    return {"features": INCEPTION_FEATURES,
            **{direction: _fid_kid(fake, real, which) for direction, (fake, real) in sets.items()}}


@metric("cas", ("cgan",))
def _cas(ctx: EvalContext) -> dict[str, Any]:
    from gantool.metrics.digits import classification_accuracy_score

    images, labels = _samples(ctx)
    test_images, test_labels = _mnist(ctx, train=False)
    score = classification_accuracy_score(images, labels, test_images, test_labels, seed=ctx.seed)
    return {"cas": score, "trained_on": f"{len(images)} generated digits", "tested_on": "MNIST test (10,000)"}


@metric("parzen", ("cgan", "gan"), applies=_digits)
def _parzen(ctx: EvalContext) -> dict[str, Any]:
    """The paper's protocol: sigma chosen on 1,000 validation digits, the MNIST test set scored.
    A model trained on the first N training digits (data.max_images) is validated on the next
    1,000, never trained on, as in the paper's code (N = 50,000); others on 1,000 random ones."""
    from gantool.metrics.parzen import parzen_evaluation

    images, _ = _samples(ctx)
    samples = images[:ctx.parzen_samples]
    train_images, _ = _mnist(ctx, train=True)
    test_images, _ = _mnist(ctx, train=False)
    seen = _trained_on(ctx)
    if 0 < seen < len(train_images):
        validation = train_images[seen:seen + 1000]
        chosen_on = f"MNIST train[{seen}:{seen + len(validation)}] (held out)"
    else:
        generator = torch.Generator().manual_seed(ctx.seed)
        validation = train_images[torch.randperm(len(train_images), generator=generator)[:1000]]
        chosen_on = "1,000 random MNIST training digits"
    return {**parzen_evaluation(samples, validation, test_images).as_dict(), "sigma_chosen_on": chosen_on}


@metric("memorisation", ("cgan", "gan"), applies=_digits)
def _memorisation(ctx: EvalContext) -> dict[str, Any]:
    from gantool.metrics.memorisation import memorisation_grid, memorisation_report
    from gantool.utils import save_image_grid

    images, _ = _samples(ctx)
    train_images, _ = _mnist(ctx, train=True)
    train_images = train_images[:_trained_on(ctx) or len(train_images)]  # the digits the model saw
    test_images, _ = _mnist(ctx, train=False)
    samples = images[torch.randperm(len(images), generator=torch.Generator().manual_seed(ctx.seed))[:1000]]
    report = memorisation_report(samples, train_images, test_images[:1000])
    grid_path = ctx.out_dir / "memorisation.png"
    save_image_grid(memorisation_grid(samples, train_images), grid_path, 6)
    report["grid"] = str(grid_path)
    return report


# ------------------------------------------------------------ image translation
def _paired_translations(ctx: EvalContext) -> tuple[str, list]:
    """(direction, [(file, translation, truth), ...]) of the pix2pix test pairs, translated once
    for the paired scores and the Inception FID/KID."""
    def make() -> tuple[str, list]:
        from gantool.evaluation import translate_pairs
        from gantool.translate import load_translator

        if ctx.data is None:
            raise GantoolError("pix2pix metrics need paired test images: pass --data DIR")
        translator = load_translator(ctx.checkpoint, ctx.device)
        return translator.config.data.direction, list(translate_pairs(translator, ctx.data))
    return ctx.once("paired_translations", make)


@metric("paired", ("pix2pix",))
def _paired(ctx: EvalContext) -> dict[str, Any]:
    from gantool.evaluation import score_pairs

    direction, translations = _paired_translations(ctx)
    result = score_pairs(translations, direction)
    return {"n": result["n"], "direction": result["direction"], "summary": result["summary"]}


@metric("swd", ("cut",))
def _swd(ctx: EvalContext) -> dict[str, Any]:
    from gantool.data.unpaired import domain_folders
    from gantool.evaluation import evaluate_one_way
    from gantool.translate import load_translator

    if ctx.data is None:
        raise GantoolError("the SWD of a cut model needs test images: pass --data DIR with testA/ and testB/")
    folder_a, folder_b = domain_folders(ctx.data, split="test")
    return evaluate_one_way(load_translator(ctx.checkpoint, ctx.device), folder_a, folder_b)["swd_a2b"]


@metric("cycle", ("cyclegan",))
def _cycle(ctx: EvalContext) -> dict[str, Any]:
    from gantool.data.unpaired import domain_folders
    from gantool.evaluation import evaluate_cycle
    from gantool.translate import load_translator

    if ctx.data is None:
        raise GantoolError("CycleGAN metrics need test images: pass --data DIR with testA/ and testB/")
    folder_a, folder_b = domain_folders(ctx.data, split="test")
    result = evaluate_cycle(load_translator(ctx.checkpoint, ctx.device, direction="a2b"),
                            load_translator(ctx.checkpoint, ctx.device, direction="b2a"), folder_a, folder_b)
    return {name: {"n": part["n"], "summary": part["summary"]} for name, part in result.items()}
