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
    ├── Unauthenticated (PermissionError)       UNAUTHENTICATED          401  2
    ├── IntegrityError (ValueError)             INVALID_STATE            500  2
    │   └── SignatureRefused                    PERMISSION_DENIED        403  2
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
    ├── EnvironmentBuildFailed (RuntimeError)   INVALID_STATE            500  1
    ├── InternalError (RuntimeError)            INTERNAL_ERROR           500  1
    └── InvalidOutput (TypeError)               INTERNAL_ERROR           500  1

Whose fault a failed prediction is, is decided by ``prediction_error``: the model's (400) or the
server's (500).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from typing import Any, ClassVar

__all__ = [
    "AccessDenied",
    "BadRequest",
    "EnvironmentBuildFailed",
    "ImageBuildFailed",
    "IntegrityError",
    "InternalError",
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
    "SignatureRefused",
    "Unauthenticated",
    "UnknownFlavor",
    "UnsupportedMediaType",
    "clip",
    "first_line",
    "internal_error",
    "one_line",
    "prediction_error",
    "raised_in_modelpack",
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
    """Something is not installed: a library a flavor needs, a distribution the package's
    requirements name (``--env-manager local``), or what an environment manager needs (uv,
    conda, the package's Python version)."""

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


class Unauthenticated(ModelpackError, PermissionError):
    """A request to a server that requires a bearer token came without it, or with another."""

    error_code = "UNAUTHENTICATED"
    status_code = 401
    exit_code = 2


class IntegrityError(ModelpackError, ValueError):
    """A package does not match its manifest: a listed file changed or is missing, a file was
    added, or the manifest itself cannot be read."""

    error_code = "INVALID_STATE"
    status_code = 500
    exit_code = 2


class SignatureRefused(IntegrityError):
    """Trusted keys are configured and the package is unsigned, signed by another key, or its
    manifest changed after signing."""

    error_code = "PERMISSION_DENIED"
    status_code = 403


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


class EnvironmentBuildFailed(ModelpackError, RuntimeError):
    """An environment for a package could not be built: the resolver found no solution for its
    requirements, a download failed, or the installer failed."""

    error_code = "INVALID_STATE"
    status_code = 500
    exit_code = 1


class InternalError(ModelpackError, RuntimeError):
    """The server, not the request, failed: a bug in modelpack's own code (a flavor's adapter, a
    codec, enforcement) or memory running out. The original exception is the ``__cause__``."""


class InvalidOutput(ModelpackError, TypeError):
    """A model returned a value its output codec cannot encode (a server-side fault, not the
    client's)."""


# -- whose fault is it --------------------------------------------------------------------------

_PACKAGE_DIR = os.path.dirname(os.path.realpath(__file__))


@functools.lru_cache(maxsize=512)
def _in_package(filename: str) -> str | None:
    """``filename`` relative to the directory above the package when it is modelpack's, else
    None (``<string>`` and other pseudo-files included)."""
    real = os.path.realpath(filename)
    if not real.startswith(_PACKAGE_DIR + os.sep):
        return None
    return os.path.relpath(real, os.path.dirname(_PACKAGE_DIR))


def _innermost(exc: BaseException) -> tuple[str | None, int]:
    """Where ``exc`` was raised: modelpack's file (or None when not modelpack's) and the line."""
    tb = exc.__traceback__
    if tb is None:
        return None, 0
    while tb.tb_next is not None:
        tb = tb.tb_next
    return _in_package(tb.tb_frame.f_code.co_filename), tb.tb_lineno


def raised_in_modelpack(exc: BaseException) -> bool:
    """Whether the innermost frame of ``exc``'s traceback is in modelpack's own code.

    A library function written in C has no frame, so its errors count as raised by the Python
    code that called it: modelpack code must check input before handing it to C itself.
    """
    return _innermost(exc)[0] is not None


def internal_error(exc: BaseException, doing: str) -> InternalError:
    """An ``InternalError`` for an exception modelpack did not expect while ``doing`` something;
    the message names the exception's type and where it was raised, never its text (which may
    quote the input); raise it ``from exc``."""
    if isinstance(exc, MemoryError):
        return InternalError(f"the server ran out of memory while {doing} (MemoryError)")
    where, line = _innermost(exc)
    place = f" in {where} line {line}" if where is not None else ""
    return InternalError(
        f"internal error while {doing}: {type(exc).__name__}{place}; see the server log"
    )


def prediction_error(exc: Exception) -> ModelpackError:
    """The error for an exception a model's predictor raised: whose fault is it?

    - ``MemoryError``: the server's (500): memory depends on what else the server holds and does,
      so the same request may succeed later or elsewhere.
    - raised in modelpack's own code (a flavor's adapter): ours, a bug (500).
    - raised in the model's or its libraries' code: the model refused this input (400
      ``PredictionFailed``, as MLflow answers). ``RecursionError`` is judged by place like any
      other error: it is deterministic for a given input and leaves the process sound.

    Raise the result ``from exc``.
    """
    if isinstance(exc, MemoryError) or raised_in_modelpack(exc):
        return internal_error(exc, "predicting")
    first = first_line(exc)
    return PredictionFailed(
        f"the model raised {type(exc).__name__}" + (f": {first}" if first else "")
    )


def first_line(exc: BaseException, limit: int = 200) -> str:
    """The first line of an exception's text, cut to ``limit`` ("" when it has none, or when
    its ``__str__`` itself fails: a model's exception class may be broken)."""
    try:
        text = str(exc).strip()
    except Exception:
        return ""
    return clip(text.splitlines()[0], limit) if text else ""
