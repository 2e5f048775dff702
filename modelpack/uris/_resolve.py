"""Model URI -> local package directory, with one resolver per scheme chosen from a table.

Local paths and ``file://`` URIs are used in place (an archive is unpacked into the cache);
``runs:/``, ``models:/`` and ``mlflow-artifacts:/`` are looked up in MLflow tracking
(``_tracking``); ``s3://``, ``gs://``, ``abfs://`` go through fsspec; ``http(s)://``
links name a ``.tar.gz`` or ``.zip`` of a package. Whatever is downloaded lands in the cache
(``_archives``), so resolving the same artifact again downloads nothing.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import IO
from urllib.parse import unquote, urlsplit

from modelpack.errors import InvalidArgument, InvalidModel, ModelNotFound, ModelpackError
from modelpack.settings import Settings
from modelpack.uris._archives import ARCHIVE_SUFFIXES, Cache, extract, is_archive, package_root
from modelpack.uris._downloads import (
    OBJECT_STORE_PACKAGES,
    Progress,
    fetch_tree,
    filesystem,
    open_url,
    save,
    store_error,
)
from modelpack.uris._stores import RestStore
from modelpack.uris._tracking import Store, locate, parse, store_for

__all__ = ["SCHEMES", "resolve"]

Resolver = Callable[[str, Settings], Path]


def resolve(uri: str, settings: Settings | None = None) -> Path:
    """The local path of the model package (or MLmodel file) that ``uri`` names.

    ``settings`` supplies the tracking URI and credentials, the cache directory and the archive
    size limit; by default they are read from the environment. Every error is one line that
    starts with the URI.
    """
    settings = settings if settings is not None else Settings.from_env()
    scheme = _scheme(uri)
    resolver = SCHEMES.get(scheme)
    if resolver is None:
        if Path(uri).exists():  # a local name that merely contains a colon
            resolver = _local
        else:
            raise InvalidArgument(
                f"model URI '{uri}': unknown scheme '{scheme}:'; give a local path or a "
                "file://, runs:/, models:/, http(s)://, s3://, gs:// or abfs:// URI"
            )
    try:
        return resolver(uri, settings)
    except ModelpackError as exc:
        # The resolvers say what went wrong; the URI is put in front once, here.
        exc.message = f"model URI '{uri}': {exc.message}"
        exc.args = (exc.message,)
        raise


def _scheme(uri: str) -> str:
    scheme = urlsplit(uri).scheme.lower()
    if len(scheme) == 1 and uri[1:3] in (":\\", ":/"):  # a Windows drive letter
        return ""
    return scheme


def _local(uri: str, settings: Settings) -> Path:
    path = Path(unquote(urlsplit(uri).path)) if _scheme(uri) == "file" else Path(uri).expanduser()
    if not path.exists():
        raise ModelNotFound(f"no such file or directory: {path}")
    if path.is_file() and is_archive(path.name):
        stat = path.stat()
        key = f"{path.resolve()} {stat.st_size} {stat.st_mtime_ns}"
        limit = settings.max_archive_bytes
        content = Cache.at(settings.cache_dir).get(
            key, lambda dest: extract(path, dest, limit), label=path.name
        )
        return package_root(content)
    return path.resolve()


def _tracked(uri: str, settings: Settings) -> Path:
    ref = parse(uri)
    store = store_for(settings)
    location = locate(ref, store)
    return _artifact(location, store, settings)


def _proxied(uri: str, settings: Settings) -> Path:
    return _artifact(uri, store_for(settings), settings)


def _artifact(location: str, store: Store, settings: Settings) -> Path:
    """The local copy of an artifact directory found through ``store``."""
    local = _local_location(location)
    if local is not None:
        if not local.exists():
            hint = (
                "; it is a path on the tracking server's machine: run the server with "
                "--serve-artifacts (the default) so artifacts are served over HTTP"
                if isinstance(store, RestStore)
                else ""
            )
            raise ModelNotFound(f"no artifacts at {location}{hint}")
        return local.resolve()
    limit = settings.max_archive_bytes
    content = Cache.at(settings.cache_dir).get(
        f"{store.address} {location}",
        lambda dest: store.fetch(location, dest, limit),
        label=location.rsplit("/models/", 1)[-1],
    )
    return package_root(content)


def _local_location(location: str) -> Path | None:
    scheme = _scheme(location)
    if scheme == "file":
        return Path(unquote(urlsplit(location).path))
    if scheme == "":
        return Path(location)
    return None


def _object_store(uri: str, settings: Settings) -> Path:
    uri = uri.rstrip("/")
    uri = uri[: -len("/MLmodel")] if uri.endswith("/MLmodel") else uri
    fs, path = filesystem(uri)
    archive = is_archive(path)
    try:
        info = fs.info(path if archive else f"{path}/MLmodel")
    except FileNotFoundError:
        what = "no such archive" if archive else "no MLmodel file at this prefix"
        raise ModelNotFound(what) from None
    except Exception as exc:
        raise store_error(uri, exc) from exc
    # The object's version (ETag, hash or mtime) is part of the key: a re-upload is fetched again.
    version = next(
        (str(info[k]) for k in ("ETag", "etag", "md5Hash", "mtime", "LastModified") if info.get(k)),
        "",
    )
    limit = settings.max_archive_bytes
    cache = Cache.at(settings.cache_dir)

    def fill(dest: Path) -> None:
        if not archive:
            fetch_tree(uri, dest, limit)
            return
        if int(info.get("size") or 0) > limit:
            raise InvalidModel(f"the archive is larger than {limit} bytes; refused")
        scratch = cache.scratch()
        try:
            local = scratch / Path(path).name
            try:
                fs.get_file(path, str(local))
            except Exception as exc:
                raise store_error(uri, exc) from exc
            extract(local, dest, limit, name=uri)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    return package_root(cache.get(f"{uri} {version} {info.get('size')}", fill, label=uri))


def _http_archive(uri: str, settings: Settings) -> Path:
    name = Path(urlsplit(uri).path).name
    if not is_archive(name):
        raise InvalidArgument(
            "an http(s) model URI must name a package archive (" + ", ".join(ARCHIVE_SUFFIXES) + ")"
        )
    limit = settings.max_archive_bytes
    cache = Cache.at(settings.cache_dir)
    with open_url(uri) as response:
        # Keyed by the server's validator, so a changed file is fetched again and an unchanged
        # one is not downloaded at all (the response is closed unread).
        validator = response.headers.get("ETag") or response.headers.get("Last-Modified") or ""
        length = int(response.headers.get("Content-Length") or 0)
        if length > limit:
            raise InvalidModel(f"the archive is {length} bytes, more than {limit}; refused")

        def fill(dest: Path) -> None:
            _unpack_stream(response, dest, name, uri, limit, cache, length)

        content = cache.get(f"{uri} {validator}", fill, label=name)
    return package_root(content)


def _unpack_stream(
    response: IO[bytes], dest: Path, name: str, uri: str, limit: int, cache: Cache, length: int
) -> None:
    scratch = cache.scratch()
    try:
        progress = Progress(f"Downloading {name}", length or None)
        save(response, scratch / name, progress, limit, name)
        progress.close()
        extract(scratch / name, dest, limit, name=uri)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


SCHEMES: dict[str, Resolver] = {
    "": _local,
    "file": _local,
    "runs": _tracked,
    "models": _tracked,
    "mlflow-artifacts": _proxied,
    "http": _http_archive,
    "https": _http_archive,
    **dict.fromkeys(OBJECT_STORE_PACKAGES, _object_store),
}
"""Resolvers by URI scheme (lower case; ``""`` is a plain path)."""
