"""A package on Spark's executors: shipped once, loaded once per Python worker, predicted in
aligned calls, and its errors kept short.

The driver resolves the model URI, checks the package (manifest, MLmodel), packs it into an
uncompressed tar named by its content hash and hands it to ``SparkContext.addArchive``: Spark
copies it to each executor once and unpacks it there. A ``ShippedModel`` (the archive's name,
the load options) travels inside the UDF; on the executor ``ShippedModel.load`` loads the package
from ``SparkFiles`` the first time a Python worker needs it and keeps it in a module-level cache
keyed by the content hash and the load options, so later tasks and batches in that worker reuse
it (Spark reuses its Python workers).
"""

from __future__ import annotations

import atexit
import copy
import hashlib
import json
import os
import shutil
import tarfile
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modelpack.batch._local import CHUNK_MULTIPLE
from modelpack.errors import (
    InvalidArgument,
    InvalidModel,
    InvalidOutput,
    MissingDependency,
    ModelpackError,
    first_line,
    raised_in_modelpack,
)
from modelpack.format import open_package
from modelpack.format.mlmodel import Model
from modelpack.pyfunc import PyFuncModel, load_model
from modelpack.settings import Settings

__all__ = ["ShippedModel", "predict_rows", "require_pyspark", "ship", "short_error"]

# Loaded models of this Python worker, by ShippedModel.key.
_LOADED: dict[str, PyFuncModel] = {}
# Archives this driver process wrote (content hash -> path) and handed to each SparkContext.
_ARCHIVES: dict[str, Path] = {}
_ADDED: set[tuple[str, str]] = set()
_LOCK = threading.Lock()
_archive_dir: Path | None = None


def require_pyspark() -> None:
    """Refuse at once, saying what to install, when pyspark is missing."""
    try:
        import pyspark  # noqa: F401
    except ImportError as exc:
        raise MissingDependency(
            f"Spark needs the pyspark package and Java 17+: pip install 'modelpack[spark]' ({exc})"
        ) from None


@dataclass(frozen=True)
class ShippedModel:
    """What a UDF carries to the executors to find and load its package (small and picklable)."""

    key: str
    """Content hash of the package and the load options: the worker's cache key."""
    archive: str
    """The archive's file name, which ``SparkFiles.get`` knows it by."""
    settings: Settings
    model_config: Mapping[str, Any] | None = None

    def load(self) -> PyFuncModel:
        """The package loaded in this Python worker (from the cache after the first call)."""
        model = _LOADED.get(self.key)
        if model is None:
            from pyspark import SparkFiles

            path = SparkFiles.get(self.archive)  # the directory Spark unpacked the archive into
            try:
                model = load_model(path, settings=self.settings, model_config=self.model_config)
            except ModelpackError:
                raise
            except Exception as exc:
                if raised_in_modelpack(exc):
                    raise  # a bug of ours: its traceback stays
                # The model's own code (load_context, an unpickled class) refused to load.
                raise InvalidModel(
                    f"the package cannot be loaded: {type(exc).__name__}: {first_line(exc)}"
                ) from exc
            _LOADED[self.key] = model
        return model


def ship(
    spark: Any,
    model_uri: str,
    settings: Settings,
    model_config: Mapping[str, Any] | None = None,
) -> tuple[ShippedModel, Model]:
    """Check the package on the driver and add it to ``spark``'s context (once per content)."""
    try:
        context = spark.sparkContext
    except (AttributeError, NotImplementedError):  # Spark Connect has no SparkContext
        raise InvalidArgument(
            f"{type(spark).__name__} has no SparkContext to ship the package with (Spark "
            "Connect is not supported): use a classic SparkSession"
        ) from None
    package = open_package(model_uri, settings)
    digest = _content_hash(package.path)
    archive = _archive(package.path, digest)
    with _LOCK:
        if (context.applicationId, digest) not in _ADDED:
            context.addArchive(str(archive))
            _ADDED.add((context.applicationId, digest))
    # Secrets stay on the driver: the package is already resolved, workers need no credentials.
    worker_settings = settings.replace(
        auth_token=None, tracking_password=None, tracking_token=None, tracking_username=None
    )
    options = json.dumps(
        [dict(model_config or {}), repr(worker_settings)], sort_keys=True, default=str
    )
    key = hashlib.sha256(f"{digest}\n{options}".encode()).hexdigest()[:32]
    return ShippedModel(key, archive.name, worker_settings, model_config), package.metadata


def _content_hash(root: Path) -> str:
    """sha256 of every file's relative path and bytes, in path order."""
    digest = hashlib.sha256()
    for path in _files(root):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        digest.update(b"\0")
    return digest.hexdigest()


def _files(root: Path) -> list[Path]:
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        found.extend(Path(dirpath) / name for name in filenames if not name.endswith(".pyc"))
    return sorted(found)


def _archive(root: Path, digest: str) -> Path:
    """The package as ``modelpack-<hash>.tar`` in this process's temporary directory."""
    with _LOCK:
        existing = _ARCHIVES.get(digest)
        if existing is not None and existing.is_file():
            return existing
        target = _directory() / f"modelpack-{digest[:24]}.tar"
        partial = target.with_suffix(".partial")
        # Entries are relative names ("MLmodel", "data/model.skops"): Spark refuses "./" entries.
        with tarfile.open(partial, "w") as tar:
            for path in _files(root):
                tar.add(path, arcname=path.relative_to(root).as_posix(), recursive=False)
        os.replace(partial, target)
        _ARCHIVES[digest] = target
        return target


def _directory() -> Path:
    global _archive_dir
    if _archive_dir is None:
        _archive_dir = Path(tempfile.mkdtemp(prefix="modelpack-spark-"))
        atexit.register(shutil.rmtree, _archive_dir, True)
    return _archive_dir


# ---------------------------------------------------------------------------------------------
# on the executors


def predict_rows(model: PyFuncModel, frame: pd.DataFrame, params: Mapping[str, Any] | None) -> Any:
    """``model.predict`` on ``frame``, each row getting the bits the whole table would give it.

    BLAS kernels treat the last rows of a call apart from the rest (their last bit may differ),
    and Spark cuts a table where its partitions and Arrow batches end. A model that is not
    ``batch_exact`` is therefore called with the rows padded (the last row repeated) to a
    multiple of 64, and the padding's answers dropped: every row gets the bits of one call on the
    whole table when that table's row count is a multiple of 64. (Otherwise the table's own last
    few rows may differ in the last bit: in one call they are the short block at the end.)
    """
    rows = len(frame)
    if model.batch_exact or rows % CHUNK_MULTIPLE == 0:
        return _first_rows(model.predict(frame, params), rows, rows)
    padded = -(-rows // CHUNK_MULTIPLE) * CHUNK_MULTIPLE
    filler = frame.iloc[[rows - 1] * (padded - rows)]
    output = model.predict(pd.concat([frame, filler], ignore_index=True), params)
    return _first_rows(output, rows, padded)


def _first_rows(output: Any, rows: int, given: int) -> Any:
    """The first ``rows`` predictions of an output for ``given`` rows: one per row, or an error."""
    if isinstance(output, pd.DataFrame | pd.Series):
        if len(output) == given:
            return output.iloc[:rows].reset_index(drop=True)
    elif isinstance(output, np.ndarray) and output.ndim >= 1 and len(output) == given:
        return output[:rows]
    elif isinstance(output, list) and len(output) == given:
        return output[:rows]
    elif isinstance(output, Mapping) and output:
        lengths = {len(v) if hasattr(v, "__len__") else -1 for v in output.values()}
        if lengths == {given}:
            return {k: v[:rows] for k, v in output.items()}
    size = len(output) if hasattr(output, "__len__") else "a single value"
    raise InvalidOutput(
        f"the model returned {type(output).__name__} of length {size} for {given} rows; a Spark "
        "UDF needs one prediction per input row"
    )


def short_error(exc: ModelpackError) -> ModelpackError:
    """``exc`` without its chain or traceback: Spark hands the driver the worker's traceback as
    text, and this one is then a few lines that end in the one-line message."""
    clone = copy.copy(exc)
    clone.__cause__ = None
    clone.__context__ = None
    clone.__suppress_context__ = True
    return clone.with_traceback(None)
