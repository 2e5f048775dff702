"""``runs:/`` and ``models:/`` URIs: parsed, looked up in MLflow tracking, fetched.

An ``http(s)://`` tracking URI is spoken to over MLflow's REST API with the standard library (no
mlflow import); any other tracking URI (``sqlite:///mlflow.db``, ``./mlruns``, ``postgresql://...``)
is handed to the mlflow package. Both stores answer the same few questions, so the resolution rules
(MLflow's, spec §8) are written once in :func:`locate`.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from modelpack.errors import InvalidArgument
from modelpack.settings import Settings
from modelpack.uris._stores import MlflowStore, RestStore

__all__ = ["Reference", "Store", "auth_headers", "locate", "parse", "store_for"]

_STAGES = {s.lower(): s for s in ("None", "Staging", "Production", "Archived")}
_RUNS_FORM = "runs:/ URIs look like 'runs:/<run_id>/path/to/model'"
_MODELS_FORM = (
    "models:/ URIs look like 'models:/<name>/<version>', 'models:/<name>/<stage>', "
    "'models:/<name>/latest', 'models:/<name>@<alias>' or 'models:/<model_id>'"
)


@dataclass(frozen=True)
class Reference:
    """A parsed ``runs:/`` or ``models:/`` URI.

    ``kind`` is one of ``run``, ``logged_model``, ``version``, ``stage``, ``latest``, ``alias``;
    ``name`` is the run id, the model id or the registered model's name; ``selector`` the version,
    stage or alias; ``subpath`` the path inside the resolved location.
    """

    kind: str
    name: str
    selector: str = ""
    subpath: str = ""


def parse(uri: str) -> Reference:
    """Split a ``runs:/`` or ``models:/`` URI; a malformed one raises ``InvalidArgument``."""
    scheme, _, rest = uri.partition(":")
    if rest.startswith("//"):
        raise InvalidArgument(
            f"'{scheme}://<profile>/...' (a Databricks profile) is not supported; "
            + (_RUNS_FORM if scheme == "runs" else _MODELS_FORM)
        )
    segments = [s for s in rest.split("/") if s]
    if scheme == "runs":
        if not segments:
            raise InvalidArgument(f"no run id; {_RUNS_FORM}")
        return Reference("run", segments[0], subpath="/".join(segments[1:]))
    if not segments:
        raise InvalidArgument(f"no model name; {_MODELS_FORM}")
    head = segments[0]
    if "@" in head:
        name, _, alias = head.partition("@")
        if not name or not alias:
            raise InvalidArgument(f"an empty name or alias in '{head}'; {_MODELS_FORM}")
        return Reference("alias", name, alias, "/".join(segments[1:]))
    if len(segments) == 1:
        return Reference("logged_model", head)
    suffix, subpath = segments[1], "/".join(segments[2:])
    if suffix.isdigit():
        return Reference("version", head, suffix, subpath)
    if suffix.lower() == "latest":
        return Reference("latest", head, "", subpath)
    if suffix.lower() in _STAGES:
        return Reference("stage", head, _STAGES[suffix.lower()], subpath)
    raise InvalidArgument(
        f"'{suffix}' is not a version number, a stage (None, Staging, Production, Archived) "
        f"or 'latest'; {_MODELS_FORM}"
    )


class Store(Protocol):
    """What resolution needs from MLflow tracking; every lookup raises ModelNotFound on a miss."""

    address: str

    def run(self, run_id: str) -> tuple[str, str]:
        """The run's artifact URI and experiment id."""

    def logged_model(self, model_id: str) -> str:
        """A LoggedModel's artifact URI."""

    def find_logged_model(self, experiment_id: str, name: str, run_id: str) -> str | None:
        """The artifact URI of the LoggedModel ``name`` logged by ``run_id``, if there is one."""

    def version_uri(self, name: str, version: str) -> str:
        """The artifact URI of a registered model version."""

    def latest_version(self, name: str, stage: str | None) -> str:
        """The highest version of ``name`` (in ``stage`` when given)."""

    def alias_version(self, name: str, alias: str) -> str:
        """The version an alias points to."""

    def fetch(self, location: str, dest: Path, max_bytes: int) -> None:
        """Copy the artifact directory at ``location`` into ``dest``."""


def store_for(settings: Settings) -> Store:
    """The store for ``settings.tracking_uri``: REST for http(s), the mlflow package otherwise."""
    uri = settings.tracking_uri
    if not uri:
        raise InvalidArgument(
            "no tracking URI is set: set MODELPACK_TRACKING_URI or MLFLOW_TRACKING_URI to an "
            "MLflow tracking server (http://host:5000) or store (sqlite:///mlflow.db)"
        )
    if urlsplit(uri).scheme in ("http", "https"):
        return RestStore(uri, auth_headers(settings))
    return MlflowStore(uri)


def auth_headers(settings: Settings) -> dict[str, str]:
    """Authorization for the tracking server: a bearer token, else basic auth, else nothing."""
    if settings.tracking_token:
        return {"Authorization": f"Bearer {settings.tracking_token}"}
    if settings.tracking_username and settings.tracking_password:
        pair = f"{settings.tracking_username}:{settings.tracking_password}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}
    return {}


def locate(ref: Reference, store: Store) -> str:
    """The artifact URI of the package directory ``ref`` names (MLflow's rules, spec §8)."""
    if ref.kind == "run":
        artifact_uri, experiment_id = store.run(ref.name)
        first, _, rest = ref.subpath.partition("/")
        # MLflow 3 keeps a run's models as LoggedModels outside the run's artifact directory.
        found = store.find_logged_model(experiment_id, first, ref.name) if first else None
        return _join(found, rest) if found else _join(artifact_uri, ref.subpath)
    if ref.kind == "logged_model":
        return store.logged_model(ref.name)
    if ref.kind == "alias":
        version = store.alias_version(ref.name, ref.selector)
    elif ref.kind in ("stage", "latest"):
        version = store.latest_version(ref.name, ref.selector or None)
    else:
        version = ref.selector
    return _join(store.version_uri(ref.name, version), ref.subpath)


def _join(base: str, subpath: str) -> str:
    # A path to the MLmodel file means the package directory that holds it.
    subpath = re.sub(r"(^|/)MLmodel$", "", subpath.strip("/"))
    return f"{base.rstrip('/')}/{subpath}" if subpath else base
