"""The Gradio page: Translate, Sketch, Generate and Report tabs over models loaded once.

`build_app(models)` returns a `gradio.Blocks` a notebook can `.launch()` or hand to `launch()`
below, which adds the safe defaults: 127.0.0.1, no share link, no analytics or version check, no
server-side rendering process, nothing fetched from outside (Gradio's default theme ships its fonts).
Every call that runs a model goes through Gradio's queue with one call at a time per device, so a
burst of requests waits in line instead of holding many images' activations at once.
"""

from __future__ import annotations

import functools
import html
import os
from pathlib import Path
from typing import Any, Callable, Sequence

from gantool.errors import GantoolError
from gantool.serve import actions
from gantool.serve.actions import Outputs
from gantool.serve.examples import example_inputs
from gantool.serve.models import ServedModel


# The CMP facades label colours as the pix2pix facades data draws them (matplotlib's jet at
# class / 12): the Sketch tab's brush palette for label-map models.
FACADE_LABELS = {
    "background": "#0000df", "facade": "#0028ff", "window": "#0080ff", "door": "#00d4ff", "cornice": "#36ffc1",
    "sill": "#7dff7a", "balcony": "#c1ff36", "blind": "#ffe600", "deco": "#ff9400", "molding": "#ff4700",
    "pillar": "#df0000", "shop": "#800000",
}
SKETCH_BACKGROUND = {"edges": "#ffffff", "labels": FACADE_LABELS["background"], "photo": "#ffffff"}


def import_gradio() -> Any:
    """gradio, with its telemetry off before it is imported (it reads the variable on import and
    on every launch: no analytics, no version check against gradio.app)."""
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    try:
        import gradio
    except ImportError:
        raise GantoolError('the page needs Gradio: pip install -e ".[serve]"') from None
    return gradio


def _page_errors(gr: Any, fn: Callable) -> Callable:
    """Mistakes a user can fix become the page's error message (escaped: Gradio renders it as
    HTML, and a file name is the user's text); the server keeps serving."""

    @functools.wraps(fn)
    def wrapped(*args: Any) -> Any:
        try:
            return fn(*args)
        except GantoolError as err:
            raise gr.Error(html.escape(str(err)), print_exception=False) from None
        except MemoryError:
            raise gr.Error("out of memory: try a smaller image", print_exception=False) from None

    return wrapped


def _upload_path(payload: Any) -> tuple[str | None, str | None]:
    """(path on the server, the name the user gave it) of a raw image payload (the handler runs
    with preprocess=False, so a bad file reaches our checks rather than Gradio's decoder)."""
    if payload is None:
        return None, None
    if isinstance(payload, (str, Path)):
        return str(payload), Path(payload).name
    if isinstance(payload, dict) and payload.get("path"):
        return payload["path"], payload.get("orig_name") or Path(payload["path"]).name
    raise GantoolError("the upload did not arrive as a file: upload the image again")


def build_app(models: Sequence[ServedModel], max_size: int = 2048, outputs: Outputs | None = None,
              max_queue: int = 64, title: str = "gantool") -> Any:
    """A gradio.Blocks page for `models` (from `gantool.serve.load_models`). Uploads larger than
    `max_size` px on a side are refused with a message; at most `max_queue` requests wait."""
    gr = import_gradio()
    if not models:
        raise GantoolError("no model to serve")
    outputs = outputs or Outputs.temporary()
    by_name = {m.name: m for m in models}
    translators = [m for m in models if m.kind == "translate"]
    samplers = [m for m in models if m.kind == "generate"]
    reported = [m for m in models if m.run_dir is not None]
    device_lock = "device:" + ",".join(sorted({str(m.device) for m in models}))
    queued = {"concurrency_limit": 1, "concurrency_id": device_lock}

    def model_of(name: str, kind: str) -> ServedModel:
        if name not in by_name or by_name[name].kind != kind:
            raise GantoolError(f"no {kind} model called {name!r} here; choose one of the list")
        return by_name[name]

    def run_translate(payload, name, direction, dropout, bn_stats):
        path, shown = _upload_path(payload)
        return actions.translate_upload(model_of(name, "translate"), path, outputs, direction, bool(dropout),
                                        bn_stats, max_size, shown)

    def run_sketch(editor, name, direction):
        composite = (editor or {}).get("composite")
        if composite is None:
            raise GantoolError("the canvas is empty: draw something first")
        return actions.translate_upload(model_of(name, "translate"), composite, outputs, direction,
                                        max_size=max_size, name="sketch.png")

    def run_live_sketch(editor, name, direction):
        if (editor or {}).get("composite") is None:  # a stroke still being drawn: keep the last output
            return gr.skip()
        return run_sketch(editor, name, direction)

    def run_generate(name, label, count, seed):
        return actions.generate_grid(model_of(name, "generate"), str(label), int(count), int(seed), outputs)

    def run_interpolate(name, label, steps, pairs, mode, seed):
        return actions.interpolation_strip(model_of(name, "generate"), str(label), int(steps), int(pairs), mode,
                                           int(seed), outputs)

    def run_report(name):
        model = by_name.get(name)
        if model is None:
            raise GantoolError(f"no model called {name!r} here")
        report = actions.training_report(model, outputs)
        from gantool.report import sample_grids

        samples = [(str(p), f"step {int(p.stem.split('_')[1])}") for p in sample_grids(model.run_dir)]
        lines = [f"**{html.escape(model.describe())}**, run folder `{html.escape(str(model.run_dir))}`", ""]
        lines += [f"- step {w['step']}: **{html.escape(w['warning'])}**: {html.escape(w.get('message', ''))}"
                  for w in report.warnings] or ["No training warnings."]
        return "\n".join(lines), [str(p) for p in report.plots], samples, str(report.html)

    def describe(name):
        return f"*{html.escape(by_name[name].describe())}*" if name in by_name else ""

    def directions(name, current):
        found = list(by_name[name].translators) if name in by_name else ["a2b"]
        return gr.update(choices=found, value=current if current in found else found[0])

    def blank_canvas(name):
        from PIL import Image

        model = by_name.get(name)
        size = model.image_size if model else 256
        colour = SKETCH_BACKGROUND[model.input_kind if model else "edges"]
        return {"background": Image.new("RGB", (size, size), colour), "layers": [], "composite": None}

    def classes(name):
        names = list(getattr(by_name[name].sampler, "class_names", [])) if name in by_name else []
        return (gr.update(choices=["all"] + names, value="all", visible=bool(names)),
                gr.update(choices=names, value=names[0] if names else None, visible=bool(names)))

    guard = functools.partial(_page_errors, gr)
    with gr.Blocks(title=title, analytics_enabled=False, delete_cache=(3600, 3600)) as app:
        gr.Markdown(f"# {html.escape(title)}\nModels: " + "; ".join(html.escape(m.describe()) for m in models))
        with gr.Tabs():
            if translators:
                first = translators[0]
                with gr.Tab("Translate", id="translate"):
                    with gr.Row():
                        with gr.Column():
                            t_model = gr.Dropdown([m.name for m in translators], value=first.name, label="Model")
                            t_about = gr.Markdown(describe(first.name))
                            t_input = gr.Image(type="filepath", image_mode=None, sources=["upload", "clipboard"],
                                               label=f"Input image (up to {max_size} px on a side)",
                                               elem_id="translate-input")
                            with gr.Row():
                                every_direction = sorted({d for m in translators for d in m.translators})
                                t_direction = gr.Radio(every_direction, value=next(iter(first.translators)),
                                                       label="Direction")
                                t_bn = gr.Radio(["auto", "running", "batch"], value="auto",
                                                label="Batch-norm statistics (pix2pix)")
                                t_dropout = gr.Checkbox(False, label="Dropout at test time (pix2pix noise)")
                            t_button = gr.Button("Translate", variant="primary", elem_id="translate-button")
                        t_output = gr.Image(type="filepath", format="png", label="Output (the input's size)",
                                            interactive=False, buttons=["download", "fullscreen"],
                                            elem_id="translate-output")
                    examples = [[str(path), m.name, direction] for m in translators
                                for path, direction in example_inputs(m, outputs.examples)]
                    if examples:
                        gr.Examples(examples[:12], [t_input, t_model, t_direction], label="Examples from the models' data")
                    t_model.change(describe, t_model, t_about, queue=False, api_visibility="private")
                    t_model.change(directions, [t_model, t_direction], t_direction, queue=False, api_visibility="private")
                    t_button.click(guard(run_translate), [t_input, t_model, t_direction, t_dropout, t_bn], t_output,
                                   api_name="translate", preprocess=False, **queued)

                sketchable = sorted(translators, key=lambda m: m.input_kind == "photo")
                with gr.Tab("Sketch", id="sketch"):
                    with gr.Row():
                        with gr.Column():
                            s_model = gr.Dropdown([m.name for m in sketchable], value=sketchable[0].name,
                                                  label="Model (edge and label-map models first)")
                            s_about = gr.Markdown(describe(sketchable[0].name))
                            s_direction = gr.Radio(list(sketchable[0].translators),
                                                   value=next(iter(sketchable[0].translators)), label="Direction")
                            s_canvas = gr.Sketchpad(
                                value=blank_canvas(sketchable[0].name), type="filepath", image_mode="RGB",
                                format="png", canvas_size=(sketchable[0].image_size,) * 2, fixed_canvas=True,
                                brush=gr.Brush(default_size=2, colors=["#000000", *FACADE_LABELS.values()],
                                               default_color="#000000", color_mode="defaults"),
                                eraser=gr.Eraser(default_size=8), layers=False,
                                label="Draw: black lines on white (edges), or the label colours (facades)",
                                elem_id="sketch-input")
                            s_button = gr.Button("Translate the sketch", variant="primary", elem_id="sketch-button")
                        s_output = gr.Image(type="filepath", format="png", label="Output", interactive=False,
                                            buttons=["download", "fullscreen"], elem_id="sketch-output")
                    s_model.change(describe, s_model, s_about, queue=False, api_visibility="private")
                    s_model.change(directions, [s_model, s_direction], s_direction, queue=False, api_visibility="private")
                    s_model.change(blank_canvas, s_model, s_canvas, queue=False, api_visibility="private")
                    sketch_fn = guard(run_sketch)
                    s_button.click(sketch_fn, [s_canvas, s_model, s_direction], s_output, api_name="sketch", **queued)
                    s_canvas.input(guard(run_live_sketch), [s_canvas, s_model, s_direction], s_output,
                                   api_visibility="private",
                                   trigger_mode="always_last", show_progress="minimal", **queued)

            if samplers:
                first = samplers[0]
                names = list(getattr(first.sampler, "class_names", []))
                with gr.Tab("Generate", id="generate"):
                    with gr.Row():
                        with gr.Column():
                            g_model = gr.Dropdown([m.name for m in samplers], value=first.name, label="Model")
                            g_about = gr.Markdown(describe(first.name))
                            g_label = gr.Dropdown(["all"] + names, value="all", label="Class ('all': one row each)",
                                                  visible=bool(names))
                            g_count = gr.Slider(1, 64, value=8, step=1, label="Samples (per class with 'all')")
                            g_seed = gr.Number(0, precision=0, label="Seed (same seed, same images)")
                            g_button = gr.Button("Generate", variant="primary", elem_id="generate-button")
                        g_output = gr.Image(type="filepath", format="png", label="Samples", interactive=False,
                                            buttons=["download", "fullscreen"], elem_id="generate-output")
                    gr.Markdown("### Latent interpolation: walks between random codes of one class")
                    with gr.Row():
                        with gr.Column():
                            i_label = gr.Dropdown(names, value=names[0] if names else None, label="Class",
                                                  visible=bool(names))
                            i_steps = gr.Slider(2, 16, value=10, step=1, label="Images along each walk")
                            i_pairs = gr.Slider(1, 4, value=2, step=1, label="Walks")
                            i_mode = gr.Radio(["both", "linear", "slerp"], value="both", label="Interpolation")
                            i_seed = gr.Number(0, precision=0, label="Seed")
                            i_button = gr.Button("Interpolate", elem_id="interpolate-button")
                        i_output = gr.Image(type="filepath", format="png", label="Interpolation strip",
                                            interactive=False, buttons=["download", "fullscreen"],
                                            elem_id="interpolate-output")
                    g_model.change(describe, g_model, g_about, queue=False, api_visibility="private")
                    g_model.change(classes, g_model, [g_label, i_label], queue=False, api_visibility="private")
                    g_button.click(guard(run_generate), [g_model, g_label, g_count, g_seed], g_output,
                                   api_name="generate", **queued)
                    i_button.click(guard(run_interpolate), [g_model, i_label, i_steps, i_pairs, i_mode, i_seed],
                                   i_output, api_name="interpolate", **queued)

            with gr.Tab("Report", id="report"):
                if reported:
                    r_model = gr.Dropdown([m.name for m in reported], value=reported[0].name, label="Run")
                    r_button = gr.Button("Show the training report", elem_id="report-button")
                    r_summary = gr.Markdown()
                    r_plots = gr.Gallery(label="Curves (dashed lines: warnings)", columns=3, height=420,
                                         object_fit="contain", elem_id="report-plots")
                    r_samples = gr.Gallery(label="Samples over time", columns=6, height=260, object_fit="contain")
                    r_file = gr.File(label="report.html (everything in one file)")
                    r_button.click(guard(run_report), r_model, [r_summary, r_plots, r_samples, r_file],
                                   api_name="report", concurrency_limit=1, concurrency_id="report")
                else:
                    gr.Markdown("None of these models comes with its run folder (metrics.jsonl), so there is no "
                                "training report to show. Serve a run folder, or runs/, to see one.")
    app.queue(default_concurrency_limit=1, max_size=max_queue)
    app.gantool_outputs = outputs  # launch() allows Gradio to serve files from here
    return app


def launch(app: Any, host: str = "127.0.0.1", port: int = 7860, block: bool = True, quiet: bool = False,
           max_file_size: str = "200mb") -> Any:
    """Serve `app` with the safe defaults (see the module docstring); `block` False returns at once."""
    outputs = getattr(app, "gantool_outputs", None)
    return app.launch(server_name=host, server_port=port, share=False, inbrowser=False, ssr_mode=False,
                      mcp_server=False, pwa=False, enable_monitoring=False, show_error=False,
                      max_file_size=max_file_size, prevent_thread_lock=not block, quiet=quiet,
                      allowed_paths=[str(outputs.root)] if outputs else None)
