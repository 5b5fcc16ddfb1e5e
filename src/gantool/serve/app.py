"""The Gradio page over models loaded once: what its controls do (`Page`), `build_app` and `launch`.

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


def _upload_path(payload: Any, uploads: Path) -> tuple[Path | None, str | None]:
    """(file in the upload folder `uploads`, the name the user gave it) of a raw image payload (the
    handler runs with preprocess=False, so a bad file reaches our checks rather than Gradio's
    decoder). Anything but a file that Gradio's upload route received is refused with one message."""
    if payload is None:
        return None, None
    if isinstance(payload, dict) and isinstance(payload.get("path"), str):
        path, name = payload["path"], payload.get("orig_name")
    elif isinstance(payload, str):
        path, name = payload, None
    else:
        raise actions.UploadError(actions.NOT_RECEIVED)
    received = actions.received_upload(path, uploads)
    return received, name if isinstance(name, str) and name else received.name


class Page:
    """The page's models and what its buttons do; every handler raises GantoolError for a
    mistake the user can fix (`_page_errors` turns it into the page's message)."""

    def __init__(self, gr: Any, models: Sequence[ServedModel], max_size: int, outputs: Outputs,
                 examples: Sequence[Path] = ()) -> None:
        self.gr, self.models, self.max_size, self.outputs = gr, list(models), max_size, outputs
        self.examples = list(examples)  # input images for the Translate tab, in the page's own folder
        # where Gradio's upload route writes (GRADIO_TEMP_DIR, else TMP/gradio): the only files opened
        self.uploads = Path(gr.utils.get_upload_folder())
        self.by_name = {m.name: m for m in models}
        self.translators = [m for m in models if m.kind == "translate"]
        self.samplers = [m for m in models if m.kind == "generate"]
        self.reported = [m for m in models if m.run_dir is not None]
        # one model call at a time per device: Gradio's queue holds the rest
        lock = "device:" + ",".join(sorted({str(m.device) for m in models}))
        self.queued = {"concurrency_limit": 1, "concurrency_id": lock}

    def guard(self, fn: Callable) -> Callable:
        return _page_errors(self.gr, fn)

    def model_of(self, name: str, kind: str) -> ServedModel:
        if name not in self.by_name or self.by_name[name].kind != kind:
            raise GantoolError(f"no {kind} model called {name!r} here; choose one of the list")
        return self.by_name[name]

    def translate(self, payload: Any, name: str, direction: str, dropout: bool, bn_stats: str) -> Path:
        path, shown = _upload_path(payload, self.uploads)
        return actions.translate_upload(self.model_of(name, "translate"), path, self.outputs, direction,
                                        bool(dropout), bn_stats, self.max_size, shown)

    def sketch(self, editor: dict | None, name: str, direction: str) -> Path:
        composite = (editor or {}).get("composite")
        if composite is None:
            raise GantoolError("the canvas is empty: draw something first")
        # Gradio's preprocessing wrote the drawing into its upload folder; check it all the same
        path, _ = _upload_path(composite, self.uploads)
        return actions.translate_upload(self.model_of(name, "translate"), path, self.outputs, direction,
                                        max_size=self.max_size, name="sketch.png")

    def live_sketch(self, editor: dict | None, name: str, direction: str) -> Any:
        if (editor or {}).get("composite") is None:  # a stroke still being drawn: keep the last output
            return self.gr.skip()
        return self.sketch(editor, name, direction)

    def generate(self, name: str, label: str, count: float, seed: float) -> Path:
        return actions.generate_grid(self.model_of(name, "generate"), str(label), int(count), seed, self.outputs)

    def interpolate(self, name: str, label: str, steps: float, pairs: float, mode: str, seed: float) -> Path:
        return actions.interpolation_strip(self.model_of(name, "generate"), str(label), int(steps), int(pairs), mode,
                                           seed, self.outputs)

    def report(self, name: str) -> tuple[str, list[str], list[tuple[str, str]], str]:
        from gantool.report import sample_grids

        model = self.by_name.get(name)
        if model is None:
            raise GantoolError(f"no model called {name!r} here")
        report = actions.training_report(model, self.outputs)
        samples = [(str(p), f"step {int(p.stem.split('_')[1])}") for p in sample_grids(model.run_dir)]
        lines = [f"**{html.escape(model.describe())}**, run folder `{html.escape(str(model.run_dir))}`", ""]
        lines += [f"- step {w['step']}: **{html.escape(w['warning'])}**: {html.escape(w.get('message', ''))}"
                  for w in report.warnings] or ["No training warnings."]
        return "\n".join(lines), [str(p) for p in report.plots], samples, str(report.html)

    # what changes when another model is chosen
    def describe(self, name: str) -> str:
        return f"*{html.escape(self.by_name[name].describe())}*" if name in self.by_name else ""

    def directions(self, name: str, current: str) -> Any:
        found = list(self.by_name[name].translators) if name in self.by_name else ["a2b"]
        return self.gr.update(choices=found, value=current if current in found else found[0])

    def blank_canvas(self, name: str) -> dict:
        from PIL import Image

        model = self.by_name.get(name)
        size = model.image_size if model else 256
        colour = SKETCH_BACKGROUND[model.input_kind if model else "edges"]
        return {"background": Image.new("RGB", (size, size), colour), "layers": [], "composite": None}

    def classes(self, name: str) -> tuple[Any, Any]:
        names = list(getattr(self.by_name[name].sampler, "class_names", [])) if name in self.by_name else []
        return (self.gr.update(choices=["all"] + names, value="all", visible=bool(names)),
                self.gr.update(choices=names, value=names[0] if names else None, visible=bool(names)))


def build_app(models: Sequence[ServedModel], max_size: int = 2048, outputs: Outputs | None = None,
              max_queue: int = 64, title: str = "gantool", examples: str | Path | Sequence[Path] | None = None) -> Any:
    """A gradio.Blocks page for `models` (from `gantool.serve.load_models`). Uploads larger than
    `max_size` px on a side are refused with a message; at most `max_queue` requests wait.
    `examples`: a folder (see `gantool.serve.examples.find_examples`) or image files whose copies
    the Translate tab offers; none by default (a checkpoint's data folders are never read)."""
    from gantool.serve import tabs
    from gantool.serve.examples import copy_examples, find_examples

    gr = import_gradio()
    if not models:
        raise GantoolError("no model to serve")
    outputs = outputs or Outputs.temporary()
    if isinstance(examples, (str, Path)):
        examples = find_examples(examples)
    page = Page(gr, models, max_size, outputs, copy_examples(examples or [], outputs.examples))
    with gr.Blocks(title=title, analytics_enabled=False, delete_cache=(3600, 3600)) as app:
        gr.Markdown(f"# {html.escape(title)}\nModels: " + "; ".join(html.escape(m.describe()) for m in models))
        with gr.Tabs():
            if page.translators:
                tabs.translate_tab(page)
                tabs.sketch_tab(page)
            if page.samplers:
                tabs.generate_tab(page)
            tabs.report_tab(page)
    app.queue(default_concurrency_limit=1, max_size=max_queue)
    app.gantool_outputs = page.outputs  # launch() lets Gradio serve files from here
    return app


def check_port(host: str, port: int) -> None:
    """An error now, before models load, when `host:port` cannot be listened on."""
    import socket

    try:
        with socket.create_server((host, port)):
            pass
    except OSError as err:
        reason = os.strerror(err.errno) if err.errno else str(err)
        raise GantoolError(f"cannot listen on {host}:{port} ({reason}): another server has the port, "
                           "or the address is not this machine's; choose another --port or --host") from None


def launch(app: Any, host: str = "127.0.0.1", port: int = 7860, block: bool = True, quiet: bool = False,
           max_file_size: str = "200mb") -> Any:
    """Serve `app` with the safe defaults (see the module docstring); `block` False returns at once."""
    check_port(host, port)
    outputs = getattr(app, "gantool_outputs", None)
    return app.launch(server_name=host, server_port=port, share=False, inbrowser=False, ssr_mode=False,
                      mcp_server=False, pwa=False, enable_monitoring=False, show_error=False, run_history=False,
                      max_file_size=max_file_size, prevent_thread_lock=not block, quiet=quiet,
                      allowed_paths=[str(outputs.root)] if outputs else None)
