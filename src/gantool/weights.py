"""Loading saved tensors into networks, with one-line errors when they do not fit.

PyTorch's own report of a mismatched state dict runs to one line per tensor; a user needs to
know that the file does not fit, how badly, and one example. The full list stays available as
the error's details (printed by the CLI under --debug).
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, TypeVar

import torch
from torch import Tensor, nn
from torch.nn.modules.module import (register_module_buffer_registration_hook, register_module_module_registration_hook,
                                     register_module_parameter_registration_hook)
from torch.overrides import TorchFunctionMode

from gantool.errors import GantoolError
from gantool.untrusted import short, shown


def _shape(tensor: Tensor) -> str:
    return str(list(tensor.shape))


def state_dict_mismatches(module: nn.Module, weights: Mapping[str, Tensor]) -> list[str]:
    """One line per tensor of `weights` that `module` cannot take: wrong shape, missing, unexpected."""
    if not isinstance(weights, Mapping):  # a file's weights may be anything
        return [f"the weights are {shown(weights, 60)}, not a mapping of names to tensors"]
    expected = module.state_dict()
    problems = []
    for key, tensor in weights.items():
        if key not in expected:
            problems.append(f"{short(key, 80)} is in the file but not in the network")
        elif not isinstance(tensor, Tensor):
            problems.append(f"{key} is {shown(tensor, 60)}, not a tensor")
        elif tuple(tensor.shape) != tuple(expected[key].shape):
            problems.append(f"{key} is {_shape(tensor)}, the config makes {_shape(expected[key])}")
    problems += [f"{key} ({_shape(expected[key])}) is missing from the file" for key in expected if key not in weights]
    return problems


def load_weights(module: nn.Module, weights: Mapping[str, Tensor], source: str | Path,
                 what: str = "saved config") -> None:
    """`module.load_state_dict(weights)`, or one GantoolError line naming `source`, the count and
    the first mismatch (all of them in the error's details)."""
    check_fits(module, weights, source, what)
    try:
        module.load_state_dict(weights)
    except RuntimeError as err:  # e.g. a tensor of the right shape whose storage cannot be copied
        raise _not_fitting([line.strip() for line in str(err).splitlines() if line.strip()], source, what) from None


def check_fits(module: nn.Module, weights: Mapping[str, Tensor], source: str | Path,
               what: str = "saved config") -> None:
    """The error `load_weights` gives when `weights` do not fit `module`, without loading them."""
    problems = state_dict_mismatches(module, weights)
    if problems:
        raise _not_fitting(problems, source, what)


def _not_fitting(problems: list[str], source: str | Path, what: str) -> GantoolError:
    name = Path(source).name or str(source)
    count = len(problems)
    return GantoolError(
        f"{name}: {count} tensor{'s' if count != 1 else ''} do{'es' if count == 1 else ''} not fit the {what} "
        f"(e.g. {problems[0]}); the file was changed or is damaged",
        details="\n".join(problems),
    )


T = TypeVar("T")

# gantool's largest networks have a few hundred modules; a config that asks for far more (a
# PatchGAN a million layers deep) is refused while it is built, before it takes minutes
# (counted as modules, parameters and buffers registered: at most about 500 in gantool's networks)
MAX_REGISTERED = 10_000


@contextmanager
def _bounded_modules(source: str | Path, limit: int = MAX_REGISTERED) -> Iterator[None]:
    thread, count = threading.get_ident(), [0]

    def counted(*_: object) -> None:
        if threading.get_ident() == thread:  # a page serving other requests builds networks of its own
            count[0] += 1
            if count[0] > limit:
                raise GantoolError(f"{Path(source).name or source}: its config asks for networks of more than "
                                   f"{limit:,} layers and tensors, far more than gantool builds; the file was changed "
                                   "or is damaged")

    handles = [register(counted) for register in (register_module_module_registration_hook,
                                                  register_module_parameter_registration_hook,
                                                  register_module_buffer_registration_hook)]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


# in-place initialisers: on the meta device they change nothing, and some run through Python
# kernels whose first use imports torch's compiler (seconds)
_VALUES_ONLY = frozenset({"normal_", "uniform_", "trunc_normal_", "xavier_normal_", "xavier_uniform_", "kaiming_normal_",
                          "kaiming_uniform_", "orthogonal_", "constant_", "ones_", "zeros_", "eye_", "dirac_", "fill_",
                          "zero_", "copy_", "bernoulli_", "exponential_", "log_normal_", "random_", "clamp_", "mul_",
                          "add_", "sub_", "div_"})


class _ShapesOnly(TorchFunctionMode):
    """Skips operations that only set values, when their target is on the meta device, and makes
    tensors written out as data (a blur kernel's few numbers) on the CPU, where arithmetic on them
    is immediate."""

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        kwargs = kwargs or {}
        if func in (torch.tensor, torch.as_tensor) and kwargs.get("device") is None:
            return func(*args, **{**kwargs, "device": "cpu"})
        target = args[0] if args else kwargs.get("tensor", kwargs.get("input"))
        if isinstance(target, Tensor) and target.is_meta and getattr(func, "__name__", "") in _VALUES_ONLY:
            return target
        return func(*args, **kwargs)


def build_shapes_only(build: Callable[[], T], source: str | Path) -> T:
    """What `build()` returns, built on the meta device: every parameter and buffer has its shape
    and no memory, and nothing is initialised, so a network of any size costs milliseconds. What
    a file's config asks for is refused here, cheaply, when it cannot be built (a size past what
    torch can index) or is far larger than any gantool network."""
    try:
        with torch.device("meta"), _ShapesOnly(), _bounded_modules(source):
            return build()
    except GantoolError:
        raise
    except (RuntimeError, ValueError, OverflowError, MemoryError) as err:  # e.g. a size past what torch can index
        raise GantoolError(f"{Path(source).name or source}: its config asks for networks that cannot be built "
                           f"({str(err)[:200]}); the file was changed or is damaged") from None


def check_fits_first(build: Callable[[], Mapping[str, nn.Module]],
                     saved: Mapping[str, Mapping[str, Tensor] | None], source: str | Path,
                     what: str = "saved config") -> None:
    """Refuse saved tensors that the networks `build()` makes could not take, before anything is
    built for real (`build` runs once on the meta device: `build_shapes_only`). So a file whose
    config asks for a huge network (model.ngf: 2048 beside tensors of ngf 32) is refused in
    milliseconds, where building it first would take minutes and gigabytes. `saved` maps the
    names of `build()`'s modules to their state dicts (None: nothing saved for it, not checked)."""
    modules = build_shapes_only(build, source)
    for key, weights in saved.items():
        if weights is not None and key in modules:
            check_fits(modules[key], weights, source, what)


def check_checkpoint_fits(build_recipe: Callable[[], nn.Module], state: Mapping[str, Any], source: str | Path) -> None:
    """`check_fits_first` for a training checkpoint: the generators, discriminators, auxiliary
    modules and EMA generators of `state` against those of the recipe `build_recipe()` makes."""
    def networks() -> dict[str, nn.Module]:
        recipe = build_recipe()
        return {"generators": recipe.generators, "discriminators": recipe.discriminators,
                "auxiliaries": recipe.auxiliaries, "ema": recipe.generators}

    check_fits_first(networks, {key: state.get(key) for key in ("generators", "discriminators", "auxiliaries", "ema")},
                     source)
