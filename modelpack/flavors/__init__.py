"""Flavors: one kind of model each (scikit-learn, XGBoost, PyTorch, plain Python).

``Flavor`` is the contract (``_contract``); the registry (``_registry``) finds flavors through
the ``modelpack.flavors`` entry-point group, modelpack's own included, and loads each only when
it is needed. No flavor module imports its model library at import time. Each flavor module has
``save_model`` and ``load_model`` helpers, as MLflow's ``mlflow.sklearn`` and friends do.
"""

from __future__ import annotations

from modelpack.flavors._contract import (
    Flavor,
    Predictor,
    SavedFlavor,
    load_native_model,
    module_loaded,
    require,
    save_flavor_model,
)
from modelpack.flavors._registry import ENTRY_POINT_GROUP, Registry, registry

__all__ = [
    "ENTRY_POINT_GROUP",
    "Flavor",
    "Predictor",
    "Registry",
    "SavedFlavor",
    "load_native_model",
    "module_loaded",
    "registry",
    "require",
    "save_flavor_model",
]
