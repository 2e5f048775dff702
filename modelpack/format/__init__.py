"""The MLmodel package format: what is on disk, how it is checked, and how its bytes are opened."""

from __future__ import annotations

from modelpack.format.opener import (
    add_code_path,
    import_module,
    load_pickle,
    load_with_mlflow,
    pickled_files,
    pt2_is_pickle_free,
    skops_load,
    torch_export_load,
    torch_jit_load,
    torch_load,
)

__all__: list[str] = [
    "add_code_path",
    "import_module",
    "load_pickle",
    "load_with_mlflow",
    "pickled_files",
    "pt2_is_pickle_free",
    "skops_load",
    "torch_export_load",
    "torch_jit_load",
    "torch_load",
]
