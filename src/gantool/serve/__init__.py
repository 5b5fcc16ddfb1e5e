"""`gantool serve`: a local web page over trained models (Gradio; the `serve` extra).

    from gantool.serve import build_app, launch, load_models
    app = build_app(load_models(["runs/", "pretrained:edges2shoes"]))
    launch(app)                      # http://127.0.0.1:7860; or app.launch() in a notebook

Gradio is imported only by `build_app`, so the models load (and errors show) without it.
"""

from gantool.serve.actions import Outputs, UploadError, read_upload
from gantool.serve.app import build_app, launch
from gantool.serve.models import ServedModel, find_checkpoints, load_models

__all__ = ["build_app", "launch", "load_models", "find_checkpoints", "ServedModel", "Outputs", "UploadError",
           "read_upload"]
