"""The MLmodel descriptor: read, write, and keep every key, known or not."""

from __future__ import annotations

import datetime as _dt
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from modelpack.errors import InvalidModel, ModelNotFound, one_line
from modelpack.signature.schema import ModelSignature, ParamSchema, Schema

__all__ = ["MLMODEL_FILE", "PYFUNC", "Model"]

MLMODEL_FILE = "MLmodel"
PYFUNC = "python_function"

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class Model:
    """An ``MLmodel`` file as an object.

    Known keys are attributes (``flavors``, ``signature``, ``run_id``, ...); unknown keys are kept
    in ``extra`` and written back unchanged, so a file written by any MLflow version round-trips.
    """

    def __init__(
        self,
        *,
        flavors: Mapping[str, Mapping[str, Any]] | None = None,
        signature: ModelSignature | None = None,
        saved_input_example_info: Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
        utc_time_created: str | None = None,
        model_uuid: str | None = None,
        **extra: Any,
    ) -> None:
        self.flavors: dict[str, dict[str, Any]] = {k: dict(v) for k, v in (flavors or {}).items()}
        self.signature = signature
        self.saved_input_example_info = (
            dict(saved_input_example_info) if saved_input_example_info else None
        )
        self.metadata = dict(metadata) if metadata else None
        self.utc_time_created: str | None = utc_time_created or str(
            _dt.datetime.now(_dt.timezone.utc).replace(tzinfo=None)
        )
        self.model_uuid: str | None = model_uuid or uuid.uuid4().hex
        self.extra: dict[str, Any] = dict(extra)
        self._raw_signature: dict[str, Any] | None = None
        self._loaded_signature: ModelSignature | None = None

    def __getattr__(self, name: str) -> Any:
        # Only called for names not found normally: expose unknown MLmodel keys as attributes.
        extra = self.__dict__.get("extra", {})
        if name in extra:
            return extra[name]
        if name in ("run_id", "artifact_path", "model_id", "mlflow_version", "modelpack_version"):
            return None
        raise AttributeError(name)

    # -- reading -------------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | Path) -> Model:
        """Read ``path`` (a package directory, its MLmodel file, or a model URI)."""
        from modelpack.uris import resolve

        local = resolve(str(path))
        file = local / MLMODEL_FILE if local.is_dir() else local
        if not file.is_file():
            raise ModelNotFound(
                f"no {MLMODEL_FILE} file at {file}: '{path}' is not a model package"
            )
        try:
            data = yaml.load(file.read_text(encoding="utf-8"), Loader=_Loader)
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise InvalidModel(
                f"{file} is not a readable YAML file: {one_line(exc, None)}"
            ) from None
        if not isinstance(data, dict):
            raise InvalidModel(f"{file} does not hold a YAML mapping")
        return cls.from_dict(data, where=str(file))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = MLMODEL_FILE) -> Model:
        data = dict(data)
        flavors = data.pop("flavors", None)
        if not isinstance(flavors, dict) or not all(isinstance(v, dict) for v in flavors.values()):
            raise InvalidModel(f"{where}: 'flavors' must be a mapping of flavor name to settings")
        raw_sig = data.pop("signature", None)
        signature = None
        if raw_sig is not None:
            if not isinstance(raw_sig, dict):
                raise InvalidModel(f"{where}: 'signature' must be a mapping")
            try:
                signature = ModelSignature.from_dict(raw_sig)
            except (ValueError, TypeError, KeyError) as exc:
                raise InvalidModel(f"{where}: invalid signature: {one_line(exc, None)}") from None
        model = cls(
            flavors=flavors,
            signature=signature,
            saved_input_example_info=data.pop("saved_input_example_info", None),
            metadata=data.pop("metadata", None),
            **{str(k): v for k, v in data.items() if k not in ("utc_time_created", "model_uuid")},
        )
        # Keep what the file says, even nothing: 1.x files lack model_uuid.
        model.utc_time_created = data.get("utc_time_created")
        model.model_uuid = data.get("model_uuid")
        model._raw_signature = raw_sig
        model._loaded_signature = signature
        return model

    # -- writing -------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = dict(self.extra)
        d["flavors"] = self.flavors
        if self.utc_time_created is not None:
            d["utc_time_created"] = self.utc_time_created
        if self.model_uuid is not None:
            d["model_uuid"] = self.model_uuid
        if self.signature is not None:
            unchanged = self._raw_signature is not None and self.signature is self._loaded_signature
            d["signature"] = self._raw_signature if unchanged else self.signature.to_dict()
        if self.saved_input_example_info is not None:
            d["saved_input_example_info"] = self.saved_input_example_info
        if self.metadata is not None:
            d["metadata"] = self.metadata
        return d

    def to_yaml(self) -> str:
        return yaml.dump(self.to_dict(), Dumper=_Dumper, default_flow_style=False, sort_keys=True)

    def save(self, path: str | Path) -> None:
        """Write the MLmodel file (``path`` is the package directory or the file itself)."""
        target = Path(path)
        if target.is_dir():
            target = target / MLMODEL_FILE
        target.write_text(self.to_yaml(), encoding="utf-8")

    # -- helpers -------------------------------------------------------------------------------

    def add_flavor(self, name: str, **conf: Any) -> Model:
        self.flavors[name] = dict(conf)
        return self

    def get_input_schema(self) -> Schema | None:
        return self.signature.inputs if self.signature is not None else None

    def get_output_schema(self) -> Schema | None:
        return self.signature.outputs if self.signature is not None else None

    def get_params_schema(self) -> ParamSchema | None:
        return self.signature.params if self.signature is not None else None

    def __repr__(self) -> str:
        return f"Model(flavors={sorted(self.flavors)}, signature={self.signature is not None})"
