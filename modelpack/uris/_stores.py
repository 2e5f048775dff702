"""The two MLflow tracking stores: REST over HTTP (stdlib only) and the mlflow package.

:class:`RestStore` speaks to an ``http(s)://`` tracking server, artifacts included (through its
artifact proxy, ``mlflow-artifacts:/``, or an object store); :class:`MlflowStore` hands database
and local stores to the mlflow package. Both answer the questions of ``_tracking.Store`` and turn
a miss into ``ModelNotFound`` carrying the store's own message.
"""

from __future__ import annotations

import json
import posixpath
import urllib.error
import urllib.request
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn, TypeVar
from urllib.parse import quote, urlencode, urlsplit

from modelpack.errors import (
    AccessDenied,
    InvalidArgument,
    MissingDependency,
    ModelNotFound,
    RemoteError,
)
from modelpack.uris._archives import safe_join
from modelpack.uris._downloads import (
    OBJECT_STORE_PACKAGES,
    TIMEOUT,
    Progress,
    address,
    fetch_tree,
    http_error,
    open_url,
    save,
    store_error,
)

__all__ = ["MlflowStore", "RestStore"]

T = TypeVar("T")
_PROXY_ROUTE = "/api/2.0/mlflow-artifacts/artifacts"
_MAX_FILES = 100_000


class RestStore:
    """MLflow tracking over its REST API (``<tracking>/api/2.0/mlflow/...``), stdlib only."""

    def __init__(self, base: str, headers: dict[str, str]) -> None:
        self.base = base.rstrip("/")
        self.address = address(self.base)
        self.headers = headers

    def run(self, run_id: str) -> tuple[str, str]:
        info = self._call("GET", "runs/get", {"run_id": run_id})["run"]["info"]
        return info["artifact_uri"], info["experiment_id"]

    def logged_model(self, model_id: str) -> str:
        return str(
            self._call("GET", f"logged-models/{quote(model_id)}")["model"]["info"]["artifact_uri"]
        )

    def find_logged_model(self, experiment_id: str, name: str, run_id: str) -> str | None:
        if "'" in name:
            return None
        body = {
            "experiment_ids": [experiment_id],
            "filter": f"name = '{name}' AND source_run_id = '{run_id}'",
        }
        try:
            models = self._call("POST", "logged-models/search", body=body).get("models", [])
        except ModelNotFound:  # a 2.x server has no LoggedModels
            return None
        infos = [m["info"] for m in models if m["info"].get("source_run_id") == run_id]
        if not infos:
            return None
        return str(max(infos, key=lambda i: i.get("creation_timestamp_ms", 0))["artifact_uri"])

    def version_uri(self, name: str, version: str) -> str:
        query = {"name": name, "version": version}
        return str(self._call("GET", "model-versions/get-download-uri", query)["artifact_uri"])

    def latest_version(self, name: str, stage: str | None) -> str:
        body: dict[str, Any] = {"name": name, **({"stages": [stage]} if stage else {})}
        versions = self._call("POST", "registered-models/get-latest-versions", body=body)
        numbers = [int(v["version"]) for v in versions.get("model_versions", [])]
        return str(max(numbers)) if numbers else _no_versions(name, stage)

    def alias_version(self, name: str, alias: str) -> str:
        query = {"name": name, "alias": alias}
        # An unknown alias is answered with INVALID_PARAMETER_VALUE, not RESOURCE_DOES_NOT_EXIST.
        found = self._call(
            "GET", "registered-models/alias", query, missing="INVALID_PARAMETER_VALUE"
        )
        return str(found["model_version"]["version"])

    def fetch(self, location: str, dest: Path, max_bytes: int) -> None:
        scheme = urlsplit(location).scheme
        if scheme == "mlflow-artifacts" or _PROXY_ROUTE + "/" in location:
            self._fetch_proxied(location, dest, max_bytes)
        elif scheme in OBJECT_STORE_PACKAGES:
            fetch_tree(location, dest, max_bytes)
        else:
            try:
                import mlflow.artifacts  # noqa: F401
            except ImportError:
                raise MissingDependency(
                    f"the artifacts are at {location}, which modelpack reads through the mlflow "
                    "package: pip install mlflow"
                ) from None
            MlflowStore(self.base).fetch(location, dest, max_bytes)

    # -- the artifact proxy ----------------------------------------------------------------------

    def _fetch_proxied(self, location: str, dest: Path, max_bytes: int) -> None:
        root, path = self._proxy(location)
        files = list(self._walk(root, path))
        if not files:
            raise ModelNotFound(f"no artifacts at {location} on {self.address}")
        total = sum(size for _, size in files)
        if total > max_bytes:
            raise InvalidArgument(
                f"{location} holds {total} bytes, more than the limit of {max_bytes}; refused "
                "(raise MODELPACK_MAX_ARCHIVE_BYTES if you trust it)"
            )
        progress = Progress(f"Downloading {location}", total)
        for relative, _ in files:
            target = safe_join(dest, relative)
            target.parent.mkdir(parents=True, exist_ok=True)
            url = f"{root}/{quote(posixpath.join(path, relative))}"
            with open_url(url, self.headers) as response:
                save(response, target, progress, max_bytes, relative)
        progress.close()

    def _proxy(self, location: str) -> tuple[str, str]:
        """The proxy's download route and the path under it for a proxied artifact URI."""
        parts = urlsplit(location)
        if parts.scheme == "mlflow-artifacts":
            if parts.netloc:  # mlflow-artifacts://host:port/path names the server itself
                scheme = urlsplit(self.base).scheme
                return f"{scheme}://{parts.netloc}{_PROXY_ROUTE}", parts.path.strip("/")
            return self.base + _PROXY_ROUTE, parts.path.strip("/")
        root, _, path = location.partition(_PROXY_ROUTE + "/")
        return root + _PROXY_ROUTE, path.strip("/")

    def _walk(self, root: str, path: str) -> Iterator[tuple[str, int]]:
        pending, count = [""], 0
        while pending:
            relative = pending.pop()
            listing = self._get_json(root, posixpath.join(path, relative).rstrip("/"))
            for entry in listing.get("files", []):
                child = posixpath.join(relative, entry["path"]) if relative else entry["path"]
                if entry.get("is_dir"):
                    pending.append(child)
                else:
                    count += 1
                    if count > _MAX_FILES:
                        raise InvalidArgument(f"more than {_MAX_FILES} files under {path}")
                    yield child, int(entry.get("file_size") or 0)

    def _get_json(self, root: str, path: str) -> dict[str, Any]:
        with open_url(f"{root}?{urlencode({'path': path})}", self.headers) as response:
            return dict(json.loads(response.read() or b"{}"))

    # -- the REST API ----------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        endpoint: str,
        query: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
        missing: str = "RESOURCE_DOES_NOT_EXIST",
    ) -> dict[str, Any]:
        url = f"{self.base}/api/2.0/mlflow/{endpoint}" + (f"?{urlencode(query)}" if query else "")
        headers = dict(self.headers)
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        where = f"the tracking server at {self.address}"
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
                return dict(json.loads(response.read() or b"{}"))
        except urllib.error.HTTPError as exc:
            error_code, message = _server_error(exc)
            if error_code in ("RESOURCE_DOES_NOT_EXIST", missing):
                raise ModelNotFound(f"{message} (tracking server {self.address})") from None
            if exc.code in (401, 403):
                message += "; set MLFLOW_TRACKING_TOKEN, or MLFLOW_TRACKING_USERNAME and _PASSWORD"
            raise http_error(exc.code, where, message) from None
        except (TimeoutError, urllib.error.URLError, ConnectionError) as exc:
            reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            raise RemoteError(f"cannot reach {where}: {reason}") from None
        except ValueError:  # not JSON
            raise RemoteError(f"{where} did not answer with JSON; is it MLflow?") from None


def _server_error(exc: urllib.error.HTTPError) -> tuple[str, str]:
    """MLflow's ``{"error_code", "message"}`` body, or the first line of anything else."""
    try:
        raw = exc.read()
    except OSError:
        raw = b""
    finally:
        exc.close()
    try:
        payload = json.loads(raw)
    except ValueError:
        payload = None
    if isinstance(payload, dict) and "message" in payload:
        message = str(payload["message"]).strip().splitlines()
        return str(payload.get("error_code", "")), (message[0] if message else "").rstrip(".")
    lines = raw.decode("utf-8", "replace").strip().splitlines()
    return "", (lines[0][:200] if lines else str(exc.reason)).rstrip(".")


def _no_versions(name: str, stage: str | None) -> NoReturn:
    where = f" in stage '{stage}'" if stage else ""
    raise ModelNotFound(f"registered model '{name}' has no versions{where}")


class MlflowStore:
    """MLflow tracking through the mlflow package (database and local stores, plug-ins)."""

    def __init__(self, tracking_uri: str) -> None:
        try:
            from mlflow.tracking import MlflowClient
        except ImportError:
            raise MissingDependency(
                f"the tracking URI '{tracking_uri}' is a database or local store, which modelpack "
                "reads through the mlflow package: pip install mlflow (or set "
                "MODELPACK_TRACKING_URI to an MLflow tracking server, http://...)"
            ) from None
        self.address = tracking_uri
        self.client = MlflowClient(tracking_uri=tracking_uri)

    def run(self, run_id: str) -> tuple[str, str]:
        info = self._call(lambda: self.client.get_run(run_id)).info
        return str(info.artifact_uri), str(info.experiment_id)

    def logged_model(self, model_id: str) -> str:
        return str(self._call(lambda: self.client.get_logged_model(model_id)).artifact_location)

    def find_logged_model(self, experiment_id: str, name: str, run_id: str) -> str | None:
        if "'" in name:
            return None
        found = self._call(
            lambda: self.client.search_logged_models(
                experiment_ids=[experiment_id],
                filter_string=f"name = '{name}' AND source_run_id = '{run_id}'",
            )
        )
        models = [m for m in found if m.source_run_id == run_id]
        if not models:
            return None
        return str(max(models, key=lambda m: m.creation_timestamp or 0).artifact_location)

    def version_uri(self, name: str, version: str) -> str:
        return str(self._call(lambda: self.client.get_model_version_download_uri(name, version)))

    def latest_version(self, name: str, stage: str | None) -> str:
        with warnings.catch_warnings():
            # Stages are deprecated in MLflow but still resolve; the user asked for one.
            warnings.simplefilter("ignore", FutureWarning)
            found = self._call(
                lambda: self.client.get_latest_versions(name, [stage] if stage else None)
            )
        numbers = [int(v.version) for v in found]
        return str(max(numbers)) if numbers else _no_versions(name, stage)

    def alias_version(self, name: str, alias: str) -> str:
        found = self._call(
            lambda: self.client.get_model_version_by_alias(name, alias),
            missing="INVALID_PARAMETER_VALUE",
        )
        return str(found.version)

    def fetch(self, location: str, dest: Path, max_bytes: int) -> None:
        from mlflow.artifacts import download_artifacts

        if urlsplit(location).scheme in OBJECT_STORE_PACKAGES and _has_fsspec():
            fetch_tree(location, dest, max_bytes)
            return
        try:
            self._call(
                lambda: download_artifacts(
                    artifact_uri=location, dst_path=str(dest), tracking_uri=self.address
                )
            )
        except OSError as exc:  # the artifact repositories raise their clients' errors
            raise store_error(location, exc) from exc

    def _call(self, fn: Callable[[], T], missing: str = "RESOURCE_DOES_NOT_EXIST") -> T:
        from mlflow.exceptions import MlflowException

        try:
            return fn()
        except MlflowException as exc:
            message = exc.message.splitlines()[0].rstrip(".") if exc.message else str(exc)
            if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", missing):
                raise ModelNotFound(f"{message} (tracking store {self.address})") from None
            if exc.error_code in ("PERMISSION_DENIED", "UNAUTHENTICATED"):
                raise AccessDenied(f"{self.address} refused access: {message}") from None
            raise InvalidArgument(f"{message} (tracking store {self.address})") from None


def _has_fsspec() -> bool:
    try:
        import fsspec  # noqa: F401
    except ImportError:
        return False
    return True
