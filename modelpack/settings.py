"""One frozen Settings object: defaults < ``MODELPACK_*`` environment variables < explicit flags.

Settings are read from the environment here and nowhere else; the CLI builds them once and passes
them down (``create_app(model, settings)``, ``load_model(uri, settings=...)``).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from modelpack.errors import InvalidArgument

__all__ = ["ENV_PREFIX", "Settings"]

ENV_PREFIX = "MODELPACK_"
_JSON_STYLES = ("compact", "mlflow")
_LOG_FORMATS = ("text", "json")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
# Fields that also read MLflow's variable of the same meaning when the MODELPACK_ one is unset,
# so a shell set up for `mlflow models serve` works unchanged.
_MLFLOW_ENV = {
    "tracking_uri": "MLFLOW_TRACKING_URI",
    "tracking_username": "MLFLOW_TRACKING_USERNAME",
    "tracking_password": "MLFLOW_TRACKING_PASSWORD",
    "tracking_token": "MLFLOW_TRACKING_TOKEN",
}

# Secrets whose variable set but empty stays "" (which the server refuses) instead of meaning
# "unset": MODELPACK_AUTH_TOKEN=$TYPO must not serve without authentication.
_KEEP_EMPTY = frozenset({"auth_token"})


@dataclass(frozen=True)
class Settings:
    """Runtime configuration. Each field reads ``MODELPACK_<FIELD NAME IN CAPITALS>``."""

    host: str = "127.0.0.1"
    """Interface the server binds to."""
    port: int = 5000
    """TCP port the server listens on."""
    workers: int = 1
    """Server processes; each holds its own copy of the model."""
    timeout: float = 60.0
    """Seconds a request may take before it is answered with 504."""
    max_body_bytes: int = 100 * 1024 * 1024
    """Largest request body accepted; larger ones get 413 before they are parsed."""
    max_queue: int = 128
    """Requests that may wait for the model in each worker; more are refused at once with 503
    and ``Retry-After``."""
    batching: bool = True
    """Merge waiting requests into one model call when that leaves every answer's bits unchanged
    (the flavor says when; a package's MLmodel ``metadata: {batching: false}`` opts out)."""
    batch_max_rows: int = 1024
    """Most rows one merged model call takes."""
    batch_wait_ms: float = 0.0
    """How long an idle model waits for more requests to merge with; 0: never (one request
    alone is not slowed down)."""
    graceful_timeout: float = 5.0
    """Seconds a worker takes on SIGTERM to finish what it has started; what is left then is
    answered with 503 and the worker exits 0 (below Docker's 10 s grace)."""
    allow_pickle: bool = True
    """When false, packages whose model is stored with pickle or cloudpickle are refused."""
    debug: bool = False
    """Put Python tracebacks into error responses (never do this in production)."""
    auth_token: str | None = dataclasses.field(default=None, repr=False)
    """Bearer token the server requires (``Authorization: Bearer <token>``) on every route but
    the health probes and ``/metrics``; None serves without one. ``serve --auth-token-file``
    reads it from a file instead."""
    log_level: str = "info"
    """Log level of the server (debug logs one line per request)."""
    log_format: str = "text"
    """Server log lines: ``text`` (``LEVEL:     logger: message [request id]``) or ``json``
    (one object per line: time, level, logger, message, request_id, exc_info; uvicorn's lines
    and the model's own too)."""
    access_log: bool = False
    """One log line per request on the ``modelpack.access`` logger: client, method, path,
    status, rows and duration in ms."""
    metrics: bool = True
    """Serve Prometheus metrics at ``/metrics`` (totals across workers)."""
    tracking_uri: str | None = None
    """MLflow tracking server (http/https) or store (sqlite:///..., ./mlruns) that ``runs:/`` and
    ``models:/`` URIs are looked up in; falls back to ``MLFLOW_TRACKING_URI``."""
    tracking_username: str | None = None
    """Basic-auth user for the tracking server; falls back to ``MLFLOW_TRACKING_USERNAME``."""
    tracking_password: str | None = dataclasses.field(default=None, repr=False)
    """Basic-auth password; falls back to ``MLFLOW_TRACKING_PASSWORD``."""
    tracking_token: str | None = dataclasses.field(default=None, repr=False)
    """Bearer token for the tracking server (wins over basic auth); ``MLFLOW_TRACKING_TOKEN``."""
    cache_dir: str | None = None
    """Where downloaded model packages (``packages/``) and the environments built for them
    (``envs/``, ``--env-manager uv|virtualenv|conda``) are kept; None means
    ``~/.cache/modelpack``."""
    env_allow_python_download: bool = False
    """Let uv download the Python version a package asks for when no interpreter of that
    ``major.minor`` is on this machine (``--env-manager uv``); off: such a package is refused."""
    max_archive_bytes: int = 20 * 1024**3
    """Largest download or unpacked archive accepted for a remote model URI."""
    trusted_keys: tuple[str, ...] = ()
    """Ed25519 public key files (PEM). When any are given, loading refuses a package unless its
    manifest is signed by one of them (``modelpack sign``). The variable separates paths with
    ``os.pathsep`` (``:`` on Linux and macOS, ``;`` on Windows)."""
    flavor_options: Mapping[str, str] = dataclasses.field(default_factory=dict)
    """Options that belong to a flavor, not to modelpack: every ``MODELPACK_<NAME>`` variable
    that names no field above, keyed by ``<name>`` in lower case (``MODELPACK_TORCH_DEVICE`` ->
    ``torch_device``). Each flavor reads and checks its own (``modelpack.flavors.pytorch``:
    ``torch_device``, ``torch_threads``)."""
    model_name: str | None = None
    """The name the Open Inference Protocol (V2) serves the model under (``/v2/models/<name>``,
    gRPC ``model_name``). Unset: ``mlflow-model`` with ``enable_mlserver``, else the registered
    model's name for a ``models:/`` URI, else the name of the package's directory."""
    model_version: str | None = None
    """The version V2 reports and accepts (``/v2/models/<name>/versions/<version>``). Unset: the
    version a ``models:/<name>/<version>`` URI names; otherwise the model has no version."""
    enable_mlserver: bool = False
    """Answer as ``mlflow models serve --enable-mlserver`` did (MLflow <= 3.12): the V2 model is
    named ``mlflow-model`` unless ``model_name`` is set. (The V2 routes are always on.)"""
    grpc_port: int | None = None
    """Port of the V2 gRPC service (``GRPCInferenceService``, needs ``modelpack[grpc]``) on
    ``host``; unset: no gRPC. Every worker serves it on the same port."""
    json_style: str = "compact"
    """Text of JSON predictions: ``compact`` (orjson: no spaces, float32 as the shortest text
    that reads back as the same float32) or ``mlflow`` (MLflow's text, byte for byte: float32
    widened to double, ``", "`` separators, bare ``NaN``), for golden files kept from MLflow."""

    def __post_init__(self) -> None:
        if self.json_style not in _JSON_STYLES:
            raise InvalidArgument(
                f"MODELPACK_JSON_STYLE must be one of {list(_JSON_STYLES)}, got {self.json_style!r}"
            )
        if self.log_format not in _LOG_FORMATS:
            raise InvalidArgument(
                f"MODELPACK_LOG_FORMAT must be one of {list(_LOG_FORMATS)}, got {self.log_format!r}"
            )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from ``env`` (default: ``os.environ``), then apply non-None overrides."""
        source = os.environ if env is None else env
        values: dict[str, Any] = {}
        for field in fields(cls):
            if field.name == "flavor_options":
                continue  # gathered below from the variables that name no field
            raw = source.get(ENV_PREFIX + field.name.upper())
            if raw is None and field.name in _MLFLOW_ENV:
                raw = source.get(_MLFLOW_ENV[field.name])
            if raw is not None and field.name in _KEEP_EMPTY:
                values[field.name] = raw.strip()
            elif raw is not None:
                values[field.name] = _parse(field.name, str(field.type), raw)
        known = {ENV_PREFIX + f.name.upper() for f in fields(cls)}
        options = {
            key[len(ENV_PREFIX) :].lower(): value
            for key, value in source.items()
            if key.startswith(ENV_PREFIX) and key not in known
        }
        if options:
            values["flavor_options"] = options
        values.update({k: v for k, v in overrides.items() if v is not None})
        unknown = set(values) - {f.name for f in fields(cls)}
        if unknown:
            raise InvalidArgument(f"unknown settings: {sorted(unknown)}")
        return cls(**values)

    def cache_root(self) -> Path:
        """``cache_dir``, or ``~/.cache/modelpack`` when it is None."""
        if self.cache_dir:
            return Path(self.cache_dir).expanduser()
        return Path.home() / ".cache" / "modelpack"

    def replace(self, **changes: Any) -> Settings:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)


def _parse(name: str, type_name: str, raw: str) -> Any:
    env_name = ENV_PREFIX + name.upper()
    text = raw.strip()
    if type_name == "bool":
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise InvalidArgument(f"{env_name}: expected true or false, got {raw!r}")
    if type_name.startswith("tuple[str"):
        return tuple(part.strip() for part in raw.split(os.pathsep) if part.strip())
    if "None" in type_name and text == "":
        return None
    try:
        if type_name.startswith("int"):
            return int(text)
        if type_name.startswith("float"):
            return float(text)
    except ValueError:
        kind = "an integer" if type_name.startswith("int") else "a number"
        raise InvalidArgument(f"{env_name}: expected {kind}, got {raw!r}") from None
    return text
