"""Model URI -> local package directory."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

from modelpack.errors import InvalidArgument, ModelNotFound

__all__ = ["resolve"]


def resolve(uri: str) -> Path:
    """The local path a model URI points to: a plain path or a ``file://`` URI.

    Remote schemes (``runs:/``, ``models:/``, ``s3://``, ``http(s)://``) are not supported yet and
    raise ``InvalidArgument`` naming the scheme.
    """
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        path = Path(unquote(parsed.path))
    elif parsed.scheme == "" or (len(parsed.scheme) == 1 and uri[1:3] in (":\\", ":/")):
        path = Path(uri).expanduser()
    else:
        raise InvalidArgument(
            f"model URI '{uri}': the scheme '{parsed.scheme}:' is not supported yet; "
            "give a local path or a file:// URI"
        )
    if not path.exists():
        raise ModelNotFound(f"model URI '{uri}': no such file or directory: {path}")
    return path.resolve()
