"""Which modules a serialized model refers to, read from the file without loading it."""

from __future__ import annotations

import json
import pickletools
import zipfile
from pathlib import Path
from typing import Any

__all__ = ["pickle_modules", "skops_modules"]


def pickle_modules(path: Path) -> set[str]:
    """Top-level modules named by the GLOBAL and STACK_GLOBAL opcodes of a pickle file."""
    modules: set[str] = set()
    strings: list[str] = []
    memo: dict[int, Any] = {}
    with open(path, "rb") as fh:
        try:
            for op, arg, _pos in pickletools.genops(fh):
                name = op.name
                if name == "GLOBAL" and isinstance(arg, str):
                    modules.add(arg.split(" ", 1)[0].split(".")[0])
                elif name in ("SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE"):
                    strings.append(str(arg))
                elif name == "MEMOIZE":
                    memo[len(memo)] = strings[-1] if strings else None
                elif name in ("BINPUT", "LONG_BINPUT", "PUT") and isinstance(arg, int):
                    memo[arg] = strings[-1] if strings else None
                elif name in ("BINGET", "LONG_BINGET", "GET") and isinstance(arg, int):
                    value = memo.get(arg)
                    if isinstance(value, str):
                        strings.append(value)
                elif name == "STACK_GLOBAL" and len(strings) >= 2:
                    modules.add(strings[-2].split(".")[0])
                if name not in (
                    "SHORT_BINUNICODE",
                    "BINUNICODE",
                    "BINUNICODE8",
                    "UNICODE",
                    "MEMOIZE",
                    "BINPUT",
                    "LONG_BINPUT",
                    "PUT",
                    "BINGET",
                    "LONG_BINGET",
                    "GET",
                ):
                    # Only strings pushed right before (possibly memoized) can name a module.
                    strings.clear()
        except ValueError:
            pass  # trailing data after STOP, or a truncated file: what was read still counts
    return modules


def skops_modules(path: Path) -> set[str]:
    """Top-level modules of every type recorded in a skops file's schema."""
    modules: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            module = node.get("__module__")
            if isinstance(module, str):
                modules.add(module.split(".")[0])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    with zipfile.ZipFile(path) as zf:
        walk(json.loads(zf.read("schema.json")))
    return modules
