"""The layout of the page's tabs, each wired to what `Page` does. Called inside `gr.Blocks`.

Model calls are queued one at a time per device (`page.queued`); what only updates the page
when another model is chosen runs outside the queue and is not part of the HTTP API.
"""

from __future__ import annotations

from typing import Any

from gantool.serve.actions import MAX_SEED
from gantool.serve.app import FACADE_LABELS, Page

PRIVATE = {"queue": False, "api_visibility": "private"}
OUTPUT = {"type": "filepath", "format": "png", "interactive": False, "buttons": ["download", "fullscreen"]}


def _model_choice(page: Page, models: list, label: str = "Model") -> tuple[Any, Any]:
    """A model dropdown and the line that describes the chosen model."""
    gr = page.gr
    choice = gr.Dropdown([m.name for m in models], value=models[0].name, label=label)
    about = gr.Markdown(page.describe(models[0].name))
    choice.change(page.describe, choice, about, **PRIVATE)
    return choice, about


def translate_tab(page: Page) -> None:
    gr, first = page.gr, page.translators[0]
    with gr.Tab("Translate", id="translate"):
        with gr.Row():
            with gr.Column():
                model, _ = _model_choice(page, page.translators)
                image = gr.Image(type="filepath", image_mode=None, sources=["upload", "clipboard"],
                                 label=f"Input image (up to {page.max_size} px on a side)", elem_id="translate-input")
                with gr.Row():
                    every_direction = sorted({d for m in page.translators for d in m.translators})
                    direction = gr.Radio(every_direction, value=next(iter(first.translators)), label="Direction")
                    bn_stats = gr.Radio(["auto", "running", "batch"], value="auto",
                                        label="Batch-norm statistics (pix2pix)")
                    dropout = gr.Checkbox(False, label="Dropout at test time (pix2pix noise)")
                button = gr.Button("Translate", variant="primary", elem_id="translate-button")
            output = gr.Image(label="Output (the input's size)", elem_id="translate-output", **OUTPUT)
        if page.examples:  # from `--examples DIR` only: never from a folder a checkpoint names
            gr.Examples([[str(path)] for path in page.examples], [image], label="Examples")
        model.change(page.directions, [model, direction], direction, **PRIVATE)
        # preprocess=False: the raw upload reaches our checks (a clear message) instead of Gradio's decoder
        button.click(page.guard(page.translate), [image, model, direction, dropout, bn_stats], output,
                     api_name="translate", preprocess=False, **page.queued)


def sketch_tab(page: Page) -> None:
    gr = page.gr
    models = sorted(page.translators, key=lambda m: m.input_kind == "photo")  # edges and label maps first
    with gr.Tab("Sketch", id="sketch"):
        with gr.Row():
            with gr.Column():
                model, _ = _model_choice(page, models, "Model (edge and label-map models first)")
                direction = gr.Radio(list(models[0].translators), value=next(iter(models[0].translators)),
                                     label="Direction")
                canvas = gr.Sketchpad(
                    value=page.blank_canvas(models[0].name), type="filepath", image_mode="RGB", format="png",
                    canvas_size=(models[0].image_size,) * 2, fixed_canvas=True, layers=False,
                    brush=gr.Brush(default_size=2, colors=["#000000", *FACADE_LABELS.values()],
                                   default_color="#000000", color_mode="defaults"),
                    eraser=gr.Eraser(default_size=8), elem_id="sketch-input",
                    label="Draw: black lines on white (edges), or the label colours (facades)")
                button = gr.Button("Translate the sketch", variant="primary", elem_id="sketch-button")
            output = gr.Image(label="Output", elem_id="sketch-output", **OUTPUT)
        model.change(page.directions, [model, direction], direction, **PRIVATE)
        model.change(page.blank_canvas, model, canvas, **PRIVATE)
        inputs = [canvas, model, direction]
        button.click(page.guard(page.sketch), inputs, output, api_name="sketch", **page.queued)
        canvas.input(page.guard(page.live_sketch), inputs, output, api_visibility="private",
                     trigger_mode="always_last", show_progress="minimal", **page.queued)


def generate_tab(page: Page) -> None:
    gr = page.gr
    names = list(getattr(page.samplers[0].sampler, "class_names", []))  # none: an unconditional model
    with gr.Tab("Generate", id="generate"):
        with gr.Row():
            with gr.Column():
                model, _ = _model_choice(page, page.samplers)
                # the choices follow the chosen model in the page; the API may name any model's class
                # (the page's action checks it against that model), so custom values pass the dropdown
                label = gr.Dropdown(["all"] + names, value="all", label="Class ('all': one row each)",
                                    visible=bool(names), allow_custom_value=True)
                count = gr.Slider(1, 64, value=8, step=1, label="Samples (per class with 'all')")
                seed = gr.Number(0, precision=0, minimum=0, maximum=MAX_SEED,
                                 label=f"Seed (0 to {MAX_SEED}; same seed, same images)")
                button = gr.Button("Generate", variant="primary", elem_id="generate-button")
            output = gr.Image(label="Samples", elem_id="generate-output", **OUTPUT)
        gr.Markdown("### Latent interpolation: walks between random codes of one class")
        with gr.Row():
            with gr.Column():
                walk_label = gr.Dropdown(names, value=names[0] if names else None, label="Class", visible=bool(names),
                                         allow_custom_value=True)
                steps = gr.Slider(2, 16, value=10, step=1, label="Images along each walk")
                pairs = gr.Slider(1, 4, value=2, step=1, label="Walks")
                mode = gr.Radio(["both", "linear", "slerp"], value="both", label="Interpolation")
                walk_seed = gr.Number(0, precision=0, minimum=0, maximum=MAX_SEED, label=f"Seed (0 to {MAX_SEED})")
                walk_button = gr.Button("Interpolate", elem_id="interpolate-button")
            strip = gr.Image(label="Interpolation strip", elem_id="interpolate-output", **OUTPUT)
        model.change(page.classes, model, [label, walk_label], **PRIVATE)
        button.click(page.guard(page.generate), [model, label, count, seed], output, api_name="generate",
                     **page.queued)
        walk_button.click(page.guard(page.interpolate), [model, walk_label, steps, pairs, mode, walk_seed], strip,
                          api_name="interpolate", **page.queued)


def report_tab(page: Page) -> None:
    gr = page.gr
    with gr.Tab("Report", id="report"):
        if not page.reported:
            gr.Markdown("None of these models comes with its run folder (metrics.jsonl), so there is no training "
                        "report to show. Serve a run folder, or runs/, to see one.")
            return
        run = gr.Dropdown([m.name for m in page.reported], value=page.reported[0].name, label="Run")
        button = gr.Button("Show the training report", elem_id="report-button")
        summary = gr.Markdown()
        plots = gr.Gallery(label="Curves (dashed lines: warnings)", columns=3, height=420, object_fit="contain",
                           elem_id="report-plots")
        samples = gr.Gallery(label="Samples over time", columns=6, height=260, object_fit="contain")
        page_file = gr.File(label="report.html (everything in one file)")
        # plots are drawn on the CPU apart from the models: their own queue
        button.click(page.guard(page.report), run, [summary, plots, samples, page_file], api_name="report",
                     concurrency_limit=1, concurrency_id="report")
