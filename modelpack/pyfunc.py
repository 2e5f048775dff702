"""The one interface every package loads into, ``PyFuncModel.predict(data, params)``, and the
two calls users start from: ``load_model`` and ``save_model`` (the flavor registry picks the
flavor; the package format does the rest)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from modelpack.errors import ModelpackError, prediction_error
from modelpack.flavors import Flavor, Predictor, registry
from modelpack.flavors.python_model import PythonModel, PythonModelContext
from modelpack.format.mlmodel import Model
from modelpack.format.package import open_package
from modelpack.settings import Settings
from modelpack.signature.schema import ModelSignature, ParamSchema, Schema

__all__ = [
    "PyFuncModel",
    "PythonModel",
    "PythonModelContext",
    "load_model",
    "save_model",
]


class PyFuncModel:
    """A loaded package: signature enforcement in front of the flavor's predictor."""

    def __init__(
        self,
        metadata: Model,
        predictor: Predictor,
        path: Path,
        flavor: Flavor,
        *,
        settings: Settings | None = None,
    ) -> None:
        self.metadata = metadata
        self.path = path
        self.flavor_name = flavor.name
        self._predictor = predictor
        self._flavor = flavor
        # What the package was loaded under: get_raw_model loads again under the same policy.
        self._settings = settings if settings is not None else Settings()
        self.input_schema: Schema | None = metadata.get_input_schema()
        self.params_schema: ParamSchema | None = metadata.get_params_schema()

    def predict(self, data: Any, params: Mapping[str, Any] | None = None) -> Any:
        """Check ``data`` and ``params`` against the signature, then predict.

        Raises ``SignatureMismatch`` or ``InvalidParams`` for input that breaks the signature.
        When prediction raises, the exception becomes the ``__cause__`` of ``PredictionFailed``
        (400: the model's own code refused the input) or of ``InternalError`` (500: modelpack's
        adapter failed, or memory ran out); see ``modelpack.errors.prediction_error``.
        """
        return self.predict_checked(*self.check(data, params))

    def check(
        self, data: Any, params: Mapping[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        """``data`` and ``params`` as the signature makes them (the first half of ``predict``).

        The server checks each request with this before it queues it, so that a bad input is
        its own 400 and never fails a call that merged it with others.
        """
        from modelpack.signature.enforce import enforce_input, enforce_params  # pandas

        if self.input_schema is not None:
            data = enforce_input(data, self.input_schema)
        return data, enforce_params(params, self.params_schema)

    def predict_checked(self, data: Any, params: Mapping[str, Any]) -> Any:
        """The model's answer for input that ``check`` returned (the second half of ``predict``)."""
        try:
            return self._predictor.predict(data, params)
        except ModelpackError:
            raise
        except Exception as exc:
            raise prediction_error(exc) from exc

    @property
    def batch_exact(self) -> bool:
        """Whether requests may be merged into one call without changing a bit of any answer.

        The flavor's predictor says so (``batch_exact``; scikit-learn tree models and XGBoost
        do, models built on matrix products do not); the package's MLmodel ``metadata`` key
        ``batching`` (true or false) overrides it.
        """
        chosen = (self.metadata.metadata or {}).get("batching")
        if isinstance(chosen, bool):
            return chosen
        return bool(getattr(self._predictor, "batch_exact", False))

    def get_raw_model(self) -> object:
        """The flavor's native object (the estimator, booster, module or PythonModel)."""
        conf = self.metadata.flavors.get(self.flavor_name, {})
        return self._flavor.load_native(self.path, conf, self._settings)

    def __repr__(self) -> str:
        return f"PyFuncModel(flavor={self.flavor_name!r}, path='{self.path}')"


def load_model(
    model_uri: str | Path,
    *,
    settings: Settings | None = None,
    model_config: Mapping[str, Any] | None = None,
) -> PyFuncModel:
    """Load any model package (modelpack's or MLflow's) behind ``PyFuncModel``."""
    settings = settings if settings is not None else Settings.from_env()
    pkg = open_package(model_uri, settings)
    flavor = registry().for_package(pkg.metadata.flavors)
    conf, pyfunc_conf = pkg.sections(flavor.name, settings, model_config)
    predictor = flavor.load_predictor(pkg.path, conf, pyfunc_conf, settings)
    return PyFuncModel(pkg.metadata, predictor, pkg.path, flavor, settings=settings)


def save_model(
    model: Any,
    path: str | os.PathLike[str],
    signature: ModelSignature | None = None,
    input_example: Any = None,
    pip_requirements: str | os.PathLike[str] | Sequence[str] | None = None,
    extra_pip_requirements: str | os.PathLike[str] | Sequence[str] | None = None,
    code_paths: Sequence[str | os.PathLike[str]] | None = None,
    metadata: Mapping[str, Any] | None = None,
    flavor: str | None = None,
    **flavor_options: Any,
) -> Model:
    """Save ``model`` as a package at ``path`` and return its MLmodel descriptor.

    The flavor is chosen from the model's type unless ``flavor`` names one; the rest is
    ``modelpack.format.save_package``: without a ``signature``, one is inferred from
    ``input_example`` (inputs, and outputs by running the model on it); the last file written is
    ``MANIFEST.json``, which loading checks; a failed save leaves nothing behind at ``path``.
    """
    from modelpack.format.save import save_package  # pandas, for examples: not needed to load

    chosen = registry().get(flavor) if flavor else registry().for_object(model)
    return save_package(
        chosen,
        model,
        path,
        signature=signature,
        input_example=input_example,
        pip_requirements=pip_requirements,
        extra_pip_requirements=extra_pip_requirements,
        code_paths=code_paths,
        metadata=metadata,
        **flavor_options,
    )
