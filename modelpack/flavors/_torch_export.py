"""torch.export programs: tracing a module when it is saved (``export``), and when it is loaded,
the dtype and shape of its input (``input_spec``) and whether modelpack's own input check covers
torch.export's per-call one (``shape_checked_by_us``, ``drop_input_check``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modelpack.errors import InvalidArgument, first_line
from modelpack.format.examples import example_data

__all__ = ["InputSpec", "drop_input_check", "export", "input_spec", "shape_checked_by_us"]

InputSpec = tuple[str, tuple[int, ...]]
"""dtype name and shape (-1 for a free size) of an exported program's single input."""


def export(torch: Any, module: Any, input_example: Any, file: Path) -> None:
    """Trace ``module`` on the input example with a free batch size and save the program to
    ``file``; an example that cannot be traced is refused in one line (``InvalidArgument``)."""
    data, _ = example_data(input_example) if input_example is not None else (None, None)
    if isinstance(data, pd.DataFrame):
        data = data.to_numpy(dtype=np.float32)  # what the pyfunc view hands the model
    if isinstance(data, np.ndarray):
        data = torch.from_numpy(np.array(data))
    if not isinstance(data, torch.Tensor):
        raise InvalidArgument(
            "serialization_format 'pt2' (the default) traces the model with torch.export, "
            "so it needs input_example=<numpy array or DataFrame of one input batch>; "
            "or choose serialization_format='pickle'"
        )
    if data.ndim and data.shape[0] == 1:
        # torch.export makes a size-1 dimension static; two rows keep the batch size free.
        data = torch.cat([data, data])
    dims = {0: torch.export.Dim.AUTO} if data.ndim else None
    try:
        program = torch.export.export(module, (data,), dynamic_shapes=[dims])
    except Exception as exc:
        raise InvalidArgument(
            f"torch.export could not trace the model with the input example "
            f"({type(exc).__name__}: {first_line(exc)}); "
            "fix the model or choose serialization_format='pickle'"
        ) from exc
    torch.export.save(program, str(file))


def input_spec(program: Any) -> InputSpec | None:
    """dtype and shape (-1 for free sizes) of an exported program's single user input."""
    user_inputs = set(program.graph_signature.user_inputs)
    specs = [
        n.meta.get("val")
        for n in program.graph.nodes
        if n.op == "placeholder" and n.name in user_inputs
    ]
    if len(specs) != 1 or specs[0] is None or not hasattr(specs[0], "shape"):
        return None
    val = specs[0]
    shape = tuple(d if isinstance(d, int) else -1 for d in val.shape)
    return str(val.dtype).removeprefix("torch."), shape


def shape_checked_by_us(program: Any) -> bool:
    """Whether ``_TorchPredictor._check`` (dtype, rank, every fixed size) refuses all that
    torch.export's own per-call input check would: each free size is its own symbol, with no
    upper bound and no lower bound above 2 (torch.export checks a lower bound only above 2, and
    ``Dim.AUTO`` from the two rows ``save_model`` traces with gives ``[2, oo]``)."""
    import math

    import sympy

    user_inputs = set(program.graph_signature.user_inputs)
    node = next(n for n in program.graph.nodes if n.op == "placeholder" and n.name in user_inputs)
    seen: set[Any] = set()
    for size in node.meta["val"].shape:
        if isinstance(size, int):
            continue
        expr = size.node.expr
        if not isinstance(expr, sympy.Symbol) or expr in seen:
            return False  # 2*s, or two sizes that must be equal: torch's check is needed
        seen.add(expr)
        bounds = program.range_constraints.get(expr)
        if bounds is not None and (int(bounds.lower) > 2 or not math.isinf(float(bounds.upper))):
            return False
    return True


def drop_input_check(module: Any) -> None:
    """Remove torch.export's input-constraint pre-hook (~45 of a 1-row call's ~85 us: it walks
    the input's pytree and solves each size against the program's symbols on every call)."""
    hooks = module._forward_pre_hooks
    for key, hook in list(hooks.items()):
        if getattr(hook, "__name__", "") == "_check_input_constraints_pre_hook":
            del hooks[key]
