"""Model URIs: ``resolve(uri)`` turns any of them into a local package directory.

Paths and ``file://``; ``runs:/`` and ``models:/`` through an MLflow tracking server or store
(``_tracking``, ``_stores``); ``s3://``, ``gs://``, ``abfs://`` and ``http(s)://`` downloads
(``_downloads``), archives checked before they are unpacked (``_archives``). Downloads are kept
in a cache, one directory per resolved artifact.
"""

from __future__ import annotations

from modelpack.uris._resolve import SCHEMES, resolve
from modelpack.uris._tracking import Reference, parse

__all__ = ["SCHEMES", "Reference", "parse", "resolve"]
