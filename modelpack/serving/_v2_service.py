"""The Open Inference Protocol (V2) for one served model, whatever the transport.

``V2Service`` answers what both the REST routes (``v2``) and gRPC (``grpc``) ask: is the server
live and ready, what is the model called and what does it take (metadata), and inference, which
goes through the same data plane and engine as ``/invocations`` (admission, deadlines,
batching). Requests arrive decoded by the codecs; answers leave as ``V2Output`` tensors.

The model's V2 name is ``Settings.model_name``; unset, ``mlflow-model`` with ``enable_mlserver``
(what ``mlflow models serve --enable-mlserver`` named it), else the name the model URI gives
(``identity_from_uri``: the registered model's name, or the package directory's).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from modelpack._version import __version__
from modelpack.codecs import V2Output, V2Request, V2Signature
from modelpack.engine import Prepared
from modelpack.errors import InvalidArgument, ModelNotFound, ModelpackError, clip, internal_error
from modelpack.serving.runtime import Runtime
from modelpack.settings import Settings

__all__ = ["EXTENSIONS", "MLSERVER_MODEL_NAME", "V2Service", "identity_from_uri"]

MLSERVER_MODEL_NAME = "mlflow-model"
"""The name ``mlflow models serve --enable-mlserver`` gave every model (MLflow <= 3.12)."""
EXTENSIONS = ["binary_tensor_data", "parameters"]
"""The V2 protocol extensions served (``GET /v2``, gRPC ``ServerMetadata``)."""
_ARCHIVES = (".tar.gz", ".tgz", ".tar", ".zip")


def identity_from_uri(uri: str) -> tuple[str | None, str | None]:
    """The V2 name and version a model URI gives: the registered model's name (and the version,
    when the URI names one) for ``models:/``; else the last segment of the path (an archive's
    name without its suffix). Either is None when the URI says nothing.

    ``models:/<name>@<alias>``, ``/<stage>`` and ``/latest`` resolve to a version inside
    ``uris.resolve``, which does not return it, so they give a name without a version.
    """
    from modelpack.uris import parse

    scheme = urlsplit(uri).scheme.lower()
    if scheme == "models":
        try:
            ref = parse(uri)
        except InvalidArgument:
            return None, None
        if ref.kind == "logged_model":
            return None, None
        return ref.name, ref.selector if ref.kind == "version" else None
    path = unquote(urlsplit(uri).path) if len(scheme) > 1 else uri
    segment = next((s for s in reversed(path.replace("\\", "/").split("/")) if s), "")
    for suffix in _ARCHIVES:
        if segment.lower().endswith(suffix):
            segment = segment[: -len(suffix)]
            break
    return (segment or None), None


def _served_name(settings: Settings, model: Any) -> str:
    if settings.model_name:
        return settings.model_name
    if settings.enable_mlserver:
        return MLSERVER_MODEL_NAME
    path = getattr(model, "path", None)
    name = Path(path).resolve().name if path is not None else ""
    return name or "model"


class V2Service:
    """V2 for the model a ``Runtime`` serves."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        self.name = _served_name(runtime.settings, runtime.model)
        self.version = runtime.settings.model_version or None
        self.signature = V2Signature.for_model(runtime.model)
        versions = [self.version] if self.version is not None else []
        self._metadata = self.signature.metadata(self.name, versions)

    # -- health and metadata --------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        """Loaded, warmed up, and not draining (SIGTERM)."""
        return self.runtime.readiness() is None

    def server_metadata(self) -> dict[str, Any]:
        return {"name": "modelpack", "version": __version__, "extensions": EXTENSIONS}

    def model_metadata(self) -> dict[str, Any]:
        return self._metadata

    def check_model(self, name: str, version: str | None = None) -> None:
        """Refuse (404) a model name or version this server does not serve."""
        if name != self.name:
            raise ModelNotFound(
                f"model '{clip(name, 60)}' is not served here; this server serves "
                f"'{self.name}'{self._version_text()}"
            )
        if version and version != self.version:
            raise ModelNotFound(
                f"model '{self.name}' has no version '{clip(version, 30)}'; "
                + (
                    f"it is served as version '{self.version}'"
                    if self.version is not None
                    else "it is served without a version (leave the version out)"
                )
            )

    def _version_text(self) -> str:
        return f" (version {self.version})" if self.version is not None else ""

    # -- inference ------------------------------------------------------------------------------

    def prepare(self, request: V2Request) -> Prepared:
        """The request decoded into model input and checked against the signature (4xx)."""
        try:
            self.signature.check_outputs(request.outputs)
            data = self.signature.decode(request)
            return self.runtime.plane.check(data, request.params)
        except ModelpackError:
            raise
        except Exception as exc:
            # The codecs and enforcement answer bad input with ModelpackErrors: anything else is
            # a bug of ours (or memory running out), a 500 that names no input.
            raise internal_error(exc, "reading the request") from exc

    async def predict(
        self,
        prepared: Prepared,
        deadline: float,
        gone: Callable[[], Awaitable[Any]] | None = None,
    ) -> Any:
        """The model's answer through the engine (queue, deadline, batching)."""
        return await self.runtime.plane.submit(prepared, deadline, gone)

    @property
    def waits(self) -> bool:
        """A new request would wait for the model (worth watching for the client leaving)."""
        engine = self.runtime.engine
        return engine.busy or engine.depth > 0

    def outputs(self, predictions: Any, request: V2Request) -> tuple[list[V2Output], str]:
        """The answer as output tensors, filtered as the request asks; and its content type."""
        try:
            return self.signature.encode(predictions, request.outputs)
        except ModelpackError:
            raise
        except Exception as exc:
            raise internal_error(exc, "encoding the answer") from exc

    def binary_flags(self, outputs: list[V2Output], request: V2Request) -> list[bool]:
        """Which outputs go as binary data: as each requested output says, else as the request's
        ``binary_data_output``."""
        chosen = {r.name: r.binary for r in request.outputs or ()}
        flags = []
        for output in outputs:
            binary = chosen.get(output.name)
            flags.append(request.binary_output if binary is None else binary)
        return flags
