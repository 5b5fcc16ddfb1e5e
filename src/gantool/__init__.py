"""gantool: image-to-image translation and conditional image generation with GANs."""

__version__ = "0.1.0"

from gantool.errors import GantoolError

__all__ = ["GantoolError", "__version__"]
