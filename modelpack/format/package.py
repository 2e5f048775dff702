"""Opening a package for loading: the policies every way of loading shares, once.

``open_package`` resolves the URI, checks the files against the manifest (before any byte of the
model is read) and reads MLmodel. ``Package.sections`` then gives a flavor its MLmodel section and
the ``python_function`` one (with the caller's ``model_config`` merged in), and puts the package's
``code/`` on ``sys.path`` (refused when pickle is off, see ``opener``). Which flavor loads the
package is decided above this layer: by the flavor registry (``modelpack.load_model``) or by the
flavor itself (``modelpack.flavors.sklearn.load_model``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelpack.errors import InvalidModel
from modelpack.format.integrity import verify_package
from modelpack.format.mlmodel import PYFUNC, Model
from modelpack.format.opener import add_code_path
from modelpack.settings import Settings
from modelpack.uris import resolve

__all__ = ["Package", "open_package"]


@dataclass
class Package:
    """A resolved, verified package and its MLmodel descriptor."""

    path: Path
    metadata: Model
    uri: str

    def sections(
        self,
        flavor_name: str,
        settings: Settings,
        model_config: Mapping[str, Any] | None = None,
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The flavor's MLmodel section and the ``python_function`` section (``config`` holds
        the package's model_config updated with ``model_config``); puts ``code/`` on sys.path.

        A flavor the package does not name gets an empty section (MLflow's custom models have
        only ``python_function``)."""
        conf = dict(self.metadata.flavors.get(flavor_name) or {})
        pyfunc_conf = dict(self.metadata.flavors.get(PYFUNC) or {})
        pyfunc_conf["config"] = {**(pyfunc_conf.get("config") or {}), **(model_config or {})}
        code = pyfunc_conf.get("code") or conf.get("code")
        if code:
            add_code_path(self.path / str(code), settings)  # refused when pickle is off
        return conf, pyfunc_conf

    def require(self, flavor_name: str) -> None:
        """Refuse a package that does not name ``flavor_name`` under ``flavors:``."""
        if flavor_name not in self.metadata.flavors:
            raise InvalidModel(
                f"'{self.uri}' has no {flavor_name} flavor "
                f"(flavors: {sorted(self.metadata.flavors)})"
            )


def open_package(model_uri: str | Path, settings: Settings) -> Package:
    """Resolve ``model_uri``, check its files against the manifest, read MLmodel.

    The pickle policy is not applied here: each load in ``opener`` applies it to the file it
    opens.
    """
    path = resolve(str(model_uri), settings)
    if path.is_file():
        path = path.parent
    verify_package(path, settings)  # before any byte of the package is read for the model
    return Package(path, Model.load(path), str(model_uri))
