"""Importing ``skops.io`` without its cost: 1.5-3 s of a server's cold start, most of it.

skops trusts scikit-learn's estimators, and numpy's and scipy's ufuncs, by default, and lists them
when ``skops.io`` is imported: ``sklearn.utils.all_estimators()`` imports every scikit-learn
module (pytest too, through ``sklearn.utils._testing``, and torch through scikit-learn's array-API
shim when torch is installed), and each ufunc is looked up in every loaded module. To load one
file, only the types in that file matter. ``skops_for_file`` imports ``skops.io`` with those lists
narrowed to the file's types: each estimator checked to be one the full list holds (a concrete
``BaseEstimator`` subclass that a public scikit-learn module exports under its own name, as
``all_estimators`` finds them), each ufunc looked up as skops looks it up. Every type in the file
is then trusted, or not, exactly as under the full lists (tests/format/test_skops.py compares
them); when that cannot be shown, or ``skops.io`` is imported already, the usual import is used.
The narrowed module is forgotten after the load, so that whatever imports ``skops.io`` next gets
the full lists.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.machinery
import importlib.util
import json
import sys
import zipfile
from collections.abc import Collection, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from modelpack.errors import MissingDependency

__all__ = ["import_skops", "skops_for_file"]

# Module names ``all_estimators`` never walks (scikit-learn's ``_MODULE_TO_IGNORE``, read too).
_IGNORED = frozenset({"tests", "externals", "setup", "conftest", "experimental"})


class _NoTorch:
    """An import hook that makes ``torch`` look absent while it is installed."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)


def import_skops() -> ModuleType:
    """``skops.io`` with its full list of trusted estimators, imported without PyTorch.

    Walking scikit-learn's modules imports its torch array-API shim and with it torch, about 2 s
    and 250 MiB for a model that never touches torch: torch is hidden while skops is first
    imported, unless something imported it already.
    """
    if "skops.io" in sys.modules or "torch" in sys.modules:
        return _require_skops()
    hook = _NoTorch()
    sys.meta_path.insert(0, hook)
    try:
        return _require_skops()
    finally:
        sys.meta_path.remove(hook)


@contextlib.contextmanager
def skops_for_file(file: Path) -> Iterator[ModuleType]:
    """``skops.io`` for loading ``file``: narrowed to its types when that gives the same trust
    (see the module docstring), and forgotten on exit; else the usual module."""
    if "skops.io" in sys.modules:
        yield _require_skops()
        return
    _require_skops_installed()
    names = _types_in(file)
    found = None if names is None else _estimators(names)
    if names is None or found is None:
        yield import_skops()
        return
    estimators, unsure = found
    sio = _narrowed_import(estimators, {f"{m}.{n}" for m, n in names})
    # An estimator not shown to be on the full list is trusted all the same when skops lists it
    # among scikit-learn's internal types (as HistGradientBoosting's _BinMapper); else the usual
    # import decides.
    internal = getattr(getattr(sio, "_trusted_types", None), "SKLEARN_INTERNAL_TYPE_NAMES", ())
    if not unsure <= set(internal):
        _forget_skops_io()
        yield import_skops()
        return
    try:
        yield sio
    finally:
        _forget_skops_io()


def _narrowed_import(estimators: list[tuple[str, type]], wanted: set[str]) -> ModuleType:
    """``skops.io`` imported with its trusted lists narrowed to ``estimators`` and to the ufuncs
    named in ``wanted``."""
    utils: Any = importlib.import_module("sklearn.utils")
    full = utils.all_estimators
    hooks: list[Any] = [_NoTorch(), _NarrowUfuncs(wanted)]
    sys.meta_path[:0] = hooks
    utils.all_estimators = lambda type_filter=None: list(estimators)
    try:
        return importlib.import_module("skops.io")
    except BaseException:
        _forget_skops_io()
        raise
    finally:
        utils.all_estimators = full
        for hook in hooks:
            sys.meta_path.remove(hook)


def _types_in(file: Path) -> set[tuple[str, str]] | None:
    """Every (module, name) ``file``'s schema names, at any depth; None when the file cannot be
    read (skops then says why)."""
    try:
        with zipfile.ZipFile(file) as archive:
            schema = json.loads(archive.read("schema.json"))
    except (OSError, zipfile.BadZipFile, KeyError, ValueError):
        return None
    names: set[tuple[str, str]] = set()
    stack = [schema]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            module, name = item.get("__module__"), item.get("__class__")
            if isinstance(module, str) and isinstance(name, str):
                names.add((module, name))
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return names


def _estimators(
    names: set[tuple[str, str]],
) -> tuple[list[tuple[str, type]], set[str]] | None:
    """The scikit-learn estimators among ``names`` that ``all_estimators`` lists, and the names of
    those it may or may not list; None when one of them cannot be imported (skops says why)."""
    base = importlib.import_module("sklearn.base").BaseEstimator
    ignored = _IGNORED | set(getattr(_discovery(), "_MODULE_TO_IGNORE", ()))
    listed, unsure = [], set()
    for module_name, name in sorted(names):
        if not module_name.startswith("sklearn."):
            continue  # other types are trusted by lists this leaves alone
        try:
            cls = getattr(importlib.import_module(module_name), name, None)
        except ImportError:
            return None
        if not isinstance(cls, type) or not issubclass(cls, base) or _abstract(cls):
            continue  # never on the list: functions, trees' inner objects, mixins
        if _exported(module_name, name, cls, ignored):
            listed.append((name, cls))
        else:
            unsure.add(f"{module_name}.{name}")
    return listed, unsure


def _abstract(cls: type) -> bool:
    return bool(getattr(cls, "__abstractmethods__", None))


def _exported(module_name: str, name: str, cls: type, ignored: Collection[str]) -> bool:
    """Whether ``all_estimators`` finds ``cls``: the public module above its own (its module path
    up to the first private part) exports it under its own name, and that is not BaseEstimator."""
    public: list[str] = []
    for part in module_name.split("."):
        if part.startswith("_"):
            break
        public.append(part)
    if len(public) < 2 or name.startswith("_") or name == "BaseEstimator":
        return False
    if any(part in ignored for part in public):
        return False
    try:
        return getattr(importlib.import_module(".".join(public)), name, None) is cls
    except ImportError:
        return False


class _NarrowUfuncs:
    """An import hook that narrows skops' lists of trusted ufuncs to the names in a file.

    ``skops.io._trusted_types`` lists numpy's and scipy's public ufuncs with
    ``_utils.get_public_type_names``, which looks every one of them up in every loaded module
    (~0.5 s once scikit-learn is loaded). Once ``skops.io._utils`` is executed, its function is
    replaced by one that answers the same for the names in ``wanted`` and leaves the rest out.
    """

    def __init__(self, wanted: set[str]) -> None:
        self.wanted = wanted

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name != "skops.io._utils":
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        run = loader.exec_module
        wanted = self.wanted

        def exec_module(module: ModuleType) -> None:
            run(module)
            module.get_public_type_names = functools.partial(  # type: ignore[attr-defined]
                _public_type_names, module, wanted
            )

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def _public_type_names(
    utils: ModuleType, wanted: set[str], module: ModuleType, oftype: type
) -> list[str]:
    """skops' ``get_public_type_names(module, oftype)``, restricted to ``wanted``: the same test
    for each public object of ``module``, made only for objects whose name ends a wanted one."""
    prefix, _, _ = module.__name__.rpartition(".")
    tails = {name.rpartition(".")[2] for name in wanted}
    out = set()
    for attr in dir(module):
        obj = getattr(module, attr)
        if not issubclass(obj.__class__, oftype) or getattr(obj, "__name__", None) not in tails:
            continue
        type_name = utils.get_type_name(obj)
        if type_name.startswith(prefix) and type_name in wanted:
            out.add(type_name)
    return sorted(out)


def _discovery() -> ModuleType | None:
    try:
        return importlib.import_module("sklearn.utils.discovery")
    except ImportError:
        return None


def _forget_skops_io() -> None:
    """Drop ``skops.io`` and its modules, so that the next import builds them afresh."""
    for name in [n for n in sys.modules if n == "skops.io" or n.startswith("skops.io.")]:
        del sys.modules[name]
    skops = sys.modules.get("skops")
    if skops is not None and "io" in vars(skops):
        delattr(skops, "io")


def _require_skops() -> ModuleType:
    try:
        return importlib.import_module("skops.io")
    except ImportError as exc:
        raise _missing(exc) from None


def _require_skops_installed() -> None:
    if importlib.util.find_spec("skops") is None:
        raise _missing(ModuleNotFoundError("No module named 'skops'"))


def _missing(exc: ImportError) -> MissingDependency:
    return MissingDependency(
        f"flavor 'sklearn' needs the skops package: pip install 'modelpack[sklearn]' ({exc})"
    )
