"""Networks as plain nn.Modules, registered by name.

Every registered network has `example_inputs(batch_size)`, which returns arguments its forward
accepts, so tests can build and run each one without knowing its signature.
"""

from gantool.networks.registry import DISCRIMINATORS, GENERATORS
from gantool.networks import conditional, patchgan, resnet, unconditional, unet  # noqa: F401  (register their networks)

__all__ = ["DISCRIMINATORS", "GENERATORS"]
