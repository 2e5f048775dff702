"""The one error hierarchy of modelpack.

Every class carries MLflow's ``error_code``, the HTTP ``status_code`` the server answers with and
the ``exit_code`` the CLI ends with. User-facing errors also subclass a builtin so that plain
``except ValueError`` code keeps working.

::

    ModelpackError                              INTERNAL_ERROR           500  1
    ├── ModelNotFound (FileNotFoundError)       RESOURCE_DOES_NOT_EXIST  404  2
    ├── InvalidModel (ValueError)               INVALID_PARAMETER_VALUE  400  2
    │   └── UnknownFlavor                       INVALID_PARAMETER_VALUE  400  2
    ├── MissingDependency (ImportError)         INVALID_STATE            500  2
    ├── PickleRefused (PermissionError)         PERMISSION_DENIED        403  2
    ├── AccessDenied (PermissionError)          PERMISSION_DENIED        403  2
    ├── RemoteError (ConnectionError)           TEMPORARILY_UNAVAILABLE  503  1
    ├── InvalidArgument (ValueError)            INVALID_PARAMETER_VALUE  400  2
    ├── SchemaError (ValueError)                INVALID_PARAMETER_VALUE  400  2
    │   ├── SignatureMismatch                   INVALID_PARAMETER_VALUE  400  2
    │   └── InvalidParams                       INVALID_PARAMETER_VALUE  400  2
    ├── BadRequest (ValueError)                 BAD_REQUEST              400  2
    │   ├── MalformedInput                      BAD_REQUEST              400  2
    │   └── PredictionFailed                    BAD_REQUEST              400  1
    ├── UnsupportedMediaType (ValueError)       BAD_REQUEST              415  2
    ├── PayloadTooLarge (ValueError)            REQUEST_LIMIT_EXCEEDED   413  2
    ├── RequestTimeout (TimeoutError)           DEADLINE_EXCEEDED        504  1
    ├── Overloaded (RuntimeError)               TEMPORARILY_UNAVAILABLE  503  1
    ├── ImageBuildFailed (RuntimeError)         INVALID_STATE            500  1
    └── InvalidOutput (TypeError)               INTERNAL_ERROR           500  1
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

__all__ = [
    "AccessDenied",
    "BadRequest",
    "ImageBuildFailed",
    "InvalidArgument",
    "InvalidModel",
    "InvalidOutput",
    "InvalidParams",
    "MalformedInput",
    "MissingDependency",
    "ModelNotFound",
    "ModelpackError",
    "Overloaded",
    "PayloadTooLarge",
    "PickleRefused",
    "PredictionFailed",
    "RemoteError",
    "RequestTimeout",
    "SchemaError",
    "SignatureMismatch",
    "UnknownFlavor",
    "UnsupportedMediaType",
    "clip",
    "one_line",
    "shape_text",
    "short_repr",
]


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, ending in ``...`` when cut."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def short_repr(value: Any, limit: int = 40) -> str:
    """A value as messages quote it: its repr, cut short (messages never echo whole inputs)."""
    return clip(repr(value), limit)


def shape_text(shape: Sequence[int]) -> str:
    """A shape as messages write it, the way Python writes tuples: ``(-1, 4)``, ``(3,)``."""
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def one_line(exc: BaseException, limit: int | None = 200) -> str:
    """A library's exception text on one line, cut to ``limit`` characters (None: not cut)."""
    text = " ".join(str(exc).split())
    return text if limit is None else clip(text, limit)


class ModelpackError(Exception):
    """Base of every error modelpack raises on purpose."""

    error_code: ClassVar[str] = "INTERNAL_ERROR"
    status_code: ClassVar[int] = 500
    exit_code: ClassVar[int] = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_dict(self) -> dict[str, Any]:
        """The JSON error envelope MLflow clients understand."""
        return {"error_code": self.error_code, "message": self.message}

    def __str__(self) -> str:
        return self.message


class ModelNotFound(ModelpackError, FileNotFoundError):
    """No model package at the given location."""

    error_code = "RESOURCE_DOES_NOT_EXIST"
    status_code = 404
    exit_code = 2


class InvalidModel(ModelpackError, ValueError):
    """A model package exists but cannot be read (bad YAML, missing files, bad fields)."""

    error_code = "INVALID_PARAMETER_VALUE"
    status_code = 400
    exit_code = 2


class UnknownFlavor(InvalidModel):
    """The package names no flavor that modelpack (or a plug-in) knows."""


class MissingDependency(ModelpackError, ImportError):
    """A flavor needs a library that is not installed."""

    error_code = "INVALID_STATE"
    status_code = 500
    exit_code = 2


class PickleRefused(ModelpackError, PermissionError):
    """Loading would unpickle a file while pickle is disabled by the settings."""

    error_code = "PERMISSION_DENIED"
    status_code = 403
    exit_code = 2


class AccessDenied(ModelpackError, PermissionError):
    """A tracking server or download site refused the credentials (HTTP 401 or 403)."""

    error_code = "PERMISSION_DENIED"
    status_code = 403
    exit_code = 2


class RemoteError(ModelpackError, ConnectionError):
    """A tracking server, object store or download site cannot be reached or failed."""

    error_code = "TEMPORARILY_UNAVAILABLE"
    status_code = 503
    exit_code = 1


class InvalidArgument(ModelpackError, ValueError):
    """A caller passed an invalid argument to the Python API or the CLI."""

    error_code = "INVALID_PARAMETER_VALUE"
    status_code = 400
    exit_code = 2


class SchemaError(ModelpackError, ValueError):
    """A schema or signature is malformed, or data does not fit one."""

    error_code = "INVALID_PARAMETER_VALUE"
    status_code = 400
    exit_code = 2


class SignatureMismatch(SchemaError):
    """Model input does not match the model's input schema.

    ``column`` and ``row`` say where, when known; ``reason`` is the message without the place,
    so that a caller who knows more (the line in a file) can say it its own way.
    """

    def __init__(
        self,
        message: str,
        *,
        column: str | None = None,
        row: int | None = None,
        reason: str | None = None,
    ) -> None:
        super().__init__(message)
        self.column = column
        self.row = row
        self.reason = reason


class InvalidParams(SchemaError):
    """Inference params do not match the model's params schema."""


class BadRequest(ModelpackError, ValueError):
    """A request or input file cannot be turned into model input."""

    error_code = "BAD_REQUEST"
    status_code = 400
    exit_code = 2


class MalformedInput(BadRequest):
    """Bytes that are not valid JSON, CSV or one of the accepted envelopes."""


class PredictionFailed(BadRequest):
    """The model itself raised while predicting (MLflow answers these with 400 as well)."""

    exit_code = 1


class UnsupportedMediaType(ModelpackError, ValueError):
    """A request's Content-Type is missing or not one the server reads."""

    error_code = "BAD_REQUEST"
    status_code = 415
    exit_code = 2


class PayloadTooLarge(ModelpackError, ValueError):
    """A request body is larger than the configured limit."""

    error_code = "REQUEST_LIMIT_EXCEEDED"
    status_code = 413
    exit_code = 2


class RequestTimeout(ModelpackError, TimeoutError):
    """A request took longer than the configured timeout."""

    error_code = "DEADLINE_EXCEEDED"
    status_code = 504
    exit_code = 1


class Overloaded(ModelpackError, RuntimeError):
    """The server cannot take the request now (queue full, shutting down); ``retry_after`` is the
    number of seconds a client should wait before it tries again (the ``Retry-After`` header)."""

    error_code = "TEMPORARILY_UNAVAILABLE"
    status_code = 503
    exit_code = 1

    def __init__(self, message: str, *, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ImageBuildFailed(ModelpackError, RuntimeError):
    """A container image could not be built: docker or its daemon is missing, a requirement has
    no wheel for the image's platform, or ``docker build`` failed."""

    error_code = "INVALID_STATE"
    status_code = 500
    exit_code = 1


class InvalidOutput(ModelpackError, TypeError):
    """A model returned a value its output codec cannot encode (a server-side fault, not the
    client's)."""
