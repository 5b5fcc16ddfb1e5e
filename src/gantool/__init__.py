"""gantool: image-to-image translation and conditional image generation with GANs."""

__version__ = "0.1.0"

import os

# Nothing reaches the network unless the user asks. Importing albumentations (the data transforms)
# otherwise asks PyPI for its newest version on every run: an outbound connection, and behind a
# closed proxy a UserWarning. Every gantool module is imported after this package, so this comes
# first; a value the user set is kept.
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

from gantool.errors import GantoolError  # noqa: E402  (after the environment is set)

__all__ = ["GantoolError", "__version__"]
