"""Data read from files that anyone may have written: shown short, measured before use.

A YAML config or a checkpoint is small on disk but may unfold into a structure of any size:
YAML aliases and the pickle memo both let one value be referenced again and again, so a 300-byte
file of nested references is billions of values to anything that walks it (or prints it).
`check_size` measures such data with a walk that stops as soon as a limit is passed, and
`shown` prints a value in a bounded number of characters, whatever it holds.

`refused_for_code` tells torch's safe loader refusing a file that holds Python objects (which
an unsafe load would run) from a file that is merely damaged: the two need different advice.
"""

from __future__ import annotations

import pickle
import pickletools
import re
import reprlib
from pathlib import Path
from typing import Any

from gantool.errors import GantoolError

# A gantool config is a few hundred values, five levels deep at most; a checkpoint's plain data
# (optimizer states, metadata) some thousands. The limits leave a wide margin and keep the
# measuring walk well under a second.
CONFIG_LIMITS = {"max_values": 10_000, "max_depth": 16, "max_chars": 100_000}
CHECKPOINT_LIMITS = {"max_values": 200_000, "max_depth": 32, "max_chars": 10_000_000}

_REPR = reprlib.Repr()
_REPR.maxlevel = 3
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = _REPR.maxfrozenset = _REPR.maxdeque = 4
_REPR.maxstring = _REPR.maxother = 60
_REPR.maxlong = 40


def short(value: Any, limit: int = 120) -> str:
    """A repr of `value` in at most `limit` characters, however large or deep it is."""
    try:
        text = _REPR.repr(value)
    except Exception:  # noqa: BLE001  (e.g. an int past Python's 4,300-digit str limit)
        kind = type(value).__name__
        text = f"<{kind} of {value.bit_length()} bits>" if isinstance(value, int) else f"<{kind}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def shown(value: Any, limit: int = 120) -> str:
    """`value` for an error message: its shortened repr and its type, e.g. "[[1, 2, ...], ...] (list)"."""
    return f"{short(value, limit)} ({type(value).__name__})"


def check_size(value: Any, what: str, max_values: int, max_depth: int, max_chars: int) -> None:
    """Refuse `value` (plain data: dicts, lists, tuples, strings, numbers, tensors as leaves) when
    it holds more than `max_values` values, nests deeper than `max_depth`, or its strings add up
    to more than `max_chars` characters, each shared reference counted wherever it is used. The
    walk stops at the first limit passed, so measuring costs at most `max_values` steps."""
    values = chars = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        values += 1
        if values > max_values:
            raise GantoolError(f"{what} holds more than {max_values:,} values (each repeated reference counted where "
                               "it is used), far more than any gantool config or checkpoint: refused without "
                               "reading further")
        if depth > max_depth:
            raise GantoolError(f"{what} is nested more than {max_depth} levels deep, deeper than any gantool config "
                               "or checkpoint: refused without reading further")
        if isinstance(node, (str, bytes)):
            chars += len(node)
            if chars > max_chars:
                raise GantoolError(f"{what} holds more than {max_chars:,} characters of text (each repeated reference "
                                   "counted where it is used): refused without reading further")
        elif isinstance(node, dict):
            stack.extend((item, depth + 1) for pair in node.items() for item in pair)
        elif isinstance(node, (list, tuple, set, frozenset)):
            stack.extend((item, depth + 1) for item in node)


def refused_for_code(err: BaseException, path: str | Path) -> bool:
    """Whether `err`, raised by `torch.load(path, weights_only=True)`, is torch refusing Python
    objects other than tensors (a class, a function call: what an unsafe load would run), rather
    than a file that is damaged or not a PyTorch file at all."""
    if not isinstance(err, pickle.UnpicklingError) or "Weights only load failed" not in str(err):
        return False
    text = str(err)
    named = re.search(r"GLOBAL (\S+)", text)
    if named:  # a damaged file can name a garbled global: a real one is a dotted Python name
        return all(part.isidentifier() for part in named.group(1).split("."))
    if any(phrase in text for phrase in ("reduce for unrecognized function", "Can only build",
                                          "Can only create new object", "persistent_load")):
        return True
    if "Unsupported operand" in text:  # an opcode torch's loader lacks: a plain pickle, or random bytes
        return _pickle_with_objects(Path(path))
    return False


def _pickle_with_objects(path: Path, limit: int = 1 << 20) -> bool:
    """Whether the file starts with well-formed pickles (read as opcodes only, never run) that
    name a global or call one: random bytes fail to parse long before their end."""
    try:
        with open(path, "rb") as f:
            data = f.read(limit)
    except OSError:
        return False
    risky = {"GLOBAL", "STACK_GLOBAL", "REDUCE", "INST", "OBJ", "NEWOBJ", "NEWOBJ_EX", "BUILD"}
    found, position = False, 0
    try:
        while position < len(data):
            for opcode, _, at in pickletools.genops(data[position:]):
                found = found or opcode.name in risky
                if opcode.name == "STOP":  # the next pickle (torch's old format chains several) starts after it
                    position += at + 1
                    break
            else:
                return False
            if found:
                return True
    except Exception:  # noqa: BLE001  (not a pickle from here on)
        return False
    return found


def unsafe_file_message(path: str | Path, advice: str) -> str:
    """What every loader says of a file that `refused_for_code`: once, and never that an unsafe
    load would work."""
    return (f"{path} holds Python objects other than tensors, which could run code when loaded, so it was refused "
            f"and not opened; {advice}")


def torch_load_reason(err: BaseException) -> str:
    """torch's reason for refusing a file, without the advice around it (which suggests an
    unsafe load): e.g. "Unsupported operand 49", "PytorchStreamReader failed reading zip archive"."""
    text = str(err).strip()
    if "Weights only load failed" in text:
        inner = re.search(r"WeightsUnpickler error:\s*(.*?)(?:\n\s*\n|$)", text, re.S)
        paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()][1:]
        text = inner.group(1) if inner and inner.group(1).strip() else (paragraphs[0] if paragraphs else "")
        text = text.split(" Please use ")[0].strip() or "a pickle that torch's safe loader cannot read"
    first = text.splitlines()[0].strip() if text else type(err).__name__
    first = "".join(c if c.isprintable() else "?" for c in first)  # the file's own bytes may be in it
    return first if len(first) <= 200 else first[:197] + "..."
