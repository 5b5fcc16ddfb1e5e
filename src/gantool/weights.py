"""Loading saved tensors into networks, with one-line errors when they do not fit.

PyTorch's own report of a mismatched state dict runs to one line per tensor; a user needs to
know that the file does not fit, how badly, and one example. The full list stays available as
the error's details (printed by the CLI under --debug).
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

from torch import Tensor, nn

from gantool.errors import GantoolError


def _shape(tensor: Tensor) -> str:
    return str(list(tensor.shape))


def state_dict_mismatches(module: nn.Module, weights: Mapping[str, Tensor]) -> list[str]:
    """One line per tensor of `weights` that `module` cannot take: wrong shape, missing, unexpected."""
    expected = module.state_dict()
    problems = []
    for key, tensor in weights.items():
        if key not in expected:
            problems.append(f"{key} is in the file but not in the network")
        elif tuple(tensor.shape) != tuple(expected[key].shape):
            problems.append(f"{key} is {_shape(tensor)}, the config makes {_shape(expected[key])}")
    problems += [f"{key} ({_shape(expected[key])}) is missing from the file" for key in expected if key not in weights]
    return problems


def load_weights(module: nn.Module, weights: Mapping[str, Tensor], source: str | Path,
                 what: str = "saved config") -> None:
    """`module.load_state_dict(weights)`, or one GantoolError line naming `source`, the count and
    the first mismatch (all of them in the error's details)."""
    problems = state_dict_mismatches(module, weights)
    if not problems:
        try:
            module.load_state_dict(weights)
            return
        except RuntimeError as err:  # e.g. a tensor of the right shape whose storage cannot be copied
            problems = [line.strip() for line in str(err).splitlines() if line.strip()]
    name = Path(source).name or str(source)
    count = len(problems)
    raise GantoolError(
        f"{name}: {count} tensor{'s' if count != 1 else ''} do{'es' if count == 1 else ''} not fit the {what} "
        f"(e.g. {problems[0]}); the file was changed or is damaged",
        details="\n".join(problems),
    )
