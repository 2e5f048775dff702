"""The one place where a package's bytes become objects by running code.

Unpickling, torch's loaders, skops with types the package asks to trust, importing the package's
own code, and handing a package to MLflow's loaders: each function here checks
``settings.allow_pickle`` itself, right before it loads, so the policy and the load always concern
the same file. Flavors never call those libraries directly (a test walks the source to keep it so).
"""

from __future__ import annotations

import importlib
import inspect
import io
import json
import pickle
import re
import sys
import zipfile
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn

from modelpack.errors import InvalidModel, MissingDependency, PickleRefused, one_line
from modelpack.format._skops import import_skops, skops_for_file
from modelpack.settings import Settings

__all__ = [
    "add_code_path",
    "import_module",
    "import_skops",
    "load_pickle",
    "load_with_mlflow",
    "pickled_files",
    "pt2_is_pickle_free",
    "skops_load",
    "torch_export_load",
    "torch_jit_load",
    "torch_load",
]

_TRUST_HINT = "load it only if you trust its source (set MODELPACK_ALLOW_PICKLE=true)"


def _refuse(subject: Path | str, what: str, advice: str = "") -> NoReturn:
    raise PickleRefused(
        f"{subject} {what}, and MODELPACK_ALLOW_PICKLE is false; {_TRUST_HINT}"
        + (f", or {advice}" if advice else "")
    )


def _refuse_pickle(file: Path) -> NoReturn:
    _refuse(file, "is stored with pickle", "re-save the model in a pickle-free format")


# ---------------------------------------------------------------------------------------------
# pickle


def load_pickle(file: Path, settings: Settings) -> Any:
    """The object pickled (or cloudpickled: its bytes need only the standard unpickler) in
    ``file``."""
    if not settings.allow_pickle:
        _refuse_pickle(file)
    try:
        with open(file, "rb") as fh:
            return pickle.load(fh)
    except (pickle.UnpicklingError, EOFError) as exc:
        raise InvalidModel(f"{file} is not a readable pickle: {one_line(exc)}") from None
    except ModuleNotFoundError as exc:
        raise MissingDependency(
            f"{file} refers to the module {exc.name!r}, which cannot be imported here; install "
            "the packages in the model's requirements.txt"
        ) from None


def import_module(name: str, settings: Settings, *, trusted: Collection[str]) -> ModuleType:
    """A module the package names (the module of a model class it records).

    Modules outside the ``trusted`` top-level packages count as the package's code: with pickle
    off they are refused before anything is imported.
    """
    if name.split(".")[0] not in trusted and not settings.allow_pickle:
        _refuse(
            f"the module {name!r} named by the package",
            f"is not part of {sorted(trusted)}, so importing it may run the package's code",
        )
    return importlib.import_module(name)


# ---------------------------------------------------------------------------------------------
# PyTorch


def torch_load(
    file: Path, settings: Settings, *, pickle_module: str = "pickle", map_location: str = "cpu"
) -> Any:
    """A pickled object saved with ``torch.save`` (``weights_only=False``: any class).

    ``pickle_module`` is the module the file was saved with; a module that is not installed
    makes an ``InvalidModel``.
    """
    if not settings.allow_pickle:
        _refuse_pickle(file)
    import torch

    if pickle_module == "pickle":
        module: ModuleType = pickle
    else:
        try:
            module = importlib.import_module(pickle_module)
        except ImportError as exc:
            raise InvalidModel(
                f"{file} was saved with the pickle module {pickle_module!r}, which cannot be "
                f"imported: {exc}"
            ) from None
    return torch.load(file, map_location=map_location, pickle_module=module, weights_only=False)


def torch_jit_load(file: Path, settings: Settings, *, map_location: str = "cpu") -> Any:
    """A TorchScript module (its archive holds pickles and code)."""
    if not settings.allow_pickle:
        _refuse_pickle(file)
    import warnings

    import torch

    with warnings.catch_warnings():
        # torch deprecates TorchScript; loading an existing one is still right.
        warnings.simplefilter("ignore", DeprecationWarning)
        return torch.jit.load(str(file), map_location=map_location)


def torch_export_load(file: Path, settings: Settings) -> Any:
    """A ``torch.export`` program; with pickle off, only from an archive that needs no
    unrestricted unpickling (``pt2_is_pickle_free``)."""
    if not settings.allow_pickle and not pt2_is_pickle_free(file):
        _refuse_pickle(file)
    import torch

    return torch.export.load(str(file))


# pt2 records that are safe without unpickling: short text metadata and raw tensor bytes.
_TEXT_RECORDS = {"version", "archive_format", "archive_version", "byteorder", "serialization_id"}
_TEXT_CONTENT = re.compile(rb"[A-Za-z0-9._-]{1,64}\n?")
_PAYLOAD_CONFIG = re.compile(r"(?:^|/)data/(?:weights|constants)/[^/]+_config\.json$")


def pt2_is_pickle_free(file: Path) -> bool:
    """True when loading the archive unpickles nothing beyond what ``weights_only`` allows.

    ``torch.export.load`` unpickles (unrestricted) weights marked ``use_pickle``, custom objects
    and, as a fallback, sample inputs; an archive written by ``torch.export.save`` for plain
    tensors holds none of those. Each other record is read here with ``weights_only=True``.
    """
    import torch

    try:
        archive = zipfile.ZipFile(file)
    except (OSError, zipfile.BadZipFile):
        return False
    with archive:
        names = [i.filename for i in archive.infolist() if not i.is_dir()]
        raw: set[str] = set()
        for name in names:
            if not _PAYLOAD_CONFIG.search(name):
                continue
            folder = name.rsplit("/", 1)[0]
            try:
                config = json.loads(archive.read(name)).get("config", {})
            except (ValueError, AttributeError):
                return False
            for meta in config.values():
                if isinstance(meta, dict) and meta.get("use_pickle") is False:
                    raw.add(f"{folder}/{meta.get('path_name')}")
        for name in names:
            if name in raw:
                continue
            content = archive.read(name)
            if name.rsplit("/", 1)[-1] in _TEXT_RECORDS and _TEXT_CONTENT.fullmatch(content):
                continue
            if _is_json(content):
                continue
            try:
                torch.load(io.BytesIO(content), map_location="cpu", weights_only=True)
            except Exception:
                return False
    return True


def _is_json(content: bytes) -> bool:
    try:
        json.loads(content)
    except ValueError:
        return False
    return True


# ---------------------------------------------------------------------------------------------
# skops


def skops_load(file: Path, settings: Settings, trusted: Sequence[str]) -> Any:
    """An object from a skops file.

    Types outside skops' built-in safe list load only when listed in ``trusted`` (the package's
    ``skops_trusted_types``), and only with pickle allowed: a package cannot whitelist arbitrary
    types for itself when it is not trusted.
    """
    with skops_for_file(file) as sio:  # skops.io, imported for this file at a fraction of the cost
        try:
            untrusted = list(sio.get_untrusted_types(file=file))
        except (OSError, zipfile.BadZipFile, KeyError, ValueError) as exc:
            raise InvalidModel(f"{file} is not a readable skops file: {one_line(exc)}") from None
        if not settings.allow_pickle:
            if untrusted:
                _refuse(
                    file,
                    f"holds types outside skops' built-in safe list: {untrusted} (the package's "
                    "skops_trusted_types are not trusted when pickle is off)",
                )
            return sio.load(file, trusted=None)
        refused = [t for t in untrusted if t not in trusted]
        if refused:
            raise InvalidModel(
                f"{file} holds types that are not trusted: {refused}; list them in "
                "the sklearn flavor's skops_trusted_types if you trust this package"
            )
        return sio.load(file, trusted=list(trusted) or None)


# ---------------------------------------------------------------------------------------------
# the package's own code


def add_code_path(code_dir: Path, settings: Settings) -> None:
    """Put the package's ``code/`` first on ``sys.path``, where unpickling finds its modules."""
    if not settings.allow_pickle:
        # Code put first on sys.path can shadow any library the model imports: as much a way
        # to run the package's code as unpickling is.
        _refuse(code_dir, "holds Python code that loading would import")
    entry = str(code_dir)
    if entry not in sys.path:
        sys.path.insert(0, entry)


def load_with_mlflow(
    loader_module: str,
    data: Path,
    settings: Settings,
    model_config: Mapping[str, Any] | None,
    *,
    mlflow_version: str | None = None,
) -> Any:
    """What MLflow's ``loader_module._load_pyfunc`` makes of ``data``.

    MLflow's loaders unpickle the model (``python_model.pkl``) or import its code
    (models-from-code, ``code/``) as they see fit, so with pickle off the package is refused
    before mlflow or the loader is imported.
    """
    if not settings.allow_pickle:
        _refuse(
            data,
            f"holds a model that MLflow's loader {loader_module!r} loads by unpickling it or by "
            "importing its code",
        )
    try:
        importlib.import_module("mlflow.pyfunc")
        module = importlib.import_module(loader_module)
    except ImportError as exc:
        pin = f"mlflow=={mlflow_version}" if mlflow_version else "mlflow"
        raise MissingDependency(
            f"this package holds a Python model saved by MLflow (loader_module "
            f"{loader_module!r}): its pickle refers to mlflow's PythonModel classes, so loading "
            f"it needs the mlflow package: pip install '{pin}' ({exc})"
        ) from None
    load = getattr(module, "_load_pyfunc", None)
    if not callable(load):
        raise InvalidModel(f"the loader_module {loader_module!r} has no _load_pyfunc()")
    if "model_config" in inspect.signature(load).parameters:
        return load(str(data), dict(model_config) if model_config else None)
    return load(str(data))


# ---------------------------------------------------------------------------------------------
# what a package holds, for display


_PICKLE_PROTOCOLS = {2, 3, 4, 5}


def pickled_files(path: Path) -> list[str]:
    """Files in the package whose content is pickle, read without loading them (for display:
    the loaders above decide for themselves).

    Found by content, not by name: a pickle of protocol 2 or later, a zip archive with a
    ``.pkl`` record (``torch.save``, TorchScript), a ``torch.export`` archive that is not
    pickle-free. Protocol 0 and 1 pickles (text) are not recognized.
    """
    found = []
    for file in sorted(p for p in path.rglob("*") if p.is_file() and not p.is_symlink()):
        with open(file, "rb") as fh:
            head = fh.read(2)
        if len(head) == 2 and head[0] == 0x80 and head[1] in _PICKLE_PROTOCOLS:
            found.append(file.relative_to(path).as_posix())
        elif head == b"PK" and _zip_holds_pickle(file):
            found.append(file.relative_to(path).as_posix())
    return found


def _zip_holds_pickle(file: Path) -> bool:
    try:
        with zipfile.ZipFile(file) as archive:
            names = archive.namelist()
    except (OSError, zipfile.BadZipFile):
        return False
    if any(n.endswith(".pkl") for n in names):
        return True
    if any(n.rsplit("/", 1)[-1] == "archive_format" for n in names):
        try:
            return not pt2_is_pickle_free(file)
        except ImportError:
            return True  # without torch the archive cannot be checked: the cautious answer
    return False
