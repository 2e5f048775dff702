"""``save_package``: one call that writes a complete, self-describing package with a flavor."""

from __future__ import annotations

import logging
import os
import platform
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelpack._version import __version__
from modelpack.errors import InvalidArgument, SchemaError
from modelpack.format.environment import (
    BASE_REQUIREMENTS,
    distributions_for_modules,
    resolve_requirements,
    write_environment,
)
from modelpack.format.examples import example_data, write_example
from modelpack.format.manifest import write_manifest
from modelpack.format.mlmodel import PYFUNC, Model
from modelpack.settings import Settings
from modelpack.signature.enforce import enforce_input
from modelpack.signature.infer import infer_params_schema, infer_schema
from modelpack.signature.schema import ModelSignature

if TYPE_CHECKING:  # the flavor contract is the layer above; saving only calls its methods
    from modelpack.flavors import Flavor, SavedFlavor

__all__ = ["CODE_DIR", "save_package"]

_log = logging.getLogger(__name__)
CODE_DIR = "code"


def save_package(
    flavor: Flavor,
    model: Any,
    path: str | os.PathLike[str],
    signature: ModelSignature | None = None,
    input_example: Any = None,
    pip_requirements: str | os.PathLike[str] | Sequence[str] | None = None,
    extra_pip_requirements: str | os.PathLike[str] | Sequence[str] | None = None,
    code_paths: Sequence[str | os.PathLike[str]] | None = None,
    metadata: Mapping[str, Any] | None = None,
    **flavor_options: Any,
) -> Model:
    """Save ``model`` with ``flavor`` as a package at ``path``; its MLmodel descriptor.

    Without a ``signature``, one is inferred from ``input_example`` (inputs, and outputs by
    running the model on it). The last file written is ``MANIFEST.json``: the size and sha256 of
    every other file, which loading checks. A failed save leaves nothing behind at ``path``.
    """
    target = Path(path)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise InvalidArgument(f"'{target}' already exists and is not an empty directory")
    created = not target.exists()
    target.mkdir(parents=True, exist_ok=True)
    try:
        return _save(
            flavor,
            model,
            target,
            signature,
            input_example,
            pip_requirements,
            extra_pip_requirements,
            code_paths,
            metadata,
            flavor_options,
        )
    except BaseException:
        if created:
            shutil.rmtree(target, ignore_errors=True)
        else:
            for child in target.iterdir():
                shutil.rmtree(child) if child.is_dir() else child.unlink()
        raise


def _save(
    flavor: Flavor,
    model: Any,
    path: Path,
    signature: ModelSignature | None,
    input_example: Any,
    pip_requirements: Any,
    extra_pip_requirements: Any,
    code_paths: Sequence[Any] | None,
    metadata: Mapping[str, Any] | None,
    options: dict[str, Any],
) -> Model:
    code = _copy_code(path, code_paths) if code_paths else None
    if input_example is not None:
        options.setdefault("input_example", input_example)
    saved = flavor.save(model, path, **options)
    mlmodel = Model(metadata=metadata, modelpack_version=__version__)
    if input_example is not None:
        mlmodel.saved_input_example_info = write_example(path, input_example)
    pyfunc = {
        **saved.pyfunc,
        "env": {"conda": "conda.yaml", "virtualenv": "python_env.yaml"},
        "python_version": platform.python_version(),
    }
    if code:
        pyfunc["code"] = code
        saved.conf["code"] = code
    mlmodel.flavors = {PYFUNC: pyfunc, flavor.name: saved.conf}
    mlmodel.signature = _signature(flavor, saved, path, pyfunc, signature, input_example)
    mlmodel.extra["model_size_bytes"] = _dir_size(path)
    requirements, constraints = resolve_requirements(
        _inferred(saved), pip_requirements, extra_pip_requirements
    )
    write_environment(path, requirements, constraints)
    mlmodel.save(path)
    # Last: the manifest lists every file above, MLmodel included.
    write_manifest(path)
    return mlmodel


def _inferred(saved: SavedFlavor) -> set[str]:
    return (
        set(BASE_REQUIREMENTS) | set(saved.requirements) | distributions_for_modules(saved.modules)
    )


def _copy_code(path: Path, code_paths: Sequence[Any]) -> str:
    dest = path / CODE_DIR
    dest.mkdir()
    for item in code_paths:
        src = Path(item)
        if not src.exists():
            raise InvalidArgument(f"code path not found: {src}")
        if src.is_dir():
            shutil.copytree(src, dest / src.name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, dest / src.name)
    return CODE_DIR


def _signature(
    flavor: Flavor,
    saved: SavedFlavor,
    path: Path,
    pyfunc: dict[str, Any],
    signature: ModelSignature | None,
    input_example: Any,
) -> ModelSignature | None:
    if input_example is None:
        return signature
    data, params = example_data(input_example)
    if signature is not None:
        if signature.inputs is not None:
            try:
                enforce_input(data, signature.inputs)
            except SchemaError as exc:
                raise SchemaError(
                    f"the input example does not match the signature: {exc}"
                ) from None
        return signature
    inputs = infer_schema(data)
    outputs = None
    try:
        predictor = flavor.load_predictor(path, saved.conf, pyfunc, Settings())
        outputs = infer_schema(predictor.predict(data, dict(params or {})))
    except Exception as exc:  # inferring outputs is best effort, as in MLflow
        _log.warning("could not infer the output schema from the input example: %s", exc)
    return ModelSignature(inputs, outputs, infer_params_schema(params) if params else None)


def _dir_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
