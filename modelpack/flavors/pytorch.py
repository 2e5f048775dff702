"""PyTorch modules: exported with torch.export (``pt2``, the default), pickled, or TorchScript.

The layout is MLflow's: ``data/model.pt2``, or ``data/model.pth`` with
``data/pickle_module_info.txt``. MLflow records no format in MLmodel; the file name tells.
"""

from __future__ import annotations

import os
import types
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from modelpack.errors import (
    InvalidArgument,
    InvalidModel,
    InvalidOutput,
    InvalidParams,
    SignatureMismatch,
    first_line,
    shape_text,
)
from modelpack.flavors._contract import (
    SavedFlavor,
    load_native_model,
    module_loaded,
    require,
    save_flavor_model,
)
from modelpack.flavors._torch_export import (
    InputSpec,
    drop_input_check,
    export,
    input_spec,
    shape_checked_by_us,
)
from modelpack.flavors._torch_files import is_torchscript, zip_pickle_modules
from modelpack.format.opener import torch_export_load, torch_jit_load, torch_load
from modelpack.settings import Settings

__all__ = ["FORMATS", "PyTorchFlavor", "load_model", "save_model"]

FORMATS = ("pt2", "pickle", "torchscript")
DATA_DIR = "data"
PT2_FILE = "model.pt2"
PICKLE_FILE = "model.pth"
PICKLE_MODULE_INFO = "pickle_module_info.txt"
# The name MLflow writes, so that mlflow.pytorch loads our pickles. The bytes are cloudpickle's,
# exactly what MLflow's module produces; loading needs only the standard unpickler.
MLFLOW_PICKLE_MODULE = "mlflow.pytorch.pickle_module"
_CLOUDPICKLE_NAMES = {MLFLOW_PICKLE_MODULE, "cloudpickle", "pickle"}

"""dtype name and shape (-1 for free sizes) of an exported model's input."""


class PyTorchFlavor:
    name: ClassVar[str] = "pytorch"
    priority: ClassVar[int] = 40

    def can_save(self, obj: object) -> bool:
        nn = module_loaded("torch.nn")
        return nn is not None and isinstance(obj, nn.Module)

    def save(
        self,
        obj: object,
        path: Path,
        serialization_format: str | None = None,
        input_example: Any = None,
        **_: Any,
    ) -> SavedFlavor:
        torch = require("torch", self.name)
        scripted = isinstance(obj, torch.jit.ScriptModule)
        fmt = serialization_format or ("torchscript" if scripted else "pt2")
        if fmt not in FORMATS:
            raise InvalidArgument(
                f"serialization_format must be one of {list(FORMATS)}, got {fmt!r}"
            )
        if scripted and fmt == "pt2":
            raise InvalidArgument(
                "a TorchScript module cannot be exported as pt2: save it with "
                "serialization_format='torchscript', or export the original nn.Module"
            )
        if fmt == "torchscript" and not scripted:
            raise InvalidArgument(
                "serialization_format 'torchscript' needs a torch.jit.ScriptModule "
                "(torch.jit.script(model))"
            )
        fmt = "torchscript" if scripted else fmt  # MLflow's "pickle" of a ScriptModule
        data = path / DATA_DIR
        data.mkdir()
        requirements = ["torch"]
        modules = {type(obj).__module__}
        if fmt == "pt2":
            export(torch, obj, input_example, data / PT2_FILE)
        else:
            (data / PICKLE_MODULE_INFO).write_text(MLFLOW_PICKLE_MODULE, encoding="utf-8")
            if fmt == "torchscript":
                with warnings.catch_warnings():
                    # torch deprecates TorchScript; saving one on request is still right.
                    warnings.simplefilter("ignore", DeprecationWarning)
                    torch.jit.save(obj, str(data / PICKLE_FILE))
            else:
                torch.save(obj, data / PICKLE_FILE, pickle_module=_cloudpickle_module())
                modules |= zip_pickle_modules(data / PICKLE_FILE)
                requirements.append("cloudpickle")
        conf = {
            "model_data": DATA_DIR,
            "pytorch_version": str(torch.__version__),
            "code": None,
            "serialization_format": fmt,
        }
        pyfunc = {
            "loader_module": "mlflow.pytorch",
            "data": DATA_DIR,
            "pickle_module_name": MLFLOW_PICKLE_MODULE,
            "config": {"device": None},
        }
        return SavedFlavor(conf, pyfunc, requirements, modules)

    def load_native(self, path: Path, conf: Mapping[str, Any], settings: Settings) -> object:
        return _load(path / str(conf.get("model_data") or DATA_DIR), "cpu", settings)[0]

    def load_predictor(
        self,
        path: Path,
        conf: Mapping[str, Any],
        pyfunc_conf: Mapping[str, Any],
        settings: Settings,
    ) -> _TorchPredictor:
        torch = require("torch", self.name)
        config = pyfunc_conf.get("config") or {}
        options = settings.flavor_options
        device = _device(torch, str(config.get("device") or options.get("torch_device") or "cpu"))
        threads = torch_threads(settings)
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        model, exported = _load(path / str(conf.get("model_data") or DATA_DIR), device, settings)
        return _TorchPredictor(model, device, exported)


def torch_threads(settings: Settings) -> int:
    """Intra-op threads for one model: the setting, else this process's CPUs / workers."""
    raw = settings.flavor_options.get("torch_threads", "").strip()
    if raw:
        try:
            return max(1, int(raw))
        except ValueError:
            raise InvalidArgument(
                f"MODELPACK_TORCH_THREADS: expected an integer, got {raw!r}"
            ) from None
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cpus or 1) // max(1, settings.workers))


def _device(torch: Any, name: str) -> str:
    """``name`` if torch can place a model there; a one-line error instead of a CUDA trace."""
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError) as exc:
        raise InvalidArgument(f"torch device {name!r}: {first_line(exc)}") from None
    if device.type == "cuda" and (
        not torch.cuda.is_available() or (device.index or 0) >= torch.cuda.device_count()
    ):
        raise InvalidArgument(
            f"torch device {name!r} (from model_config or MODELPACK_TORCH_DEVICE) is not "
            f"available here: {torch.cuda.device_count()} CUDA device(s) visible"
        )
    return name


# ---------------------------------------------------------------------------------------------
# saving


def _cloudpickle_module() -> types.ModuleType:
    """What ``torch.save`` needs from a pickle module (``Pickler``, ``dump``), with cloudpickle's
    Pickler (as MLflow). Loading goes through ``modelpack.format.opener.torch_load``."""
    import cloudpickle

    module = types.ModuleType(MLFLOW_PICKLE_MODULE)
    module.Pickler = cloudpickle.CloudPickler  # type: ignore[attr-defined]
    module.dump = cloudpickle.dump  # type: ignore[attr-defined]
    return module


# ---------------------------------------------------------------------------------------------
# loading


def _load(data: Path, device: str, settings: Settings) -> tuple[Any, InputSpec | None]:
    """The module on ``device``, and for pt2 the dtype and shape of its input."""
    torch = require("torch", PyTorchFlavor.name)
    pth, pt2 = data / PICKLE_FILE, data / PT2_FILE
    if pth.is_file():
        if is_torchscript(pth):
            model = torch_jit_load(pth, settings)
        else:
            model = torch_load(pth, settings, pickle_module=_pickle_module_name(data))
        if not isinstance(model, torch.nn.Module):
            raise InvalidModel(f"{pth} holds a {type(model).__name__}, not a torch.nn.Module")
        model.eval()
        return (model.to(device) if device != "cpu" else model), None
    if pt2.is_file():
        program = torch_export_load(pt2, settings)
        if torch.device(device).type != "cpu":
            from torch.export.passes import move_to_device_pass

            program = move_to_device_pass(program, device)
        module, spec = program.module(), input_spec(program)
        if spec is not None and shape_checked_by_us(program):
            drop_input_check(module)
        return module, spec
    raise InvalidModel(f"{data} holds neither {PICKLE_FILE} nor {PT2_FILE}")


def _pickle_module_name(data: Path) -> str:
    info = data / PICKLE_MODULE_INFO
    name = info.read_text(encoding="utf-8").strip() if info.is_file() else "pickle"
    # cloudpickle's bytes load with the standard unpickler; no mlflow needed.
    return "pickle" if name in _CLOUDPICKLE_NAMES else name


class _TorchPredictor:
    """MLflow's pyfunc view: DataFrame -> float32 tensor, arrays keep their dtype, no_grad."""

    def __init__(self, model: Any, device: str, exported: InputSpec | None) -> None:
        self._torch = require("torch", PyTorchFlavor.name)
        self._model = model
        self._device = device
        self._exported = exported

    def predict(self, data: Any, params: Mapping[str, Any] | None = None) -> Any:
        if params and "device" in params:
            raise InvalidParams(
                "'device' is chosen when the model loads (model_config={'device': ...} or "
                "MODELPACK_TORCH_DEVICE), not per request"
            )
        if isinstance(data, pd.DataFrame):
            array = _frame_to_float32(data)
        elif isinstance(data, np.ndarray):
            if data.dtype.kind not in "biuf":
                raise SignatureMismatch(
                    f"the PyTorch model takes a numeric array, got dtype {data.dtype}"
                )
            array = data
        else:
            raise SignatureMismatch(
                f"the PyTorch model takes a DataFrame or a numpy array, got {type(data).__name__}"
            )
        self._check(array)
        if not array.flags.writeable or any(s < 0 for s in array.strides):
            array = array.copy()  # torch shares memory with the array and needs it writable
        torch = self._torch
        with torch.no_grad():
            out = self._model(torch.from_numpy(array).to(self._device), **(params or {}))
        if not isinstance(out, torch.Tensor):
            raise InvalidOutput(
                f"the PyTorch model returned a {type(out).__name__}, expected one tensor"
            )
        result = out.detach().cpu().numpy()
        if isinstance(data, pd.DataFrame):
            return pd.DataFrame(result, index=data.index)
        return result

    def _check(self, array: np.ndarray) -> None:
        if self._exported is None:
            return
        dtype, shape = self._exported
        if array.ndim != len(shape) or any(
            e != -1 and e != a for e, a in zip(shape, array.shape, strict=False)
        ):
            raise SignatureMismatch(
                f"the PyTorch model expects input of shape {shape_text(shape)}, "
                f"got {shape_text(array.shape)}"
            )
        if str(array.dtype) != dtype:
            raise SignatureMismatch(f"the PyTorch model expects {dtype} input, got {array.dtype}")


def _frame_to_float32(df: pd.DataFrame) -> np.ndarray:
    try:
        return df.to_numpy(dtype=np.float32)
    except (TypeError, ValueError):
        for col in df.columns:
            try:
                df[col].to_numpy(dtype=np.float32)
            except (TypeError, ValueError):
                value = next(v for v in df[col] if not _is_number(v))
                raise SignatureMismatch(
                    f"column '{col}': the PyTorch model takes numbers (as float32), "
                    f"got {type(value).__name__} {str(value)[:40]!r}",
                    column=str(col),
                ) from None
        raise


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def save_model(pytorch_model: object, path: str | Path, **kwargs: Any) -> Any:
    """``modelpack.save_model`` with the pytorch flavor.

    ``serialization_format``: ``"pt2"`` (default; needs ``input_example``), ``"pickle"``, or
    ``"torchscript"`` (the default for a ``torch.jit.ScriptModule``). A tensor input example
    is turned into a numpy array, so that it can be written as ``input_example.json``.
    """
    example = kwargs.get("input_example")
    if example is not None and hasattr(example, "detach") and hasattr(example, "numpy"):
        kwargs["input_example"] = example.detach().cpu().numpy()
    return save_flavor_model(PyTorchFlavor(), pytorch_model, path, **kwargs)


def load_model(model_uri: str | Path, *, settings: Settings | None = None) -> object:
    """The ``torch.nn.Module`` itself (on the CPU), from a package saved by modelpack or MLflow."""
    return load_native_model(PyTorchFlavor(), model_uri, settings)
